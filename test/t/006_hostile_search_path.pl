# TAP: a role that can create objects in a schema first on its search_path
# must never get its objects run by pg_rollout's internals, least of all
# with raised rights (issue 8, item 1).
#
# mallory has LOGIN and a schema of its own, "evil", which it puts before
# pg_catalog on its search_path.  There it creates hostile operators (every
# comparison, concatenation and arithmetic operator on the types pg_rollout
# uses), hostile functions shadowing the catalog's (lower, pg_has_role,
# quote_ident, cardinality, now, ...), a hostile aggregate (string_agg),
# domains named like the built-in types (text, oid, name, jsonb, ...: an
# unqualified cast to one of them runs the domain's CHECK) and views named
# like catalogs and pg_rollout tables.  Each records current_user in
# evil.hits and, when it runs as a superuser, makes mallory a superuser.
#
# Then mallory exercises every hook path (its first statement on any table,
# which loads the protected-table registry with the bootstrap superuser's
# rights; statements on protected tables in log_only and enforce, with and
# without descendants, the bypass) and, once granted the application and
# operator roles, every public function: set_tenant (fast path, binding
# path, session form), reset/current_tenant, the Citus helpers
# (_citus_guard, _citus_tenant_ok, _citus_insert_tenant), resolution (single, explain,
# bulk, flags), tick, plan loading, the audit chain, the views.  No hostile
# object may run: not with raised rights (which is privilege escalation),
# and not at all from pg_rollout's C code.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('hostile');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SET pg_rollout.actor = 'author';
	SELECT rollout.create_tenant('acme', kind => 'organisation');
	SELECT rollout.create_tenant('acme-web', parent_id => 'acme', kind => 'project');
	SELECT rollout.create_tenant('globex', kind => 'organisation');
	SELECT rollout.create_component('policy:prod', 'policy_set');
	SELECT rollout.add_version('policy:prod', '1.0.0', 'published');
	SELECT rollout.add_version('policy:prod', '2.0.0', 'published');
	SELECT rollout.add_version('policy:prod', '3.0.0', 'published');
	SELECT rollout.set_default_version('policy:prod', '1.0.0');
	SELECT rollout.pin_version('globex', 'policy:prod', '1.0.0', 'freeze');
	SELECT rollout.create_flag('new-ui');
	SELECT rollout.set_flag('new-ui', 'acme', true, 'beta');
	SELECT rollout.create_rollout('r1', 'policy:prod', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['acme-web'], min_duration => '0s',
	                         auto_proceed => true);
	SELECT rollout.add_stage('r1', 'all', 'all', auto_proceed => true);
	SET pg_rollout.actor = 'approver';
	SELECT rollout.approve_rollout('r1', 'fine');
	SELECT rollout.start_rollout('r1');
	SELECT rollout.set_version_policy('policy:prod', baseline => '2.0.0', action => 'block', grace_limit => '90 days',
	                                  reason => 'baseline');
	SELECT rollout.set_version_policy('policy:prod', 'globex', blocked => '{[2.0.0,2.0.0]}', action => 'block',
	                                  reason => 'bad release');
	SELECT rollout.set_version_eol('policy:prod', '1.0.0', current_date - 10);
	SELECT rollout.create_component('policy:dep', 'policy_set');
	SELECT rollout.add_version('policy:dep', '1.0.0', 'published');
	SELECT rollout.set_default_version('policy:dep', '1.0.0');
	SELECT rollout.add_conflict_rule('requires', 'policy:prod', '[2.0.0,)', 'policy:dep', '[2.0.0,)', reason => 'dep');
	SELECT rollout.add_conflict_rule('max_skew', 'policy:dep', max_minors => 1, action => 'block', reason => 'skew');

	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END FROM generate_series(1, 10) g;
	CREATE TABLE invoices (id int PRIMARY KEY, tenant_id varchar NOT NULL);
	INSERT INTO invoices VALUES (1, 'acme'), (2, 'acme-web'), (3, 'globex');
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	SELECT rollout.protect_table('invoices', 'tenant_id', 'high', include_descendants => true);

	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA evil AUTHORIZATION mallory;
});

