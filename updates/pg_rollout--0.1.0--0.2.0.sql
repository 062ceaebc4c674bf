-- pg_rollout 0.1.0 -> 0.2.0: every change to the schema since the 0.1.0
-- release.  A line "--@function rollout.x" stands for that function as the
-- pieces under src/sql/ define it (CREATE OR REPLACE, with its comment):
-- tools/build_update.pl expands it when make builds the installed script.
-- Privileges of a new function follow it here.  test/t/004_upgrade.pl checks
-- that an updated 0.1.0 database equals a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit

-- Rollout lifecycle: one helper locks the rollout and checks its status and
-- reason; the lifecycle functions use it.
--@function rollout._rollout_for_action
REVOKE ALL ON FUNCTION rollout._rollout_for_action(text, text[], text, text, boolean) FROM PUBLIC;
--@function rollout.approve_rollout
--@function rollout.start_rollout
--@function rollout.advance_rollout
--@function rollout.pause_rollout
--@function rollout.resume_rollout
--@function rollout.retry_rollout
--@function rollout.rollback_rollout
--@function rollout.cancel_rollout

-- Parallel restore: no foreign keys between the configuration tables
-- (pg_restore -j loads each in its own transaction, in any order); the
-- functions check and lock every reference, rollout.verify_state() reports
-- orphans and state the audit log does not explain.
ALTER TABLE rollout.tenant DROP CONSTRAINT tenant_channel_id_fkey;
ALTER TABLE rollout.channel_choice DROP CONSTRAINT channel_choice_channel_id_fkey;
ALTER TABLE rollout.channel_choice DROP CONSTRAINT channel_choice_tenant_id_fkey;
ALTER TABLE rollout.component_version DROP CONSTRAINT component_version_component_id_fkey;
ALTER TABLE rollout.flag_setting DROP CONSTRAINT flag_setting_flag_id_fkey;
ALTER TABLE rollout.flag_setting DROP CONSTRAINT flag_setting_tenant_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_channel_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_component_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_flag_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_scope_tenant_id_fkey;
ALTER TABLE rollout.rollout_stage DROP CONSTRAINT rollout_stage_rollout_id_fkey;
ALTER TABLE rollout.rollout_trigger DROP CONSTRAINT rollout_trigger_rollout_id_fkey;
ALTER TABLE rollout.deferral DROP CONSTRAINT deferral_rollout_id_fkey;
ALTER TABLE rollout.deferral DROP CONSTRAINT deferral_tenant_id_fkey;
ALTER TABLE rollout.blackout DROP CONSTRAINT blackout_tenant_id_fkey;
ALTER TABLE rollout.maintenance_window DROP CONSTRAINT maintenance_window_tenant_id_fkey;
ALTER TABLE rollout.pin DROP CONSTRAINT pin_component_id_fkey;
ALTER TABLE rollout.pin DROP CONSTRAINT pin_tenant_id_fkey;
ALTER TABLE rollout.channel_release DROP CONSTRAINT channel_release_channel_id_fkey;
ALTER TABLE rollout.channel_release DROP CONSTRAINT channel_release_component_id_fkey;
ALTER TABLE rollout.metric_sample DROP CONSTRAINT metric_sample_rollout_id_fkey;
ALTER TABLE rollout.metric_sample DROP CONSTRAINT metric_sample_tenant_id_fkey;
ALTER TABLE rollout.tenant_binding DROP CONSTRAINT tenant_binding_tenant_id_fkey;
--@function rollout.create_tenant
--@function rollout.drop_channel
--@function rollout.create_rollout
--@function rollout.verify_state
REVOKE ALL ON FUNCTION rollout.verify_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.verify_state() TO rollout_viewer;

-- Tenant attributes: numbers must fit double precision (they serve as
-- weights); weights from older rows are clamped so sums cannot overflow.
--@function rollout._require_attributes
REVOKE ALL ON FUNCTION rollout._require_attributes(text, jsonb) FROM PUBLIC;
--@function rollout.create_tenants
--@function rollout.update_tenant
--@function rollout._weight

-- tick(): each due rollout in its own subtransaction; a failing one is
-- paused with the error (or retried when the failure is transient).
--@function rollout._tick_failed
REVOKE ALL ON FUNCTION rollout._tick_failed(text, text, text) FROM PUBLIC;
--@function rollout.tick

-- Selection: the percentage stages of a rollout draw from one order of its
-- tenants (bucket order, or weighted order when a stage is weighted; one
-- weight attribute per rollout), so mixed stages stay exact and nested.
--@function rollout._selection

-- No data never passes: a due stage without criteria needs a fresh sample
-- (and always does while rollback triggers are armed), unless it says
-- pass_without_metrics.  Stages of rollouts defined before 0.2.0 that have
-- no criteria keep passing on time, as they were approved.
ALTER TABLE rollout.rollout_stage ADD COLUMN pass_without_metrics boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN rollout.rollout_stage.pass_without_metrics IS
    'a stage without success criteria, in a rollout without rollback triggers, passes when due even if no metric sample was reported';
UPDATE rollout.rollout_stage
   SET pass_without_metrics = true
 WHERE max_new_failures IS NULL AND max_failure_rate_increase IS NULL AND metric_bounds = '{}';
DROP FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text);
--@function rollout.add_stage
REVOKE ALL ON FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb,
                                         boolean, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb,
                                            boolean, text, boolean) TO rollout_operator;
