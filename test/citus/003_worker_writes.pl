# TAP: who may INSERT into the shards of a distributed protected table
# (issue 16, docs/citus.md §3 "Writes").  The coordinator checks every
# inserted row's tenant and sends the rows over connections that present
# the cluster's node certificate (citus.node_conninfo sslcert/sslkey); a
# shard accepts an INSERT only on such a connection (common name
# pg_rollout.citus_node_cert_cn, verified by ssl_ca_file, the statement
# the client sent), or with a tenant context that every row matches.
#  - through the coordinator: single, multi-row, prepared inserts reach the
#    workers' shards; local execution on the coordinator's own shards;
#  - the attack: an application role connected to a worker directly
#    inserts rows for any tenant: refused without a certificate, over SSL
#    without one, with a spoofed application_name, with a certificate of
#    another common name, with one from another CA; nested in a DO block
#    even with the node certificate; COPY; Citus functions that send SQL
#    to the nodes (run_command_on_workers) or copy tables;
#  - what must keep working: shard moves (block_writes, logical
#    replication), create_distributed_table of a table with rows,
#    superusers;
#  - the setting unset on a worker: the coordinator's inserts there are
#    refused (the secure default), rollout.health() says so.
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
my $certs = cluster_certs();
for my $n (@nodes)
{
	$n->append_conf('postgresql.conf', "pg_rollout.cluster_secret = 'test-secret-0123456789abcdef'\n");
	$n->reload;
}

$coord->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('t' || g) FROM generate_series(0, 19) g;
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int, tenant_id text NOT NULL, amount int, PRIMARY KEY (tenant_id, id));
	INSERT INTO orders SELECT g, 't' || (g % 20), g FROM generate_series(1, 200) g;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app;
});
# create_distributed_table of a protected table that holds rows: Citus
# copies them into the shards (as the superuser calling it)
$coord->safe_psql('postgres', q{SELECT create_distributed_table('orders', 'tenant_id')});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM orders}), '200',
	'create_distributed_table of a protected table with rows: every row in the shards');

# a tenant whose shard is on the given node, and that shard's name
sub tenant_on
{
	my ($table, $node, $skip) = @_;
	return $coord->safe_psql('postgres', sprintf(q{
		SELECT min(t) FROM (SELECT 't' || g AS t FROM generate_series(0, 19) g) x
		 WHERE (SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
		         WHERE p.shardid = get_shard_id_for_distribution_column('%s', x.t)) = %d
		   AND x.t <> '%s'}, $table, $node->port, $skip // ''));
}
sub shard_of
{
	my ($table, $tenant) = @_;
	return $coord->safe_psql('postgres', qq{SELECT '${table}_' || get_shard_id_for_distribution_column('$table', '$tenant')});
}
my $t1 = tenant_on('orders', $w1);
my $t2 = tenant_on('orders', $w2);
my $t1b = tenant_on('orders', $w1, $t1);
ok($t1 ne '' && $t2 ne '', "tenants on worker 1 ($t1) and worker 2 ($t2)");
my $shard1 = shard_of('orders', $t1);

sub app
{
	my ($node, $sql, %p) = @_;
	my ($r, $o, $e) = $node->psql('postgres', "\\set VERBOSITY verbose\n" . $sql,
		$p{connstr} ? (connstr => $p{connstr}) : (extra_params => [ '-U', $p{role} // 'app' ]));
	return ($o, $e);
}
sub count_rows
{
	my ($where) = @_;
	return $coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE $where");
}

# --- through the coordinator: the coordinator's node certificate -------------
my ($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t1') \\gset
	INSERT INTO orders VALUES (1001, '$t1', 1);
	INSERT INTO orders VALUES (1002, '$t1', 1), (1003, '$t1', 1);
	PREPARE ins(int, text) AS INSERT INTO orders VALUES (\$1, \$2, 0);
	EXECUTE ins(1004, '$t1'); EXECUTE ins(1005, '$t1'); EXECUTE ins(1006, '$t1'); EXECUTE ins(1007, '$t1');
	EXECUTE ins(1008, '$t1'); EXECUTE ins(1009, '$t1'); EXECUTE ins(1010, '$t1');
	COMMIT;
	BEGIN; SELECT rollout.set_tenant('$t2') \\gset
	INSERT INTO orders VALUES (1001, '$t2', 1), (1002, '$t2', 1) ON CONFLICT DO NOTHING;
	COMMIT;});
is($err, '', 'inserts through the coordinator into shards on both workers (single, multi-row, prepared, ON CONFLICT DO NOTHING)');
is(count_rows("id > 1000"), '12', '... all rows landed');
is($w1->safe_psql('postgres', "SELECT count(*) FROM $shard1 WHERE id > 1000"), '10', "... in the shard on worker 1 ($shard1)");
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t1') \\gset
	EXPLAIN (ANALYZE, COSTS OFF) INSERT INTO orders VALUES (1030, '$t1', 1); ROLLBACK;});
like($err, qr/insert into shard "orders_\d+" of protected table "public\.orders" is refused.*nested in a function/s,
	'EXPLAIN ANALYZE of an insert into a worker\'s shard: refused there (Citus runs it inside a function; documented)');
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t1') \\gset
	INSERT INTO orders VALUES (1020, '$t2', 1); COMMIT;});
