# TAP: the upgrade path from the released 0.1.0.
#  - a 0.1.0 database filled with real data (tenants, a completed and a
#    running rollout, flags, pins, blackouts, a protected table with rows,
#    the audit rows all of that wrote) keeps working with the new library
#    before ALTER EXTENSION ... UPDATE has run;
#  - after the update its schema (every object, definition, privilege,
#    comment and pg_dump registration: test/schema_snapshot.sql) equals a
#    fresh install of the new version, its data is unchanged, the audit chain
#    verifies, the running rollout continues under tick(), the protected
#    table stays enforced, and the pgTAP object and privilege suites pass;
#  - the comparison notices a missing function, grant, comment or dump
#    registration (checked by removing each from an updated database);
#  - the limits the schema enforces are those of include/pgr_limits.h.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = dirname(dirname(dirname(__FILE__)));    # test/t/ -> repository
$root = '.' unless -f "$root/test/schema_snapshot.sql";
my $snapshot_sql = slurp_file("$root/test/schema_snapshot.sql");

my $control = slurp_file("$root/pg_rollout.control");
my ($current) = $control =~ /^default_version\s*=\s*'([^']+)'/m;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_rollout');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'}),
	$current, "a fresh install is the control file's default version ($current)");

$node->safe_psql('old', q{CREATE EXTENSION pg_rollout VERSION '0.1.0'});
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'}),
	'0.1.0', 'the released 0.1.0 can still be installed');

# --- fill 0.1.0 with real data -------------------------------------------------
$node->safe_psql('old', q{
	SET pg_rollout.actor = 'tap@example.com';
	SELECT rollout.create_tenant('acme', 'ACME', kind => 'organisation', attributes => '{"scan_volume": 10}');
	SELECT rollout.create_tenants(ARRAY['acme-web', 'acme-api', 'acme-etl'], ARRAY['acme', 'acme', 'acme'],
	                              ARRAY['project', 'project', 'project']);
	SELECT rollout.create_tenant('globex', kind => 'organisation');
	SELECT rollout.create_tenant('globex-pos', parent_id => 'globex', kind => 'project');
	SELECT rollout.suspend_tenant('acme-etl', 'unpaid');
	SELECT rollout.create_channel('preview', 27, 'opt_in', allow_opt_in => true);
	SELECT rollout.opt_in('acme', 'experimental', 'consent');
	SELECT rollout.create_component('svc', 'product', 'Service');
	SELECT rollout.add_version('svc', '1.0.0', 'published');
	SELECT rollout.add_version('svc', '1.1.0', 'published');
	SELECT rollout.add_version('svc', '2.0.0', 'published');
	SELECT rollout.set_default_version('svc', '1.0.0');
	SELECT rollout.set_version_eol('svc', '1.0.0', '2027-06-30');
	SELECT rollout.set_channel_release('svc', 'stable', '1.0.0', 'GA');
	-- a completed rollout to 1.1.0
	SELECT rollout.create_rollout('r-done', 'svc', '1.0.0', '1.1.0');
	SELECT rollout.add_stage('r-done', 'everyone', 'all');
	SET pg_rollout.actor = 'approver@example.com';
	SELECT rollout.approve_rollout('r-done');
	SET pg_rollout.actor = 'tap@example.com';
	SELECT rollout.start_rollout('r-done');
	SELECT rollout.advance_rollout('r-done');
	-- a running one to 2.0.0: canary done soon, the rest waits for tick()
	SELECT rollout.create_rollout('r-run', 'svc', '1.1.0', '2.0.0');
	SELECT rollout.add_stage('r-run', 'canary', 'tenants', tenants => ARRAY['acme-web'],
	                         min_duration => '2 seconds', auto_proceed => true);
	SELECT rollout.add_stage('r-run', 'rest', 'all', min_duration => '1 hour', auto_proceed => true);
	SELECT rollout.add_trigger('r-run', 'failure_rate_increase', 0.2);
	SET pg_rollout.actor = 'approver@example.com';
	SELECT rollout.approve_rollout('r-run');
	SET pg_rollout.actor = 'tap@example.com';
	SELECT rollout.start_rollout('r-run');
	SELECT rollout.report_metrics('r-run', ARRAY['acme-web'], ARRAY['new_failures'], ARRAY[0]);
	SELECT rollout.pin_version('globex-pos', 'svc', '1.0.0', 'certified build');
	SELECT rollout.create_flag('beta-ui');
	SELECT rollout.set_flag('beta-ui', 'acme', true, 'beta customer');
	SELECT rollout.kill_flag('beta-ui', 'incident', 'globex');
	SELECT rollout.add_blackout('globex', tstzrange('2030-01-01', '2030-01-02'), 'freeze');
	SELECT rollout.add_maintenance_window('acme-api', ARRAY[6, 7], '02:00', '04:00', 'UTC', 'weekends');
	-- a protected application table
	CREATE ROLE app_user LOGIN IN ROLE rollout_app;
	CREATE TABLE public.orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric);
	INSERT INTO public.orders VALUES (1, 'acme-web', 10), (2, 'acme-api', 20), (3, 'globex-pos', 30);
	GRANT SELECT, INSERT ON public.orders TO app_user;
	SELECT rollout.protect_table('public.orders', 'tenant_id', 'critical');
	-- a table with a policy of its own, which 0.1.0's permissive policy widened
	CREATE TABLE public.payments (id int PRIMARY KEY, tenant_id text NOT NULL, amount int);
	INSERT INTO public.payments VALUES (1, 'acme-web', 10), (2, 'acme-web', -5), (3, 'globex-pos', 7);
	ALTER TABLE public.payments ENABLE ROW LEVEL SECURITY;
	CREATE POLICY positive ON public.payments USING (amount > 0);
	GRANT SELECT ON public.payments TO app_user;
	SELECT rollout.protect_table('public.payments', 'tenant_id', 'critical');
	ALTER DATABASE old SET pg_rollout.enforcement_mode = 'enforce';
});

