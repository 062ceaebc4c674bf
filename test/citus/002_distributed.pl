# TAP: protected tables distributed by Citus (issue 16): a coordinator and
# two workers, every node with shared_preload_libraries =
# 'citus,pg_rollout' and the same pg_rollout.cluster_secret.
#  - create_distributed_table() on a protected table, and protect_table()
#    on a distributed one, work when the secret is set (refused without);
#  - the leak matrix through the coordinator: reads and writes with and
#    without tenant context, joins, subqueries, prepared statements across
#    a tenant change, simple protocol;
#  - routing: EXPLAIN shows one task, without a hand-written WHERE;
#  - direct connections to a worker's shards: refused without a signature,
#    with a forged one, another role's, another table's; a replayed one
#    gives its own role that tenant only (docs/citus.md).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use CitusTestCluster;

skip_without_citus();

my @nodes = start_citus_cluster(certs => 1);
my ($coord, $w1, $w2) = @nodes;

$coord->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant(t) FROM unnest(ARRAY['a1', 'b2', 'c3']) t;
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE ROLE other LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int, tenant_id text NOT NULL, amount int, PRIMARY KEY (tenant_id, id));
	INSERT INTO orders SELECT g, (ARRAY['a1', 'b2', 'c3'])[g % 3 + 1], g FROM generate_series(1, 30) g;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	CREATE TABLE items (order_id int, tenant_id text NOT NULL, sku text);
	INSERT INTO items SELECT g, (ARRAY['a1', 'b2', 'c3'])[g % 3 + 1], 's' || g FROM generate_series(1, 30) g;
	CREATE TABLE plain (id int, tenant_id text NOT NULL);
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders, items, plain TO app, other;
});

# --- without the secret: still refused ------------------------------------
my ($ret, $out, $err) = $coord->psql('postgres', q{SELECT create_distributed_table('orders', 'tenant_id')});
like($err, qr/create_distributed_table cannot make protected table "public.orders" a Citus distributed table.*cluster_secret is not set/s,
	'without pg_rollout.cluster_secret: create_distributed_table on a protected table refused');

# --- the secret on every node ----------------------------------------------
my $secret = 'test-secret-0123456789abcdef';
for my $n (@nodes)
{
	$n->append_conf('postgresql.conf', "pg_rollout.cluster_secret = '$secret'\n");
	$n->reload;
}
($ret, $out, $err) = $coord->psql('postgres', q{SHOW pg_rollout.cluster_secret}, extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied|must be superuser|superuser/, 'the secret is not readable by an application role');

$coord->safe_psql('postgres', q{
	SELECT create_distributed_table('orders', 'tenant_id');
	SELECT rollout.protect_table('items', 'tenant_id');
	SELECT create_distributed_table('items', 'tenant_id', colocate_with => 'orders');
	SELECT create_distributed_table('plain', 'tenant_id', colocate_with => 'orders');
	SELECT rollout.protect_table('plain', 'tenant_id');
});
is($coord->safe_psql('postgres', q{SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ',' ORDER BY logicalrelid::text)
	FROM pg_dist_partition WHERE logicalrelid::text IN ('orders', 'items', 'plain')}),
	'items:h,orders:h,plain:h', 'protected tables distributed (both orders of calls)');
is($w1->safe_psql('postgres', q{SELECT count(DISTINCT polname) FROM pg_policy WHERE polname LIKE 'pg\_rollout\_citus\_%'}),
	'4', "pg_rollout's policies reached the shards on a worker");

sub worker_q
{
	my ($r, $o, $e) = $w1->psql('postgres', $_[0], extra_params => [ '-U', 'app' ]);
	return ($o, $e);
}

sub app
{
	my ($sql, $role) = @_;
	my ($r, $o, $e) = $coord->psql('postgres', $sql, extra_params => [ '-U', $role // 'app' ]);
	return ($o, $e);
}

# --- reads through the coordinator ------------------------------------------
($out, $err) = app(q{SELECT count(*) FROM orders});
like($err, qr/tenant context required for distributed table "public.orders"/, 'no tenant context: refused');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM orders; COMMIT;});
is($out, 'a1:10', 'with a tenant: only its rows') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT count(*) FROM orders WHERE tenant_id = 'b2'; COMMIT;});
is($out, '0', 'naming another tenant finds nothing') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('b2') \gset
	SELECT string_agg(DISTINCT o.tenant_id || i.tenant_id, ',') || ':' || count(*)
	  FROM orders o JOIN items i ON i.order_id = o.id AND i.tenant_id = o.tenant_id; COMMIT;});