# The hostile objects, created by mallory itself.
$node->safe_psql('postgres', q{
SET search_path = pg_catalog, pg_temp;
CREATE TABLE evil.hits (who text, sess text, what text);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT SELECT, INSERT ON evil.hits TO PUBLIC;

CREATE FUNCTION evil.hit(what text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO evil.hits VALUES (current_user, session_user, what);
	RAISE WARNING 'HOSTILE % ran as %', what, current_user;
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		EXECUTE 'ALTER ROLE mallory SUPERUSER';
	END IF;
	RETURN true;
END $$;

-- operators
DO $gen$
DECLARE
	o record;
	n int := 0;
BEGIN
	FOR o IN
		SELECT DISTINCT p.oprname, p.oprleft::regtype::text AS l, p.oprright::regtype::text AS r,
		       p.oprresult::regtype::text AS res
		  FROM pg_operator p
		 WHERE p.oprnamespace = 'pg_catalog'::regnamespace AND p.oprkind = 'b'
		   AND p.oprname IN ('=', '<>', '<', '>', '<=', '>=', '||', '+', '-', '*', '/', '~~', '~', '@>', '<@', '&&')
		   AND p.oprleft::regtype::text IN ('text', 'name', 'oid', 'smallint', 'integer', 'bigint', 'boolean',
		        'numeric', 'double precision', 'timestamp with time zone', 'interval', 'date', 'jsonb', 'bytea',
		        'text[]', 'anyarray', 'anycompatiblearray', 'anycompatible', 'anycompatiblenonarray', 'xid8',
		        'anyrange', 'anymultirange', '"char"', 'character varying')
		   AND p.oprright::regtype::text IN ('text', 'name', 'oid', 'smallint', 'integer', 'bigint', 'boolean',
		        'numeric', 'double precision', 'timestamp with time zone', 'interval', 'date', 'jsonb', 'bytea',
		        'text[]', 'anyarray', 'anycompatiblearray', 'anycompatible', 'anycompatiblenonarray', 'xid8',
		        'anyrange', 'anymultirange', '"char"', 'character varying')
	LOOP
		n := n + 1;
		BEGIN
			EXECUTE format('CREATE FUNCTION evil.op%s(a %s, b %s) RETURNS %s LANGUAGE plpgsql AS '
			               '$f$ BEGIN PERFORM evil.hit(%L); RETURN a OPERATOR(pg_catalog.%s) b; END $f$',
			               n, o.l, o.r, o.res, 'operator ' || o.l || ' ' || o.oprname || ' ' || o.r, o.oprname);
			EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op%s)',
			               o.oprname, o.l, o.r, n);
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'skipped operator %(%, %): %', o.oprname, o.l, o.r, SQLERRM;
		END;
	END LOOP;
END
$gen$;

-- functions shadowing the catalog's
DO $gen$
DECLARE
	f record;
	n int := 0;
	args text;
BEGIN
	FOR f IN
		SELECT p.oid, p.proname, p.pronargs, pg_get_function_identity_arguments(p.oid) AS ident,
		       format_type(p.prorettype, NULL) AS res
		  FROM pg_proc p
		 WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND NOT p.proretset
		   AND p.provariadic = 0
		   AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t
		                    WHERE t IN ('"any"'::regtype, 'internal'::regtype, 'cstring'::regtype))
		   AND p.prorettype NOT IN ('internal'::regtype, 'cstring'::regtype, 'void'::regtype, 'trigger'::regtype)
		   AND p.proname IN ('lower', 'upper', 'length', 'btrim', 'ltrim', 'rtrim', 'quote_ident', 'quote_literal',
		                     'quote_nullable', 'pg_has_role', 'has_table_privilege', 'has_function_privilege',
		                     'cardinality', 'array_length', 'array_position', 'array_append', 'array_cat',
		                     'current_setting', 'set_config', 'now', 'clock_timestamp', 'statement_timestamp',
		                     'transaction_timestamp', 'to_jsonb', 'jsonb_typeof', 'jsonb_array_length',
		                     'octet_length', 'chr', 'md5', 'sha256', 'encode', 'decode', 'left', 'right',
		                     'split_part', 'replace', 'strpos', 'array_to_string', 'string_to_array', 'to_char',
		                     'date_trunc', 'age', 'hashtext', 'random', 'floor', 'ceil', 'round', 'abs', 'text',
		                     'int4', 'int8', 'numeric', 'bool', 'oid', 'regclass', 'pg_notify', 'txid_current',
		                     'pg_current_xact_id', 'gen_random_uuid', 'textlen', 'texteq', 'nameeq',
		                     'pg_get_userbyid', 'pg_table_is_visible', 'row_security_active', 'to_regclass',
		                     'format_type', 'jsonb_build_array', 'substr', 'starts_with', 'position',
		                     'array_upper', 'array_lower', 'coalesce', 'nullif', 'greatest', 'least')
	LOOP
		n := n + 1;
		SELECT string_agg('$' || i, ', ') INTO args FROM generate_series(1, f.pronargs) i;
		BEGIN
			EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS '
			               '$f$ BEGIN PERFORM evil.hit(%L); RETURN pg_catalog.%I(%s); END $f$',
			               f.proname, f.ident, f.res, 'function ' || f.proname || '(' || f.ident || ')',
			               f.proname, coalesce(args, ''));
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'skipped function %(%): %', f.proname, f.ident, SQLERRM;
		END;
	END LOOP;
