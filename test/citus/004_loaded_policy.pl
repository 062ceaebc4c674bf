# TAP: the policy pg_rollout_loaded on a distributed protected table
# (issue 16, cost of tenant look-ups).  protect_table() puts the restrictive
# policy pg_rollout_loaded, USING (rollout._library_loaded()), on the table
# beside pg_rollout's own pg_rollout_citus_* policies.  The coordinator's
# planner hook counts it as pg_rollout's (it restricts nothing with the
# library loaded) and drops the table's security quals, since the statement
# carries the tenant (src/citus.c, load_facts).  A policy of that name with
# another qual — a superuser's — is the table's own and keeps applying:
#  - tenants on a coordinator shard (local execution, Citus's fast path and
#    the deparsed path) and on a worker's shard read their rows only;
#  - a superuser's restrictive pg_rollout_loaded (amount < 50) filters those
#    reads on both kinds of shard, simple and prepared;
#  - pg_rollout's policy put back, the reads are whole again;
#  - the guard's compact form, rollout._citus_guard(<column>, '<length of
#    table>:<table>:<tenant>:<signature>'), which the coordinator sends: on a
#    direct worker connection a replayed token gives its role that tenant's
#    rows only; an edited tenant or table, a forged or malformed token,
#    another role: refused.
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
my $secret = 'test-secret-0123456789abcdef';
for my $n (@nodes)
{
	$n->append_conf('postgresql.conf', "pg_rollout.cluster_secret = '$secret'\n");
	$n->reload;
}

$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_set_node_property('localhost', %d, 'shouldhaveshards', true);
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('t' || g) FROM generate_series(0, 9) g;
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE notes (id int, tenant_id text NOT NULL, amount int NOT NULL, PRIMARY KEY (tenant_id, id));
	INSERT INTO notes SELECT g, 't' || (g %% 10), g FROM generate_series(1, 100) g;
	SELECT rollout.protect_table('notes', 'tenant_id', 'critical');
	SELECT create_distributed_table('notes', 'tenant_id');
	GRANT SELECT ON notes TO app;
}, $coord->port));
is($coord->safe_psql('postgres', q{SELECT string_agg(polname || ':' || CASE WHEN polpermissive THEN 'p' ELSE 'r' END, ',' ORDER BY polname)
	FROM pg_policy WHERE polrelid = 'notes'::regclass}),
	'pg_rollout_citus_baseline:p,pg_rollout_citus_delete:p,pg_rollout_citus_select:p,pg_rollout_citus_update:p,pg_rollout_loaded:r',
	'the distributed protected table has pg_rollout\'s policies and the restrictive pg_rollout_loaded');

# Citus re-creates a table's policies on its shards from the catalog without
# AS RESTRICTIVE (its deparser drops it): pg_rollout makes the shards' copy
# of pg_rollout_loaded restrictive again, as on the table (a permissive one
# would OR true into the shard's permissive policies).
for my $n ($coord, $w1, $w2)
{
	like($n->safe_psql('postgres', q{SET citus.override_table_visibility = off;
		SELECT count(*) FILTER (WHERE polpermissive) || '/' || count(*) FROM pg_policy
		 WHERE polname = 'pg_rollout_loaded' AND polrelid::regclass::text LIKE 'notes\_%'}), qr{^0/[1-9]},
		'node ' . $n->port . ': the shards\' pg_rollout_loaded is restrictive');
}

my $placed = q{SELECT min(t) FROM (SELECT 't' || g AS t FROM generate_series(0, 9) g) x
	 WHERE (SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	         WHERE p.shardid = get_shard_id_for_distribution_column('notes', x.t)) %s %d};
my $local = $coord->safe_psql('postgres', sprintf($placed, '=', $coord->port));
my $remote = $coord->safe_psql('postgres', sprintf($placed, '<>', $coord->port));
ok($local ne '' && $remote ne '', "a tenant on a coordinator shard ($local) and one on a worker's ($remote)");

