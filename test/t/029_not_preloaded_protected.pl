# TAP: a protected table when the library is not preloaded.
#
# The tenant filter is a row-security hook of the library.  Taken out of
# shared_preload_libraries (a restart after an edit of the list), a table
# whose own permissive policies let the application role see every row
# would show every tenant's rows.  pg_rollout puts a restrictive catalog
# policy, pg_rollout_loaded, on every protected relation with a permissive
# policy of its own: planned away with the library, an error without it.
# This test:
#  - with the library: the policy is where it must be (protect_table, a
#    permissive policy created later, a partition attached with one), not
#    elsewhere; a plan shows no trace of it; the owner cannot drop it or
#    create one of that name; a restore's second copy of it is a no-op;
#  - restarted without the library: the application role's reads and writes
#    are refused with a clear error (before: every tenant's rows), a
#    relation without a permissive policy of its own shows no row;
#  - restarted with it again: filtered again; unprotect_table() and DROP
#    EXTENSION (without CASCADE) remove it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->append_conf('postgresql.conf', "pg_rollout.enforcement_mode = 'enforce'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE owner_role LOGIN IN ROLE rollout_admin;
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	GRANT CREATE ON SCHEMA public TO owner_role;
	SET pg_rollout.actor = 'tap';
	SELECT rollout.create_tenant('a');
	SELECT rollout.create_tenant('b');
});
$node->safe_psql('postgres', q{
	SET ROLE owner_role;
	SET pg_rollout.actor = 'tap';
	-- row security already on, with a permissive policy of its own for everyone
	CREATE TABLE orders (id int, tenant_id text);
	ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
	CREATE POLICY everyone ON orders USING (true) WITH CHECK (true);
	INSERT INTO orders VALUES (1, 'a'), (2, 'b');
	GRANT SELECT, INSERT ON orders TO app;
	-- a partitioned table, row security off before
	CREATE TABLE events (id int, tenant_id text) PARTITION BY LIST (tenant_id);
	CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');
	CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b');
	INSERT INTO events VALUES (1, 'a'), (2, 'b');
	GRANT SELECT ON events, events_a, events_b TO app;
	SELECT rollout.protect_table('orders', 'tenant_id');
	SELECT rollout.protect_table('events', 'tenant_id');
	-- an owner's policy of that name, made before protect_table: it would let every row through
	CREATE TABLE notes (id int, tenant_id text);
	ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
	CREATE POLICY pg_rollout_loaded ON notes USING (true);
	INSERT INTO notes VALUES (1, 'a'), (2, 'b');
	GRANT SELECT ON notes TO app;
	SELECT rollout.protect_table('notes', 'tenant_id');
});

my ($ret0, $out0, $err0);
my $policies = q{SELECT string_agg(polrelid::regclass || ':' || polname || ':' || CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END, ' ' ORDER BY polrelid::regclass::text, polname) FROM pg_policy};
is($node->safe_psql('postgres', $policies),
	'orders:everyone:permissive orders:pg_rollout_loaded:restrictive',
	'protect_table puts pg_rollout_loaded on the table with a permissive policy of its own, not on the others, and removes an impostor of that name');
$node->safe_psql('postgres', q{
	SET ROLE owner_role;
	CREATE POLICY everyone_a ON events_a USING (true);
	CREATE TABLE events_d (id int, tenant_id text);
	ALTER TABLE events_d ENABLE ROW LEVEL SECURITY;
	CREATE POLICY everyone_d ON events_d USING (true);
	ALTER TABLE events ATTACH PARTITION events_d FOR VALUES IN ('d');
	-- the second copy a restore creates (the first came with everyone): nothing happens
	CREATE POLICY pg_rollout_loaded ON orders AS RESTRICTIVE USING (true);
});
is($node->safe_psql('postgres', $policies),
	'events_a:everyone_a:permissive events_a:pg_rollout_loaded:restrictive events_d:everyone_d:permissive events_d:pg_rollout_loaded:restrictive orders:everyone:permissive orders:pg_rollout_loaded:restrictive',
	'a permissive policy created later, and a partition attached with one, get it too');
is($node->safe_psql('postgres', q{SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = 'orders'::regclass AND polname = 'pg_rollout_loaded'}),
	'rollout._library_loaded()', 'a CREATE POLICY of that name on a relation that has it changes nothing');