END
$gen$;

-- an aggregate
CREATE FUNCTION evil.agg_step(s text, v text, d text) RETURNS text LANGUAGE plpgsql AS
$f$ BEGIN PERFORM evil.hit('aggregate string_agg'); RETURN s OPERATOR(pg_catalog.||) v; END $f$;
CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.agg_step, STYPE = text);

-- domains named like the built-in types: an unqualified cast runs the CHECK
DO $gen$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['text', 'name', 'oid', 'jsonb', 'regclass', 'regtype', 'regnamespace', 'regproc',
	                         'regprocedure', 'bytea', 'timestamptz', 'interval', 'date', 'xid8', 'tstzrange',
	                         'varchar', 'int4', 'int8', 'bool', 'float8']
	LOOP
		EXECUTE format('CREATE DOMAIN evil.%I AS pg_catalog.%I CHECK (evil.hit(%L))', t, t, 'cast to ' || t);
	END LOOP;
END
$gen$;

-- views named like catalogs and pg_rollout's tables
DO $gen$
DECLARE
	v text;
BEGIN
	FOREACH v IN ARRAY ARRAY['pg_class', 'pg_namespace', 'pg_attribute', 'pg_inherits', 'pg_roles', 'pg_authid',
	                         'pg_proc', 'pg_policy', 'pg_auth_members', 'tenant', 'tenant_binding',
	                         'protected_table', 'audit_log', 'rollout', 'component', 'channel', 'pin', 'flag',
	                         'activation', 'flag_setting', 'channel_choice', 'channel_release', 'rollout_stage',
	                         'deferral', 'activation_history']
	LOOP
		EXECUTE format('CREATE VIEW evil.%I AS SELECT evil.hit(%L) AS hit', v, 'view ' || v);
	END LOOP;
END
$gen$;

});

my $counts = $node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace) || ' operators, '
	    || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'evil'::regnamespace) || ' functions, '
	    || (SELECT count(*) FROM pg_type WHERE typnamespace = 'evil'::regnamespace AND typtype = 'd') || ' domains'});
note "hostile objects: $counts";
cmp_ok((split / /, $counts)[0], '>=', 100, 'mallory owns a hundred or more hostile operators');

# The hostile objects work: run on purpose, they record mallory.
my ($r, $o, $e) = $node->psql('postgres', q{
	SET search_path = evil, pg_catalog, pg_temp;
	SELECT 'a'::pg_catalog.text = 'a'::pg_catalog.text;
}, extra_params => [ '-U', 'mallory' ]);
like($e, qr/HOSTILE operator text = text ran as mallory/, 'a hostile operator runs when used on purpose');
is($node->safe_psql('postgres', "SELECT who FROM evil.hits"), 'mallory', 'and records who ran it');
$node->safe_psql('postgres', 'TRUNCATE evil.hits');

