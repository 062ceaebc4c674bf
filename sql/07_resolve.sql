-- Resolution through inheritance: pins, rollout activations, channel
-- releases, the platform default; flags and kill switches; explain and bulk
-- forms; the session cache.
\set VERBOSITY terse
-- A fresh extension: earlier test files share this database.
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

SELECT count(*) FROM (
    SELECT rollout.create_tenant(id, id, parent, kind, test_tenant => test)
      FROM (VALUES ('acme', NULL, 'organization', false),
                   ('acme-web', 'acme', 'team', false),
                   ('acme-web-shop', 'acme-web', 'project', false),
                   ('acme-web-shop-prod', 'acme-web-shop', 'environment', false),
                   ('acme-web-blog', 'acme-web', 'project', false),
                   ('acme-lab', 'acme', 'team', true),
                   ('acme-lab-x', 'acme-lab', 'project', false),
                   ('globex', NULL, 'organization', false),
                   ('globex-app', 'globex', 'project', false)) v(id, parent, kind, test)
     ORDER BY kind <> 'organization', kind <> 'team', kind <> 'project') x;
SELECT count(*) FROM (SELECT rollout.create_component('svc', 'product', 'Service')) x;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.1.0', '1.2.0-beta.1', '2.0.0', '3.0.0']::rollout.semver[]) v) x;

CREATE FUNCTION test_all(component text) RETURNS TABLE (tenant_id text, version text, source text, decided_by text)
LANGUAGE sql AS $$
    SELECT r.tenant_id, r.version::text, r.source, r.source_tenant_id
      FROM rollout.resolve_versions(component) r ORDER BY r.tenant_id
$$;

-- Nothing decides yet: NULL, and the explain form says why.
SELECT rollout.resolve_version('acme-web-shop', 'svc') IS NULL AS unresolved;
SELECT step, source, version, decided, detail FROM rollout.explain_version('acme-web-shop', 'svc');
-- The platform default.
SELECT default_version FROM rollout.set_default_version('svc', '1.0.0');
SELECT rollout.resolve_version('acme-web-shop', 'svc');
-- Channel releases: stable delivers 1.1.0; the candidate channel 2.0.0.
SELECT rollout.set_channel_release('svc', 'stable', '1.1.0', 'GA');
SELECT rollout.set_channel_release('svc', 'candidate', '2.0.0', 'RC soak');
SELECT rollout.set_channel_release('svc', 'dev', '1.2.0-beta.1');
SELECT channel_id FROM rollout.set_tenant_channel('acme-web', 'candidate');
SELECT channel_id FROM rollout.set_tenant_channel('acme-lab', 'dev');
-- dev is for test tenants only: globex cannot follow it.
SELECT channel_id FROM rollout.set_tenant_channel('globex', 'dev');
SELECT * FROM test_all('svc');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('acme-web-shop-prod', 'svc');
-- globex follows the default channel.
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('globex-app', 'svc');
-- Opting out of candidate (stable-only) moves the shop to stable.
SELECT choice FROM rollout.opt_out('acme-web-shop', 'candidate', 'stable only, please');
SELECT rollout.resolve_version('acme-web-shop', 'svc') AS shop, rollout.resolve_version('acme-web-shop-prod', 'svc') AS shop_prod,
       rollout.resolve_version('acme-web-blog', 'svc') AS blog;

-- Pins: on the tenant, else the nearest ancestor; beat everything else.
SELECT rollout.pin_version('acme-web', 'svc', '1.0.0', 'audit freeze');
SELECT rollout.pin_version('acme-web-shop-prod', 'svc', '3.0.0', 'needs the new API');
SELECT * FROM test_all('svc') WHERE tenant_id LIKE 'acme-web%';
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('acme-web-blog', 'svc');
SELECT rollout.unpin_version('acme-web', 'svc', 'freeze over');
SELECT rollout.resolve_version('acme-web-blog', 'svc');
SELECT rollout.pin_version('acme-web', 'svc', '9.9.9', 'typo');
SELECT rollout.pin_version('acme-web', 'svc', '1.0.0', NULL);
SELECT rollout.pin_version('nobody', 'svc', '1.0.0', 'x');
SELECT rollout.pin_version('acme-web', 'nothing', '1.0.0', 'x');
SELECT rollout.unpin_version('acme-web', 'svc');
SELECT rollout.set_channel_release('svc', 'nightly', '1.0.0');
SELECT rollout.set_channel_release('svc', 'stable', '4.0.0');
SELECT rollout.clear_channel_release('svc', 'experimental');