is($out, 'b2b2:10', 'a co-located join: the tenant\'s rows on both sides') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('b2') \gset
	SELECT count(*) FROM orders o LEFT JOIN items i ON i.order_id = o.id; COMMIT;});
is($out, '10', 'a left join: the preserved side filtered in WHERE, the nullable side in ON') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('c3') \gset
	SELECT count(*) FROM orders WHERE id IN (SELECT order_id FROM items); COMMIT;});
is($out, '10', 'a subquery: filtered at its own level') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('c3') \gset
	SELECT count(*) FROM orders o FULL JOIN items i ON i.order_id = o.id; COMMIT;});
like($err, qr/cannot be in a FULL JOIN/, 'a full join: refused');

($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('c3') \gset
	WITH o AS (SELECT tenant_id FROM orders) SELECT string_agg(DISTINCT tenant_id, ',') || count(*) FROM o;
	SELECT string_agg(DISTINCT t, ',') || count(*) FROM (SELECT tenant_id AS t FROM orders UNION ALL SELECT tenant_id FROM items) u;
	SELECT string_agg(DISTINCT t, ',') || count(*) FROM (SELECT tenant_id AS t FROM orders WHERE amount > 0) s;
	SELECT (SELECT count(*) FROM items i WHERE i.order_id = 3) IS NOT NULL;
	COMMIT;});
is($out, "c310\nc320\nc310\nt", 'a CTE, a UNION ALL, a subquery in FROM, a scalar subquery: the tenant\'s rows') or diag($err);
$coord->safe_psql('postgres', q{CREATE VIEW orders_v AS SELECT id, tenant_id FROM orders; GRANT SELECT ON orders_v TO app;
	CREATE FUNCTION orders_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM orders';});
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('c3') \gset
	SELECT string_agg(DISTINCT tenant_id, ',') || count(*) FROM orders_v;
	SELECT orders_count();
	COMMIT;});
is($out, "c310\n10", 'through a view and a SQL function: the tenant\'s rows') or diag($err);

# --- routing ------------------------------------------------------------------
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	EXPLAIN (COSTS OFF) SELECT amount FROM orders WHERE id = 3; COMMIT;});
like($out, qr/Task Count: 1\b/, 'EXPLAIN: one task without a hand-written WHERE') or diag($out . $err);
unlike($out, qr/Task Count: [2-9]/, 'EXPLAIN: not every shard');

# --- prepared statements across a tenant change, simple and extended -------
($out, $err) = app(q{
	SELECT rollout.set_tenant('a1', local => false) \gset
	PREPARE q AS SELECT string_agg(DISTINCT tenant_id, ',') || count(*) FROM orders;
	EXECUTE q; EXECUTE q; EXECUTE q; EXECUTE q; EXECUTE q; EXECUTE q;
	SELECT rollout.set_tenant('b2', local => false) \gset
	EXECUTE q;
	PREPARE p(int) AS SELECT tenant_id FROM orders WHERE id = $1;
	EXECUTE p(1); EXECUTE p(1); EXECUTE p(1); EXECUTE p(1); EXECUTE p(1); EXECUTE p(1); EXECUTE p(2); EXECUTE p(4);
	SELECT rollout.set_tenant('a1', local => false) \gset
	EXECUTE p(1); EXECUTE p(3);});
is($out, join("\n", ('a110') x 6, 'b210', ('b2') x 7, 'a1'),
	'a prepared statement follows the tenant change (generic plans included)') or diag($err);

