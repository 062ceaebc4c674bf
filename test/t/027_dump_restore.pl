# TAP: dump and restore the way a DBA does it, on a database filled through
# the public API with every kind of state: a tenant tree with suspended and
# decommissioned tenants, channels and opt-ins/outs, components, versions,
# pins, channel releases, rollouts completed, running (two stages in, with
# metrics), paused, rolled back, approved and draft, blackouts and
# maintenance windows, flags and a kill switch, version policies, an EOL, a
# grace extension, an exemption, a conflict rule, a compliance snapshot,
# remediation tasks and notifications, a release promoted to dev, a bound
# application role and two protected tables (one partitioned), and the audit
# log of all of it.
#
# Dumps: pg_dump -Fc, -Fd -j 2 and plain SQL, each without a warning (a
# foreign key of the tenant tree to itself made every pg_dump warn about
# circular foreign-key constraints).  Restores:
#   - pg_restore -j 4 of the custom and of the directory dump into new databases;
#   - the plain dump through psql -v ON_ERROR_STOP=1;
#   - pg_restore --clean --if-exists -j 4 over a restored copy that moved on;
#   - psql with a plain pg_dump --clean --if-exists over a copy that moved on;
#   - pg_restore -j 4 into a database where CREATE EXTENSION pg_rollout ran
#     first: the one error is the schema that already exists (documented in
#     docs/reference.md, "Dump and restore");
#   - pg_dump by a non-superuser backup login (pg_read_all_data, BYPASSRLS),
#     and the failure without BYPASSRLS or as a protected table's owner;
#   - pg_restore -C of a database with its own enforcement mode (ALTER
#     DATABASE ... SET): it comes back; a restore without -C runs log_only.
# After each: every table equals the source, every tenant of every component
# resolves as in the source, verify_state() is clean, the audit chain and the
# compliance snapshot verify, row security is as in the source, the bound
# application role is confined to its tenant in enforce mode, and tick()
# carries the running rollout on.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dumps');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION pg_rollout');
$node->safe_psql('src', q{
	SET pg_rollout.actor = 'platform-admin@acme.example';
	SELECT rollout.create_tenant('acme-corp', 'ACME Corp', kind => 'organisation');
	SELECT rollout.create_tenants(
	    ARRAY['platform-eng', 'core-services', 'infrastructure', 'product-dev', 'web-app', 'mobile-api', 'data-pipeline', 'security', 'security-tools'],
	    ARRAY['acme-corp', 'platform-eng', 'platform-eng', 'acme-corp', 'product-dev', 'product-dev', 'product-dev', 'acme-corp', 'security'],
	    kinds => ARRAY['team', 'project', 'project', 'team', 'project', 'project', 'project', 'team', 'project'],
	    attributes => ARRAY['{}', '{"scan_volume": 1200}', '{"scan_volume": 300}', '{}', '{"scan_volume": 5000}',
	                        '{"scan_volume": 2500}', '{"scan_volume": 800}', '{}', '{"scan_volume": 150}']::jsonb[]);
	SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg((ARRAY['core-services', 'web-app', 'mobile-api'])[1 + i % 3] ORDER BY i))
	  FROM generate_series(1, 60) i;
	SELECT rollout.suspend_tenant('security-tools', reason => 'contract paused');
	SELECT rollout.decommission_tenant('infrastructure', reason => 'merged');
	SELECT rollout.opt_in('product-dev', 'experimental', reason => 'consent');
	SELECT rollout.set_tenant_channel('product-dev', 'experimental');
	SELECT rollout.opt_out('data-pipeline', 'experimental', reason => 'conservative');
	-- components and versions
	SELECT rollout.create_component(c, 'product') FROM unnest(ARRAY['agent', 'db', 'ui', 'svc', 'clubos-admin']) c;
	SELECT rollout.add_version(c, v::rollout.semver, 'published')
	  FROM unnest(ARRAY['agent', 'db', 'ui', 'svc', 'clubos-admin']) c, unnest(ARRAY['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0']) v;
	SELECT rollout.set_default_version(c, '1.0.0') FROM unnest(ARRAY['agent', 'db', 'ui', 'svc', 'clubos-admin']) c;
	SELECT rollout.set_channel_release('db', 'experimental', '1.2.0', 'early');
	SELECT rollout.pin_version('data-pipeline', 'agent', '1.0.0', 'frozen');
	-- rollouts: completed, running (2 stages in), paused, rolled back, draft, approved
	SELECT rollout.create_rollout('r-done', 'svc', '1.0.0', '1.1.0');
	SELECT rollout.add_stage('r-done', 'all', 'all');
	SELECT rollout.create_rollout('r-run', 'svc', '1.1.0', '2.0.0');
	SELECT rollout.add_stage('r-run', 'canary', 'tenants', tenants => ARRAY['web-app']);
	SELECT rollout.add_stage('r-run', 'quarter', 'percentage', percent => 25, weight_by => 'scan_volume', auto_proceed => true);
	SELECT rollout.add_stage('r-run', 'rest', 'all', auto_proceed => true);
	SELECT rollout.add_trigger('r-run', 'failure_rate_increase', 0.2);
	SELECT rollout.create_rollout('r-paused', 'agent', '1.0.0', '1.1.0');
	SELECT rollout.add_stage('r-paused', 'canary', 'tenants', tenants => ARRAY['core-services']);
	SELECT rollout.add_stage('r-paused', 'rest', 'all');
	SELECT rollout.create_rollout('r-back', 'ui', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r-back', 'half', 'percentage', percent => 50);
	SELECT rollout.create_rollout('r-draft', 'clubos-admin', '1.0.0', '1.1.0');
	SELECT rollout.add_stage('r-draft', 'all', 'all');
	SELECT rollout.create_rollout('r-appr', 'db', '1.0.0', '1.1.0');
	SELECT rollout.add_stage('r-appr', 'all', 'all');
	SET pg_rollout.actor = 'policy-admin@acme.example';
	SELECT rollout.approve_rollout(r, 'ok') FROM unnest(ARRAY['r-done', 'r-run', 'r-paused', 'r-back', 'r-appr']) r;
	SET pg_rollout.actor = 'platform-admin@acme.example';
	SELECT rollout.start_rollout('r-done');
	SELECT rollout.advance_rollout('r-done');
	SELECT rollout.report_metrics('r-run', NULL, ARRAY['failure_rate'], ARRAY[0.1], 'baseline');
	SELECT rollout.start_rollout('r-run');
	SELECT rollout.report_metrics('r-run', ARRAY['web-app', 'web-app'], ARRAY['new_failures', 'failure_rate'], ARRAY[0, 0.1]);
	SELECT rollout.advance_rollout('r-run', 'canary fine');
	SELECT rollout.report_metrics('r-run', ARRAY['p-1', 'p-2'], ARRAY['new_failures', 'failure_rate'], ARRAY[0, 0.1]);
	SELECT rollout.start_rollout('r-paused');
	SELECT rollout.pause_rollout('r-paused', 'investigating');
	SELECT rollout.start_rollout('r-back');
	SELECT rollout.rollback_rollout('r-back', 'regressed');
	SELECT rollout.add_blackout('security', tstzrange('2030-01-01', '2030-01-02'), 'freeze');
	SELECT rollout.add_maintenance_window('p-1', ARRAY[2], '02:00', '04:00', 'UTC', 'change window');
	-- flags
	SELECT rollout.create_flag('beta-ui');
	SELECT rollout.set_flag('beta-ui', 'product-dev', true, 'beta');
	SELECT rollout.create_flag('new-checkout');
	SELECT rollout.kill_flag('new-checkout', 'incident 4711');
	-- governance: policies, EOL, grace extension, exemption, conflict rule, snapshot
	SET pg_rollout.actor = 'dba@acme.example';
	SELECT rollout.set_version_policy('agent', min_version => '1.0.0', baseline => '2.0.0', blocked => '{[2.1.0,2.1.0]}',
	                                  action => 'block', grace_limit => '60 days', reason => 'baseline');
	SELECT rollout.set_version_policy('agent', 'product-dev', min_version => '1.1.0', action => 'report', reason => 'team');
	SELECT rollout.set_version_policy('db', min_version => '1.0.0', action => 'schedule', grace_limit => '45 days', reason => 'keep supported');
	SELECT rollout.set_version_eol('agent', '1.0.0', '2027-06-01', 'vendor EOL');
	SELECT rollout.set_version_eol('db', '1.0.0', now()::date - 10, 'old');
	SELECT rollout.request_grace_extension('core-services', 'agent', '1.0.0', '20 days', 'vendor', ticket => 'CHG-1');
	SELECT rollout.request_exemption('mobile-api', 'agent', '[1.0.0,1.0.0]', 'mitigated', 'WAF rule', now() + interval '30 days', ticket => 'SEC-42');
	SET pg_rollout.actor = 'ciso@acme.example';
	SELECT rollout.approve_grace_extension(1, 'ok');
	SELECT rollout.approve_exemption(1, 'risk accepted');
	SET pg_rollout.actor = 'dba@acme.example';
	SELECT rollout.add_conflict_rule('requires', 'agent', '[1.2.0,)', 'db', '[1.2.0,)', reason => 'protocol');
	SELECT rollout.snapshot_compliance('acme-corp');
	-- remediation: preferences, milestone schedule, concurrency limit, tasks
	SELECT rollout.set_tenant_preference('acme-corp', 'email_digest', 'ops@acme.example', contact => 'ops@acme.example');
	SELECT rollout.set_milestone_schedule('acme-corp', 'agent', eol_days => '{60,14}', forced_days => '{10}', final_days => 3);
	SELECT rollout.set_concurrency_limit('product-dev', 2, settle => '1 hour');
	SELECT tasks_opened > 0 AS tasks FROM rollout.remediate();
	-- release readiness
	SELECT rollout.create_flag('audit_filter_ui_enabled', false, 'kill switch');
	SELECT release_id FROM rollout.create_release('rel-1', 'clubos-admin', '1.2.0', '{"description": "filters", "kill_switch": "audit_filter_ui_enabled"}');
	SELECT class FROM rollout.classify_release('rel-1', 'workflow', 'new UI');
	SELECT channel_id FROM rollout.promote('rel-1', 'dev', 'internal');
	-- isolation: protected tables, a bound application role
	CREATE ROLE dump_app LOGIN IN ROLE rollout_app;
	SELECT rollout.bind_tenant('dump_app', 'product-dev');
	CREATE TABLE public.orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric);
	INSERT INTO public.orders SELECT i, (ARRAY['web-app', 'mobile-api', 'core-services', 'p-3'])[1 + i % 4], i FROM generate_series(1, 200) i;
	GRANT SELECT, INSERT ON public.orders TO rollout_app;
	SELECT rollout.protect_table('public.orders', 'tenant_id', severity => 'critical');
	CREATE TABLE public.events (tenant_id text NOT NULL, at date NOT NULL, id int NOT NULL) PARTITION BY RANGE (at);
	CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
	SELECT rollout.protect_table('public.events', 'tenant_id');
	CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
	INSERT INTO public.events SELECT (ARRAY['web-app', 'core-services'])[1 + i % 2], date '2026-01-01' + (i % 50), i FROM generate_series(1, 100) i;
	GRANT SELECT ON public.events TO rollout_app;
});

