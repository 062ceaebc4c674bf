# TAP: what needs a restart or a second database.
#  - without shared_preload_libraries, state changes fail with a clear hint;
#    after adding the library and restarting, they work;
#  - the audit chain and every user row survive a restart;
#  - pg_dump + restore (plain and custom formats) into a fresh database keeps
#    every row a user created, including changed built-in channels, and the
#    audit chain verifies and keeps growing after the restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

# --- not preloaded ---------------------------------------------------------
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
is($node->safe_psql('postgres', 'SELECT rollout.preloaded()'), 'f', 'library not preloaded');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT rollout.create_tenant('acme')");
isnt($ret, 0, 'create_tenant fails without the preloaded library');
like($err, qr/ERROR:  pg_rollout must be loaded via shared_preload_libraries to use the audit log/,
	'error names shared_preload_libraries');
like($err, qr/HINT:  Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server\./,
	'hint says how to fix it');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rollout.tenant'), '0', 'nothing half-written');

# --- preloaded after a restart ---------------------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT rollout.preloaded()'), 't', 'library preloaded after restart');

$node->safe_psql('postgres', q{
	SET pg_rollout.actor = 'tap@example.com';
	SELECT rollout.create_tenant('acme', 'ACME', kind => 'organisation', attributes => '{"scan_volume": 10}');
	SELECT rollout.create_tenant('acme-web', parent_id => 'acme', kind => 'project', test_tenant => true);
	SELECT rollout.create_tenant('acme-api', parent_id => 'acme', kind => 'project');
	SELECT rollout.create_tenant('other', kind => 'organisation');
	SELECT rollout.move_tenant('acme-api', 'other', 'reorg');
	SELECT rollout.suspend_tenant('acme-web', 'paused');
	SELECT rollout.update_channel('experimental', min_soak => '14 days', reason => 'longer soak');
	SELECT rollout.create_channel('beta', 25, 'opt_in', allow_opt_in => true);
	SELECT rollout.set_default_channel('candidate');
	SELECT rollout.opt_in('acme', 'experimental', 'consent');
	SELECT rollout.set_tenant_channel('acme', 'experimental');
	SELECT rollout.create_component('policy:production', 'policy_set');
	SELECT rollout.add_version('policy:production', 'v1.0.0', 'published');
	SELECT rollout.add_version('policy:production', '2.0.0-rc.1');
	SELECT rollout.set_default_version('policy:production', '1.0.0');
	SELECT rollout.set_version_eol('policy:production', '1.0.0', '2027-06-30');
	SELECT rollout.set_version_status('policy:production', '2.0.0-rc.1', 'published');
	SELECT rollout.set_channel_release('policy:production', 'stable', '1.0.0', 'GA');
	SELECT rollout.create_rollout('r-dump', 'policy:production', '1.0.0', '2.0.0-rc.1');
	SELECT rollout.add_stage('r-dump', 'canary', 'tenants', tenants => ARRAY['acme'], min_duration => '1 day',
	                         max_new_failures => 3);
	SELECT rollout.add_stage('r-dump', 'rest', 'all');
	SELECT rollout.add_trigger('r-dump', 'failure_rate_increase', 0.2);
	SET pg_rollout.actor = 'approver@example.com';
	SELECT rollout.approve_rollout('r-dump');
	SELECT rollout.report_metrics('r-dump', NULL, ARRAY['failure_rate'], ARRAY[0.1], 'baseline');
	SELECT rollout.start_rollout('r-dump');
	SELECT rollout.report_metrics('r-dump', ARRAY['acme'], ARRAY['new_failures'], ARRAY[1]);
	SELECT rollout.pin_version('other', 'policy:production', '1.0.0', 'hold');
	SELECT rollout.create_flag('beta');
	SELECT rollout.set_flag('beta', 'acme', true, 'beta customer');
	SELECT rollout.kill_flag('beta', 'incident', 'other');
	SELECT rollout.add_blackout('other', tstzrange('2030-01-01', '2030-01-02'), 'freeze');
});

