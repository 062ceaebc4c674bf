# TAP: pg_rollout on a Citus cluster (issue 16): a coordinator and two
# workers on localhost, throwaway, every node with
# shared_preload_libraries = 'citus,pg_rollout'.
#  - the load order: Citus must come first (it refuses to start when the
#    hooks it installs are already set); pg_rollout chains to it, so
#    tenant isolation of local protected tables and Citus's distributed
#    queries both work on the coordinator;
#  - no silent leak: without pg_rollout.cluster_secret (not set here; see
#    002_distributed.pl for distributed protected tables with it) the
#    shards cannot be enforced, so protect_table() on a distributed or
#    reference table, and create_distributed_table() /
#    create_reference_table() on a protected table (also from PL/pgSQL),
#    are refused and roll back; DDL that makes
#    a protected table a Citus table (a partition attached to a distributed
#    table, a foreign key to a reference table) fails at commit, and
#    statements on the table before that are refused where enforced,
#    counted elsewhere;
#  - pg_rollout's own tables cannot be distributed (they stay
#    coordinator-only); rollouts and resolution unchanged on the
#    coordinator, a clear error on a worker.
# Runs when Citus is installed in this PostgreSQL (citus.so in pkglibdir;
# ../shared/vendor/build-citus.sh builds it), skipped otherwise.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use CitusTestCluster;

skip_without_citus();

my @nodes = start_citus_cluster();
my ($coord, $w1, $w2) = @nodes;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'2', 'coordinator sees two workers');

# --- load order -----------------------------------------------------------
{
	my $other = PostgreSQL::Test::Cluster->new('wrong_order');
	$other->init;
	$other->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout,citus'\n");
	my $started = $other->start(fail_ok => 1);
	ok(!$started, "shared_preload_libraries = 'pg_rollout,citus' does not start");
	like(slurp_file($other->logfile), qr/Citus has to be loaded first/,
		'Citus says it has to be loaded first');
}

$coord->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('a1');
	SELECT rollout.create_tenant('b2');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	-- a local protected table on the Citus coordinator
	CREATE TABLE notes (id int PRIMARY KEY, tenant_id text NOT NULL, body text);
	INSERT INTO notes SELECT g, CASE WHEN g % 2 = 0 THEN 'a1' ELSE 'b2' END, 'n' || g FROM generate_series(1, 10) g;
	SELECT rollout.protect_table('notes', 'tenant_id', 'critical');
	-- a distributed table that is not protected
	CREATE TABLE events (id int, tenant_id text NOT NULL, kind text, PRIMARY KEY (tenant_id, id));
	SELECT create_distributed_table('events', 'tenant_id');
	INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'a1' ELSE 'b2' END, 'k' FROM generate_series(1, 20) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON notes, events TO app;
});

sub app_psql
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $coord->psql('postgres', $sql, extra_params => [ '-U', 'app' ]);
	return ($ret, $out, $err);
}

# --- hooks chained: pg_rollout's isolation and Citus's planner both work ---
my ($ret, $out, $err) = app_psql(q{
	BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM notes; COMMIT;});
is($out, 'a1:5', 'local protected table on the coordinator: the tenant sees its own rows') or diag($err);
($ret, $out, $err) = app_psql('SELECT count(*) FROM notes');
like($err, qr/tenant context required for table "public.notes"/, 'without tenant context: refused');
($ret, $out, $err) = app_psql(q{SELECT count(*) FROM events WHERE tenant_id = 'b2'});
is($out, '10', 'a distributed (unprotected) table is queried through Citus by the application role') or diag($err);
like($coord->safe_psql('postgres', q{EXPLAIN SELECT * FROM events WHERE tenant_id = 'b2'}),
	qr/Custom Scan \(Citus Adaptive\).*Task Count: 1/s, 'Citus plans the distributed query (one task)');
($ret, $out, $err) = app_psql(q{TRUNCATE notes});
like($err, qr/cannot truncate protected table "public.notes"/, 'TRUNCATE of a protected table refused (ProcessUtility chained)');