like($err, qr/new row for tenant "$t2" is outside the tenant context "$t1"/, 'the coordinator still checks the tenant of each row');
like($coord->safe_psql('postgres', q{SELECT status || ': ' || detail FROM rollout.health() WHERE check_name = 'citus worker writes'}),
	qr/^ok: shards accept INSERTs from connections with the node certificate 'citus-node'/, 'health(): worker writes authenticated');

# --- the attack: an application role connected to a worker directly ----------
my $refused = qr/42501: insert into shard "$shard1" of protected table "public\.orders" is refused: only the coordinator writes rows into it/;
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2001, '$t1b', 1)");
like($err, $refused, 'a direct insert on a worker (local socket, no certificate): refused, 42501, naming the table');
like($err, qr/did not authenticate with the cluster's node certificate \(common name "citus-node"/, '... the detail says why');
like($err, qr/HINT:.*pg_rollout\.citus_node_cert_cn.*docs\/citus\.md/, '... the hint names the setting and the docs');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2002, '$t1b', 1), (2003, '$t1', 1)");
like($err, $refused, 'a multi-row insert: refused');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2004, '$t1b', 1) ON CONFLICT DO NOTHING");
like($err, $refused, 'INSERT ... ON CONFLICT DO NOTHING: refused');
($out, $err) = app($w1, "WITH w AS (INSERT INTO $shard1 VALUES (2005, '$t1b', 1)) SELECT 1");
like($err, $refused, 'an insert in a WITH: refused');
($out, $err) = app($w1, "PREPARE p(int) AS INSERT INTO $shard1 VALUES (\$1, '$t1b', 1); EXECUTE p(2006);");
like($err, $refused, 'a prepared insert: refused');
($out, $err) = app($w1, qq{COPY $shard1 FROM stdin;
2007	$t1b	1
\\.
});
like($err, qr/42501: COPY FROM into shard "$shard1" of protected table "public\.orders" is refused/, 'COPY into the shard: refused, naming the table');
for my $t ($t1b, $t2)
{
	($out, $err) = app($w1, "INSERT INTO orders VALUES (2008, '$t', 1)");
	like($err, qr/42501: insert into distributed protected table "public\.orders" is refused on this node/,
		"an insert into the distributed table on a worker (Citus's metadata there), tenant $t: refused");
}
($out, $err) = app($w1, q{SET pg_rollout.tenant = 't1'});
like($err, qr/permission denied/, 'a worker connection cannot name a tenant');

my $tcp = sprintf('host=localhost port=%d dbname=postgres user=app', $w1->port);
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2010, '$t1b', 1)", connstr => "$tcp sslmode=require");
like($err, $refused, 'over SSL without a client certificate: refused');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2011, '$t1b', 1)",
	connstr => "$tcp sslmode=require application_name='citus_internal gpid=10000000001'");
like($err, $refused, 'with the application_name of Citus\'s internal connections: refused');
($out, $err) = app($w1, "SET application_name = 'citus_internal gpid=10000000001'; INSERT INTO $shard1 VALUES (2012, '$t1b', 1)");
like($err, $refused, '... set in the session: refused');
($out, $err) = app($w1, "SELECT current_setting('ssl_library') <> '' AS ssl; INSERT INTO $shard1 VALUES (2013, '$t1b', 1)",
	connstr => "$tcp sslmode=verify-ca sslrootcert=$certs->{ca}{crt} sslcert=$certs->{app}{crt} sslkey=$certs->{app}{key}");