# Reads of tenant $t: aggregate, point look-ups of a row with amount < 50
# and of one with amount >= 50 (simple protocol), the same point look-ups
# prepared (six executions: a generic plan), and with Citus's fast path off
# (the deparsed shard query, planned through the shard's row security).
sub reads
{
	my ($t) = @_;
	my ($n) = $t =~ /(\d)/;
	my ($low, $high) = ($n == 0 ? 10 : $n, 50 + ($n == 0 ? 10 : $n));
	my ($r, $o, $e) = $coord->psql('postgres', qq{SET client_min_messages = warning; BEGIN;
		SELECT rollout.set_tenant('$t') \\gset
		SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) || ':' || max(amount) FROM notes;
		SELECT coalesce(string_agg(amount::text, ','), '-') FROM notes WHERE id = $low;
		SELECT coalesce(string_agg(amount::text, ','), '-') FROM notes WHERE id = $high;
		PREPARE p(int) AS SELECT coalesce(string_agg(amount::text, ','), '-') FROM notes WHERE id = \$1;
		EXECUTE p($low); EXECUTE p($high); EXECUTE p($low); EXECUTE p($high); EXECUTE p($low); EXECUTE p($high);
		SET LOCAL citus.enable_fast_path_router_planner = off;
		SELECT coalesce(string_agg(amount::text, ','), '-') FROM notes WHERE id = $high;
		COMMIT;},
		extra_params => [ '-U', 'app' ]);
	diag($e) if $e ne '';
	return $o;
}

# What tenant $t should read: "t:count:max" of its ids (amount = id), then
# the point look-ups as reads() makes them, '-' for no row.
sub expected
{
	my ($t, $limit) = @_;
	my ($n) = $t =~ /(\d)/;
	my @ids = grep { $_ % 10 == $n && $_ < $limit } 1 .. 100;
	my ($low, $high) = ($n == 0 ? 10 : $n, 50 + ($n == 0 ? 10 : $n));
	my @point = map { $_ < $limit ? $_ : '-' } $low, $high;
	return join("\n", "$t:" . scalar(@ids) . ":$ids[-1]", @point, (@point) x 3, $point[1]);
}

for my $t ($local, $remote)
{
	my ($out) = reads($t);
	is($out, expected($t, 1000), "pg_rollout_loaded is pg_rollout's: tenant $t reads its rows, all of them");
}

# A superuser's own policy of that name, another qual: it applies.
$coord->safe_psql('postgres', q{
	DROP POLICY pg_rollout_loaded ON notes;
	CREATE POLICY pg_rollout_loaded ON notes AS RESTRICTIVE USING (amount < 50);
});
for my $t ($local, $remote)
{
	my ($out) = reads($t);
	is($out, expected($t, 50),
		"a superuser's restrictive pg_rollout_loaded (amount < 50) filters the reads of tenant $t (local and worker shards, fast path, prepared, deparsed)");
}

# pg_rollout's policy put back: the reads are whole again (the cached facts follow the relcache).
$coord->safe_psql('postgres', q{
	DROP POLICY pg_rollout_loaded ON notes;
	SELECT rollout._add_loaded_policy('notes');
});
is($coord->safe_psql('postgres', q{SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = 'notes'::regclass AND polname = 'pg_rollout_loaded'}),
	'rollout._library_loaded()', 'pg_rollout_loaded is pg_rollout\'s again');
for my $t ($local, $remote)
{
	my ($out) = reads($t);
	is($out, expected($t, 1000), "pg_rollout's pg_rollout_loaded back: tenant $t reads all its rows");
}

# --- the guard's compact form -------------------------------------------------
my ($r, $o, $log) = $coord->psql('postgres', qq{BEGIN; SELECT rollout.set_tenant('$remote') \\gset
	SET LOCAL citus.log_remote_commands = on;
	SELECT count(*) FROM notes WHERE id < 1000; COMMIT;}, extra_params => [ '-U', 'app' ]);
my ($token) = $log =~ /rollout\._citus_guard\((?:\w+\.)?id, '(12:public\.notes:\Q$remote\E:[0-9a-f]{64})'::text\)/;
ok(defined $token, 'the coordinator sends the compact guard, one text constant') or diag($log);
$token //= '12:public.notes:' . $remote . ':' . ('0' x 64);
my ($mac) = $token =~ /:([0-9a-f]{64})$/;
my $shard = $coord->safe_psql('postgres', "SELECT shard_name('notes', get_shard_id_for_distribution_column('notes', '$remote'))");
my $port = $coord->safe_psql('postgres', qq{SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	WHERE p.shardid = get_shard_id_for_distribution_column('notes', '$remote')});
my ($worker) = grep { $_->port == $port } ($w1, $w2);
my $expect = $worker->safe_psql('postgres', "SELECT '$remote:' || count(*) FROM $shard WHERE tenant_id = '$remote'");
my $other = $remote eq 't9' ? 't8' : 't9';
$coord->safe_psql('postgres', 'CREATE ROLE other LOGIN IN ROLE rollout_app; GRANT SELECT ON notes TO other');