# A canonical text image of every table of the extension and of the user's,
# limited to the columns 0.1.0 had (public.upgrade_columns, recorded before
# the update; columns the update adds are checked on their own).
my $image_sql = q{
	SELECT string_agg(format('%s.%s %s', c.nspname, c.relname,
	                         query_to_xml(format('SELECT * FROM (SELECT %s FROM %I.%I) t ORDER BY t::text COLLATE "C"',
	                                             c.cols, c.nspname, c.relname), true, false, '')),
	                  E'\n' ORDER BY c.nspname, c.relname)
	  FROM (SELECT n.nspname, cl.relname, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
	          FROM pg_class cl
	          JOIN pg_namespace n ON n.oid = cl.relnamespace
	          JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
	          JOIN public.upgrade_columns u ON (u.nspname, u.relname, u.attname) = (n.nspname, cl.relname, a.attname)
	         WHERE cl.relkind = 'r'
	         GROUP BY 1, 2) c
};
my $resolved_sql = q{
	SELECT string_agg(format('%s %s %s', tenant_id, version, source), ', ' ORDER BY tenant_id)
	  FROM rollout.resolve_versions('svc')
};

# --- the new library against the 0.1.0 schema ---------------------------------
is($node->safe_psql('old', q{SELECT rollout.resolve_version('acme-web', 'svc') || ' ' || rollout.resolve_version('acme-api', 'svc')
	|| ' ' || rollout.resolve_version('globex-pos', 'svc')}),
	'2.0.0 1.1.0 1.0.0', 'before the update: resolution answers from the 0.1.0 schema');
is($node->safe_psql('old', q{SELECT rollout.flag_enabled('acme-web', 'beta-ui')::text || rollout.flag_enabled('globex-pos', 'beta-ui')::text}),
	'truefalse', 'before the update: flags and kill switches');
is($node->safe_psql('old', q{SELECT count(*) FROM rollout.tick()}), '0',
	'before the update: tick() runs and has nothing due');
is($node->safe_psql('old', q{BEGIN; SET LOCAL ROLE app_user; SELECT rollout.set_tenant('acme-web'); SELECT string_agg(id::text, ',') FROM public.orders; COMMIT}),
	"acme-web\n1", 'before the update: the protected table shows the tenant its own rows');
my ($ret, $out, $err) = $node->psql('old', q{SET ROLE app_user; SELECT count(*) FROM public.orders});
isnt($ret, 0, 'before the update: no tenant context is refused in enforce mode');