# A canonical text image of every user table.
my $image_sql = q{
	SELECT string_agg(x, E'\n' ORDER BY x) FROM (
		SELECT 'tenant ' || t::text FROM rollout.tenant t
		UNION ALL SELECT 'channel ' || c::text FROM rollout.channel c
		UNION ALL SELECT 'choice ' || c::text FROM rollout.channel_choice c
		UNION ALL SELECT 'component ' || c::text FROM rollout.component c
		UNION ALL SELECT 'version ' || v::text FROM rollout.component_version v
		UNION ALL SELECT 'audit ' || a::text FROM rollout.audit_log a
		UNION ALL SELECT 'rollout ' || r::text FROM rollout.rollout r
		UNION ALL SELECT 'stage ' || s::text FROM rollout.rollout_stage s
		UNION ALL SELECT 'trigger ' || t::text FROM rollout.rollout_trigger t
		UNION ALL SELECT 'activation ' || a::text FROM rollout.activation a
		UNION ALL SELECT 'sample ' || m::text FROM rollout.metric_sample m
		UNION ALL SELECT 'event ' || e::text FROM rollout.event_outbox e
		UNION ALL SELECT 'pin ' || p::text FROM rollout.pin p
		UNION ALL SELECT 'release ' || c::text FROM rollout.channel_release c
		UNION ALL SELECT 'flag ' || f::text FROM rollout.flag f
		UNION ALL SELECT 'flag_setting ' || f::text FROM rollout.flag_setting f
		UNION ALL SELECT 'blackout ' || b::text FROM rollout.blackout b
		UNION ALL SELECT 'resolved ' || r.tenant_id || '=' || r.version::text || '/' || r.source
		            FROM rollout.resolve_versions('policy:production') r
		UNION ALL SELECT 'flag_enabled ' || t.tenant_id || '=' || rollout.flag_enabled(t.tenant_id, 'beta')::text
		            FROM rollout.tenant t) s(x)
};
my $before = $node->safe_psql('postgres', $image_sql);
like($before, qr/tenant \(acme-api,other/, 'image has the moved tenant');
like($before, qr/resolved acme=2\.0\.0-rc\.1\/rollout/, 'image has the rollout activation as resolved');

$node->restart;
is($node->safe_psql('postgres', $image_sql), $before, 'every row survives a restart');
is($node->safe_psql('postgres', 'SELECT intact FROM rollout.verify_audit()'), 't', 'audit chain intact after restart');

# --- pg_dump and restore ---------------------------------------------------
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->command_ok(['pg_dump', '-d', $node->connstr('postgres'), '-f', "$tmp/plain.sql"], 'pg_dump (plain)');
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', "$tmp/custom.dump"], 'pg_dump (custom)');

$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored_plain'),
	'-f', "$tmp/plain.sql"], 'restore the plain dump with psql');
is($node->safe_psql('restored_plain', $image_sql), $before, 'plain restore: every row is back');

$node->safe_psql('postgres', 'CREATE DATABASE restored_custom');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', $node->connstr('restored_custom'), "$tmp/custom.dump"],
	'pg_restore the custom dump');
is($node->safe_psql('restored_custom', $image_sql), $before, 'custom restore: every row is back');

foreach my $db ('restored_plain', 'restored_custom')
{
	is($node->safe_psql($db, 'SELECT intact FROM rollout.verify_audit()'), 't', "$db: audit chain verifies");
	is($node->safe_psql($db, 'SELECT count(*) FROM rollout.channel'), '5', "$db: built-in and custom channels, no duplicates");
	is($node->safe_psql($db, "SELECT min_soak FROM rollout.channel WHERE channel_id = 'experimental'"), '14 days',
		"$db: a changed built-in channel keeps its change");
	is($node->safe_psql($db, 'SELECT channel_id FROM rollout.channel WHERE is_default'), 'candidate',
		"$db: the default channel is kept");
	# the restored database keeps working and its chain keeps growing
	my $rows = $node->safe_psql($db, 'SELECT rows_checked FROM rollout.verify_audit()');
	$node->safe_psql($db, "SELECT rollout.create_tenant('after-restore', parent_id => 'acme')");
	is($node->safe_psql($db, 'SELECT intact, rows_checked FROM rollout.verify_audit()'), 't|' . ($rows + 1),
		"$db: appends after the restore extend the chain");
	is($node->safe_psql($db, "SELECT path FROM rollout.tenant WHERE tenant_id = 'after-restore'"), '{acme,after-restore}',
		"$db: the tree works after the restore");
	# the restored rollout keeps running: ids continue from the dumped sequences
	$node->safe_psql($db, "SELECT rollout.report_metrics('r-dump', NULL, ARRAY['new_failures'], ARRAY[1])");
	is($node->safe_psql($db, "SELECT count(DISTINCT sample_id) FROM rollout.metric_sample"), '3',
		"$db: new samples get fresh ids after the restore");
	is($node->safe_psql($db, "SELECT status FROM rollout.pause_rollout('r-dump', 'after restore')"), 'paused',
		"$db: the restored rollout can be paused");
	is($node->safe_psql($db, "SELECT count(DISTINCT event_id) = count(*) FROM rollout.event_outbox"), 't',
		"$db: event ids stay unique after the restore");
}

$node->stop;
done_testing();