# --- writes through the coordinator -----------------------------------------
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	INSERT INTO orders VALUES (100, 'a1', 1), (101, 'a1', 1); COMMIT;});
is($err, '', 'insert for the tenant') or diag($err . $w1->safe_psql('postgres', q{SELECT polrelid::regclass || ' ' || polname || ' ' || polpermissive || ' ' || polcmd::text || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '-') FROM pg_policy}) . join(' ', worker_q(q{INSERT INTO orders_102013 VALUES (1000, 'a1', 1)})));
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	UPDATE orders SET amount = amount + 1000; COMMIT;});
is($err, '', 'update for the tenant') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	DELETE FROM orders WHERE id = 101; COMMIT;});
is($err, '', 'delete for the tenant') or diag($err);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('b2') \gset
	UPDATE items i SET sku = sku || '+' FROM orders o WHERE o.id = i.order_id AND o.tenant_id = i.tenant_id;
	DELETE FROM items i USING orders o WHERE o.id = i.order_id AND o.tenant_id = i.tenant_id AND o.id = -1;
	COMMIT;});
is($err, '', 'UPDATE ... FROM and DELETE ... USING a co-located table') or diag($err);
is($coord->safe_psql('postgres', q{SELECT tenant_id || ':' || count(*) FROM items WHERE sku LIKE '%+' GROUP BY tenant_id}),
	'b2:10', '... touched the tenant\'s rows only');
is($coord->safe_psql('postgres', q{SELECT tenant_id || ':' || count(*) FROM orders WHERE amount >= 1000 GROUP BY tenant_id}),
	'a1:11', 'the update touched only the tenant\'s rows (superuser reads all)');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM orders}), '31', 'the delete only the tenant\'s row (30 + 2 - 1)');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	INSERT INTO orders VALUES (200, 'b2', 1); COMMIT;});
like($err, qr/new row for tenant "b2" is outside the tenant context "a1"/, 'insert for another tenant refused');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	INSERT INTO orders VALUES (201, 'a1', 1), (202, 'c3', 1); COMMIT;});
like($err, qr/new row for tenant "c3"/, 'multi-row insert with one foreign row refused');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	PREPARE ins(int, text) AS INSERT INTO orders VALUES ($1, $2, 0);
	EXECUTE ins(300, 'a1'); EXECUTE ins(301, 'b2'); COMMIT;});
like($err, qr/new row for tenant "b2"/, 'prepared insert checks the parameter');
($out, $err) = app(q{INSERT INTO orders VALUES (400, 'a1', 1)});
like($err, qr/tenant context required/, 'insert without tenant context refused');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	UPDATE orders SET tenant_id = 'b2' WHERE id = 3; COMMIT;});
isnt($err, '', 'moving a row to another tenant is refused') or diag($out);
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	INSERT INTO orders SELECT id + 1000, tenant_id, 0 FROM orders; COMMIT;});
like($err, qr/INSERT \.\.\. SELECT on distributed protected table "public.orders" is not supported/, 'INSERT ... SELECT refused clearly');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM orders WHERE id >= 200}), '0', 'nothing of the refused writes landed');

# --- per-transaction tenant (a transaction-mode pooler) -----------------------
($out, $err) = app(q{
	PREPARE pt AS SELECT string_agg(DISTINCT tenant_id, ',') FROM orders;
	BEGIN; SELECT rollout.set_tenant('a1') \gset
	EXECUTE pt; COMMIT;
	BEGIN; SELECT rollout.set_tenant('b2') \gset
	EXECUTE pt; COMMIT;
	BEGIN; SELECT rollout.set_tenant('c3') \gset
	EXECUTE pt; COMMIT;
	EXECUTE pt;});
is($out, "a1\nb2\nc3", 'a prepared statement across transactions of different tenants') or diag($err);
like($err, qr/tenant context required for distributed table/, '... and refused after the last one ended');

# --- pgbench: simple, extended and prepared protocol, tenant per role -------
$coord->safe_psql('postgres', q{ALTER ROLE app SET pg_rollout.tenant = 'b2'});
my $script = $coord->basedir . '/leak.sql';
open(my $fh, '>', $script) or die;
print $fh "\\set id random(1, 40)\n";
print $fh "SELECT 1 / (count(*) FILTER (WHERE tenant_id <> 'b2') = 0)::int FROM orders;\n";
print $fh "SELECT 1 / (count(*) > 0)::int FROM orders;\n";
print $fh "SELECT 1 / (count(*) FILTER (WHERE tenant_id <> 'b2') = 0)::int FROM orders WHERE id = :id;\n";
close $fh;
for my $mode ('simple', 'extended', 'prepared')
{
	command_ok([ 'pgbench', '-n', '-t', '20', '-M', $mode, '-U', 'app', '-h', $coord->host, '-p', $coord->port,
		'-f', $script, 'postgres' ], "pgbench -M $mode: only the tenant's rows, some of them");
}
$coord->safe_psql('postgres', q{ALTER ROLE app RESET pg_rollout.tenant});

