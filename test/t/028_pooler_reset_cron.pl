# TAP: what a DBA sets up around pg_rollout, beyond 009_pgbouncer.pl and
# 002_cron_tick.pl.
#
# PgBouncer's server reset (DISCARD ALL): in session mode PgBouncer runs
# server_reset_query (DISCARD ALL by default) before it gives a server
# connection to the next client, and in transaction mode with
# server_reset_query_always = 1 after every transaction.  A session-level
# tenant context (set_tenant(..., local => false), by a login without the
# pg_rollout.session_tenant = refuse recipe) and a session-level
# pg_rollout.actor then end with the client (session mode) or with the
# transaction (reset always): the next client of the server connection gets
# neither, and is refused for lack of tenant context in enforce mode.
#
# pgbench: through PgBouncer in transaction mode (-M extended; PgBouncer
# 1.18 keeps no prepared statements in that mode) and directly with
# -M prepared, every transaction on a random tenant checks that it reads
# exactly its tenant's rows.
#
# pg_cron in another database: pg_cron lives in one database
# (cron.database_name, "postgres" here and by default), the rollouts in the
# application's.  cron.schedule_in_database() runs rollout.tick() there as a
# login holding rollout_operator: the stage advances and the audit log names
# that login; a job of a login without rollout_operator fails with
# "permission denied" in cron.job_run_details.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pgbouncer;
for my $candidate ('/usr/sbin/pgbouncer', '/usr/bin/pgbouncer')
{
	$pgbouncer = $candidate if -x $candidate;
}
my $have_cron = -f (`pg_config --pkglibdir` =~ s/\s+$//r) . '/pg_cron.so';
plan skip_all => 'pgbouncer or pg_cron is not installed (Debian packages pgbouncer, postgresql-15-cron: tools/deps.sh)'
  unless defined $pgbouncer && $have_cron;

my $node = PostgreSQL::Test::Cluster->new('ops');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron,pg_rollout'
pg_rollout.enforcement_mode = 'enforce'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
max_connections = 40
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('app', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('t' || g) FROM generate_series(1, 3) g;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders SELECT g, 't' || (g % 3 + 1) FROM generate_series(1, 30) g;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	CREATE ROLE legacy LOGIN IN ROLE rollout_app;
	GRANT SELECT ON orders TO legacy;
	CREATE ROLE ticker LOGIN IN ROLE rollout_operator;
	CREATE ROLE stranger LOGIN;
});

# --- PgBouncer: session mode, and transaction mode with the reset always ------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my ($host, $port) = ($node->host, $node->port);
open(my $users, '>', "$dir/users.txt") or die "$dir/users.txt: $!";
print $users qq{"legacy" ""\n};
close $users;

# start a PgBouncer with these settings; returns (handle, port)
sub start_bouncer
{
	my ($name, $settings) = @_;
	my $bport = PostgreSQL::Test::Cluster::get_free_port();
	open(my $conf, '>', "$dir/$name.ini") or die "$dir/$name.ini: $!";
	print $conf qq{[databases]
single = host=$host port=$port dbname=app pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
max_client_conn = 20
logfile = $dir/$name.log
pidfile = $dir/$name.pid
ignore_startup_parameters = extra_float_digits
$settings
};
	close $conf;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $pgbouncer, "$dir/$name.ini" ], '>', \$out, '2>', \$err);
	return ($h, $bport);
}

# one client: a psql session through PgBouncer; returns (stdout, stderr)
sub client
{
	my ($bport, $sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', $bport, '-U', 'legacy', '-d', 'single',
			'-v', 'ON_ERROR_STOP=0' ], '<', \$sql, '>', \$out, '2>', \$err);
	chomp $out;
	return ($out, $err);
}

sub wait_up
{
	my ($bport, $name) = @_;
	for (1 .. 100)
	{
		my ($out) = client($bport, 'SELECT 1');
		return 1 if $out eq '1';
		select(undef, undef, undef, 0.1);
	}
	diag(slurp_file("$dir/$name.log"));
	return 0;
}

my ($out, $err);
my ($session, $sport) = start_bouncer('session', "pool_mode = session\n");
ok(wait_up($sport, 'session'), 'PgBouncer is up in session mode (server_reset_query = DISCARD ALL, the default)');
($out, $err) = client($sport, q{
	SELECT rollout.set_tenant('t1', local => false);
	SET pg_rollout.actor = 'alice@example.com';
	SELECT 'pid ' || pg_backend_pid();
	SELECT string_agg(DISTINCT tenant_id, ',') FROM orders;});
my ($pid1) = $out =~ /pid (\d+)/;
like($out, qr/^t1$/m, 'session mode: a session-level context serves its own client');
($out, $err) = client($sport, q{
	SELECT 'pid ' || pg_backend_pid();
	SELECT 'tenant ' || coalesce(rollout.current_tenant(), '-') || ' actor ' || coalesce(nullif(current_setting('pg_rollout.actor'), ''), '-');
	SELECT string_agg(DISTINCT tenant_id, ',') FROM orders;});
my ($pid2) = $out =~ /pid (\d+)/;
is($pid2, $pid1, 'session mode: the next client gets the same server connection');
like($out, qr/^tenant - actor -$/m, '... after DISCARD ALL it has neither the tenant nor the actor of the previous client');
like($err, qr/tenant context required for table "public.orders"/, '... and its read is refused for lack of tenant context');
$session->kill_kill;