-- Rollout activations: own, or inherited from the nearest ancestor (a
-- canary that names a team covers its projects); not for a suspended tenant.
SELECT rollout_id FROM rollout.create_rollout('svc-2', 'svc', '1.1.0', '2.0.0', salt => '\x0a0b0c0d0e0f1011');
SELECT name FROM rollout.add_stage('svc-2', 'team', 'tenants', tenants => ARRAY['acme-lab']);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('svc-2');
SELECT status FROM rollout.start_rollout('svc-2');
SELECT * FROM test_all('svc') WHERE tenant_id LIKE 'acme-lab%';
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('acme-lab-x', 'svc');
SELECT status FROM rollout.suspend_tenant('acme-lab-x', 'unpaid');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('acme-lab-x', 'svc');
SELECT status FROM rollout.reactivate_tenant('acme-lab-x', 'paid');
SELECT rollout.resolve_version('acme-lab-x', 'svc');

-- Bulk form for a list: NULL elements are skipped; an unknown tenant is an error.
SELECT tenant_id, version, source, source_tenant_id
  FROM rollout.resolve_versions('svc', ARRAY['globex-app', NULL, 'acme-lab-x']);
SELECT * FROM rollout.resolve_versions('svc', ARRAY['acme', 'ghost']);
SELECT * FROM rollout.resolve_versions('nothing');
SELECT * FROM rollout.resolve_versions(NULL);
-- The bulk walk and single calls agree for every tenant.
SELECT count(*) AS tenants, count(*) FILTER (WHERE b.version OPERATOR(rollout.=) rollout.resolve_version(b.tenant_id, 'svc')
                                              OR (b.version IS NULL AND rollout.resolve_version(b.tenant_id, 'svc') IS NULL)) AS agree
  FROM rollout.resolve_versions('svc') b;

-- Unknown names and NULLs.
SELECT rollout.resolve_version('ghost', 'svc');
SELECT rollout.resolve_version('acme', 'ghost');
SELECT rollout.resolve_version(NULL, 'svc') IS NULL AS null_tenant, rollout.resolve_version('acme', NULL) IS NULL AS null_component;
SELECT * FROM rollout.explain_version('ghost', 'svc');

-- The session cache: repeated calls hit; any committed change invalidates.
SELECT rollout.resolve_version('acme-web-blog', 'svc') FROM generate_series(1, 3);
SELECT hits >= 2 AS hits FROM rollout.resolve_cache_stats();
SELECT rollout.pin_version('acme', 'svc', '1.0.0', 'org-wide hold');
SELECT rollout.resolve_version('acme-web-blog', 'svc');
SELECT invalidations > 0 AS invalidated FROM rollout.resolve_cache_stats();
-- A change rolled back leaves no trace in the cache.
BEGIN;
SELECT rollout.unpin_version('acme', 'svc', 'try');
SELECT rollout.resolve_version('acme-web-blog', 'svc');
ROLLBACK;
SELECT rollout.resolve_version('acme-web-blog', 'svc');
SET pg_rollout.resolve_cache_size = 0;
SELECT rollout.resolve_version('acme-web-blog', 'svc');
RESET pg_rollout.resolve_cache_size;

-- ---------------------------------------------------------------------
-- Flags and kill switches
-- ---------------------------------------------------------------------
SELECT flag_id, default_enabled FROM rollout.create_flag('new-checkout', false, 'the new checkout flow');
SELECT rollout.flag_enabled('acme-web-shop', 'new-checkout');
SELECT rollout.set_flag('new-checkout', 'acme-web', true, 'beta team');
SELECT rollout.set_flag('new-checkout', 'acme-web-blog', false, 'blog has no checkout');
SELECT t AS tenant, rollout.flag_enabled(t, 'new-checkout') AS enabled
  FROM unnest(ARRAY['acme', 'acme-web', 'acme-web-shop', 'acme-web-shop-prod', 'acme-web-blog', 'globex-app']) t;
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('acme-web-shop-prod', 'new-checkout');
-- The kill switch beats every override, for the subtree or globally.
SELECT rollout.kill_flag('new-checkout', 'checkout errors', 'acme-web-shop');
SELECT rollout.flag_enabled('acme-web-shop-prod', 'new-checkout') AS shop_prod, rollout.flag_enabled('acme-web', 'new-checkout') AS web;
SELECT rollout.kill_flag('new-checkout', 'incident 4711');
SELECT rollout.flag_enabled('acme-web', 'new-checkout') AS web;
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('acme-web', 'new-checkout');
SELECT rollout.kill_flag('new-checkout', 'incident closed', killed => false);
SELECT rollout.kill_flag('new-checkout', 'fixed', 'acme-web-shop', killed => false);
SELECT rollout.flag_enabled('acme-web-shop-prod', 'new-checkout') AS shop_prod;
SELECT rollout.set_flag('new-checkout', NULL, true, 'on for everyone');
SELECT rollout.flag_enabled('globex-app', 'new-checkout') AS globex;
SELECT rollout.clear_flag('new-checkout', 'acme-web-blog', 'blog too');
SELECT rollout.flag_enabled('acme-web-blog', 'new-checkout') AS blog;
-- Every flip is audited.
SELECT action, tenant_id, reason FROM rollout.audit_log WHERE subject_id = 'new-checkout' OR details ->> 'flag' = 'new-checkout'
 ORDER BY seq;