# --- shards on the coordinator: local execution --------------------------------
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_set_node_property('localhost', %d, 'shouldhaveshards', true);
	CREATE TABLE notes (id int, tenant_id text NOT NULL, body text);
	SELECT rollout.create_tenant('t' || g) FROM generate_series(0, 9) g;
	INSERT INTO notes SELECT g, 't' || (g % 10), 'n' FROM generate_series(1, 100) g;
	SELECT rollout.protect_table('notes', 'tenant_id');
	SELECT create_distributed_table('notes', 'tenant_id', colocate_with => 'none');
	GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app;
}, $coord->port));
my $local = $coord->safe_psql('postgres', sprintf(q{
	SELECT min(t) FROM (SELECT 't' || g AS t FROM generate_series(0, 9) g) x
	 WHERE (SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	         WHERE p.shardid = get_shard_id_for_distribution_column('notes', x.t)) = %d}, $coord->port));
my $remote = $coord->safe_psql('postgres', sprintf(q{
	SELECT min(t) FROM (SELECT 't' || g AS t FROM generate_series(0, 9) g) x
	 WHERE (SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	         WHERE p.shardid = get_shard_id_for_distribution_column('notes', x.t)) <> %d}, $coord->port));
ok($local ne '' && $remote ne '', "a tenant on a coordinator shard ($local) and one on a worker's ($remote)");
for my $t ($local, $remote)
{
	for my $mode ('enforce', 'log_only')
	{
		($out, $err) = app(qq{SET client_min_messages = warning; BEGIN; SELECT rollout.set_tenant('$t') \\gset
			SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM notes;
			SELECT string_agg(DISTINCT tenant_id, ',') FROM notes WHERE id = 10;
			SELECT count(*) FROM notes WHERE id % 10 = 0 AND tenant_id <> '$t';
			UPDATE notes SET body = 'u' WHERE id < 1000;
			COMMIT;});
		my ($n) = $t =~ /(\d)/;
		is($out, "$t:10\n" . ($n == 0 ? $t : '') . "\n0", "$mode, tenant $t: its rows only (aggregate, point, other tenant's)")
		  or diag($err);
		$coord->safe_psql('postgres', q{ALTER SYSTEM SET pg_rollout.enforcement_mode = 'log_only'; SELECT pg_reload_conf()})
		  if $mode eq 'enforce';
		sleep 1 if $mode eq 'enforce';
	}
	$coord->safe_psql('postgres', q{ALTER SYSTEM RESET pg_rollout.enforcement_mode; SELECT pg_reload_conf()});
	sleep 1;
}
# Citus settings an application role may change: other planners and executors, same rows
($out, $err) = app(qq{BEGIN; SELECT rollout.set_tenant('$local') \\gset
	SET LOCAL citus.enable_local_execution = off;
	SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM notes;
	SET LOCAL citus.enable_fast_path_router_planner = off;
	SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM notes WHERE id < 1000;
	SET LOCAL citus.enable_router_execution = off;
	SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM notes;
	COMMIT;});
is($out, join("\n", ("$local:10") x 3), 'local execution, fast path, router execution off: the tenant\'s rows') or diag($err);
is($coord->safe_psql('postgres', q{SELECT string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) FROM notes WHERE body = 'u'}),
	join(',', sort($local, $remote)), 'the updates touched the two tenants\' rows only');

# --- bypass and modes ----------------------------------------------------------
($out, $err) = app(q{SET pg_rollout.enforcement_mode = 'log_only'; SELECT count(*) FROM orders});
isnt($err, '', 'an application role cannot switch the mode');
$coord->safe_psql('postgres', q{ALTER SYSTEM SET pg_rollout.enforcement_mode = 'log_only'; SELECT pg_reload_conf()});
sleep 1;
($out, $err) = app(q{SELECT count(*) FROM orders});
like($err, qr/tenant context required for distributed table/, 'log_only: a distributed protected table is still enforced');
$coord->safe_psql('postgres', q{ALTER SYSTEM RESET pg_rollout.enforcement_mode; SELECT pg_reload_conf()});