# Run one statement as mallory, in a new session (so that every per-session
# cache, the protected-table registry first, is loaded again) with the
# hostile schema first on its search_path.  Returns (stdout, stderr).
sub as_mallory
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET search_path = evil, pg_catalog, pg_temp, public;\n$sql",
		extra_params => [ '-U', 'mallory' ]);
	return ($out, $err);
}

# After each step: no hostile object ran, in particular not with raised rights.
#
# A SQL-level defect that the C code cannot fix is marked TODO (with the
# reason) for "ran at all" only: escalation is never TODO.
sub no_hits
{
	my ($label, $err, $todo) = @_;
	my $hits = $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(what || ' as ' || who, '; '), '') FROM evil.hits");
	my $escalated = $node->safe_psql('postgres',
		"SELECT count(*) FROM evil.hits WHERE who <> 'mallory'");
	is($escalated, '0', "$label: no hostile object ran with another role's rights")
	  or diag("ran: $hits");
	{
		local $TODO = $todo;
		is($hits, '', "$label: no hostile object ran at all");
		unlike($err // '', qr/HOSTILE/, "$label: no hostile notice");
	}
	is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"), 'f',
		"$label: mallory is still no superuser");
	$node->safe_psql('postgres', 'TRUNCATE evil.hits');
	return;
}

# ---- mallory with LOGIN only: the hook paths ----
my ($out, $err);
($out, $err) = as_mallory('SELECT c.relname FROM pg_catalog.pg_class c LIMIT 1;');
no_hits('first statement on any table (registry load)', $err);
($out, $err) = as_mallory('SELECT * FROM orders;');
like($err, qr/permission denied for table orders/, 'a protected table mallory may not read');
no_hits('statement on a protected table without privileges', $err);

# ---- mallory as an application role ----
$node->safe_psql('postgres', q{
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders, invoices TO mallory;
	GRANT rollout_app TO mallory;
});
($out, $err) = as_mallory('SELECT pg_catalog.count(*) FROM orders;');
is($out, '10', 'log_only: every row');
no_hits('log_only: a read without tenant context (detection)', $err);
($out, $err) = as_mallory(q{SELECT id FROM orders WHERE tenant_id OPERATOR(pg_catalog.=) 'acme'::pg_catalog.text LIMIT 1;});
no_hits('log_only: a read with its own tenant predicate', $err);
($out, $err) = as_mallory(q{SELECT rollout.set_tenant('acme'); SELECT rollout.set_tenant('acme');});
is($out, "acme\nacme", 'set_tenant: slow path then fast path');
no_hits('set_tenant (validation, then the known-tenant fast path)', $err);
($out, $err) = as_mallory(q{SELECT rollout.set_tenant('acme', local => false); SELECT rollout.current_tenant(); SELECT rollout.reset_tenant();});
no_hits('set_tenant for the session, current_tenant, reset_tenant', $err);
($out, $err) = as_mallory(q{SELECT rollout.set_tenant('nope');});
like($err, qr/tenant "nope"/, 'set_tenant of an unknown tenant fails');
no_hits('set_tenant of an unknown tenant', $err);

$node->safe_psql('postgres', "ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce'; SELECT pg_reload_conf();");
sleep 1;
($out, $err) = as_mallory('SELECT pg_catalog.count(*) FROM orders;');
like($err, qr/tenant context required/, 'enforce: refused without tenant context');
no_hits('enforce: refused without tenant context', $err);
($out, $err) = as_mallory(q{BEGIN; SELECT rollout.set_tenant('acme'); SELECT pg_catalog.count(*) FROM orders;
	SELECT pg_catalog.count(*) FROM invoices; INSERT INTO orders VALUES (100, 'acme'); DELETE FROM orders WHERE id OPERATOR(pg_catalog.=) 100; COMMIT;});
is($out, "acme\n5\n2", 'enforce: the tenant\'s rows (and its descendants\' where included)');
no_hits('enforce: reads and writes with tenant context (row-security qual, _tenants_for)', $err);
# the functions of distributed protected tables (docs/citus.md), callable by anyone
($out, $err) = as_mallory(q{BEGIN; SELECT rollout.set_tenant('acme'); SELECT rollout._citus_insert_tenant('acme');
	SELECT rollout._citus_tenant_ok('acme'); COMMIT;});