like($err, $refused, 'with a certificate of the cluster\'s CA but another common name: refused');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2014, '$t1b', 1)",
	connstr => "$tcp sslmode=verify-ca sslrootcert=$certs->{ca}{crt} sslcert=$certs->{rogue}{crt} sslkey=$certs->{rogue}{key}");
like($err, qr/SSL error: tlsv1 alert unknown ca|certificate verify failed/i, 'with the node\'s common name from another CA: the connection is refused');
unlike($err, qr/INSERT 0 1/, '... and nothing inserted');

# what the coordinator presents: the check is the certificate, and the
# statement the connection sent (not one nested in a function)
my $as_node = "$tcp sslmode=verify-ca sslrootcert=$certs->{ca}{crt} sslcert=$certs->{node}{crt} sslkey=$certs->{node}{key}";
($out, $err) = app($w1, "DO \$\$BEGIN INSERT INTO $shard1 VALUES (2015, '$t1b', 1); END\$\$", connstr => $as_node);
like($err, qr/42501: insert into shard "$shard1".*is nested in a function, procedure or DO block/s,
	'with the node certificate, an insert nested in a DO block: refused');
$coord->safe_psql('postgres', q{CREATE FUNCTION ins_shard(s regclass, t text) RETURNS void LANGUAGE plpgsql
	AS $$BEGIN EXECUTE format('INSERT INTO %s VALUES (2016, %L, 1)', s, t); END$$;
	GRANT EXECUTE ON FUNCTION ins_shard(regclass, text) TO app;});
($out, $err) = app($w1, "SELECT ins_shard('$shard1', '$t1b')", connstr => $as_node);
like($err, qr/is nested in a function/, '... or in a function (Citus propagated it to the worker): refused');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (2017, '$t1b', 1)", connstr => $as_node);
is($err, '', 'with the node certificate, the insert itself is what the coordinator sends: accepted (the key stays on the nodes)');
$w1->safe_psql('postgres', "DELETE FROM $shard1 WHERE id = 2017");
is($w1->safe_psql('postgres', "SELECT count(*) FROM $shard1 WHERE id BETWEEN 2000 AND 2100"), '0',
	'none of the refused rows reached the shard');

# superusers (row security does not apply to them)
$w1->safe_psql('postgres', "INSERT INTO $shard1 VALUES (2018, '$t1', 1)");
is($w1->safe_psql('postgres', "SELECT count(*) FROM $shard1 WHERE id = 2018"), '1', 'a superuser inserts into a shard directly');
$w1->safe_psql('postgres', "DELETE FROM $shard1 WHERE id = 2018");

# --- Citus functions that reach the nodes ----------------------------------------
($out, $err) = app($coord, qq{SELECT success FROM run_command_on_workers(\$\$INSERT INTO $shard1 VALUES (2020, '$t1b', 1)\$\$)});
like($err, qr/42501: master_run_on_worker is reserved to superusers in a database with distributed protected tables/,
	'run_command_on_workers by the application role: refused (it would send the insert over the node certificate)');
($out, $err) = app($coord, qq{SELECT * FROM master_run_on_worker(ARRAY['localhost'], ARRAY[@{[ $w1->port ]}],
	ARRAY[\$\$INSERT INTO $shard1 VALUES (2021, '$t1b', 1)\$\$], false)});
like($err, qr/master_run_on_worker is reserved to superusers/, 'master_run_on_worker directly: refused');
($out, $err) = app($w1, qq{SELECT success FROM run_command_on_workers('SELECT 1')});
like($err, qr/master_run_on_worker is reserved to superusers/, '... on a worker too');
is($coord->safe_psql('postgres', q{SELECT bool_and(success) FROM run_command_on_workers('SELECT 1')}), 't',
	'run_command_on_workers by a superuser works');
my $w2id = $coord->safe_psql('postgres', sprintf(q{SELECT nodeid FROM pg_dist_node WHERE nodeport = %d}, $w2->port));
($out, $err) = app($w1, "SELECT worker_copy_table_to_node('$shard1'::regclass, $w2id)");
like($err, qr/can be queried only through the coordinator/, 'worker_copy_table_to_node of a shard: refused (it reads the shard)');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM orders WHERE id BETWEEN 2000 AND 2100}), '0', 'nothing of it landed');

