-- Version governance views: live (evaluated when read, in the reader's
-- transaction); a role bound with rollout.bind_tenant() sees only its subtrees.

CREATE VIEW rollout.drift_roster AS
SELECT r.* FROM rollout.drift_roster_at(pg_catalog.now()) r;
COMMENT ON VIEW rollout.drift_roster IS
    'every (tenant, component): resolved version and source, governing policy, EOL and forced-upgrade date (days left), exemption, and status: compliant, behind_baseline, below_minimum, above_maximum, blocked, eol_in_grace, past_grace, exempt, conflicting (see rollout.conflict_roster) or not_deployed';

CREATE VIEW rollout.compliance_summary AS
SELECT s.* FROM rollout.compliance_summary_at(pg_catalog.now()) s;
COMMENT ON VIEW rollout.compliance_summary IS
    'per organisation (depth 0) and team (depth 1), per component and over all (component_id NULL): counts per status and compliance_pct = 100 * (compliant + exempt + eol_in_grace) / (pairs - not_deployed)';

CREATE VIEW rollout.version_distribution AS
SELECT d.* FROM rollout.version_distribution_at(pg_catalog.now()) d;
COMMENT ON VIEW rollout.version_distribution IS 'tenants per version of each component, with the version''s status, EOL and share';

CREATE VIEW rollout.exemption_ledger AS
SELECT l.* FROM rollout.exemption_ledger_at(pg_catalog.now()) l;
COMMENT ON VIEW rollout.exemption_ledger IS 'every exemption with its state now: active, pending, expired or revoked';

CREATE VIEW rollout.conflict_roster AS
SELECT c.* FROM rollout.conflicts_at(pg_catalog.now()) c;
COMMENT ON VIEW rollout.conflict_roster IS
    'every (tenant, component) that breaks a conflict rule now (status conflicting in the drift roster), with the rule and the other component''s version';

-- Privileges of the objects above.
GRANT SELECT ON rollout.drift_roster, rollout.compliance_summary, rollout.version_distribution,
                rollout.exemption_ledger, rollout.conflict_roster TO rollout_viewer;

-- Simulation returns rows of the roster's shape.
CREATE FUNCTION rollout.simulate_policy(component_id text, tenant_id text DEFAULT NULL,
                                        min_version rollout.semver DEFAULT NULL,
                                        max_version rollout.semver DEFAULT NULL,
                                        baseline rollout.semver DEFAULT NULL,
                                        blocked rollout.semver_multirange DEFAULT '{}',
                                        action text DEFAULT 'report', grace_limit interval DEFAULT NULL,
                                        clear boolean DEFAULT false, at timestamptz DEFAULT pg_catalog.now())
RETURNS SETOF rollout.drift_roster
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.version_policy;
    policies rollout.version_policy[];
    vis text[] := rollout._visible_tenants();
BEGIN
    IF NOT coalesce(clear, false) THEN
        p := rollout._policy_row(component_id, tenant_id, min_version, max_version, baseline, blocked, action,
                                 grace_limit, 'simulation');
    ELSIF NOT EXISTS (SELECT 1 FROM rollout.component c WHERE c.component_id = simulate_policy.component_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('component "%s" does not exist', component_id);
    END IF;
    policies := ARRAY(SELECT x FROM unnest(rollout._policies_as_of(at)) x
                       WHERE NOT (x.component_id = simulate_policy.component_id
                                  AND x.tenant_id IS NOT DISTINCT FROM simulate_policy.tenant_id));
    IF NOT coalesce(clear, false) THEN
        policies := policies || p;
    END IF;
    RETURN QUERY
    SELECT s.tenant_id, s.component_id, s.version, s.source, s.source_tenant_id, s.status, s.violation, s.policy_id,
           s.policy_tenant_id, s.action, s.baseline, s.eol_date, s.forced_upgrade_on, s.days_left, s.exemption_id,
           s.exempt_until, s.exempt_reason
      FROM rollout._evaluate(at, policies, ARRAY[component_id], vis, NULL) s;
END
$$;
COMMENT ON FUNCTION rollout.simulate_policy(text, text, rollout.semver, rollout.semver, rollout.semver,
                                           rollout.semver_multirange, text, interval, boolean, timestamptz) IS
    'the roster of a component as it would be after a policy change (same arguments as set_version_policy; clear => true for clear_version_policy), evaluated by the same code as the real roster (the simulated policy has policy_id NULL); writes nothing';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.simulate_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            text, interval, boolean, timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.simulate_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            text, interval, boolean, timestamptz)
TO rollout_viewer;