# --- direct connections to a worker -------------------------------------------
my $shard = $w1->safe_psql('postgres', q{
	SELECT s.logicalrelid::text || '_' || s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
	  JOIN pg_dist_node n USING (groupid)
	 WHERE s.logicalrelid = 'orders'::regclass AND n.nodeport = } . $w1->port . q{ LIMIT 1});
ok($shard =~ /^orders_\d+$/, "a shard of orders on worker 1: $shard");
my $items_shard = $w1->safe_psql('postgres', q{
	SELECT s.logicalrelid::text || '_' || s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
	  JOIN pg_dist_node n USING (groupid)
	 WHERE s.logicalrelid = 'items'::regclass AND n.nodeport = } . $w1->port . q{ LIMIT 1});
sub worker
{
	my ($sql, $role) = @_;
	my ($r, $o, $e) = $w1->psql('postgres', $sql, extra_params => [ '-U', $role // 'app' ]);
	return ($o, $e);
}
is($w1->safe_psql('postgres', "SELECT count(*) > 0 FROM $shard"), 't', 'the shard holds rows (superuser)');
($out, $err) = worker("SELECT count(*) FROM $shard");
like($err, qr/shard "$shard" of protected table "public.orders" can be queried only through the coordinator/,
	'direct worker read without a signature: refused');
($out, $err) = worker("SELECT count(*) FROM orders");
isnt($err, '', 'direct worker read of the distributed table (Citus on the worker): refused') or diag($out);
($out, $err) = worker("UPDATE $shard SET amount = 0");
like($err, qr/can be queried only through the coordinator/, 'direct worker update without a signature: refused');
($out, $err) = worker("DELETE FROM $shard");
like($err, qr/can be queried only through the coordinator/, 'direct worker delete without a signature: refused');
($out, $err) = worker("SET pg_rollout.tenant = 'a1'");
isnt($err, '', 'a worker connection cannot name a tenant');
my $forged = 'f' x 64;
($out, $err) = worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, 'public.orders', 'a1', '$forged')");
like($err, qr/invalid tenant signature|can be queried only through the coordinator/, 'a forged signature: refused');

# a genuine signature, captured from the statement the coordinator sends
$coord->safe_psql('postgres', q{ALTER SYSTEM SET citus.log_remote_commands = on; SELECT pg_reload_conf()});
sleep 1;
app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT count(*) FROM orders; COMMIT;});
my ($mac) = slurp_file($coord->logfile) =~ /_citus_guard\((?:\w+\.)?id, '13:public\.orders:a1:([0-9a-f]{64})'::text\)/;
$coord->safe_psql('postgres', q{ALTER SYSTEM RESET citus.log_remote_commands; SELECT pg_reload_conf()});
ok(defined $mac, 'the shard query carries a signature') or diag(slurp_file($coord->logfile));
$mac //= '0' x 64;
($out, $err) = worker("SELECT string_agg(DISTINCT tenant_id, ',') FROM $shard WHERE rollout._citus_guard(id, 'public.orders', 'a1', '$mac')");
like($out . $err, qr/^(a1|)$/, 'replayed by its own role: that tenant\'s rows only (documented)') or diag($err);
($out, $err) = worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, 'public.orders', 'b2', '$mac')");
like($err, qr/invalid tenant signature|can be queried only/, 'the signature of a1 does not open b2');
($out, $err) = worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, 'public.orders', 'a1', '$mac')", 'other');
like($err, qr/invalid tenant signature|can be queried only/, 'another role cannot replay it');
($out, $err) = worker("SELECT count(*) FROM $items_shard WHERE rollout._citus_guard(order_id, 'public.orders', 'a1', '$mac')");
like($err, qr/can be queried only through the coordinator/, 'another table\'s shard cannot be opened with it');
($out, $err) = worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, 'public.orders', 'a1', '$mac') OR true");
like($out . $err, qr/^\d+$/, 'a signature in an OR still filters by its tenant');
my $expect = $w1->safe_psql('postgres', "SELECT count(*) FROM $shard WHERE tenant_id = 'a1'");
is($out, $expect, '... to exactly the tenant\'s rows of the shard');