# --- local execution: the coordinator's own shards -------------------------------
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_set_node_property('localhost', %d, 'shouldhaveshards', true);
	CREATE TABLE notes (id int, tenant_id text NOT NULL, body text);
	SELECT rollout.protect_table('notes', 'tenant_id');
	SELECT create_distributed_table('notes', 'tenant_id', colocate_with => 'none');
	GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app;
}, $coord->port));
my $tl = tenant_on('notes', $coord);
my $tl_other = tenant_on('notes', $coord, $tl);
my $tr = tenant_on('notes', $w1);
ok($tl ne '' && $tl_other ne '' && $tr ne '', "tenants on coordinator shards ($tl, $tl_other) and a worker's ($tr)");
my $lshard = shard_of('notes', $tl);
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	INSERT INTO notes VALUES (1, '$tl', 'a'), (2, '$tl', 'b');
	PREPARE nl(int) AS INSERT INTO notes VALUES (\$1, '$tl', 'p');
	EXECUTE nl(3); EXECUTE nl(4); EXECUTE nl(5); EXECUTE nl(6); EXECUTE nl(7); EXECUTE nl(8);
	COMMIT;
	BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	SET LOCAL citus.enable_local_execution = off;
	INSERT INTO notes VALUES (9, '$tl', 'c');
	COMMIT;
	BEGIN; SELECT rollout.set_tenant('$tr') \\gset
	INSERT INTO notes VALUES (1, '$tr', 'r'); COMMIT;});
is($err, '', 'inserts through the coordinator into its own shard (local execution, prepared, over a connection) and a worker\'s');
is($coord->safe_psql('postgres', q{SELECT tenant_id || ':' || count(*) FROM notes GROUP BY tenant_id ORDER BY 1}),
	join("\n", sort("$tl:9", "$tr:1")), '... all landed');
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	INSERT INTO $lshard VALUES (20, '$tl', 'direct'); COMMIT;});
is($err, '', 'with a tenant context, a direct insert of its own rows into a shard on the coordinator: accepted');
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	INSERT INTO $lshard VALUES (21, '$tl_other', 'direct'); COMMIT;});
like($err, qr/new row for tenant "$tl_other" is outside the tenant context "$tl"/, '... another tenant\'s row: refused');
($out, $err) = app($coord, "INSERT INTO $lshard VALUES (22, '$tl', 'direct')");
like($err, qr/42501: insert into shard "$lshard" of protected table "public\.notes" is refused/, '... without a tenant context: refused');
# Citus copies into its tables without row security, the rows of shards on
# this node directly
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	COPY notes FROM stdin;
40	$tl_other	copied
41	$tl	copied
\\.
	COMMIT;});
like($err, qr/42501: COPY FROM into distributed protected table "public\.notes" is refused/,
	'COPY through the coordinator (rows for its own shards): refused');
($out, $err) = app($w1, "COPY orders FROM stdin;\n4000\t$t1b\t1\n\\.\n");
like($err, qr/42501: COPY FROM into distributed protected table "public\.orders" is refused/, '... and on a worker');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE id > 20}), '0', 'nothing of the refused rows landed');
$coord->safe_psql('postgres', qq{COPY notes FROM stdin;
50	$tl_other	superuser
\\.
});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE id = 50}), '1', 'a superuser copies into it');
$coord->safe_psql('postgres', q{DELETE FROM notes WHERE id = 50});

# --- shard moves keep working and keep the protection --------------------------------
for my $mode ('block_writes', 'force_logical')
{
	my ($from, $to) = $mode eq 'block_writes' ? ($w1, $w2) : ($w2, $w1);
	my $shardid = ($shard1 =~ /_(\d+)$/)[0];
	my $before = count_rows('true');
	$coord->safe_psql('postgres', sprintf(q{
		SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d, shard_transfer_mode => '%s')},
		$shardid, $from->port, $to->port, $mode));
	is($to->safe_psql('postgres', "SELECT count(*) FROM $shard1 WHERE tenant_id = '$t1'"),
		$coord->safe_psql('postgres', "SELECT count(*) FROM orders WHERE tenant_id = '$t1'"), "shard move ($mode): the rows moved");
	is(count_rows('true'), $before, "... none lost");
	my $id = $mode eq 'block_writes' ? 3001 : 3002;
	($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t1') \\gset
		INSERT INTO orders VALUES ($id, '$t1', 1); COMMIT;});
	is($err, '', "... the coordinator inserts into the moved shard");
	($out, $err) = app($to, "INSERT INTO $shard1 VALUES (3010, '$t1b', 1)");
	like($err, qr/is refused: only the coordinator writes rows into it/, '... a direct insert into it is refused');
}
my $before = count_rows('true');
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_move_shard_placement(s.shardid, 'localhost', %d, 'localhost', %d, shard_transfer_mode => 'block_writes')
	  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
	 WHERE s.logicalrelid = 'orders'::regclass AND n.nodeport = %d},
	$w2->port, $w1->port, $w2->port));