is($out, "acme\nacme\nf", '_citus_insert_tenant, _citus_tenant_ok');
no_hits('_citus_insert_tenant, _citus_tenant_ok', $err);
($out, $err) = as_mallory(q{SELECT rollout._citus_guard(1, 'public.orders', 'acme', pg_catalog.repeat('0', 64));});
like($err, qr/invalid tenant signature/, '_citus_guard with a forged signature fails');
no_hits('_citus_guard', $err);
($out, $err) = as_mallory(q{PREPARE q AS SELECT pg_catalog.count(*) FROM invoices; BEGIN; SELECT rollout.set_tenant('globex');
	EXECUTE q; SELECT rollout.set_tenant('acme-web'); EXECUTE q; COMMIT;});
is($out, "globex\n1\nacme-web\n1", 'enforce: a prepared statement across a tenant switch');
no_hits('enforce: prepared statement across a tenant switch', $err);

# bindings exist: set_tenant's binding check
$node->safe_psql('postgres', q{SELECT rollout.bind_tenant('mallory', 'acme');});
($out, $err) = as_mallory(q{SELECT rollout.set_tenant('acme-web');});
is($out, 'acme-web', 'a bound role sets a tenant inside its subtree');
no_hits('set_tenant with role bindings', $err);
($out, $err) = as_mallory(q{SELECT rollout.set_tenant('globex');});
like($err, qr/globex/, 'a bound role cannot set a tenant outside its subtree');
no_hits('set_tenant refused by a binding', $err);

# the audited bypass
$node->safe_psql('postgres', q{GRANT rollout_bypass TO mallory;});
($out, $err) = as_mallory(q{BEGIN; SELECT rollout.bypass('support ticket 1'); SELECT pg_catalog.count(*) FROM orders; COMMIT;});
like($out, qr/10$/, 'bypass: every row');
no_hits('bypass (audited)', $err);

# utility statements on protected tables (the ProcessUtility hook)
($out, $err) = as_mallory(q{TRUNCATE orders;});
like($err, qr/cannot truncate protected table/, 'TRUNCATE of a protected table is refused');
no_hits('TRUNCATE (ProcessUtility hook)', $err);
($out, $err) = as_mallory(q{ALTER TABLE orders DISABLE ROW LEVEL SECURITY;});
like($err, qr/cannot disable row level security on protected table/, 'DDL switching protection off is refused');
no_hits('ALTER TABLE (ProcessUtility hook)', $err);

# ---- mallory as an operator: every public function ----
$node->safe_psql('postgres', q{GRANT rollout_operator TO mallory;});
# releases created and promoted by an admin (here the superuser), worked on by mallory
$node->safe_psql('postgres', q{
	SELECT rollout.create_release('rel-h', 'policy:prod', '1.0.0', '{"kill_switch": "new-ui"}', 'ui_only');
	SELECT rollout.promote('rel-h', 'dev');
	SELECT rollout.create_release('rel-h2', 'policy:prod', '3.0.0');});
