-- Privileges: nothing to PUBLIC but the semver type's support functions;
-- rollout_viewer reads, rollout_operator runs daily operations,
-- rollout_admin changes structure.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA rollout FROM PUBLIC;
GRANT USAGE ON SCHEMA rollout TO rollout_viewer, rollout_operator, rollout_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA rollout TO rollout_viewer;

-- The semver type's own functions are pure and needed by anyone who uses the
-- type (operators check EXECUTE on their functions).
DO $grants$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'rollout'::regnamespace
           AND (p.proname LIKE 'semver%' OR (p.prokind = 'a' AND p.proname IN ('max', 'min')))
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$grants$;

GRANT EXECUTE ON FUNCTION
    rollout.preloaded(),
    rollout.verify_audit(),
    rollout.audit_head(),
    rollout.tenant_path(text),
    rollout.ancestors(text, boolean),
    rollout.descendants(text, boolean, integer),
    rollout.is_ancestor(text, text),
    rollout.tenant_channels(text),
    rollout.effective_channel(text),
    rollout.bucket(bytea, text),
    rollout.weight_key(bytea, text, double precision),
    rollout.in_blackout(text, timestamptz),
    rollout.activation_hold(text, timestamptz),
    rollout.preview(text),
    rollout.preview_summary(text),
    rollout.stage_metric(text, integer, text),
    rollout.evaluate_stage(text, integer),
    rollout.breached_trigger(text),
    rollout.resolve_version(text, text),
    rollout.explain_version(text, text),
    rollout.resolve_versions(text, text[]),
    rollout.effective_channels(),
    rollout.flag_enabled(text, text),
    rollout.explain_flag(text, text),
    rollout.resolve_cache_stats()
TO rollout_viewer;

GRANT EXECUTE ON FUNCTION
    rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text),
    rollout.create_tenants(text[], text[], text[], text[], jsonb[], text),
    rollout.update_tenant(text, text, text, jsonb, boolean, text),
    rollout.suspend_tenant(text, text),
    rollout.reactivate_tenant(text, text),
    rollout.set_tenant_channel(text, text, text),
    rollout.opt_in(text, text, text),
    rollout.opt_out(text, text, text),
    rollout.clear_channel_choice(text, text, text),
    rollout.add_version(text, rollout.semver, text, date, text, jsonb),
    rollout.set_version_status(text, rollout.semver, text, text),
    rollout.set_version_eol(text, rollout.semver, date, text),
    rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text, boolean, boolean,
                           text, interval, interval, text, bytea),
    rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text),
    rollout.drop_stage(text, text),
    rollout.add_trigger(text, text, numeric),
    rollout.add_canary_stages(text, numeric, numeric, interval, jsonb),
    rollout.start_rollout(text, text),
    rollout.advance_rollout(text, text),
    rollout.pause_rollout(text, text),
    rollout.resume_rollout(text, text),
    rollout.retry_rollout(text, text),
    rollout.rollback_rollout(text, text, integer),
    rollout.cancel_rollout(text, text),
    rollout.report_metrics(text, text[], text[], double precision[], text),
    rollout.report_metrics(text, jsonb, text),
    rollout.tick(integer),
    rollout.ack_events(bigint),
    rollout.add_blackout(text, tstzrange, text),
    rollout.remove_blackout(bigint, text),
    rollout.add_maintenance_window(text, integer[], time, time, text, text),
    rollout.remove_maintenance_window(bigint, text),
    rollout.pin_version(text, text, rollout.semver, text),
    rollout.unpin_version(text, text, text),
    rollout.set_flag(text, text, boolean, text),
    rollout.clear_flag(text, text, text),
    rollout.kill_flag(text, text, text, boolean)
TO rollout_operator;

GRANT EXECUTE ON FUNCTION
    rollout.move_tenant(text, text, text),
    rollout.decommission_tenant(text, text, boolean),
    rollout.create_channel(text, integer, text, interval, boolean, boolean, text),
    rollout.update_channel(text, integer, text, interval, boolean, boolean, text, text),
    rollout.set_default_channel(text, text),
    rollout.drop_channel(text, text),
    rollout.create_component(text, text, text, text, jsonb, interval),
    rollout.update_component(text, text, text, jsonb, interval, text),
    rollout.set_default_version(text, rollout.semver, text),
    rollout.approve_rollout(text, text),
    rollout.create_flag(text, boolean, text),
    rollout.set_channel_release(text, text, rollout.semver, text),
    rollout.clear_channel_release(text, text, text)
TO rollout_admin;

-- Tenant isolation.  The row-security qual calls rollout._tenant_for() /
-- _tenants_for() as whoever queries a protected table, so those two (which
-- only return the caller's own tenant context) are executable by PUBLIC.
GRANT USAGE ON SCHEMA rollout TO rollout_app, rollout_bypass;
GRANT EXECUTE ON FUNCTION rollout._tenant_for(oid), rollout._tenants_for(oid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.set_tenant(text, boolean), rollout.reset_tenant(), rollout.current_tenant()
    TO rollout_app, rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout.bypass(text) TO rollout_bypass;
GRANT EXECUTE ON FUNCTION rollout.violation_counts(), rollout.recent_violations(), rollout.bypass_counts()
    TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.protect_table(regclass, name, text, boolean, boolean),
    rollout.unprotect_table(regclass),
    rollout._register_protection(regclass, name, text, boolean, boolean),
    rollout._unregister_protection(regclass),
    rollout.bind_tenant(name, text),
    rollout.unbind_tenant(name, text),
    rollout.reset_violation_counts()
TO rollout_admin;
