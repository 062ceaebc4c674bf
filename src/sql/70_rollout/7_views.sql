-- Rollout views: status and stage status.

CREATE VIEW rollout.rollout_status AS
SELECT r.rollout_id, r.component_id, r.from_version, r.to_version, r.strategy, r.status,
       s.name AS current_stage, r.current_stage AS current_stage_no,
       (SELECT count(*) FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id) AS stages,
       s.status AS stage_status, s.due_at AS stage_due_at,
       (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = r.rollout_id) AS tenants_activated,
       (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) AS tenants_deferred,
       r.created_by, r.approved_by, r.started_at, r.finished_at, r.next_due_at, r.status_reason
  FROM rollout.rollout r
  LEFT JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage;
COMMENT ON VIEW rollout.rollout_status IS
    'one row per rollout: status, current stage, tenants activated and deferred, next due time and last reason';

CREATE VIEW rollout.stage_status AS
SELECT s.rollout_id, s.stage_no, s.name, s.method, s.percent, s.weight_by, s.status, s.started_at,
       s.due_at, s.completed_at, s.activated, s.auto_proceed, s.last_evaluation,
       s.pass_without_metrics, rollout._stage_gate(s) AS passes_on
  FROM rollout.rollout_stage s
 ORDER BY s.rollout_id, s.stage_no;
COMMENT ON VIEW rollout.stage_status IS 'every stage of every rollout with its status, timing, activations, latest evaluation and what lets it pass';
COMMENT ON COLUMN rollout.stage_status.passes_on IS
    'what the stage needs to pass when due: criteria (met, with samples), triggers (a fresh sample and no breach), time (nothing: pass_without_metrics), samples (a fresh sample)';

-- Privileges of the objects above.
GRANT SELECT ON rollout.rollout_status, rollout.stage_status TO rollout_viewer;
