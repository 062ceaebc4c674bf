-- Governance metrics (issue 12, item 9; seed 002: version.policy.drift_total,
-- enforced_total, conflict_total, compliance_rate) for monitoring.  Like the
-- other metrics views they are cheap to scrape: the pair counts come from
-- the latest compliance snapshot of every tenant (rollout.snapshot_compliance,
-- scheduled with pg_cron), with its age so that a stale snapshot can alert;
-- the rule counts are read live.

CREATE VIEW rollout.metrics_governance AS
SELECT s.snapshot_id,
       extract(epoch FROM s.taken_at)::double precision AS snapshot_timestamp_seconds,
       extract(epoch FROM now() - s.taken_at)::double precision AS snapshot_age_seconds,
       s.pairs,
       ((s.content #>> '{summary,assessed}')::bigint - (s.content #>> '{summary,compliant_or_allowed}')::bigint) AS drift_total,
       (SELECT coalesce(sum((o ->> 'tenants')::bigint), 0) FROM jsonb_array_elements(s.content -> 'outstanding') o
         WHERE o ->> 'action' IN ('schedule', 'block')) AS enforced_total,
       coalesce((s.content #>> '{summary,by_status,conflicting}')::bigint, 0) AS conflict_total,
       (s.compliance_pct / 100)::double precision AS compliance_rate,
       (SELECT coalesce(sum((e ->> 'pairs')::bigint), 0) FROM jsonb_array_elements(s.content -> 'exemptions_used') e)
           AS exempt_pairs,
       (SELECT count(*) FROM rollout.version_policy p WHERE p.valid_to IS NULL) AS policies,
       (SELECT count(*) FROM rollout.conflict_rule r WHERE r.valid_to IS NULL) AS conflict_rules,
       (SELECT count(*) FROM rollout.exemption e WHERE rollout._exemption_in_force(e, now())) AS exemptions_active
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT x.* FROM rollout.compliance_snapshot x WHERE x.scope_tenant_id IS NULL
                      ORDER BY x.taken_at DESC, x.snapshot_id DESC LIMIT 1) s ON true;
COMMENT ON VIEW rollout.metrics_governance IS
    'governance gauges from the latest compliance snapshot of every tenant: drift_total (pairs not compliant by the compliance formula), enforced_total (of those, under a schedule or block policy), conflict_total (conflicting pairs), compliance_rate (0..1), exempt pairs, snapshot time and age; policies, conflict rules and exemptions in force now';

-- Privileges of the objects above: rollout_viewer and pg_monitor, like the
-- other metrics views (the view reads the snapshots as its owner).
GRANT SELECT ON rollout.metrics_governance TO rollout_viewer, pg_monitor;
GRANT EXECUTE ON FUNCTION rollout._exemption_in_force(rollout.exemption, timestamptz) TO pg_monitor;