# --- no silent leak: protected tables never become Citus tables -----------
$coord->safe_psql('postgres', q{
	CREATE TABLE orders (id int, tenant_id text NOT NULL, amount int, PRIMARY KEY (tenant_id, id));
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'a1' ELSE 'b2' END, g FROM generate_series(1, 20) g;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	CREATE TABLE dist (id int, tenant_id text NOT NULL);
	SELECT create_distributed_table('dist', 'tenant_id');
	CREATE TABLE ref (id int, tenant_id text NOT NULL);
	SELECT create_reference_table('ref');
	GRANT SELECT ON orders TO app;
});
my %refused = (
	q{SELECT create_distributed_table('orders', 'tenant_id')} =>
	  qr/create_distributed_table cannot make protected table "public.orders" a Citus distributed table/,
	q{SELECT create_reference_table('orders')} =>
	  qr/create_reference_table cannot make protected table "public.orders" a Citus reference or Citus-local table/,
	q{DO $$ BEGIN PERFORM create_distributed_table('orders', 'tenant_id'); END $$} =>
	  qr/create_distributed_table cannot make protected table "public.orders" a Citus distributed table/,
	# (it first makes the table Citus-local: refused there, nothing left behind)
	q{SELECT create_distributed_table_concurrently('orders', 'tenant_id')} =>
	  qr/cannot make protected table "public.orders" a Citus/,
	q{SELECT citus_add_local_table_to_metadata('orders')} =>
	  qr/citus_add_local_table_to_metadata cannot make protected table "public.orders"/,
	q{SELECT rollout.protect_table('dist', 'tenant_id')} =>
	  qr/cannot protect table "public.dist": it is a Citus distributed table/,
	q{SELECT rollout.protect_table('ref', 'tenant_id')} =>
	  qr/cannot protect table "public.ref": it is a Citus reference or Citus-local table/,
	# (Citus itself refuses tables with triggers unless told otherwise)
	q{SET citus.enable_unsafe_triggers = on; SELECT create_reference_table('rollout.component')} =>
	  qr/pg_rollout's table "rollout.component" cannot be a Citus reference or Citus-local table/,
	q{SET citus.enable_unsafe_triggers = on; SELECT create_distributed_table('rollout.activation', 'tenant_id', colocate_with => 'none')} =>
	  qr/pg_rollout's table "rollout.activation" cannot be a Citus distributed table/,
);
for my $sql (sort keys %refused)
{
	($ret, $out, $err) = $coord->psql('postgres', $sql);
	isnt($ret, 0, "refused: $sql");
	like($err, $refused{$sql}, "clear error: $sql");
}
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'orders'::regclass}),
	'0', 'orders stayed a local table (the refused calls rolled back)');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM rollout.protected_table WHERE tbl IN ('dist'::regclass, 'ref'::regclass)}),
	'0', 'dist and ref are not protected');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'rollout.%'}),
	'0', "pg_rollout's tables stayed coordinator-only");
is($w1->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'orders\_%'}),
	'0', 'no shard of orders was left on a worker');
($ret, $out, $err) = app_psql(q{
	BEGIN; SELECT rollout.set_tenant('b2') \gset
	SELECT count(*) FROM orders; COMMIT;});
is($out, '10', 'orders still isolated on the coordinator') or diag($err);

# DDL that no function hook sees makes a protected table a Citus table: a
# partition attached to a distributed table, a foreign key to a reference
# table (the table becomes Citus-local).  The transaction fails at commit;
# before that, statements on the table are refused where enforced.
$coord->safe_psql('postgres', q{
	CREATE TABLE parts (id int, tenant_id text NOT NULL) PARTITION BY LIST (tenant_id);
	SELECT create_distributed_table('parts', 'tenant_id');
	CREATE TABLE parts_a1 (id int, tenant_id text NOT NULL);
	INSERT INTO parts_a1 VALUES (1, 'a1');
	SELECT rollout.protect_table('parts_a1', 'tenant_id');
	GRANT SELECT ON parts_a1 TO app;
	CREATE TABLE plans (plan text PRIMARY KEY);
	INSERT INTO plans VALUES ('free');
	SELECT create_reference_table('plans');
	CREATE TABLE subs (id int PRIMARY KEY, tenant_id text NOT NULL, plan text);
	INSERT INTO subs VALUES (1, 'a1', 'free');
	SELECT rollout.protect_table('subs', 'tenant_id');
});
($ret, $out, $err) = $coord->psql('postgres', q{ALTER TABLE parts ATTACH PARTITION parts_a1 FOR VALUES IN ('a1')});
like($err, qr/protected table "public.parts_a1" is a Citus distributed table/,
	'ATTACH PARTITION of a protected table to a distributed table fails at commit');
