# TAP: a crash in the middle of a remediation run loses no notification
# milestone and duplicates none.  The milestones and their outbox events are
# written in one transaction: a crash before its commit leaves neither (and
# the next run sends every one), a crash after it leaves both (and the next
# run sends nothing again).  Two crashes: the server stopped with
# -m immediate while a tick's transaction is open, and a backend killed
# (SIGKILL, the postmaster restarts every backend) in the middle of a
# remediation run's transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('remediation_crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'\nrestart_after_crash = on\n");
$node->start;

# 2 organisations of 60 projects (122 tenants); o2 reads an e-mail digest.
# 1.0.0 reaches EOL in 90 days: today is everyone's eol-90 milestone.
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SET pg_rollout.actor = 'setup';
	SELECT rollout.create_tenants(ARRAY['o1', 'o2'], ARRAY[NULL, NULL]::text[], ARRAY['organisation', 'organisation']);
	SELECT rollout.create_tenants(array_agg('p' || i ORDER BY i), array_agg(CASE WHEN i <= 60 THEN 'o1' ELSE 'o2' END ORDER BY i),
	                              array_fill('project'::text, ARRAY[120]))
	  FROM generate_series(1, 120) i;
	SELECT rollout.create_component('svc', 'product');
	SELECT rollout.add_version('svc', '1.0.0', 'published');
	SELECT rollout.add_version('svc', '2.0.0', 'published');
	SELECT rollout.set_default_version('svc', '1.0.0');
	SELECT rollout.set_tenant_preference('o2', 'email_digest', 'ops@o2.example');
	SELECT rollout.set_version_eol('svc', '1.0.0', pg_catalog.timezone('UTC', now())::date + 90, 'vendor EOL');
	SELECT rollout.remediate(now() - interval '1 day');    -- the tasks; nothing due yesterday
});
my $n = 122;
is($node->safe_psql('postgres', 'SELECT count(*) FROM rollout.upgrade_task'), $n, 'one task per tenant');

sub state_of
{
	my ($milestone) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' ' || count(DISTINCT tenant_id) || ' ' ||
		       (SELECT count(*) FROM rollout.event_outbox e
		         WHERE e.event IN ('remediation.milestone', 'remediation.digest')
		           AND e.event_id IN (SELECT x.event_id FROM rollout.notification x WHERE x.milestone = '$milestone')) || ' ' ||
		       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM rollout.event_outbox e WHERE e.event_id = n.event_id))
		  FROM rollout.notification n WHERE n.milestone = '$milestone'});
}

# ---- 1. the server stops (-m immediate) while a tick's transaction is open
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('BEGIN');
$bg->query_safe('SELECT count(*) FROM rollout.tick()');
is($bg->query_safe("SELECT count(*) FROM rollout.notification WHERE milestone = 'eol-90'"), $n,
	'inside the tick: every eol-90 milestone recorded (not committed)');
$node->stop('immediate');
eval { $bg->quit; };
$node->start;
is(state_of('eol-90'), '0 0 0 0', 'after the crash: no milestone and no event half-written');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rollout.remediation_run WHERE by_tick'), '0',
	'the crashed run left no trace in the ledger');

# the next tick sends every milestone, once: 122 notifications, 2 digests
# (o1 has more than 10, o2 reads e-mail), each notification in its event
$node->safe_psql('postgres', 'SELECT count(*) FROM rollout.tick()');
is(state_of('eol-90'), "$n $n 2 0", 'the next tick: every milestone once, in one digest per organisation');

# ---- 2. crash after the commit: nothing is sent again
$node->stop('immediate');
$node->start;
$node->safe_psql('postgres', 'SELECT rollout.remediate()');
is(state_of('eol-90'), "$n $n 2 0", 'after a crash following the commit: no duplicate');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.event_outbox WHERE event LIKE 'remediation.%'}), '2',
	'no further event');

# ---- 3. a backend killed in the middle of a run (60 days later: eol-30 is due)
$bg = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe('BEGIN');
$bg->query_safe(q{SELECT (rollout.remediate(now() + interval '60 days')).notifications});
is($bg->query_safe("SELECT count(*) FROM rollout.notification WHERE milestone = 'eol-30'"), $n,
	'inside the run: every eol-30 milestone recorded (not committed)');
kill 'KILL', $pid;
eval { $bg->quit; };
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
is(state_of('eol-30'), '0 0 0 0', 'after the killed backend: no eol-30 milestone, no event');
is($node->safe_psql('postgres', q{SELECT (rollout.remediate(now() + interval '60 days')).notifications}), $n,
	'the next run records them all');
is(state_of('eol-30'), "$n $n 2 0", 'each once, in one digest per organisation');
is($node->safe_psql('postgres', q{SELECT (rollout.remediate(now() + interval '60 days')).notifications}), '0',
	'and again: nothing');
is(state_of('eol-90'), "$n $n 2 0", 'the eol-90 milestones are untouched');

# ---- the reference notifier (tools/notifier.py) delivers the outbox once
my $spool = PostgreSQL::Test::Utils::tempdir();
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	my ($stdout, $stderr) = run_command([ 'python3', 'tools/notifier.py', '--once', $spool ]);
	like($stdout, qr/delivered \d+ events \(244 notifications\)/, 'the notifier delivers every notification')
	  or diag($stderr);
	my @mails = glob("$spool/email/ops\@o2.example/*.txt");
	is(scalar(@mails), 2, 'o2: one e-mail per digest (eol-90, eol-30)');
	like(slurp_file($mails[0]), qr/^Subject: 61 upgrade notices for o2/m, 'the e-mail lists the 61 tenants of o2');
	my @inbox = glob("$spool/in_app/*.jsonl");
	is(scalar(@inbox), 61, 'o1: an in-app inbox per tenant');
	my $lines = 0;
	$lines += () = slurp_file($_) =~ /\n/g for @inbox;
	is($lines, 122, 'each with its two notices');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.pending_events WHERE event LIKE 'remediation.%'}), '0',
		'every delivered event is acknowledged');
	($stdout, $stderr) = run_command([ 'python3', 'tools/notifier.py', '--once', $spool ]);
	is($stdout, '', 'a second pass delivers nothing');
}

$node->stop;
done_testing();