$node->safe_psql('old', q{
	CREATE TABLE public.upgrade_columns AS
	SELECT n.nspname::text, c.relname::text, a.attname::text
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE n.nspname IN ('rollout', 'public') AND c.relkind = 'r'});
($ret, $out, $err) = $node->psql('old', q{SELECT rollout.create_rollout_from_plan('{"rollout_id": "p", "policy_set": "svc",
	"from_version": "1.1.0", "to_version": "2.0.0",
	"stages": [{"name": "all", "selection": {"method": "all"}, "pass_without_metrics": true}]}')});
like($err, qr/"pass_without_metrics" in a rollout plan needs pg_rollout 0\.2\.0, but this database has 0\.1\.0.*HINT:  Run ALTER EXTENSION pg_rollout UPDATE\./s,
	'before the update: a plan using a 0.2.0 field is refused with a hint to update');
my $image_before = $node->safe_psql('old', $image_sql);
my $resolved_before = $node->safe_psql('old', $resolved_sql);
like($image_before, qr/audit_log/, 'the image covers the audit log');

# --- update ---------------------------------------------------------------------
$node->safe_psql('old', 'ALTER EXTENSION pg_rollout UPDATE');
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'}),
	$current, "ALTER EXTENSION pg_rollout UPDATE reaches $current");

my $snap_fresh = $node->safe_psql('fresh', $snapshot_sql);
my $snap_old = $node->safe_psql('old', $snapshot_sql);
cmp_ok(scalar(split /\n/, $snap_fresh), '>', 1000, 'the schema snapshot lists the objects');
is_deeply([ split /\n/, $snap_old ], [ split /\n/, $snap_fresh ],
	'updated 0.1.0 schema equals a fresh install: objects, definitions, privileges, comments, dump registrations');

is($node->safe_psql('old', $image_sql), $image_before, 'every row is unchanged by the update');
is($node->safe_psql('old', $resolved_sql), $resolved_before, 'every tenant resolves as before');
is($node->safe_psql('old', 'SELECT intact FROM rollout.verify_audit()'), 't', 'the audit chain verifies after the update');
is($node->safe_psql('old', q{SELECT string_agg(rollout_id || '/' || name || '=' || pass_without_metrics, ' ' ORDER BY rollout_id, stage_no)
                               FROM rollout.rollout_stage}),
	'r-done/everyone=true r-run/canary=true r-run/rest=true',
	'stages defined before the update keep passing on time (pass_without_metrics set where they have no criteria)');
is($node->safe_psql('old', q{SELECT count(*) FROM rollout.verify_state() WHERE problems > 0}), '0',
	'verify_state finds the updated database whole');

# the running rollout continues under tick()
$node->safe_psql('old', q{SELECT pg_sleep(2.2)});
$node->safe_psql('old', q{SELECT rollout.tick()});
is($node->safe_psql('old', q{SELECT current_stage || ' ' || status FROM rollout.rollout WHERE rollout_id = 'r-run'}),
	'2 running', 'tick() advances the running rollout after the update');
is($node->safe_psql('old', q{SELECT rollout.resolve_version('globex', 'svc')}), '2.0.0',
	'the advanced stage reaches the other tenants');

# the protected table stays enforced
is($node->safe_psql('old', q{BEGIN; SET LOCAL ROLE app_user; SELECT rollout.set_tenant('globex-pos'); SELECT string_agg(id::text, ',') FROM public.orders; COMMIT}),
	"globex-pos\n3", 'after the update: a tenant sees only its own rows');
($ret, $out, $err) = $node->psql('old', q{SET ROLE app_user; SELECT count(*) FROM public.orders});
isnt($ret, 0, 'after the update: no tenant context is still refused');
like($err, qr/tenant/, 'the refusal names the tenant context');
# the table's own policy is no longer widened (issue 8, item 10)
is($node->safe_psql('old', q{BEGIN; SET LOCAL ROLE app_user; SELECT rollout.set_tenant('acme-web'); SELECT string_agg(id::text, ',') FROM public.payments; COMMIT}),
	"acme-web\n1", "after the update: the table's own policy hides its rows again");
is($node->safe_psql('old', q{SELECT count(*) FROM pg_policy WHERE polname = 'pg_rollout_permissive'}), '0',
	"after the update: 0.1.0's permissive policies are gone");
is($node->safe_psql('old', q{SELECT string_agg(format('%s %s %s', relid, prior_row_security, prior_force_rls), ', ' ORDER BY relid::text)
	FROM rollout.protected_relation}),
	'orders f f, payments t f', 'after the update: the prior row security is inferred as 0.1.0 would have restored it');
is($node->safe_psql('old', q{SELECT string_agg(polrelid::regclass::text, ',' ORDER BY polrelid::regclass::text)
	FROM pg_policy WHERE polname = 'pg_rollout_loaded' AND NOT polpermissive}),
	'payments', 'after the update: the protected table with a permissive policy of its own has the restrictive policy pg_rollout_loaded');
$node->safe_psql('old', q{SELECT rollout.unprotect_table('public.payments')});
is($node->safe_psql('old', q{SELECT count(*) FROM pg_policy WHERE polname = 'pg_rollout_loaded' AND polrelid = 'public.payments'::regclass}),
	'0', 'unprotect_table after the update removes it');
is($node->safe_psql('old', q{SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE oid = 'public.payments'::regclass}),
	'truefalse', 'unprotect_table after the update: the table keeps its own row security');

# the pgTAP object and privilege suites on the updated database
SKIP:
{
	skip 'pg_prove or pgTAP not installed', 1
	  unless system('sh', '-c', 'command -v pg_prove >/dev/null') == 0
	  && $node->safe_psql('old', q{SELECT count(*) FROM pg_available_extensions WHERE name = 'pgtap'}) eq '1';
	$node->safe_psql('old', 'CREATE EXTENSION pgtap');
	my $prove = join(' ',
		'pg_prove', '-h', $node->host, '-p', $node->port, '-d', 'old', '-U', $ENV{PGUSER} // scalar getpwuid($<),
		"$root/test/pgtap/01_objects.sql", "$root/test/pgtap/02_privileges.sql", '2>&1');
	my $result = `$prove`;
	is($?, 0, 'pgTAP object and privilege suites pass on the updated database') or diag($result);
	$node->safe_psql('old', 'DROP EXTENSION pgtap');
}

# --- the comparison notices what an upgrade script could miss --------------------
my %sabotage = (
	'a missing function'          => q{ALTER EXTENSION pg_rollout DROP FUNCTION rollout.audit_head(); DROP FUNCTION rollout.audit_head();},
	'a missing grant'             => q{REVOKE EXECUTE ON FUNCTION rollout.tick(integer) FROM rollout_operator;},
	'an extra PUBLIC grant'       => q{GRANT EXECUTE ON FUNCTION rollout.tick(integer) TO PUBLIC;},
	'a missing comment'           => q{COMMENT ON FUNCTION rollout.tick(integer) IS NULL;},
	'a missing dump registration' => q{UPDATE pg_extension SET extconfig = extconfig[1:array_length(extconfig, 1) - 1],
	                                          extcondition = extcondition[1:array_length(extcondition, 1) - 1]
	                                    WHERE extname = 'pg_rollout';},
	'a changed function body'     => q{CREATE OR REPLACE FUNCTION rollout._actor() RETURNS text LANGUAGE sql STABLE
	                                          SET search_path = pg_catalog, pg_temp AS $$ SELECT session_user::text $$;},
);
for my $what (sort keys %sabotage)
{
	my $changed = $node->safe_psql('old', "BEGIN;\n$sabotage{$what}\n$snapshot_sql;\nROLLBACK;");
	isnt($changed, $snap_fresh, "the snapshot comparison catches $what");
}

# --- limits: the schema enforces include/pgr_limits.h -----------------------------
my $limits = slurp_file("$root/include/pgr_limits.h");
my ($max_len) = $limits =~ /^#define PGR_NAME_MAX_LEN\s+(\d+)/m;
my ($max_depth) = $limits =~ /^#define PGR_MAX_DEPTH\s+(\d+)/m;
ok($max_len && $max_depth, "limits read from include/pgr_limits.h ($max_len, $max_depth)");
for my $db ('fresh', 'old')
{
	my $long = 'a' x $max_len;
	is(scalar($node->psql($db, qq{SELECT rollout.create_tenant('$long'); SELECT rollout.create_component('$long', 'product')})), 0,
		"$db: a $max_len-byte id is accepted");
	($ret, $out, $err) = $node->psql($db, qq{SELECT rollout.create_tenant('${long}b')});
	like($err, qr/invalid tenant id/, "$db: a longer tenant id is refused");
	($ret, $out, $err) = $node->psql($db, qq{SELECT rollout.create_component('${long}b', 'product')});
	like($err, qr/invalid component id/, "$db: a longer component id is refused");
	# a chain exactly max_depth deep is fine, one more level is refused
	is(scalar($node->psql($db, qq{SELECT rollout.create_tenant('d1');
		SELECT rollout.create_tenant('d' || i, parent_id => 'd' || (i - 1)) FROM generate_series(2, $max_depth) i})), 0,
		"$db: a tree $max_depth levels deep is accepted");
	($ret, $out, $err) = $node->psql($db, qq{SELECT rollout.create_tenant('too-deep', parent_id => 'd$max_depth')});
	like($err, qr/deeper than $max_depth levels/, "$db: level " . ($max_depth + 1) . ' is refused');
}

$node->stop;
done_testing();
