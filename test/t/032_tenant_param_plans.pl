# TAP: the tenant as an executor parameter in kept plans (issue 11).
# Generic plans (plan_cache_mode = force_generic_plan for the application
# role) read the tenant from a PARAM_EXEC slot that the ExecutorStart hook
# fills at every execution.  pgbench, with the extended and prepared
# protocol, two clients, sets a random tenant in every transaction (and in
# some, a second one), and checks that every row it reads or writes is the
# current tenant's: plain generic plans, then with parallel plans forced
# (the parts below Gather keep the call), then through a PL/pgSQL function
# whose statements keep their plans for the session.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('paramplans');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout'
pg_rollout.enforcement_mode = 'enforce'
max_worker_processes = 8
max_parallel_workers = 4
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT count(*) FROM (SELECT rollout.create_tenant('t' || g) FROM generate_series(1, 5) g) x;
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	ALTER ROLE app SET plan_cache_mode = force_generic_plan;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
	CREATE INDEX ON orders (tenant_id);
	INSERT INTO orders SELECT g, 't' || (g % 5 + 1), g FROM generate_series(1, 5000) g;
	GRANT SELECT, UPDATE ON orders TO app;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	ANALYZE orders;
	CREATE FUNCTION public.tenant_rows(t text, id int) RETURNS TABLE (bad bigint, n bigint)
	LANGUAGE plpgsql AS $$
	DECLARE
		b1 bigint; b2 bigint; n1 bigint;
	BEGIN
		SELECT count(*) FILTER (WHERE o.tenant_id <> t), count(*) INTO b1, n1 FROM orders o;
		SELECT count(*) INTO b2 FROM orders o WHERE o.id = tenant_rows.id AND o.tenant_id <> t;
		bad := b1 + b2;
		n := n1;
		RETURN NEXT;
	END;
	$$;
	GRANT EXECUTE ON FUNCTION public.tenant_rows(text, int) TO app;
});

# the generic plan of the look-up reads the parameter
my $plan = $node->safe_psql('postgres', q{
	SELECT rollout.set_tenant('t1', local => false);
	PREPARE q(int) AS SELECT amount FROM orders WHERE id = $1;
	EXPLAIN (COSTS OFF) EXECUTE q(1);
}, extra_params => [ '-U', 'app' ]);
like($plan, qr/tenant_id = \$0/, 'a generic plan reads the tenant from an executor parameter');
unlike($plan, qr/_tenant_for|'t1'/, 'and neither calls rollout._tenant_for() nor carries the tenant');

my $script = q{
\set t random(1, 5)
\set u random(1, 5)
\set id random(1, 5000)
BEGIN;
SELECT rollout.set_tenant('t' || :t);
SELECT count(*) FILTER (WHERE tenant_id <> 't' || :t) AS bad1, count(*) AS n1 FROM orders \gset
SELECT count(*) AS bad2 FROM orders WHERE id = :id AND tenant_id <> 't' || :t \gset
SELECT bad AS bad3, n AS n3 FROM public.tenant_rows('t' || :t, :id) \gset
SELECT rollout.set_tenant('t' || :u);
SELECT count(*) FILTER (WHERE tenant_id <> 't' || :u) AS bad4, count(*) AS n4 FROM orders \gset
WITH w AS (UPDATE orders SET amount = amount WHERE id = :id RETURNING tenant_id) SELECT count(*) FILTER (WHERE tenant_id <> 't' || :u) AS bad5 FROM w \gset
SELECT bad AS bad6, n AS n6 FROM public.tenant_rows('t' || :u, :id) \gset
\if :bad1 + :bad2 + :bad3 + :bad4 + :bad5 + :bad6 > 0 or :n1 <> 1000 or :n3 <> 1000 or :n4 <> 1000 or :n6 <> 1000
SELECT 1 / 0 AS another_tenants_row;
\endif
COMMIT;
};
my %settings = (
	'generic plans' => '',
	'generic plans, parallel forced' =>
	  '-c force_parallel_mode=on -c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0',
);
foreach my $case (sort keys %settings)
{
	local $ENV{PGOPTIONS} = $settings{$case};
	foreach my $mode ('extended', 'prepared')
	{
		my $name = "032_${mode}_$case.sql";
		$name =~ s/[ ,]+/_/g;
		$node->pgbench(
			"-n -U app -c 2 -j 2 -t 300 -M $mode",
			0, [qr/processed: 600\/600/], [],
			"$case, $mode protocol: every row read is the current tenant's (tenant switched twice per transaction)",
			{ $name => $script });
	}
}

# with parallel plans forced, the scan below Gather keeps the call
{
	local $ENV{PGOPTIONS} = $settings{'generic plans, parallel forced'};
	$plan = $node->safe_psql('postgres', q{
		SELECT rollout.set_tenant('t1', local => false);
		PREPARE a AS SELECT count(*) FROM orders;
		EXPLAIN (COSTS OFF) EXECUTE a;
	}, extra_params => [ '-U', 'app' ]);
	like($plan, qr/Gather.*tenant_id = rollout\._tenant_for\(/s,
		'parallel forced: the part below Gather calls rollout._tenant_for()');
}

done_testing();