$coord->safe_psql('postgres', q{SELECT rebalance_table_shards('orders', shard_transfer_mode => 'block_writes')});
is($coord->safe_psql('postgres', sprintf(q{SELECT count(DISTINCT n.nodeport) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
	JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'orders'::regclass AND n.nodeport <> %d}, $coord->port)),
	'2', 'rebalance_table_shards: the shards of orders on both workers again');
is(count_rows('true'), $before, '... no row lost');

# --- the caches (signature, table names, shards) follow renames within a session ------
$coord->safe_psql('postgres', q{
	CREATE SCHEMA s1;
	CREATE TABLE s1.t (id int, tenant_id text NOT NULL, v int);
	INSERT INTO s1.t SELECT g, 't' || (g % 20), g FROM generate_series(1, 100) g;
	SELECT rollout.protect_table('s1.t', 'tenant_id');
	SELECT create_distributed_table('s1.t', 'tenant_id');
	GRANT USAGE ON SCHEMA s1 TO app;
	GRANT SELECT, INSERT ON s1.t TO app;
});
is($coord->safe_psql('postgres', qq{
	SET ROLE app; SELECT rollout.set_tenant('$t1', local => false) \\gset
	SELECT count(*) FROM s1.t;
	RESET ROLE; ALTER SCHEMA s1 RENAME TO s2;
	SET ROLE app; SELECT count(*) FROM s2.t; INSERT INTO s2.t VALUES (101, '$t1', 0);
	RESET ROLE; ALTER TABLE s2.t RENAME TO u;
	SET ROLE app; SELECT count(*) FROM s2.u;
	RESET ROLE; ALTER ROLE app RENAME TO app2;
	SET ROLE app2; SELECT count(*) FROM s2.u;
	RESET ROLE; ALTER ROLE app2 RENAME TO app;}),
	"5\n5\n6\n6", 'one session: reads and inserts after a schema, a table and a role rename');

# --- the setting unset on a worker: the secure default -------------------------------
for my $n ($coord, $w1, $w2)
{
	$n->append_conf('postgresql.conf', "pg_rollout.citus_node_cert_cn = ''\n");
	$n->reload;
}
sleep 1;
my $t_w = tenant_on('orders', $w1);
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t_w') \\gset
	INSERT INTO orders VALUES (4001, '$t_w', 1); COMMIT;});
like($err, qr/insert into shard "orders_\d+" of protected table "public\.orders" is refused.*pg_rollout\.citus_node_cert_cn is not set on this node/s,
	'the setting unset on the worker: the coordinator\'s insert is refused there, saying why');
like($coord->safe_psql('postgres', q{SELECT status || ': ' || detail FROM rollout.health() WHERE check_name = 'citus worker writes'}),
	qr/^warning: 3 distributed protected table\(s\), but pg_rollout\.citus_node_cert_cn is not set here/, 'health(): warns');
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$tl') \\gset
	INSERT INTO notes VALUES (30, '$tl', 'local'); COMMIT;});
is($err, '', '... a shard on the coordinator itself (local execution) still takes the tenant\'s rows');
($out, $err) = app($w1, "INSERT INTO $shard1 VALUES (4002, '$t1b', 1)", connstr => $as_node);
like($err, qr/pg_rollout\.citus_node_cert_cn is not set on this node/, '... and no certificate opens a shard');
for my $n ($coord, $w1, $w2)
{
	$n->append_conf('postgresql.conf', "pg_rollout.citus_node_cert_cn = 'citus-node'\n");
	$n->reload;
}
sleep 1;
($out, $err) = app($coord, qq{BEGIN; SELECT rollout.set_tenant('$t_w') \\gset
	INSERT INTO orders VALUES (4001, '$t_w', 1); COMMIT;});
is($err, '', 'the setting back: the coordinator inserts there again');

$_->stop for @nodes;
done_testing();