my $image_sql = q{
	SELECT string_agg(format('%s.%s %s', n.nspname, c.relname,
	                         query_to_xml(format('SELECT * FROM %I.%I t ORDER BY t::text COLLATE "C"', n.nspname, c.relname),
	                                      true, false, '')), E'\n' ORDER BY n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname IN ('rollout', 'public') AND c.relkind = 'r'
};
my $resolved_sql = q{
	SELECT string_agg(format('%s %s %s %s %s', c.component_id, r.tenant_id, r.version, r.source, r.source_tenant_id),
	                  E'\n' ORDER BY c.component_id, r.tenant_id)
	  FROM rollout.component c, LATERAL rollout.resolve_versions(c.component_id) r
};
my $rls_sql = q{SELECT string_agg(format('%s %s %s', c.relname, c.relrowsecurity, c.relforcerowsecurity), ', ' ORDER BY c.relname)
                  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')};
my $state_sql = q{SELECT coalesce(string_agg(check_name || ': ' || problems, ', '), 'clean')
                    FROM rollout.verify_state() WHERE problems > 0};
my $verify_sql = q{SELECT (SELECT intact FROM rollout.verify_audit()) || ' '
                       || (SELECT content_matches AND audit_matches FROM rollout.verify_compliance_snapshot(1))};

is($node->safe_psql('src', $state_sql), 'clean', 'the source database is consistent');
is($node->safe_psql('src', q{SELECT string_agg(rollout_id || '=' || status, ' ' ORDER BY rollout_id) FROM rollout.rollout}),
	'r-appr=approved r-back=rolled_back r-done=completed r-draft=draft r-paused=paused r-run=running',
	'the source holds rollouts in six states');
cmp_ok($node->safe_psql('src', 'SELECT count(*) FROM rollout.upgrade_task'), '>', 10, 'the source holds upgrade tasks');
# the head of the sealed chain, as a DBA records it elsewhere before the dump
$node->safe_psql('src', 'SELECT rollout.seal_audit()');
my ($head_block, $head_hash) = split /\|/, $node->safe_psql('src', 'SELECT block, block_hash FROM rollout.audit_head()');
cmp_ok($head_block, '>', 0, 'the source chain is sealed');
my $image = $node->safe_psql('src', $image_sql);
my $resolved = $node->safe_psql('src', $resolved_sql);
my $rls = $node->safe_psql('src', $rls_sql);
my $max_event = $node->safe_psql('src', 'SELECT max(event_id) FROM rollout.event_outbox');
is($rls, 'events t t, events_1 t t, events_2 t t, orders t t', 'the protected tables and partitions have row security');

# run a command; returns (success, stderr)
sub run_cmd
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run($_[0], '>', \$out, '2>', \$err);
	return ($ok, $err);
}

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $src = $node->connstr('src');
for my $dump ([ 'custom', [ '-Fc', '-f', "$tmp/src.dump" ] ],
	[ 'directory', [ '-Fd', '-j', '2', '-f', "$tmp/src.dir" ] ],
	[ 'plain', [ '-f', "$tmp/src.sql" ] ],
	[ 'plain --clean --if-exists', [ '--clean', '--if-exists', '-f', "$tmp/src_clean.sql" ] ])
{
	my ($name, $args) = @$dump;
	my ($ok, $err) = run_cmd([ 'pg_dump', @$args, '-d', $src ]);
	ok($ok, "pg_dump $name");
	is($err, '', "pg_dump $name: no warning");
}

# Every check on a restored database; $what names the case.
sub check_restored
{
	my ($db, $what) = @_;
	is($node->safe_psql($db, $image_sql), $image, "$what: every table equals the source");
	is($node->safe_psql($db, $resolved_sql), $resolved, "$what: every tenant resolves as in the source");
	is($node->safe_psql($db, $state_sql), 'clean', "$what: verify_state finds nothing");
	is($node->safe_psql($db, $verify_sql), 'true true', "$what: the audit chain and the compliance snapshot verify");
	is($node->safe_psql($db, qq{SELECT intact FROM rollout.verify_audit($head_block, '$head_hash')}), 't',
		"$what: the chain verifies against the head recorded before the dump");
	is($node->safe_psql($db, $rls_sql), $rls, "$what: row security as in the source");
	my ($ret, $out, $err) = $node->psql($db, q{
		SET pg_rollout.enforcement_mode = 'enforce';
		SET ROLE dump_app;
		SELECT count(*) FROM public.orders;});
	like($err, qr/tenant context required for table "public.orders"/, "$what: enforced, no context is refused");
	is($node->safe_psql($db, q{
		SET pg_rollout.enforcement_mode = 'enforce';
		SET ROLE dump_app;
		BEGIN;
		SELECT FROM rollout.set_tenant('web-app');
		SELECT string_agg(DISTINCT tenant_id, ',') || ' ' || count(*) FROM public.orders;
		SELECT string_agg(DISTINCT tenant_id, ',') || ' ' || count(*) FROM public.events;
		COMMIT;}), "web-app 50\nweb-app 50", "$what: the bound role reads its tenant's rows only, partitions included");
	($ret, $out, $err) = $node->psql($db, q{SET ROLE dump_app; SELECT rollout.set_tenant('core-services');});
	like($err, qr/role "dump_app" may not act for tenant "core-services"/, "$what: the binding still holds");
	is($node->safe_psql($db, q{SELECT string_agg(rollout_id || ' ' || action, ', ') FROM rollout.tick()}),
		'r-run advanced', "$what: tick() carries the running rollout on");
	is($node->safe_psql($db, q{SELECT current_stage || ' ' || status FROM rollout.rollout WHERE rollout_id = 'r-run'}),
		'3 running', "$what: ... to its third stage");
	is($node->safe_psql($db, q{SELECT max(event_id) FROM rollout.event_outbox}) > $max_event ? 'yes' : 'no', 'yes',
		"$what: the tick's events continue the dumped event ids");
	is($node->safe_psql($db, q{SELECT intact FROM rollout.verify_audit()}), 't', "$what: after the tick the chain verifies");
}

# 1, 2: parallel restore of the custom and the directory dump into new databases
for my $case ([ 'custom', "$tmp/src.dump" ], [ 'directory', "$tmp/src.dir" ])
{
	my ($format, $archive) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE dst_$format");
	my ($ok, $err) = run_cmd([ 'pg_restore', '-j', '4', '-d', $node->connstr("dst_$format"), $archive ]);
	ok($ok, "$format: pg_restore -j 4 succeeds");
	is($err, '', "$format: pg_restore reports nothing");
	check_restored("dst_$format", "$format, -j 4");
}

# 3: the plain dump through psql, stopping at the first error
$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
my ($ok, $err) = run_cmd([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null',
	'-d', $node->connstr('dst_plain'), '-f', "$tmp/src.sql" ]);
ok($ok, 'plain: psql -v ON_ERROR_STOP=1 -f restores it');
is($err, '', 'plain: psql reports nothing');
check_restored('dst_plain', 'plain');

# 4: --clean --if-exists over copies that moved on (a tick ran, a tenant, an
# order, a pause, a killed flag): they come back to the dumped state
my $moved_on = q{
	SELECT rollout.create_tenant('after-dump', parent_id => 'acme-corp');
	INSERT INTO public.orders VALUES (1000, 'after-dump', 1);
	SELECT rollout.pause_rollout('r-run', 'after the dump');
	SELECT rollout.kill_flag('beta-ui', 'after the dump');
};
$node->safe_psql('dst_custom', $moved_on);
($ok, $err) = run_cmd([ 'pg_restore', '--clean', '--if-exists', '-j', '4', '-d', $node->connstr('dst_custom'),
	"$tmp/src.dump" ]);
ok($ok, 'pg_restore --clean --if-exists -j 4 over a copy succeeds');
is($err, '', 'pg_restore --clean --if-exists reports nothing');
is($node->safe_psql('dst_custom', q{SELECT count(*) FROM rollout.tenant WHERE tenant_id = 'after-dump'}), '0',
	'--clean: the tenant created after the dump is gone');
check_restored('dst_custom', 'pg_restore --clean --if-exists');

$node->safe_psql('dst_plain', $moved_on);
($ok, $err) = run_cmd([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null',
	'-d', $node->connstr('dst_plain'), '-f', "$tmp/src_clean.sql" ]);
ok($ok, 'plain --clean --if-exists through psql over a copy succeeds');
is($err, '', 'plain --clean --if-exists: psql reports nothing');
check_restored('dst_plain', 'plain --clean --if-exists');

# 5: into a database where the extension was created first
$node->safe_psql('postgres', 'CREATE DATABASE dst_pre');
$node->safe_psql('dst_pre', 'CREATE EXTENSION pg_rollout');
($ok, $err) = run_cmd([ 'pg_restore', '-j', '4', '-d', $node->connstr('dst_pre'), "$tmp/src.dump" ]);
my @errors = $err =~ /ERROR:  (.*)/g;
is(join("\n", @errors), 'schema "rollout" already exists',
	'extension created first: the only error is the schema that already exists');
like($err, qr/errors ignored on restore: 1$/m, '... one error in all');
check_restored('dst_pre', 'extension created first');

# 6: a backup login that is not a superuser: pg_read_all_data and BYPASSRLS
# dump everything (the restore equals the source); without BYPASSRLS the
# protected tables refuse it, as they refuse their owner (protect_table
# forces row security on the owner too), never a dump with rows missing.
$node->safe_psql('postgres', q{
	CREATE ROLE backup_ok LOGIN BYPASSRLS IN ROLE pg_read_all_data;
	CREATE ROLE backup_norls LOGIN IN ROLE pg_read_all_data;
	CREATE ROLE orders_owner LOGIN;
});
(my $backup_connstr = $src) =~ s/$/ user=backup_ok/;
($ok, $err) = run_cmd([ 'pg_dump', '-Fc', '-f', "$tmp/backup.dump", '-d', $backup_connstr ]);
ok($ok, 'pg_dump as a non-superuser with pg_read_all_data and BYPASSRLS');
is($err, '', '... without a warning');
$node->safe_psql('postgres', 'CREATE DATABASE dst_backup');
($ok, $err) = run_cmd([ 'pg_restore', '-j', '4', '-d', $node->connstr('dst_backup'), "$tmp/backup.dump" ]);
ok($ok, '... and its dump restores');
is($node->safe_psql('dst_backup', $image_sql), $image, '... every table equal to the source');
(my $norls_connstr = $src) =~ s/$/ user=backup_norls/;
($ok, $err) = run_cmd([ 'pg_dump', '-Fc', '-f', "$tmp/norls.dump", '-d', $norls_connstr ]);
ok(!$ok, 'pg_dump without BYPASSRLS fails');
like($err, qr/query would be affected by row-level security policy for table "(orders|events_\d)"/,
	'... on a protected table');
$node->safe_psql('src', 'ALTER TABLE public.orders OWNER TO orders_owner');
(my $owner_connstr = $src) =~ s/$/ user=orders_owner/;
($ok, $err) = run_cmd([ 'pg_dump', '-t', 'public.orders', '-f', "$tmp/owner.sql", '-d', $owner_connstr ]);
like($err, qr/query would be affected by row-level security policy for table "orders"/,
	'pg_dump by the owner of a protected table fails the same way');

# The tree has no foreign key to itself any more: verify_state() reports a
# tenant whose parent is missing (rows written past the functions).
$node->safe_psql('dst_pre', q{
	ALTER TABLE rollout.tenant DISABLE TRIGGER USER;
	DELETE FROM rollout.tenant WHERE tenant_id = 'product-dev';
	ALTER TABLE rollout.tenant ENABLE TRIGGER USER;
});
like($node->safe_psql('dst_pre', q{
	SELECT string_agg(check_name || '=' || problems || ' (' || example || ')', E'\n' ORDER BY check_name)
	  FROM rollout.verify_state() WHERE problems > 0}),
	qr/^tenant\.parent_id -> tenant=3 \(product-dev\)$/m, 'verify_state reports tenants whose parent is missing');

# Settings of the database (ALTER DATABASE ... SET, as isolation.md
# suggests for pg_rollout.enforcement_mode) travel with the database, not
# with its contents: pg_restore -C brings them back, a restore into a
# database created by hand does not (the mode silently falls back to
# log_only there).  The application role of this test sets no mode itself.
$node->safe_psql('postgres', q{ALTER DATABASE src SET pg_rollout.enforcement_mode = 'enforce'});
($ok, $err) = run_cmd([ 'pg_dump', '-Fc', '-f', "$tmp/src_db.dump", '-d', $src ]);
ok($ok, 'pg_dump of a database with its own enforcement mode');
$node->safe_psql('postgres', 'ALTER DATABASE src RENAME TO src_before');
($ok, $err) = run_cmd([ 'pg_restore', '-C', '-j', '4', '-d', $node->connstr('postgres'), "$tmp/src_db.dump" ]);
ok($ok, 'pg_restore -C recreates the database');
is($node->safe_psql('src', 'SHOW pg_rollout.enforcement_mode'), 'enforce', 'pg_restore -C: the database keeps enforce');
my ($ret, $out);
($ret, $out, $err) = $node->psql('src', q{SET ROLE dump_app; SELECT count(*) FROM public.orders;});
like($err, qr/tenant context required for table "public.orders"/, 'pg_restore -C: no context is refused without any SET');
$node->safe_psql('postgres', 'CREATE DATABASE dst_nocreate');
($ok, $err) = run_cmd([ 'pg_restore', '-j', '4', '-d', $node->connstr('dst_nocreate'), "$tmp/src_db.dump" ]);
ok($ok, 'pg_restore into a database created by hand');
is($node->safe_psql('dst_nocreate', 'SHOW pg_rollout.enforcement_mode'), 'log_only',
	'without -C the database setting is not restored: log_only (reference.md says so)');

$node->stop;
done_testing();
