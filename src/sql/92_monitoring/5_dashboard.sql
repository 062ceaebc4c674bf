-- At a glance in psql: each live rollout on one line, with a progress bar.

CREATE VIEW rollout.dashboard AS
SELECT p.rollout_id, p.component_id,
       r.from_version::text || ' -> ' || r.to_version::text AS versions,
       p.status,
       coalesce(p.stage_no::text || '/' || p.stages::text || ' ' || p.stage, '-') AS stage,
       '[' || repeat('#', (20 * p.progress_ratio)::integer) || repeat('-', 20 - (20 * p.progress_ratio)::integer) || '] '
           || lpad(round(100 * p.progress_ratio)::text, 3) || '%' AS progress,
       p.tenants_activated AS activated,
       p.tenants_deferred AS deferred,
       CASE WHEN r.next_due_at IS NULL THEN NULL
            ELSE date_trunc('second', greatest(r.next_due_at - now(), interval '0')) END AS next_due_in,
       r.status_reason AS reason
  FROM rollout.metrics_rollout_progress p
  JOIN rollout.rollout r ON r.rollout_id = p.rollout_id
 ORDER BY r.next_due_at NULLS LAST, p.rollout_id;
COMMENT ON VIEW rollout.dashboard IS
    'each live rollout (running, paused, failed) on one line: versions, stage k/n, a progress bar of the stages done, tenants activated and deferred, time until tick() next has work for it, last reason';

-- Privileges of the objects above.
GRANT SELECT ON rollout.dashboard TO rollout_viewer, pg_monitor;
