-- pgTAP: the extension's objects, comments, dump configuration and the
-- safety rules every object must follow.
BEGIN;
SELECT plan(23);

SELECT has_schema('rollout');
SELECT has_extension('pg_rollout');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'pg_rollout'), false, 'extension is not relocatable');
SELECT tables_are('rollout', ARRAY['activation', 'activation_history', 'activation_tally', 'audit_log', 'audit_seal',
                                   'audit_verification', 'blackout', 'channel', 'channel_choice', 'channel_release',
                                   'compliance_setting', 'compliance_snapshot', 'compliance_tally', 'component', 'component_version',
                                   'concurrency_limit', 'conflict_rule', 'deferral', 'event_outbox', 'exemption', 'flag',
                                   'flag_setting', 'forced_upgrade', 'grace_extension', 'maintenance_window', 'metric_sample',
                                   'metrics_refresh', 'milestone_schedule', 'notification', 'pin', 'protected_relation',
                                   'protected_table', 'release', 'release_approval', 'release_channel', 'release_check',
                                   'release_clock', 'release_exposure_plan', 'release_incident', 'release_kill_switch_test',
                                   'release_memo', 'release_rollback_evaluation', 'remediation_run', 'rollout', 'rollout_stage',
                                   'rollout_trigger', 'tenant', 'tenant_binding', 'tenant_preference', 'tick_log', 'update_approval',
                                   'upgrade_task', 'version_policy']);
SELECT views_are('rollout', ARRAY['bypasses', 'compliance_summary', 'component_versions', 'conflict_roster', 'dashboard', 'drift_roster',
                                  'exemption_ledger', 'metrics_activations', 'metrics_audit_verification', 'metrics_bypasses',
                                  'metrics_compliance', 'metrics_compliance_status', 'metrics_compliance_totals', 'metrics_events',
                                  'metrics_governance', 'metrics_refresh_last', 'metrics_release', 'metrics_rollout_progress', 'metrics_rollouts',
                                  'metrics_state', 'metrics_tick', 'metrics_violations', 'pending_events',
                                  'pending_tenant_approvals', 'protected_tables', 'recent_violation_log', 'remediation_queue',
                                  'rollout_status', 'stage_status', 'tenant_tree', 'version_distribution', 'violations']);
SELECT has_type('rollout', 'semver', 'type rollout.semver exists');
SELECT has_opclass('rollout', 'semver_ops', 'btree opclass for semver');
SELECT has_opclass('rollout', 'semver_hash_ops', 'hash opclass for semver');
SELECT col_is_pk('rollout', 'tenant', 'tenant_id', 'tenant_id is the tenant key');
SELECT col_is_pk('rollout', 'audit_log', 'seq', 'seq is the audit key');
SELECT has_index('rollout', 'tenant', 'tenant_path_idx', 'path index for subtree ranges');
SELECT triggers_are('rollout', 'audit_log', ARRAY['audit_log_append_only', 'audit_log_no_truncate']);
SELECT triggers_are('rollout', 'audit_seal', ARRAY['audit_seal_append_only', 'audit_seal_no_truncate']);
SELECT has_role('rollout_admin');
SELECT has_role('rollout_operator');
SELECT has_role('rollout_viewer');
SELECT ok(pg_has_role('rollout_admin', 'rollout_viewer', 'USAGE'), 'rollout_admin inherits rollout_viewer through rollout_operator');

-- every table that holds user rows is dumped by pg_dump
SELECT set_eq(
    $$SELECT c.relname::text FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
       WHERE e.extname = 'pg_rollout'$$,
    $$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'S')$$,
    'every rollout table and sequence is registered with pg_extension_config_dump');

-- every public object is commented
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
       WHERE p.pronamespace = 'rollout'::regnamespace
         AND obj_description(p.oid, 'pg_proc') IS NULL$$,
    'every function has a comment');
SELECT is_empty(
    $$SELECT c.relname::text FROM pg_class c
       WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'v')
         AND obj_description(c.oid, 'pg_class') IS NULL$$,
    'every table and view has a comment');

-- SECURITY DEFINER only with a pinned search_path
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
       WHERE p.pronamespace = 'rollout'::regnamespace AND p.prosecdef
         AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');

-- nothing is granted to PUBLIC but the semver type's pure functions
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
       WHERE p.pronamespace = 'rollout'::regnamespace AND a.grantee = 0
         AND p.proname NOT LIKE 'semver%' AND NOT (p.prokind = 'a' AND p.proname IN ('max', 'min'))
         AND p.proname NOT IN ('_tenant_for', '_tenants_for', '_citus_guard', '_citus_tenant_ok', '_citus_insert_tenant',
                                 '_library_loaded')$$,
    'no rollout function is executable by PUBLIC, except the semver type''s and the row-security qual''s');
SELECT is_empty(
    $$SELECT c.relname::text FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
       WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'v', 'S') AND a.grantee = 0$$,
    'no rollout table or view is accessible to PUBLIC');

SELECT * FROM finish();
ROLLBACK;