--@function rollout._stage_gate
REVOKE ALL ON FUNCTION rollout._stage_gate(rollout.rollout_stage) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._stage_gate(rollout.rollout_stage) TO rollout_viewer;
--@function rollout.evaluate_stage
DROP FUNCTION rollout.preview_summary(text);
--@function rollout.preview_summary
REVOKE ALL ON FUNCTION rollout.preview_summary(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.preview_summary(text) TO rollout_viewer;
CREATE OR REPLACE VIEW rollout.stage_status AS
SELECT s.rollout_id, s.stage_no, s.name, s.method, s.percent, s.weight_by, s.status, s.started_at,
       s.due_at, s.completed_at, s.activated, s.auto_proceed, s.last_evaluation,
       s.pass_without_metrics, rollout._stage_gate(s) AS passes_on
  FROM rollout.rollout_stage s
 ORDER BY s.rollout_id, s.stage_no;
COMMENT ON VIEW rollout.stage_status IS 'every stage of every rollout with its status, timing, activations, latest evaluation and what lets it pass';
COMMENT ON COLUMN rollout.stage_status.passes_on IS
    'what the stage needs to pass when due: criteria (met, with samples), triggers (a fresh sample and no breach), time (nothing: pass_without_metrics), samples (a fresh sample)';

-- Viewer functions that call internal helpers with the caller's rights
-- (descendants, activation_hold, preview, stage_metric) failed for a plain
-- rollout_viewer; invoker SQL functions qualify every operator.
GRANT EXECUTE ON FUNCTION rollout._path_upper(text[]) TO rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout._window_open(integer[], time, time, text, timestamptz) TO rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout._weight(jsonb, text), rollout._eligible(text), rollout._selection(text, integer)
    TO rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout._stage_metric(text, integer, text) TO rollout_viewer;
--@function rollout._path_upper
--@function rollout.descendants
--@function rollout.is_ancestor
--@function rollout._weight

-- Supersession and per-tenant history (issue 10)
-- Rollouts of a component are numbered in the order they started
-- (rollout.start_no, copied into each activation): in resolution the
-- activation on a tenant's path by the latest rollout decides, so a later
-- rollout's decision about a node covers its subtree.  Rollouts started
-- before the update are numbered by their rollout.started audit rows.
ALTER TABLE rollout.rollout ADD COLUMN start_no integer;
COMMENT ON COLUMN rollout.rollout.start_no IS
    'place among the component''s rollouts in the order they started (1, 2, ...), NULL before the start; a later rollout''s activations supersede earlier ones';
UPDATE rollout.rollout x
   SET start_no = o.n
  FROM (SELECT r.rollout_id,
               row_number() OVER (PARTITION BY r.component_id
                                  ORDER BY (SELECT min(l.seq) FROM rollout.audit_log l
                                             WHERE l.action = 'rollout.started' AND l.subject_id = r.rollout_id),
                                           r.started_at, r.rollout_id) AS n
          FROM rollout.rollout r
         WHERE r.started_at IS NOT NULL) o
 WHERE x.rollout_id = o.rollout_id;
CREATE UNIQUE INDEX rollout_start_no_idx ON rollout.rollout (component_id, start_no);
ALTER TABLE rollout.activation ADD COLUMN start_no integer;
ALTER TABLE rollout.activation ADD COLUMN previous_start_no integer;
COMMENT ON COLUMN rollout.activation.start_no IS
    'start_no of the activating rollout: in resolution, the activation on the tenant''s path with the highest start_no decides';
COMMENT ON COLUMN rollout.activation.previous_start_no IS 'start_no of the activation this one replaced, NULL if none';
UPDATE rollout.activation a
   SET start_no = coalesce((SELECT r.start_no FROM rollout.rollout r WHERE r.rollout_id = a.rollout_id), 0),
       previous_start_no = (SELECT r.start_no FROM rollout.rollout r WHERE r.rollout_id = a.previous_rollout_id);
ALTER TABLE rollout.activation ALTER COLUMN start_no SET NOT NULL;
--@function rollout.start_rollout
--@function rollout._activate_through
--@function rollout._deactivate_after
--@function rollout.preview
-- A tenant the live rollout deferred (a blackout) is not reached by that
-- rollout's activation of an ancestor: resolution reads the deferrals.
CREATE TRIGGER invalidate_resolution AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.deferral
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution();
--@function rollout.verify_state
-- Per-tenant history: activations that leave rollout.activation are kept;
-- rollout.tenant_history() replays them with the activation rows and the
-- audit log.
CREATE TABLE rollout.activation_history (
    component_id     text COLLATE "C" NOT NULL,
    tenant_id        text COLLATE "C" NOT NULL,
    version          rollout.semver NOT NULL,
    rollout_id       text COLLATE "C" NOT NULL,
    stage_no         integer     NOT NULL,
    start_no         integer     NOT NULL,
    activated_at     timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL,
    ended_by         text        NOT NULL CHECK (ended_by IN ('rolled_back', 'cancelled', 'superseded')),
    ended_rollout_id text COLLATE "C" NOT NULL
);
CREATE INDEX activation_history_tenant_idx ON rollout.activation_history (tenant_id, component_id);
CREATE INDEX activation_history_rollout_idx ON rollout.activation_history (rollout_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.activation_history', '');
COMMENT ON TABLE rollout.activation_history IS
    'activations no longer in rollout.activation: undone by a rollback or cancellation, or dropped from previous_* when a third rollout replaced the row; append-only';
COMMENT ON COLUMN rollout.activation_history.ended_by IS
    'rolled_back or cancelled (the activation was undone), superseded (a later rollout had replaced it and a third one dropped it from previous_*)';
COMMENT ON COLUMN rollout.activation_history.ended_rollout_id IS 'the rollout whose rollback, cancellation or activation ended it';
GRANT SELECT ON rollout.activation_history TO rollout_viewer;
--@function rollout._roll_back
--@function rollout.tenant_history
REVOKE ALL ON FUNCTION rollout.tenant_history(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.tenant_history(text, text) TO rollout_viewer;
