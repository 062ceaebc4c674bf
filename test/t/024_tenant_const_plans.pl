# TAP: the tenant as a constant in plans executed once (issue 11).
#  - what runs: auto_explain logs the plan each statement executed.  A
#    simple-protocol statement and a custom plan carry the tenant as a
#    constant ('acme'::text); a generic plan (PREPARE, the plan cache's
#    choice for a statement without parameters) reads it from an executor
#    parameter ($n) that the ExecutorStart hook fills at every execution;
#  - no plan is run for another tenant: pgbench, with the simple, extended
#    and prepared protocol, two clients, sets a random tenant in every
#    transaction (and in some, a second one) and checks that every row it
#    reads is the current tenant's, with the same statements reused across
#    tenants.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('constplans');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout,auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
pg_rollout.enforcement_mode = 'enforce'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT count(*) FROM (SELECT rollout.create_tenant('t' || g) FROM generate_series(1, 5) g) x;
	SELECT rollout.create_tenant('acme');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
	CREATE INDEX ON orders (tenant_id);
	INSERT INTO orders SELECT g, 't' || (g % 5 + 1), g FROM generate_series(1, 500) g;
	INSERT INTO orders VALUES (1000, 'acme', 1);
	GRANT SELECT, UPDATE ON orders TO app;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	ANALYZE orders;
});

# the plan each statement ran, from the server log
sub plans_of
{
	my ($sql) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', $sql, extra_params => [ '-U', 'app' ]);
	return slurp_file($node->logfile, $offset);
}

my $log = plans_of(q{
	SELECT rollout.set_tenant('acme', local => false);
	SELECT amount FROM orders WHERE id = 1000 /* simple */;
});
like($log, qr/Query Text: SELECT amount FROM orders WHERE id = 1000 \/\* simple \*\/.*?tenant_id = 'acme'::text/s,
	'simple protocol: the plan carries the tenant as a constant');
unlike($log, qr/Query Text: SELECT amount FROM orders WHERE id = 1000 \/\* simple \*\/[^\n]*\n(?:[^\n]*\n){0,4}[^\n]*_tenant_for/,
	'simple protocol: and does not call rollout._tenant_for()');

$log = plans_of(q{
	SELECT rollout.set_tenant('acme', local => false);
	SET plan_cache_mode = force_generic_plan;
	PREPARE g AS SELECT amount FROM orders WHERE id = 1000 /* generic */;
	EXECUTE g;
	SET plan_cache_mode = force_custom_plan;
	PREPARE c(int) AS SELECT amount FROM orders WHERE id = $1 /* custom */;
	EXECUTE c(1000);
});
like($log, qr/\/\* generic \*\/[^\n]*\n(?:[^\n]*\n){0,4}[^\n]*tenant_id = \$\d+\)/,
	'a generic plan (kept by the plan cache) reads the tenant from an executor parameter, not a constant');
like($log, qr/\/\* custom \*\/.*?tenant_id = 'acme'::text/s,
	'a custom plan (made for one execution) carries the tenant as a constant');

$log = plans_of(q{
	CREATE TEMP TABLE x AS SELECT 1;
	SELECT rollout.set_tenant('acme', local => false);
	SELECT amount FROM orders WHERE id = 1000 /* after utility */;
});
like($log, qr/\/\* after utility \*\/.*?tenant_id = 'acme'::text/s,
	'simple protocol after a utility statement: constant');

# no plan is run for another tenant, whatever the protocol
$node->safe_psql('postgres', 'ALTER SYSTEM SET auto_explain.log_min_duration = -1; SELECT pg_reload_conf();');
my $script = q{
\set t random(1, 5)
\set u random(1, 5)
\set id random(1, 500)
BEGIN;
SELECT rollout.set_tenant('t' || :t);
SELECT count(*) FILTER (WHERE tenant_id <> 't' || :t) AS bad1, count(*) AS n1 FROM orders \gset
SELECT count(*) AS bad2 FROM orders WHERE id = :id AND tenant_id <> 't' || :t \gset
SELECT count(*) AS bad3 FROM orders WHERE id = 1000 \gset
SELECT rollout.set_tenant('t' || :u);
SELECT count(*) FILTER (WHERE tenant_id <> 't' || :u) AS bad4, count(*) AS n4 FROM orders \gset
WITH w AS (UPDATE orders SET amount = amount WHERE id = :id RETURNING tenant_id) SELECT count(*) FILTER (WHERE tenant_id <> 't' || :u) AS bad5 FROM w \gset
\if :bad1 + :bad2 + :bad3 + :bad4 + :bad5 > 0 or :n1 <> 100 or :n4 <> 100
SELECT 1 / 0 AS another_tenants_row;
\endif
COMMIT;
};
foreach my $mode ('simple', 'extended', 'prepared')
{
	$node->pgbench(
		"-n -U app -c 2 -j 2 -t 400 -M $mode",
		0, [qr/processed: 800\/800/], [],
		"$mode protocol: every row read is the current tenant's (tenant switched twice per transaction)",
		{ "024_tenants_$mode.sql" => $script });
}

done_testing();