my ($always, $aport) = start_bouncer('always', "pool_mode = transaction\nserver_reset_query_always = 1\n");
ok(wait_up($aport, 'always'), 'PgBouncer is up in transaction mode with server_reset_query_always = 1');
($out, $err) = client($aport, q{
	SELECT rollout.set_tenant('t2', local => false);
	SET pg_rollout.actor = 'bob@example.com';
	SELECT 'tenant ' || coalesce(rollout.current_tenant(), '-') || ' actor ' || coalesce(nullif(current_setting('pg_rollout.actor'), ''), '-');
	SELECT string_agg(DISTINCT tenant_id, ',') FROM orders;});
is($out, "t2\ntenant - actor -", 'reset always: a session-level context and actor end with their transaction');
like($err, qr/tenant context required for table "public.orders"/, '... so even its own client\'s next read is refused');
($out, $err) = client($aport, q{BEGIN; SELECT rollout.set_tenant('t2'); SELECT string_agg(DISTINCT tenant_id, ',') FROM orders; COMMIT;});
is($out, "t2\nt2", 'reset always: set_tenant in the transaction works');
$always->kill_kill;

# --- pgbench through PgBouncer in transaction mode, and prepared directly ------
# 8 clients on one server connection, each transaction on a random tenant;
# a transaction that sees a foreign row, or not all of its tenant's 10
# rows, divides by zero and aborts its client (pgbench then exits non-zero).
my $script = "$dir/tenant.sql";
open(my $fh, '>', $script) or die "$script: $!";
print $fh q{\set t random(1, 3)
BEGIN;
SELECT rollout.set_tenant('t' || :t);
SELECT 1 / (count(*) FILTER (WHERE tenant_id = 't' || :t) = 10 AND count(*) = 10)::int FROM orders;
END;
};
close $fh;
my ($txn, $tport) = start_bouncer('txn', "pool_mode = transaction\n");
ok(wait_up($tport, 'txn'), 'PgBouncer is up in transaction mode');
my ($pgb_out, $pgb_err) = ('', '');
my $pgb_ok = IPC::Run::run([ 'pgbench', '-n', '-f', $script, '-c', '8', '-j', '2', '-t', '150', '-M', 'extended',
		'-h', '127.0.0.1', '-p', $tport, '-U', 'legacy', 'single' ], '>', \$pgb_out, '2>', \$pgb_err);
ok($pgb_ok, 'pgbench -M extended through the pooler: no client aborted') or diag($pgb_err);
like($pgb_out, qr/number of transactions actually processed: 1200\/1200/, '... 1200 transactions, each its own tenant\'s rows');
$txn->kill_kill;
($pgb_out, $pgb_err) = ('', '');
$pgb_ok = IPC::Run::run([ 'pgbench', '-n', '-f', $script, '-c', '4', '-j', '2', '-t', '150', '-M', 'prepared',
		'-h', $host, '-p', $port, '-U', 'legacy', 'app' ], '>', \$pgb_out, '2>', \$pgb_err);
ok($pgb_ok, 'pgbench -M prepared, directly: no client aborted (plans reused across tenants)') or diag($pgb_err);
like($pgb_out, qr/number of transactions actually processed: 600\/600/, '... 600 transactions');

# --- pg_cron in another database ------------------------------------------------
$node->safe_psql('app', q{
	SELECT rollout.create_component('svc', 'product');
	SELECT rollout.add_version('svc', '1.0.0', 'published');
	SELECT rollout.add_version('svc', '2.0.0', 'published');
	SELECT rollout.set_default_version('svc', '1.0.0');
	SET pg_rollout.actor = 'author@example.com';
	SELECT rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['t1'], auto_proceed => true,
	                         pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'rest', 'all', min_duration => '1 hour', auto_proceed => true);
	SET pg_rollout.actor = 'approver@example.com';
	SELECT rollout.approve_rollout('r1');
	SELECT rollout.start_rollout('r1');
});
my ($ret, $stdout, $stderr) = $node->psql('app',
	q{SELECT cron.schedule('rollout-tick', '* * * * *', 'SELECT rollout.tick()')});
like($stderr, qr/schema "cron" does not exist/, 'cron.schedule in the application database: pg_cron is not there');
$node->safe_psql('postgres', q{
	SELECT cron.schedule_in_database('rollout-tick', '* * * * *', 'SELECT rollout.tick()', 'app', 'ticker');
	SELECT cron.schedule_in_database('stranger-tick', '* * * * *', 'SELECT rollout.tick()', 'app', 'stranger');
});
ok($node->poll_query_until('app', q{SELECT current_stage = 2 FROM rollout.rollout WHERE rollout_id = 'r1'}),
	'cron.schedule_in_database: pg_cron ran rollout.tick() in the application database, the canary advanced');
is($node->safe_psql('app', q{SELECT db_user FROM rollout.audit_log WHERE action = 'rollout.stage.completed'}), 'ticker',
	'the advance is audited under the login the job runs as');
ok($node->poll_query_until('postgres', q{
	SELECT count(DISTINCT j.jobname) = 2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 WHERE d.status IN ('succeeded', 'failed')}), 'both jobs ran');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT j.jobname || ' ' || d.status, ', ' ORDER BY j.jobname || ' ' || d.status)
	  FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE d.status IN ('succeeded', 'failed')}),
	'rollout-tick succeeded, stranger-tick failed', "the job of a login without rollout_operator fails");
like($node->safe_psql('postgres', q{
	SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 WHERE j.jobname = 'stranger-tick' LIMIT 1}), qr/permission denied for schema rollout/,
	'... with permission denied, in cron.job_run_details');
# the jobs belong to the logins they run as: unschedule them by id
$node->safe_psql('postgres', q{SELECT cron.unschedule(jobid) FROM cron.job});

$node->stop;
done_testing();