($ret, $out, $err) = $coord->psql('postgres', q{ALTER TABLE subs ADD FOREIGN KEY (plan) REFERENCES plans (plan)});
like($err, qr/protected table "public.subs" is a Citus reference or Citus-local table/,
	'a foreign key that makes a protected table Citus-local fails at commit');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid IN ('parts_a1'::regclass, 'subs'::regclass)}),
	'0', 'both stayed local tables');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'parts'::regclass}),
	'4', 'parts kept its shards only');

($ret, $out, $err) = $coord->psql('postgres', q{
	BEGIN;
	ALTER TABLE parts ATTACH PARTITION parts_a1 FOR VALUES IN ('a1');
	SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'parts_a1'::regclass;
	SET LOCAL ROLE app;
	SELECT rollout.set_tenant('a1') \gset
	SELECT count(*) FROM parts_a1;
	ROLLBACK;});
like($out, qr/^h$/m, 'inside the transaction the attached partition is distributed');
like($err, qr/protected table "public.parts_a1" is a Citus distributed table/,
	'enforced: a statement on it is refused before the commit');
($ret, $out, $err) = $coord->psql('postgres', q{
	BEGIN;
	ALTER TABLE parts ATTACH PARTITION parts_a1 FOR VALUES IN ('a1');
	SET LOCAL pg_rollout.enforcement_mode = 'log_only';
	SET LOCAL ROLE app;
	SELECT rollout.set_tenant('a1') \gset
	SELECT count(*) FROM parts_a1;
	ROLLBACK;});
# (Citus itself then refuses to read placements another user changed in
# this transaction; pg_rollout lets the statement through and counts it)
unlike($err, qr/is a Citus distributed table/, 'log_only: pg_rollout lets the statement through')
  or diag($err);
like($coord->safe_psql('postgres', q{
	SELECT kind || ':' || count FROM rollout.violations WHERE tbl = 'public.parts_a1'::regclass}),
	qr/row_security_disabled:\d+/, 'log_only: counted as row_security_disabled');

# unprotect, then distribute: allowed
$coord->safe_psql('postgres', q{
	SELECT rollout.unprotect_table('orders');
	SELECT create_distributed_table('orders', 'tenant_id');
});
is($coord->safe_psql('postgres', q{SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'orders'::regclass}),
	'h', 'an unprotected table can be distributed');

# --- rollouts and resolution on the coordinator ---------------------------
$coord->safe_psql('postgres', q{
	SELECT rollout.create_component('api');
	SELECT rollout.add_version('api', '1.0.0', 'published');
	SELECT rollout.set_default_version('api', '1.0.0');
});
is($coord->safe_psql('postgres', q{SELECT rollout.resolve_version('a1', 'api')}),
	'1.0.0', 'resolution on the coordinator');

# On a worker, pg_rollout's tables are its own (Citus created the extension
# there, empty): resolution fails with a clear error, it does not guess.
is($w1->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'}),
	'0.2.0', 'Citus created pg_rollout on the workers');
($ret, $out, $err) = $w1->psql('postgres', q{SELECT rollout.resolve_version('a1', 'api')});
isnt($ret, 0, 'resolution on a worker fails');
like($err, qr/ERROR:  .*(tenant|component).*"?(a1|api)"?/, 'with an error naming the unknown tenant or component')
  or diag($err);

$_->stop for @nodes;
done_testing();