my @calls = (
	[ 'resolve_version', q{SELECT rollout.resolve_version('acme-web', 'policy:prod');} ],
	[ 'explain_version', q{SELECT pg_catalog.count(*) FROM rollout.explain_version('acme-web', 'policy:prod');} ],
	[ 'resolve_versions (bulk)', q{SELECT pg_catalog.count(*) FROM rollout.resolve_versions('policy:prod');} ],
	[ 'resolve_versions (listed)', q{SELECT pg_catalog.count(*) FROM rollout.resolve_versions('policy:prod', ARRAY['acme', 'globex']);} ],
	[ 'effective_channels', q{SELECT pg_catalog.count(*) FROM rollout.effective_channels();} ],
	[ 'flag_enabled', q{SELECT rollout.flag_enabled('acme-web', 'new-ui');} ],
	[ 'explain_flag', q{SELECT pg_catalog.count(*) FROM rollout.explain_flag('acme-web', 'new-ui');} ],
	[ 'resolve_cache_stats', q{SELECT rollout.resolve_version('acme', 'policy:prod'); SELECT entries FROM rollout.resolve_cache_stats();} ],
	[ 'tick', q{SELECT rollout.tick();} ],
	[ 'create_rollout_from_plan', q{SET pg_rollout.actor = 'planner';
		SELECT (rollout.create_rollout_from_plan('{"rollout_id": "from-plan", "component": "policy:prod",
		  "from_version": "2.0.0", "to_version": "3.0.0",
		  "stages": [{"name": "s", "selection": {"method": "all"}}]}')).rollout_id;} ],
	[ 'report_metrics', q{SELECT rollout.report_metrics('r1', '[{"tenant": "acme-web", "metric": "new_failures", "value": 1}]');} ],
	[ 'pin and unpin', q{SELECT rollout.pin_version('acme-web', 'policy:prod', '1.0.0', 'x'); SELECT rollout.unpin_version('acme-web', 'policy:prod', 'x');} ],
	[ 'set_flag and kill_flag', q{SELECT rollout.set_flag('new-ui', 'acme-web', false, 'x'); SELECT rollout.kill_flag('new-ui', 'x');} ],
	[ 'tenant_path, ancestors', q{SELECT rollout.tenant_path('acme-web'); SELECT pg_catalog.count(*) FROM rollout.ancestors('acme-web');} ],
	[ 'descendants', q{SELECT pg_catalog.count(*) FROM rollout.descendants('acme');} ],
	[ 'is_ancestor', q{SELECT rollout.is_ancestor('acme', 'acme-web');} ],
	[ 'tenant_channels, effective_channel', q{SELECT pg_catalog.count(*) FROM rollout.tenant_channels('acme-web'); SELECT rollout.effective_channel('acme-web');} ],
	[ 'bucket, weight_key', q{SELECT rollout.bucket('\x0102030405060708', 'acme'); SELECT rollout.weight_key('\x0102030405060708', 'acme', 2);} ],
	[ 'in_blackout, activation_hold', q{SELECT rollout.in_blackout('acme'); SELECT rollout.activation_hold('acme');} ],
	[ 'tenant_history', q{SELECT pg_catalog.count(*) FROM rollout.tenant_history('acme-web', 'policy:prod');} ],
	[ 'preview, preview_summary', q{SELECT pg_catalog.count(*) FROM rollout.preview('r1'); SELECT pg_catalog.count(*) FROM rollout.preview_summary('r1');} ],
	[ 'stage_metric, evaluate_stage, breached_trigger', q{SELECT rollout.stage_metric('r1', 1, 'new_failures'); SELECT pg_catalog.count(*) FROM rollout.evaluate_stage('r1', 1); SELECT pg_catalog.count(*) FROM rollout.breached_trigger('r1');} ],
	[ 'tenant writes', q{SET pg_rollout.actor = 'op'; SELECT rollout.create_tenant('acme-new', parent_id => 'acme') IS NOT NULL;
		SELECT rollout.update_tenant('acme-new', display_name => 'New') IS NOT NULL; SELECT rollout.suspend_tenant('acme-new', 'x') IS NOT NULL;
		SELECT rollout.reactivate_tenant('acme-new', 'x') IS NOT NULL;} ],
	[ 'seal_audit', q{SELECT rollout.seal_audit() OPERATOR(pg_catalog.>=) 0;} ],
	[ 'verify_audit', q{SELECT intact FROM rollout.verify_audit();} ],
	[ 'verify_state', q{SELECT pg_catalog.count(*) FROM rollout.verify_state();} ],
	[ 'health and metrics views', q{SELECT pg_catalog.count(*) FROM rollout.health();
		SELECT pg_catalog.count(*) FROM rollout.metrics_rollouts; SELECT pg_catalog.count(*) FROM rollout.metrics_rollout_progress;
		SELECT pg_catalog.count(*) FROM rollout.metrics_activations; SELECT pg_catalog.count(*) FROM rollout.metrics_tick;
		SELECT pg_catalog.count(*) FROM rollout.metrics_events; SELECT pg_catalog.count(*) FROM rollout.metrics_violations;
		SELECT pg_catalog.count(*) FROM rollout.metrics_bypasses; SELECT pg_catalog.count(*) FROM rollout.metrics_state;
		SELECT pg_catalog.count(*) FROM rollout.metrics_audit_verification; SELECT pg_catalog.count(*) FROM rollout.metrics_compliance;
		SELECT pg_catalog.count(*) FROM rollout.metrics_compliance_status; SELECT pg_catalog.count(*) FROM rollout.metrics_compliance_totals;
		SELECT pg_catalog.count(*) FROM rollout.metrics_refresh_last; SELECT pg_catalog.count(*) FROM rollout.metrics_release;} ],
	[ 'audit_head', q{SELECT block OPERATOR(pg_catalog.>) 0 FROM rollout.audit_head();} ],
	[ 'verify_audit against a head', q{SELECT intact FROM rollout.audit_head() h, rollout.verify_audit(h.block, h.block_hash);} ],
	[ 'violation functions', q{SELECT pg_catalog.count(*) FROM rollout.violation_counts(); SELECT pg_catalog.count(*) FROM rollout.recent_violations(); SELECT pg_catalog.count(*) FROM rollout.bypass_counts();} ],
	[ 'governance views', q{SELECT pg_catalog.count(*) FROM rollout.drift_roster; SELECT pg_catalog.count(*) FROM rollout.compliance_summary;
		SELECT pg_catalog.count(*) FROM rollout.version_distribution; SELECT pg_catalog.count(*) FROM rollout.exemption_ledger;} ],
	[ 'governance reads', q{SELECT pg_catalog.count(*) FROM rollout.simulate_policy('policy:prod', min_version => '2.0.0');
		SELECT pg_catalog.count(*) FROM rollout.resolve_versions_all();
		SELECT pg_catalog.count(*) FROM rollout.exemption e
		 WHERE rollout.exemption_applies(e, ARRAY['acme', 'acme-web'], 'policy:prod', '1.0.0', pg_catalog.now());
		SELECT pg_catalog.count(*) FROM rollout.check_version('acme-web', 'policy:prod', '1.0.0');
		SELECT (rollout.exemption_for('acme-web', 'policy:prod', '1.0.0')).exemption_id;
		SELECT pg_catalog.count(*) FROM rollout.version_policies();
		SELECT pg_catalog.count(*) FROM rollout.drift_roster_at(pg_catalog.now() OPERATOR(pg_catalog.+) interval '40 days');
		SELECT pg_catalog.count(*) FROM rollout.compliance_summary_at(pg_catalog.now(), 'policy:prod');
		SELECT pg_catalog.count(*) FROM rollout.version_distribution_at(pg_catalog.now(), 'policy:prod');
		SELECT pg_catalog.count(*) FROM rollout.exemption_ledger_at(pg_catalog.now());} ],
	[ 'conflicts', q{SELECT pg_catalog.count(*) FROM rollout.conflict_roster;
		SELECT pg_catalog.count(*) FROM rollout.conflicts_at(pg_catalog.now(), 'policy:prod');
		SELECT pg_catalog.count(*) FROM rollout.conflict_rule r WHERE rollout.conflict_broken(r, '2.0.0', '1.0.0', '2.0.0');
		SELECT rollout.pin_version('acme-web', 'policy:dep', '1.0.0', 'x'); SELECT rollout.unpin_version('acme-web', 'policy:dep', 'x');} ],
	[ 'compliance snapshots and reports', q{SET pg_rollout.actor = 'op';
		SELECT (rollout.snapshot_compliance('acme')).snapshot_id OPERATOR(pg_catalog.>) 0;
		SELECT rollout.compliance_report('acme') IS NOT NULL; SELECT rollout.compliance_report('acme', pg_catalog.now()) IS NOT NULL;
		SELECT pg_catalog.count(*) FROM rollout.compliance_report_rows('acme');
		SELECT content_matches FROM rollout.verify_compliance_snapshot(1);
		SELECT rollout.snapshot_retention();} ],
	[ 'update statistics and governance metrics', q{SELECT pg_catalog.count(*) FROM rollout.update_statistics('policy:prod', 'acme');
		SELECT drift_total FROM rollout.metrics_governance;} ],
	[ 'policy enforcement (slow path)', q{SELECT rollout.pin_version('acme-web', 'policy:prod', '2.0.0', 'x');
		SELECT rollout.unpin_version('acme-web', 'policy:prod', 'x');} ],
	[ 'exemption and grace extension requests', q{SET pg_rollout.actor = 'op';
		SELECT (rollout.request_exemption('acme-web', 'policy:prod', '[1.0.0,1.0.0]', 'waiver', 'x',
		                                  pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 day')).exemption_id IS NOT NULL;
		SELECT (rollout.request_grace_extension('acme-web', 'policy:prod', '1.0.0', '1 day', 'x')).extension_id IS NOT NULL;} ],
	[ 'releases: classify, manifest, checks, plan, kill-switch test, readiness, incidents', q{
		SELECT rollout.classify_release('rel-h2', 'ui_only', 'x') IS NOT NULL;
		SELECT rollout.update_release_manifest('rel-h', '{"kill_switch": "new-ui", "description": "d"}', 'x') IS NOT NULL;
		SELECT rollout.record_check('rel-h', 'hs.restore_path', true, 'x') IS NOT NULL;
		SELECT rollout.set_exposure_plan('rel-h', ARRAY['acme-web'], 'x', '1 day', ARRAY['x'], 'x') IS NOT NULL;
		SELECT rollout.record_kill_switch_test('rel-h', true, 'x') IS NOT NULL;
		SELECT pg_catalog.count(*) FROM rollout.readiness('rel-h');
		SELECT pg_catalog.count(*) FROM rollout.release_classes();
		SELECT pg_catalog.count(*) FROM rollout.release_check_catalog();
		SELECT rollout.report_incident('rel-h', 'dev', 4, 'x') IS NOT NULL;
		SELECT rollout.resolve_incident(i.incident_id, 'x') IS NOT NULL FROM rollout.release_incident i;
		SELECT rollout.tick() IS NOT NULL;} ],
	[ 'remediation views', q{SELECT pg_catalog.count(*) FROM rollout.remediation_queue;
		SELECT pg_catalog.count(*) FROM rollout.pending_tenant_approvals;} ],
	[ 'tenant preference and approval', q{SET pg_rollout.actor = 'op';
		SELECT (rollout.set_tenant_preference('acme-web', 'webhook', 'hook-1', approval => 'major')).approval;
		SELECT rollout.approve_tenant_update('r1', 'acme', include_subtree => true) OPERATOR(pg_catalog.>=) 0;
		SELECT pg_catalog.count(*) FROM rollout.preview('r1');} ],
	[ 'views', q{SELECT pg_catalog.count(*) FROM rollout.rollout_status; SELECT pg_catalog.count(*) FROM rollout.stage_status;
		SELECT pg_catalog.count(*) FROM rollout.violations; SELECT pg_catalog.count(*) FROM rollout.recent_violation_log;
		SELECT pg_catalog.count(*) FROM rollout.bypasses; SELECT pg_catalog.count(*) FROM rollout.protected_tables;
		SELECT pg_catalog.count(*) FROM rollout.component_versions; SELECT pg_catalog.count(*) FROM rollout.pending_events;} ],
);
for my $c (@calls)
{
	($out, $err) = as_mallory($c->[1]);
	{
		local $TODO = $c->[2];
		unlike($err // '', qr/ERROR/, "$c->[0] runs") or diag($err);
	}
	no_hits($c->[0], $err, $c->[2]);
}

# refresh_metrics counts every tenant: refused to a bound role, so mallory
# runs it unbound (its refusal path ran above in the bound session's place)
($out, $err) = as_mallory(q{SELECT (rollout.refresh_metrics()).pairs OPERATOR(pg_catalog.>=) 0;});
like($err, qr/a session bound to tenants cannot refresh the metrics/, 'refresh_metrics is refused to a bound role');
no_hits('refresh_metrics refused', $err);
$node->safe_psql('postgres', q{SELECT rollout.unbind_tenant('mallory', 'acme');});
($out, $err) = as_mallory(q{SELECT (rollout.refresh_metrics()).pairs OPERATOR(pg_catalog.>=) 0;});
unlike($err // '', qr/ERROR/, 'refresh_metrics runs') or diag($err);
no_hits('refresh_metrics', $err);

$node->stop;
done_testing();
