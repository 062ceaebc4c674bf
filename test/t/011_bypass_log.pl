# TAP: every rollout.bypass() leaves a durable record even when its
# transaction rolls back and takes the audit row with it (issue 8, item 7):
# a structured server-log line per bypass (never sampled), with the txid
# the audit row carries, a line when it is rolled back, and the counter.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bypass_log');
$node->init;
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = 'pg_rollout'\npg_rollout.log_sample_rate = 0\n});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('acme'), rollout.create_tenant('globex');
	CREATE TABLE orders (id int, tenant_id text NOT NULL);
	INSERT INTO orders VALUES (1, 'acme'), (2, 'globex');
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	CREATE ROLE ops LOGIN IN ROLE rollout_app, rollout_bypass;
	GRANT SELECT ON orders TO ops;
	ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce';
	SELECT pg_reload_conf();
});

my $offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET application_name = 'support-console';
	BEGIN;
	SELECT rollout.set_tenant('acme');
	SELECT rollout.bypass('ticket "4711" \ export');
	SELECT count(*) FROM orders;
	ROLLBACK;
}, extra_params => [ '-U', 'ops' ]);
is($out, "acme\n\n2", 'the bypass read every tenant\'s rows, then the transaction rolled back');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.audit_log WHERE action = 'isolation.bypass'}), '0',
	'its audit row went with the rollback');
is($node->safe_psql('postgres', q{SELECT count FROM rollout.bypasses WHERE reason = 'ticket "4711" \ export'}), '1',
	'the shared-memory counter kept it');

my $log = slurp_file($node->logfile, $offset);
like($log,
	qr/LOG:  pg_rollout: tenant isolation bypass: role=ops tenant=acme reason="ticket \\"4711\\" \\\\ export" application_name="support-console" txid=(\d+) backend_pid=\d+/,
	'the server log has a structured line for the bypass (log_sample_rate = 0 does not apply to it)');
my ($txid) = $log =~ /tenant isolation bypass: .* txid=(\d+)/;
like($log, qr/LOG:  pg_rollout: tenant isolation bypass rolled back: txid=$txid /,
	'and a line saying it was rolled back, with the same txid');

# committed: the audit row carries the txid of the log line
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{BEGIN; SELECT rollout.bypass('ticket 4712'); COMMIT;}, extra_params => [ '-U', 'ops' ]);
$log = slurp_file($node->logfile, $offset);
($txid) = $log =~ /tenant isolation bypass: role=ops .*reason="ticket 4712".* txid=(\d+)/;
ok(defined $txid, 'a committed bypass is logged too');
is($node->safe_psql('postgres', q{SELECT txid::text FROM rollout.audit_log WHERE action = 'isolation.bypass'}), $txid,
	'its audit row has the txid of its log line');

$node->stop;
done_testing();