# --- a shard moved to another worker keeps the protection -----------------
my $shardid = ($shard =~ /_(\d+)$/)[0];
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d, shard_transfer_mode => 'block_writes')},
	$shardid, $w1->port, $w2->port));
is($w2->safe_psql('postgres', "SELECT count(*) > 0 FROM $shard"), 't', "the shard $shard now on worker 2");
($ret, $out, $err) = $w2->psql('postgres', "SELECT count(*) FROM $shard", extra_params => [ '-U', 'app' ]);
like($err, qr/can be queried only through the coordinator/, 'the moved shard is refused on a direct connection');
my $moved_tenant = $coord->safe_psql('postgres', qq{SELECT min(tenant_id) FROM orders WHERE get_shard_id_for_distribution_column('orders', tenant_id) = $shardid});
if ($moved_tenant ne '')
{
	($out, $err) = app(qq{BEGIN; SELECT rollout.set_tenant('$moved_tenant') \\gset
		SELECT string_agg(DISTINCT tenant_id, ',') FROM orders; COMMIT;});
	is($out, $moved_tenant, 'through the coordinator the tenant of the moved shard sees its rows') or diag($err);
}
else
{
	pass('no tenant on the moved shard');
}

# --- the new functions, called by a hostile application role -----------------
($out, $err) = app(q{SELECT rollout._citus_insert_tenant('a1')});
like($err, qr/tenant context required/, '_citus_insert_tenant without context: refused');
($out, $err) = app(q{SELECT rollout._citus_guard(1, 'public.orders', 'a1', repeat('0', 64))});
like($err, qr/invalid tenant signature for table "public.orders"/, '_citus_guard with a forged signature: an error');
($out, $err) = app(q{SELECT rollout._citus_tenant_ok('a1')});
is($out, 'f', '_citus_tenant_ok called directly: false');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT count(*) FROM orders WHERE rollout._citus_guard(id, 'public.orders', 'b2', repeat('0', 64)); COMMIT;});
like($err, qr/invalid tenant signature/, 'a forged guard for another tenant through the coordinator: an error');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	COPY orders FROM stdin;
500	a1	1
\.
	COMMIT;});
isnt($err, '', 'COPY FROM into a distributed protected table: refused') or diag($out);
is($coord->safe_psql('postgres', q{SELECT count(*) FROM orders WHERE id = 500}), '0', '... nothing copied');
($out, $err) = app(q{BEGIN; SELECT rollout.set_tenant('a1') \gset
	SELECT rollout.bypass('x'); COMMIT;});
like($err, qr/permission denied|bypass/, 'bypass is not for the application role');

# --- pg_rollout's policies cannot be dropped or altered by the owner --------
$coord->safe_psql('postgres', q{CREATE ROLE owner_role LOGIN; ALTER TABLE items OWNER TO owner_role});
($ret, $out, $err) = $coord->psql('postgres', q{DROP POLICY pg_rollout_citus_select ON items}, extra_params => [ '-U', 'owner_role' ]);
like($err, qr/cannot drop, alter or rename policy "pg_rollout_citus_select" on protected table "public.items"/,
	'DROP POLICY of pg_rollout\'s policy refused');
($ret, $out, $err) = $coord->psql('postgres', q{ALTER POLICY pg_rollout_citus_baseline ON items USING (true)}, extra_params => [ '-U', 'owner_role' ]);
like($err, qr/cannot drop, alter or rename policy "pg_rollout_citus_baseline"/, 'ALTER POLICY refused');
like($w1->safe_psql('postgres', q{
	SELECT count(*) || ':' || bool_and(EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = to_regclass('items_' || s.shardid)
	                                             AND p.polname LIKE 'pg\_rollout\_citus\_select%'))
	  FROM pg_dist_shard s WHERE s.logicalrelid = 'items'::regclass AND to_regclass('items_' || s.shardid) IS NOT NULL}),
	qr/^[1-9]\d*:true$/, 'the policy is still on each shard of the table on worker 1');

# --- unprotect, then the table is an ordinary distributed table -------------
$coord->safe_psql('postgres', q{SELECT rollout.unprotect_table('plain')});
is($w1->safe_psql('postgres', q{SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relname LIKE 'plain%'}),
	'0', 'unprotect_table drops the policies on the shards');

$_->stop for @nodes;
done_testing();
