-- Remediation views: live; a role bound with rollout.bind_tenant() sees
-- only its subtrees.

-- The tenants the session user sees (rollout._visible_tenants), for views
-- read by rollout_viewer.
CREATE FUNCTION rollout._remediation_visible()
RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._visible_tenants() $$;
COMMENT ON FUNCTION rollout._remediation_visible() IS
    'internal: NULL when the session user sees every tenant, else the tenants of its bound subtrees (for the remediation views)';
REVOKE ALL ON FUNCTION rollout._remediation_visible() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._remediation_visible() TO rollout_viewer;

CREATE VIEW rollout.remediation_queue AS
WITH vis AS MATERIALIZED (SELECT rollout._remediation_visible() AS v)
SELECT k.task_id, k.tenant_id, k.component_id, k.version, k.target_version, k.status, k.reason, k.owner,
       k.eol_date, k.forced_upgrade_on, k.forced_upgrade_on - CURRENT_DATE AS days_left,
       k.rollout_id, k.scheduled_for,
       CASE WHEN k.target_version IS NULL THEN 'no upgrade path: no newer allowed version'
            WHEN k.status = 'overdue' AND k.rollout_id IS NOT NULL
                THEN pg_catalog.format('forced rollout "%s" ended %s', k.rollout_id, r.status)
            WHEN k.status = 'overdue' AND k.action = 'schedule' AND k.scheduled_for IS NULL
                 AND k.version OPERATOR(rollout.<) k.target_version
                THEN 'forced upgrade due, not scheduled: a descendant still has an open upgrade task or is exempt, or no maintenance window within 60 days'
            WHEN k.status = 'overdue' THEN 'forced-upgrade date passed and the policy does not schedule upgrades'
            WHEN g.extension_id IS NOT NULL
                THEN pg_catalog.format('delay request %s awaiting approval', g.extension_id)
            WHEN k.status = 'scheduled' AND live.rollout_id IS NOT NULL
                THEN pg_catalog.format('forced rollout waits: rollout "%s" of the component is %s', live.rollout_id, live.status)
            WHEN d.rollout_id IS NOT NULL
                THEN pg_catalog.format('awaiting tenant approval of rollout "%s"', d.rollout_id)
            WHEN k.owner IS NULL AND k.status IN ('open', 'notified') THEN 'no owner'
       END AS needs
  FROM rollout.upgrade_task k
  CROSS JOIN vis
  LEFT JOIN rollout.rollout r ON r.rollout_id = k.rollout_id
  LEFT JOIN LATERAL (SELECT x.extension_id FROM rollout.grace_extension x
                      WHERE x.tenant_id = k.tenant_id AND x.component_id = k.component_id
                        AND x.version OPERATOR(rollout.=) k.version AND x.status = 'requested'
                      ORDER BY x.extension_id LIMIT 1) g ON true
  LEFT JOIN LATERAL (SELECT y.rollout_id, y.status FROM rollout.rollout y
                      WHERE y.component_id = k.component_id AND y.status IN ('running', 'paused', 'failed')
                        AND y.rollout_id IS DISTINCT FROM k.rollout_id LIMIT 1) live ON true
  LEFT JOIN LATERAL (SELECT z.rollout_id FROM rollout.deferral z JOIN rollout.rollout w ON w.rollout_id = z.rollout_id
                      WHERE z.tenant_id = k.tenant_id AND w.component_id = k.component_id
                        AND z.reason = 'awaiting tenant approval' LIMIT 1) d ON true
 WHERE k.closed_at IS NULL AND (vis.v IS NULL OR k.tenant_id = ANY (vis.v));
COMMENT ON VIEW rollout.remediation_queue IS
    'open upgrade tasks with what needs a person (needs: no upgrade path, overdue, failed forced rollout, delay awaiting approval, tenant approval, blocked by a live rollout, no owner; NULL when the machinery handles it)';

CREATE VIEW rollout.pending_tenant_approvals AS
WITH vis AS MATERIALIZED (SELECT rollout._remediation_visible() AS v)
SELECT d.rollout_id, r.component_id, r.from_version, r.to_version, d.tenant_id, d.stage_no, d.deferred_at,
       p.approval
  FROM rollout.deferral d
  CROSS JOIN vis
  JOIN rollout.rollout r ON r.rollout_id = d.rollout_id
  LEFT JOIN LATERAL rollout._preferences(ARRAY[d.tenant_id]) p ON true
 WHERE d.reason = 'awaiting tenant approval' AND (vis.v IS NULL OR d.tenant_id = ANY (vis.v));
COMMENT ON VIEW rollout.pending_tenant_approvals IS
    'tenants a rollout holds until they approve it (rollout.approve_tenant_update), because of their update preference';

-- Privileges of the objects above.
GRANT SELECT ON rollout.remediation_queue, rollout.pending_tenant_approvals TO rollout_viewer;