-- Errors.
SELECT rollout.flag_enabled('acme', 'no-flag');
SELECT rollout.kill_flag('new-checkout', NULL);
SELECT rollout.kill_flag('no-flag', 'x');
SELECT rollout.set_flag('new-checkout', 'acme', NULL);
SELECT rollout.clear_flag('new-checkout', 'globex');
SELECT rollout.create_flag('new-checkout');
SELECT rollout.create_flag('Bad Flag');

-- A feature_flag rollout: its activations count only while the flag is not
-- killed; an override on turns the to-version on directly.
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.cancel_rollout('svc-2', 'replaced by a flagged rollout');
SELECT rollout.unpin_version('acme', 'svc', 'release the hold');
SELECT rollout_id, strategy, flag_id FROM rollout.create_rollout('svc-3', 'svc', '1.1.0', '3.0.0', strategy => 'feature_flag',
                                                                 flag_id => 'svc-3-enabled', salt => '\x0a0b0c0d0e0f1012');
SELECT name FROM rollout.add_stage('svc-3', 'lab', 'tenants', tenants => ARRAY['acme-lab']);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('svc-3');
SELECT status FROM rollout.start_rollout('svc-3');
SELECT rollout.set_flag('svc-3-enabled', 'globex-app', true, 'early access');
SELECT * FROM test_all('svc') WHERE version = '3.0.0';
SELECT rollout.flag_enabled('acme-lab-x', 'svc-3-enabled') AS lab_x, rollout.flag_enabled('acme-web', 'svc-3-enabled') AS web;
SELECT rollout.kill_flag('svc-3-enabled', 'v3 crashes');
SELECT * FROM test_all('svc') WHERE version = '3.0.0';
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('acme-lab-x', 'svc');
SELECT rollout.kill_flag('svc-3-enabled', 'hotfix deployed', killed => false);
SELECT * FROM test_all('svc') WHERE version = '3.0.0';

-- Channel-scoped rollouts: only tenants whose effective channel matches.
SELECT count(*) AS tenants, count(*) FILTER (WHERE c.channel_id = rollout.effective_channel(c.tenant_id)) AS agree
  FROM rollout.effective_channels() c;
SELECT rollout_id, channel_id FROM rollout.create_rollout('svc-4', 'svc', '1.1.0', '2.0.0', channel_id => 'candidate');
SELECT name FROM rollout.add_stage('svc-4', 'everyone', 'all');
SELECT tenant_id FROM rollout.preview('svc-4') ORDER BY 1;

-- The tables whose changes empty the cache are declared once, by the
-- invalidate_resolution triggers: DDL on another table keeps the cache, a
-- change to a watched table empties it.
CREATE TABLE unrelated_table (x integer);
SELECT rollout.resolve_version('acme-web', 'svc') IS NOT NULL AS cached;
SELECT invalidations AS inval_before FROM rollout.resolve_cache_stats() \gset
ALTER TABLE unrelated_table ADD COLUMN y integer;
SELECT rollout.resolve_version('acme-web', 'svc') IS NOT NULL AS cached;
SELECT invalidations - :inval_before AS after_unrelated_ddl FROM rollout.resolve_cache_stats();
SELECT count(*) FROM rollout.pin_version('acme-web', 'svc', '1.0.0', 'hold');
SELECT rollout.resolve_version('acme-web', 'svc') AS pinned;
SELECT invalidations - :inval_before > 0 AS after_pin FROM rollout.resolve_cache_stats();
SELECT string_agg(DISTINCT c.relname, ' ' ORDER BY c.relname) AS watched
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgfoid = 'rollout._invalidate_resolution()'::regprocedure;
