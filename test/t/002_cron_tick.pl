# TAP: rollout.tick() scheduled with real pg_cron advances a due stage, and
# every transition is announced with NOTIFY on channel pg_rollout_events.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron,pg_rollout'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
$node->safe_psql('postgres', q{
	SELECT rollout.create_tenant('org', kind => 'organisation');
	SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3'], ARRAY['org', 'org', 'org'], ARRAY['project', 'project', 'project']);
	SELECT rollout.create_component('svc', 'product', 'Service');
	SELECT rollout.add_version('svc', '1.0.0', 'published');
	SELECT rollout.add_version('svc', '2.0.0', 'published');
	SELECT rollout.set_default_version('svc', '1.0.0');
	SET pg_rollout.actor = 'author@example.com';
	SELECT rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['p1'], auto_proceed => true,
	                         pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'rest', 'all', min_duration => '1 hour', auto_proceed => true);
	SET pg_rollout.actor = 'approver@example.com';
	SELECT rollout.approve_rollout('r1');
});

# Every transition sends a NOTIFY (a session receives its own
# notifications at commit) carrying only the event's id and kind: any role
# may LISTEN, so actor, reason and details stay in the outbox.
my ($ret, $out, $err) = $node->psql('postgres', q{
	LISTEN pg_rollout_events;
	SELECT status FROM rollout.start_rollout('r1', 'window open');
});
is($ret, 0, 'start_rollout succeeds');
like($out, qr/Asynchronous notification "pg_rollout_events" with payload "\{"event": "rollout.started", "event_id": \d+\}"/,
	'rollout.started is notified with its id and kind only');
my ($stage_event) = $out =~ /payload "\{"event": "rollout.stage.started", "event_id": (\d+)\}"/;
ok($stage_event, 'rollout.stage.started is notified with its id');
unlike($out, qr/approver|window open|canary|p1/, 'no actor, reason, stage or tenant in the notifications');
is($node->safe_psql('postgres', qq{SELECT payload -> 'details' ->> 'stage' FROM rollout.pending_events WHERE event_id = $stage_event}),
	'canary', 'the outbox row of the notified id names the stage');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.pending_events WHERE rollout_id = 'r1'}), '4',
	'created, approved, started and stage.started wait in the outbox');

is($node->safe_psql('postgres', q{SELECT rollout.resolve_version('p1', 'svc') || ' ' || rollout.resolve_version('p2', 'svc')}),
	'2.0.0 1.0.0', 'the canary runs 2.0.0, the others 1.0.0');

# The documented pg_cron set-up; the canary is due at once (no minimum
# duration), so the next run of the job advances it.
$node->safe_psql('postgres', q{SELECT cron.schedule('rollout-tick', '* * * * *', 'SELECT rollout.tick()')});
ok($node->poll_query_until('postgres', q{SELECT current_stage = 2 FROM rollout.rollout WHERE rollout_id = 'r1'}),
	'pg_cron ran rollout.tick() and the canary stage advanced');
is($node->safe_psql('postgres', q{SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1}), 'succeeded',
	'the cron job run succeeded');
is($node->safe_psql('postgres', q{SELECT string_agg(name || '=' || status, ',' ORDER BY stage_no) FROM rollout.rollout_stage WHERE rollout_id = 'r1'}),
	'canary=completed,rest=monitoring', 'canary completed, rest is monitored for its hour');
is($node->safe_psql('postgres', q{SELECT rollout.resolve_version('p2', 'svc')}), '2.0.0',
	'the whole tree runs 2.0.0 after the advance');
is($node->safe_psql('postgres', q{SELECT db_user FROM rollout.audit_log WHERE action = 'rollout.stage.completed'}), 'postgres',
	'the advance is audited under the cron job owner');

# The rest stage is not due for an hour: further runs change nothing.
$node->safe_psql('postgres', q{SELECT cron.unschedule('rollout-tick')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.tick()}), '0', 'nothing due: tick does nothing');
ok($node->safe_psql('postgres', q{SELECT (rollout.verify_audit()).intact}) eq 't', 'the audit chain is intact');

$node->stop;
done_testing();