sub on_worker
{
	my ($sql, $role) = @_;
	my ($ret, $out, $err) = $worker->psql('postgres', $sql, extra_params => [ '-U', $role // 'app' ]);
	return ($out, $err);
}
my $agg = "SELECT string_agg(DISTINCT tenant_id, ',') || ':' || count(*) FROM $shard WHERE";
my ($out, $err) = on_worker("$agg rollout._citus_guard(id, '$token')");
is($out, $expect, 'the compact guard replayed by its own role: that tenant\'s rows of the shard (documented)') or diag($err);
($out, $err) = on_worker("$agg rollout._citus_guard(id, '$token') OR true");
is($out, $expect, 'the compact guard in an OR still filters by its tenant') or diag($err);
($out, $err) = on_worker("$agg rollout._citus_guard(id, 'public.notes', '$remote', '$mac')");
is($out, $expect, 'the earlier four-argument form with the same signature: the same rows') or diag($err);
($out, $err) = on_worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, '12:public.notes:$other:$mac')");
like($err, qr/invalid tenant signature for table "public.notes"|can be queried only through the coordinator/, 'the token with another tenant: invalid');
($out, $err) = on_worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, '13:public.notes2:$remote:$mac')");
like($err, qr/invalid tenant signature for table "public.notes2"|can be queried only through the coordinator/, 'the token with another table: invalid');
($out, $err) = on_worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, '12:public.notes:$remote:" . ('f' x 64) . "')");
like($err, qr/invalid tenant signature for table "public.notes"|can be queried only through the coordinator/, 'a forged signature in the token: invalid');
for my $bad ("$remote:$mac", "99:public.notes:$remote:$mac", "12:public.notes::$mac", "12:public.notes:$remote:" . substr($mac, 1), '')
{
	($out, $err) = on_worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, '$bad')");
	like($err, qr/invalid tenant signature|can be queried only through the coordinator/, "a malformed token ('" . substr($bad, 0, 24) . "'): invalid");
}
# the function itself (evaluated where no shard is read): the same answers, with its own message
sub on_coord
{
	my ($ret, $out, $err) = $coord->psql('postgres', $_[0], extra_params => [ '-U', $_[1] // 'app' ]);
	return ($out, $err);
}
($out, $err) = on_coord("SELECT rollout._citus_guard(1, '$token'), rollout._citus_guard(1, '$token')");
is($out, 't|t', 'rollout._citus_guard(anchor, token) evaluated with a valid token: true') or diag($err);
($out, $err) = on_coord("SELECT rollout._citus_guard(1, '12:public.notes:$other:$mac')");
like($err, qr/invalid tenant signature for table "public.notes"/, 'evaluated with another tenant in the token: an error');
($out, $err) = on_coord("SELECT rollout._citus_guard(1, '$token')", 'other');
like($err, qr/invalid tenant signature for table "public.notes"/, 'evaluated by another role: an error');
for my $bad ("$remote:$mac", "99:public.notes:$remote:$mac", "12:public.notes::$mac", "0:public.notes:$remote:$mac",
	"12:public.notes:$remote:" . substr($mac, 1), "12:public.notes:$remote$mac", '')
{
	($out, $err) = on_coord("SELECT rollout._citus_guard(1, '$bad')");
	like($err, qr/ERROR:  invalid tenant signature/, "evaluated with a malformed token ('" . substr($bad, 0, 24) . "'): an error");
}
is((on_coord("SELECT rollout._citus_guard(1, NULL::text)"))[0], 'f', 'evaluated with NULL: false');

($out, $err) = on_worker("SELECT count(*) FROM $shard WHERE rollout._citus_guard(id, '$token')", 'other');
like($err, qr/invalid tenant signature|can be queried only through the coordinator/, 'another role cannot replay the token');
($out, $err) = on_worker("SELECT count(*) FROM $shard");
like($err, qr/can be queried only through the coordinator/, 'without a guard: refused');

$_->stop for @nodes;
done_testing();