($ret0, $out0, $err0) = $node->psql('postgres', 'CREATE POLICY pg_rollout_loaded ON events_b AS RESTRICTIVE USING (true)',
	extra_params => ['-U', 'owner_role']);
isnt($ret0, 0, 'the owner cannot create a policy of that name');
like($err0, qr/policy name "pg_rollout_loaded" is reserved to pg_rollout/, '... and is told why');

my $as_a = "SELECT rollout.set_tenant('a', false);";
is($node->safe_psql('postgres', "$as_a SELECT string_agg(id::text, ',' ORDER BY id) FROM orders", extra_params => ['-U', 'app']),
	"a\n1", 'with the library: tenant a sees its own order');
my $plan = $node->safe_psql('postgres', "$as_a EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM orders", extra_params => ['-U', 'app']);
unlike($plan, qr/_library_loaded/, 'the policy is folded away: no trace of it in the plan');
like($plan, qr/tenant_id/, 'the tenant filter is in the plan');

my ($ret, $out, $err) = $node->psql('postgres', 'DROP POLICY pg_rollout_loaded ON orders', extra_params => ['-U', 'owner_role']);
isnt($ret, 0, 'the owner cannot drop pg_rollout_loaded');
like($err, qr/drop, alter or rename policy "pg_rollout_loaded"/, '... and is told why');
($ret, $out, $err) = $node->psql('postgres', 'ALTER POLICY pg_rollout_loaded ON events_a USING (true)', extra_params => ['-U', 'owner_role']);
isnt($ret, 0, 'the owner cannot alter it on a partition');

# --- the library taken out of shared_preload_libraries -----------------
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
is($node->safe_psql('postgres', 'SELECT rollout.preloaded()'), 'f', 'restarted without the library');

($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM orders', extra_params => ['-U', 'app']);
isnt($ret, 0, 'without the library: a read of the protected table is refused');
is($out, '', '... and shows no row');
like($err, qr/ERROR:  pg_rollout is not loaded: tables it protects are refused/, '... with a clear error');
like($err, qr/HINT:  Add pg_rollout to shared_preload_libraries/, '... and the hint');
($ret, $out, $err) = $node->psql('postgres', "SELECT rollout.set_tenant('a', false); SELECT * FROM orders", extra_params => ['-U', 'app']);
isnt($ret, 0, 'with a tenant set: refused too (nothing would filter it)');
unlike($out, qr/\|b/, "... and tenant b's row is not shown");
($ret, $out, $err) = $node->psql('postgres', "INSERT INTO orders VALUES (3, 'b')", extra_params => ['-U', 'app']);
isnt($ret, 0, 'an insert is refused');
($ret, $out, $err) = $node->psql('postgres', "SELECT rollout.set_tenant('a', false); SELECT * FROM events_a", extra_params => ['-U', 'app']);
isnt($ret, 0, 'a partition given a permissive policy later: refused');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM notes', extra_params => ['-U', 'app']);
is($out, '0', "the table whose impostor policy was removed: default deny, not every tenant's rows");
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM events_b', extra_params => ['-U', 'app']);
is($out, '0', 'a partition without a permissive policy of its own: default deny, no row');
is($node->safe_psql('postgres', 'SELECT count(*) FROM orders'), '2', 'a superuser still reads the table');

# --- back with the library ------------------------------------------------
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'pg_rollout'");
$node->restart;
is($node->safe_psql('postgres', "$as_a SELECT string_agg(id::text, ',' ORDER BY id) FROM orders", extra_params => ['-U', 'app']),
	"a\n1", 'restarted with the library: filtered again');


$node->safe_psql('postgres', q{SET ROLE owner_role; SET pg_rollout.actor = 'tap'; SELECT rollout.unprotect_table('events');});
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_policy WHERE polname = 'pg_rollout_loaded' AND polrelid::regclass::text LIKE 'events%'"),
	'0', 'unprotect_table removes it from the table and its partitions');
$node->safe_psql('postgres', 'DROP EXTENSION pg_rollout');
is($node->safe_psql('postgres', $policies), 'events_a:everyone_a:permissive events_d:everyone_d:permissive orders:everyone:permissive',
	'DROP EXTENSION (no CASCADE) removes it and leaves the tables\' own policies');

$node->stop;
done_testing();
