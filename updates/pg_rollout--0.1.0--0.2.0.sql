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

-- Audit without a global lock (issue 17): an audited call takes its number
-- from a sequence and holds no lock, so audited calls never deadlock and an
-- open transaction blocks no other writer; rollout.seal_audit() (tick()
-- calls it) chains the committed rows in blocks (rollout.audit_seal);
-- verify_audit() checks the blocks, the rows not sealed yet and a recorded
-- head (new arguments and columns), audit_head() returns the last block.
-- The rows written under 0.1.0 are sealed into the first block here.
COMMENT ON TABLE rollout.audit_log IS
    'append-only audit log: every state change, with actor, tenant, subject and reason; each row carries its SHA-256, and rollout.seal_audit() chains the committed rows in blocks (rollout.audit_seal)';
COMMENT ON COLUMN rollout.audit_log.seq IS 'number of the append, increasing (from rollout.audit_log_seq); a rolled-back append leaves its number unused';
COMMENT ON COLUMN rollout.audit_log.prev_hash IS 'rows written before 0.2.0: row_hash of the previous row (32 zero bytes for row 1); since 0.2.0: 32 zero bytes, the row is chained through its block in rollout.audit_seal';

-- Numbers of appends: taken without a lock, never given back.
CREATE SEQUENCE rollout.audit_log_seq AS bigint;
SELECT pg_catalog.setval('rollout.audit_log_seq', s.last) FROM (SELECT max(seq) AS last FROM rollout.audit_log) s
 WHERE s.last IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log_seq', '');
COMMENT ON SEQUENCE rollout.audit_log_seq IS
    'numbers of audit-log appends (rollout.audit_log.seq): taken without a lock, so concurrent writers never wait for each other; a rolled-back append leaves a gap';

CREATE TABLE rollout.audit_seal (
    block        bigint         PRIMARY KEY,
    sealed_at    timestamptz    NOT NULL,
    txid         xid8           NOT NULL,
    row_count    bigint         NOT NULL,
    seqs         int8multirange NOT NULL,
    sealed_upto  bigint         NOT NULL,
    pending      int8multirange NOT NULL,
    horizon_seq  bigint,
    horizon_xid  xid8,
    prev_hash    bytea          NOT NULL,
    block_hash   bytea          NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_seal', '');

COMMENT ON TABLE rollout.audit_seal IS
    'the audit hash chain: each block covers the audit rows committed since the previous one and is SHA-256 chained to it; written by rollout.seal_audit()';
COMMENT ON COLUMN rollout.audit_seal.block IS 'position in the chain, 1, 2, 3, ... without gaps';
COMMENT ON COLUMN rollout.audit_seal.sealed_at IS 'clock time of the seal';
COMMENT ON COLUMN rollout.audit_seal.txid IS 'transaction that sealed the block';
COMMENT ON COLUMN rollout.audit_seal.row_count IS 'number of audit rows in the block';
COMMENT ON COLUMN rollout.audit_seal.seqs IS 'exactly the audit-log seq numbers the block covers';
COMMENT ON COLUMN rollout.audit_seal.sealed_upto IS 'after this block, every seq up to this one is sealed or was never committed';
COMMENT ON COLUMN rollout.audit_seal.pending IS 'after this block, the seq numbers above sealed_upto that are already sealed';
COMMENT ON COLUMN rollout.audit_seal.horizon_seq IS 'every seq up to this one was taken by a transaction older than horizon_xid: once those have ended, sealed_upto may pass it';
COMMENT ON COLUMN rollout.audit_seal.horizon_xid IS 'the next transaction id when horizon_seq was read';
COMMENT ON COLUMN rollout.audit_seal.prev_hash IS 'block_hash of the previous block (32 zero bytes for block 1)';
COMMENT ON COLUMN rollout.audit_seal.block_hash IS 'SHA-256 over this block''s columns, prev_hash and the seq and row_hash of each of its rows in seq order';

CREATE TRIGGER audit_seal_append_only
    BEFORE UPDATE OR DELETE ON rollout.audit_seal
    FOR EACH ROW EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON rollout.audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._audit_log_guard();

GRANT SELECT ON rollout.audit_seal TO rollout_viewer;
--@function rollout._audit_log_guard
DROP FUNCTION rollout.verify_audit();
--@function rollout.verify_audit
REVOKE ALL ON FUNCTION rollout.verify_audit(bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.verify_audit(bigint, bytea) TO rollout_viewer;
DROP FUNCTION rollout.audit_head();
--@function rollout.audit_head
REVOKE ALL ON FUNCTION rollout.audit_head() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.audit_head() TO rollout_viewer;
--@function rollout.seal_audit
REVOKE ALL ON FUNCTION rollout.seal_audit(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.seal_audit(boolean, integer) TO rollout_operator;
-- (tick() calls seal_audit(): its definition above, from the pieces, has the call)
SELECT rollout.seal_audit();
-- Plan creation linear in the number of stages (it held the audit lock for
-- all that time): a transaction edits a draft's row once, not once per
-- edit; add_stage compares a new stage with the latest one (its definition
-- above, from the pieces, has that change).
COMMENT ON COLUMN rollout.rollout.revision IS 'incremented by every transaction that edits the plan; an approval covers one revision';
--@function rollout._rollout_edit
