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

-- Monitoring (issue 15): the tick ledger, rollout.health(), the metrics
-- views read by monitoring/postgres_exporter.yaml.
-- The tick ledger: one row per tick() call that returned (a call that fails
-- as a whole leaves none), so "is the scheduler alive" is a query whatever
-- runs the tick.  tick() deletes rows older than 7 days as it goes.
CREATE SEQUENCE rollout.tick_log_seq;
CREATE TABLE rollout.tick_log (
    tick_id      bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.tick_log_seq'),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    max_rollouts integer     NOT NULL,
    rollouts     integer     NOT NULL,
    actions      integer     NOT NULL,
    errors       integer     NOT NULL,
    ran_by       text        NOT NULL
);
CREATE INDEX tick_log_started_idx ON rollout.tick_log (started_at);
SELECT pg_catalog.pg_extension_config_dump('rollout.tick_log', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.tick_log_seq', '');
COMMENT ON TABLE rollout.tick_log IS
    'one row per completed rollout.tick() call: when, how long, rollouts handled, actions and errors (kept 7 days)';
COMMENT ON COLUMN rollout.tick_log.rollouts IS 'due rollouts the call handled';
COMMENT ON COLUMN rollout.tick_log.actions IS 'rows the call returned (stages advanced, extended, rolled back, ...)';
COMMENT ON COLUMN rollout.tick_log.errors IS 'rollouts whose step failed (paused or left for the next tick)';
COMMENT ON SEQUENCE rollout.tick_log_seq IS 'ids of rollout.tick_log';
GRANT SELECT ON rollout.tick_log TO rollout_viewer;
--@function rollout.tick
--@function rollout.health
-- Privileges of the objects above.
REVOKE ALL ON FUNCTION rollout.health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.health() TO rollout_viewer, pg_monitor;
--@include src/sql/92_monitoring/3_views.sql

-- Tenant isolation hardening (issue 8, remaining items)

-- Item 10: the table's own policies keep their meaning.  0.1.0 gave every
-- protected relation a permissive policy USING (true), which PostgreSQL ORs
-- with the table's own permissive policies.  0.2.0 creates no policy: the
-- library supplies an all-rows baseline only where row security was off
-- before protect_table() and the relation has no permissive policy of its
-- own, and records the prior row security so that unprotect_table() and
-- DROP EXTENSION restore it.  For tables protected under 0.1.0 the prior
-- state is what 0.1.0's unprotect_table() would have restored: row security
-- on only where the relation has policies of its own, never forced.
CREATE TABLE rollout.protected_relation (
    relid              regclass    PRIMARY KEY,
    tbl                regclass    NOT NULL,
    prior_row_security boolean     NOT NULL,
    prior_force_rls    boolean     NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.protected_relation', '');
COMMENT ON TABLE rollout.protected_relation IS
    'row security of each protected relation as it was before protect_table(): restored by unprotect_table() and DROP EXTENSION';
COMMENT ON COLUMN rollout.protected_relation.relid IS 'the protected table, or one of its partitions or inheritance children';
COMMENT ON COLUMN rollout.protected_relation.tbl IS 'the protected table (rollout.protected_table) it was recorded for';
COMMENT ON COLUMN rollout.protected_relation.prior_row_security IS
    'row security was enabled before: the relation''s own policies alone decide which rows exist for pg_rollout''s tenant filter';
COMMENT ON COLUMN rollout.protected_relation.prior_force_rls IS 'row security was forced before';
GRANT SELECT ON rollout.protected_relation TO rollout_viewer;
INSERT INTO rollout.protected_relation (relid, tbl, prior_row_security, prior_force_rls)
WITH RECURSIVE t(relid, top) AS (
    SELECT p.tbl::oid, p.tbl::oid FROM rollout.protected_table p
    UNION
    SELECT i.inhrelid, t.top FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.relid)
SELECT DISTINCT ON (t.relid) t.relid::regclass, t.top::regclass,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy o
                WHERE o.polrelid = t.relid AND o.polname <> 'pg_rollout_permissive'),
       false
  FROM t
 ORDER BY t.relid, t.relid = t.top DESC;
DO $drop_permissive$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        SELECT p.polrelid::regclass FROM pg_catalog.pg_policy p
          JOIN rollout.protected_relation r ON r.relid::oid = p.polrelid
         WHERE p.polname = 'pg_rollout_permissive'
    LOOP
        EXECUTE pg_catalog.format('DROP POLICY pg_rollout_permissive ON %s', rel);
    END LOOP;
END
$drop_permissive$;
--@function rollout._inside_protection
REVOKE ALL ON FUNCTION rollout._inside_protection() FROM PUBLIC;
--@function rollout._require_protection_call
REVOKE ALL ON FUNCTION rollout._require_protection_call(text) FROM PUBLIC;
--@function rollout._record_prior_state
REVOKE ALL ON FUNCTION rollout._record_prior_state(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._record_prior_state(regclass) TO rollout_admin;
--@function rollout._register_protection
--@function rollout._unregister_protection
--@function rollout.protect_table
--@function rollout.unprotect_table

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

-- Version governance (issue 12): version policies (global or at a tenant
-- node, inherited, versioned), EOL grace and its extensions, exemptions
-- decided by one function, enforcement of block policies on pins, channel
-- releases, rollouts and stage activations, the drift roster, compliance
-- roll-ups, version distribution, simulation.
--@include src/sql/88_governance/1_tables.sql

--@include src/sql/88_governance/2_functions.sql

-- Enforcement hooks in existing functions.
--@function rollout.pin_version
--@function rollout.set_channel_release
--@function rollout._start_stage

--@include src/sql/88_governance/3_views.sql

-- Metadata (issue 8, item 9): a NOTIFY carries only the event's id and
-- kind (any role may LISTEN); violation query texts only for rollout_admin
-- and pg_read_all_stats.
--@function rollout._event
COMMENT ON COLUMN rollout.event_outbox.payload IS
    'the event as JSON: id, kind, rollout, time, actor, reason, audit row, details (NOTIFY on pg_rollout_events carries only event_id and event)';
CREATE OR REPLACE VIEW rollout.recent_violation_log AS
SELECT r.at, r.tbl, r.kind, r.command, r.refused, r.role_name, r.application_name, r.query_id,
       -- query texts hold other roles' literals: shown, as pg_stat_statements
       -- does, only to those allowed to read every role's statements
       CASE WHEN pg_catalog.pg_has_role('rollout_admin', 'MEMBER')
                 OR pg_catalog.pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN r.query ELSE '<insufficient privilege>' END AS query
  FROM rollout.recent_violations() r;
COMMENT ON VIEW rollout.recent_violation_log IS
    'the latest tenant-isolation violations, with role, application and query (the query text only for rollout_admin and pg_read_all_stats)';

-- Protection follows partitions and children through DDL (issue 8, item 6):
-- created or attached later they are protected at once, detached they stay
-- protected on their own, dropped they leave the registry (event triggers).
--@include src/sql/80_isolation/4_follow_ddl.sql
-- (The policy pg_rollout_loaded, which _sync_protection() below puts on
-- the relations it protects: its two functions are defined here, before
-- that first use; its section is "Protected tables without the library"
-- near the end.)
--@function rollout._library_loaded_support
--@function rollout._library_loaded
--@function rollout._add_loaded_policy
REVOKE ALL ON FUNCTION rollout._library_loaded_support(internal), rollout._library_loaded(),
                       rollout._add_loaded_policy(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._library_loaded() TO PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._add_loaded_policy(regclass) TO rollout_admin;
-- Partitions and children added under 0.1.0 (and so left without row
-- security until protect_table() ran again) are protected now.
SELECT rollout._sync_protection();

-- A started rollout's start number cannot change (issue 10).
--@function rollout._rollout_guard

-- Release readiness (issue 14, seed 004): classified releases promoted
-- through the channels with soak, hard stops, approvals per transition,
-- incidents, kill-switch tests and the GO/NO-GO memo (src/sql/90_release).
--@include src/sql/90_release/0_roles.sql
--@include src/sql/90_release/1_tables.sql
--@include src/sql/90_release/2_catalog.sql
--@include src/sql/90_release/3_releases.sql
--@include src/sql/90_release/4_readiness.sql
--@include src/sql/90_release/5_promote.sql
-- governed components: set_channel_release is no side door; tick() promotes releases
--@function rollout.set_channel_release
--@function rollout.tick
-- Remediation (issue 13): upgrade tasks, notification milestones exactly
-- once, digests, forced upgrades, tenant preferences and approvals,
-- concurrency limits; tick() runs it, stage activation and preview apply
-- its holds.
--@include src/sql/89_remediation/1_tables.sql
--@include src/sql/89_remediation/2_functions.sql
--@include src/sql/89_remediation/3_views.sql
--@function rollout._activate_through
--@function rollout.preview
--@function rollout.tick
--@function rollout.verify_state
-- Stages extended for lack of metrics are counted (the metric view below
-- shows it, for the alert; issue 15).
ALTER TABLE rollout.rollout_stage ADD COLUMN monitoring_extensions integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN rollout.rollout_stage.monitoring_extensions IS
    'times tick() extended monitoring of the stage because it was due without the metric samples it needs';
--@function rollout._tick_one
-- Monitoring (issue 15): verify_audit() runs recorded (it writes, so it is
-- VOLATILE), the compliance and activation tallies and refresh_metrics(),
-- the metric views that read them (metrics_activations and
-- metrics_rollout_progress are defined here, not with the other metric
-- views above), and rollout.health() with the audit verification check.
--@include src/sql/92_monitoring/4_ledgers.sql
--@function rollout.verify_audit
--@function rollout.health
-- Performance (issue 11): rollout._eligible has one static query per case
-- (scoped or not), planned once per session with a generic plan, instead
-- of a text built and planned for every rollout a tick advances.
--@function rollout._eligible
-- Version governance, continued (issue 12): compliance snapshots whose
-- digest goes into the audit chain, reports (JSON and flat rows), retention.
--@include src/sql/88_governance/4_compliance.sql

-- Version governance, continued (issue 12): update statistics from the
-- per-tenant version history, governance metrics for monitoring.
--@include src/sql/88_governance/5_stats.sql
--@include src/sql/88_governance/6_metrics.sql

-- At a glance in psql (issue 15): rollout.dashboard.
--@include src/sql/92_monitoring/5_dashboard.sql

-- A foreign-table partition has no row security of its own: protect_table()
-- leaves it alone (it failed on such a tree) and records only tables.
--@function rollout._record_prior_state
--@function rollout.protect_table

-- Releases (helper E): while a release is being promoted, no new channel,
-- no change of the channel order, no lower minimum soak where a release
-- soaks (rollout._release_channel_guard, defined with the releases above).
--@function rollout.create_channel
--@function rollout.update_channel

-- Approvals (lead): one rule decides whether the caller is the author of
-- what it approves — the same pg_rollout.actor, or the same login unless a
-- superuser; approve_rollout compared the actor only.
--@function rollout._is_author
REVOKE ALL ON FUNCTION rollout._is_author(text, text) FROM PUBLIC;
--@function rollout.approve_rollout

-- Performance (issue 11, rollout operations): the helpers a tick calls for
-- every due rollout are PL/pgSQL (planned once per session) instead of SQL
-- functions parsed and planned on every call; a tick with no release
-- promoting skips the release step; an advancing tick does not reschedule
-- a rollout _finish_stage has just rescheduled.
--@function rollout._stage_metric
--@function rollout.stage_metric
--@function rollout.breached_trigger
--@function rollout._stage_gate
--@function rollout._blocking_conflict_rules
--@function rollout._path_upper
--@function rollout._release_tick
--@function rollout._tick_one
-- Stage activation (issue 11): the selection is read once into arrays and
-- each write runs only when it has rows (a statement on activation or
-- deferral invalidates every plan that reads them, even when it changes
-- nothing); buckets are computed only for rollouts with a percentage
-- stage; a target kind needs no parents join; an unweighted selection skips
-- the weighted order; _actor is PL/pgSQL.
--@function rollout._eligible
--@function rollout._activate_through
--@function rollout._actor
--@function rollout._selection
-- Stage activation reads rollout._selection directly when no tenant can be
-- held for approval or a concurrency limit (rollout._holds_possible, the
-- one place that decides it; rollout._held_selection asks it too).
--@function rollout._holds_possible
REVOKE ALL ON FUNCTION rollout._holds_possible() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._holds_possible() TO rollout_viewer;
--@function rollout._held_selection
--@function rollout._activate_through

-- Resolution (issue 11, second pass): a change to one component's rows
-- (component, pin, channel_release, activation, deferral) invalidates only that
-- component's cached answers: the triggers of those tables read the changed
-- rows from transition tables (one trigger per event; TRUNCATE keeps the
-- full invalidation).
DO $trg$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['component', 'pin', 'channel_release', 'activation', 'deferral'] LOOP
        EXECUTE format('DROP TRIGGER invalidate_resolution ON rollout.%I', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution AFTER TRUNCATE ON rollout.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_ins AFTER INSERT ON rollout.%I '
                       'REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_upd AFTER UPDATE ON rollout.%I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_del AFTER DELETE ON rollout.%I '
                       'REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
    END LOOP;
END
$trg$;
COMMENT ON FUNCTION rollout._invalidate_resolution() IS
    'internal: statement trigger that invalidates the resolution caches of every session when the transaction commits (of the changed components only, for tables with transition tables)';
-- Citus (issue 16): protected tables distributed by Citus, enforced on
-- every node through a signed tenant (src/citus.c, docs/citus.md).
--@include src/sql/80_isolation/5_citus.sql

-- Remediation cadence and cost (follow-up of issue 13, found by issue 11's
-- benchmark): tick() runs remediation 5 minutes after the end of the last
-- run by a tick (as long after it as it took, when longer; at once after a
-- run that stopped at its task budget); rollout._sync_tasks evaluates only
-- the components with a policy, an EOL date or an open task, and a tick's
-- run opens, updates and closes at most 10,000 tasks of each kind
-- (rollout.remediation_run.complete); a forced upgrade that cannot be
-- scheduled or started is reported once (rollout._forced_failure_known).
-- Remediation is new in 0.2.0: the whole of src/sql/89_remediation is
-- included above (--@include), with these changes, so nothing is repeated
-- here.

-- Advancing tick (issue 11, rollout operations, second pass): the rollout's
-- row is passed between the internal functions instead of read again, and
-- an advance writes its stage rows and the rollout row once each (the
-- evaluation with the completion; status, activated count with the next
-- stage's start; current stage and next due time together).
--@function rollout._enforce_stage_row
REVOKE ALL ON FUNCTION rollout._enforce_stage_row(rollout.rollout, integer) FROM PUBLIC;
--@function rollout._enforce_stage
--@function rollout._evaluate_stage_row
REVOKE ALL ON FUNCTION rollout._evaluate_stage_row(rollout.rollout_stage) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._evaluate_stage_row(rollout.rollout_stage) TO rollout_viewer;
--@function rollout.evaluate_stage
--@function rollout._activate_rows
REVOKE ALL ON FUNCTION rollout._activate_rows(rollout.rollout, integer) FROM PUBLIC;
--@function rollout._activate_through
--@function rollout._deferral_due
REVOKE ALL ON FUNCTION rollout._deferral_due(text, timestamptz) FROM PUBLIC;
--@function rollout._reschedule
--@function rollout._start_stage_row
REVOKE ALL ON FUNCTION rollout._start_stage_row(rollout.rollout, integer, text) FROM PUBLIC;
--@function rollout._start_stage
--@function rollout._finish_stage_row
REVOKE ALL ON FUNCTION rollout._finish_stage_row(rollout.rollout, text, jsonb) FROM PUBLIC;
--@function rollout._finish_stage
--@function rollout._tick_one

-- Release readiness review (seed 004): release.revised_by (the login that
-- made the current revision may not approve it), the release clock check
-- of rollout.health() and the view rollout.metrics_release.  Nothing to
-- add here: releases are new in 0.2.0 and src/sql/90_release is included
-- above whole (the new column comes with 1_tables.sql), as is
-- src/sql/92_monitoring/4_ledgers.sql (the new view), and every
-- "--@function rollout.health" line expands to its current definition.

-- Isolation violation counters (dropped tables, reset): the counters of a
-- dropped table leave shared memory when the drop commits (the sql_drop
-- event trigger passes the dropped relations to rollout._forget_violations),
-- and rollout.reset_violation_counts() removes this database's counters
-- instead of setting them to zero (same signature, new comment).
-- rollout._follow_drop comes with src/sql/80_isolation/4_follow_ddl.sql,
-- included whole above; it calls rollout._forget_violations only when a
-- table is dropped, and nothing above drops one.
CREATE FUNCTION rollout._forget_violations(relids oid[])
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_forget_violations';
COMMENT ON FUNCTION rollout._forget_violations(oid[]) IS
    'internal: the violation counters of these dropped relations go when the transaction commits (relations that still exist are ignored)';
REVOKE ALL ON FUNCTION rollout._forget_violations(oid[]) FROM PUBLIC;
COMMENT ON FUNCTION rollout.reset_violation_counts() IS
    'remove this database''s violation counters (rollout.violations is empty until the next event)';

-- Approvals (lead): the author's login of a rollout is looked up in one
-- place (approve_rollout and approve_tenant_update both ask it).
--@function rollout._rollout_author_login
REVOKE ALL ON FUNCTION rollout._rollout_author_login(text) FROM PUBLIC;
--@function rollout.approve_rollout
--@function rollout.approve_tenant_update

-- Protected tables without the library (lead): every protected relation
-- with a permissive policy gets the restrictive policy pg_rollout_loaded,
-- USING (rollout._library_loaded()): with the library preloaded the planner
-- drops it; without it a statement on the table fails, where the table's
-- own permissive policies used to show every tenant's rows.  (The
-- functions are defined above, before rollout._sync_protection() first ran.)
--@function rollout.protect_table
--@function rollout.unprotect_table
--@function rollout._sync_protection
DO $loaded$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        WITH RECURSIVE t(relid) AS (
            SELECT p.tbl::oid FROM rollout.protected_table p
            UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent OPERATOR(pg_catalog.=) t.relid)
        SELECT t.relid::regclass FROM t JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
         WHERE c.relkind IN ('r', 'p')
    LOOP
        PERFORM rollout._add_loaded_policy(rel);
    END LOOP;
END
$loaded$;

-- Dump and restore (helper session): the tenant tree's self-reference goes
-- too, like every other foreign key between the extension's tables: with it,
-- every pg_dump warned "there are circular foreign-key constraints on this
-- table: tenant".  rollout.verify_state() checks tenant.parent_id instead.
ALTER TABLE rollout.tenant DROP CONSTRAINT tenant_parent_id_fkey;
--@function rollout.verify_state

-- Newcomer's path (helper session): rollout.health() names
-- cron.schedule_in_database in its hints when pg_cron is not installed in
-- this database (cron.schedule exists only in cron.database_name).
--@function rollout.health

-- Rollout operations (issue 11, helper session): the tenants a stage
-- activation writes are computed in C (rollout._select_rows, one scan of
-- the tenants); rollout._activate_rows asks it first and falls back to
-- rollout._held_selection for holds and weighted stages.
CREATE FUNCTION rollout._select_rows(rollout_id text, through_stage integer,
                                     OUT go text[], OUT held text[], OUT why text[])
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_select_rows';
COMMENT ON FUNCTION rollout._select_rows(text, integer) IS
    'internal: the tenants rollout._selection selects through a stage as three arrays (to activate, held, why held), computed in C; NULLs for a rollout with a weighted stage';
REVOKE ALL ON FUNCTION rollout._select_rows(text, integer) FROM PUBLIC;
--@function rollout._activate_rows
-- An advance writes the completed stage and the started one in one UPDATE
-- (rollout._enter_stage; _start_stage_row is a wrapper of it now).
--@function rollout._enter_stage
REVOKE ALL ON FUNCTION rollout._enter_stage(rollout.rollout, integer, text, boolean, jsonb) FROM PUBLIC;
--@function rollout._start_stage_row
--@function rollout._finish_stage_row
-- rollout._event in C (src/events.c): the same audit row, outbox row and
-- NOTIFY, without a PL/pgSQL call per event.
--@function rollout._event

-- Citus worker writes (helper session, issue 16): rollout.health() reports,
-- where Citus is installed, whether the shards of distributed protected
-- tables accept the coordinator's INSERTs (pg_rollout.citus_node_cert_cn is
-- a setting of the library; no other schema object changes).
--@function rollout.health

-- Isolation, red-team pass (helper session): protect_table refuses a tenant
-- column with a nondeterministic collation (distinct tenant ids could
-- compare equal); the rest of that pass is in the library.
--@function rollout.protect_table

-- Isolation cost (issue 11): rollout._tenant_for gets a planner support
-- function, which lets a plan executed once (a simple-protocol statement,
-- a custom plan) carry the tenant as a constant (src/isolation.c).
CREATE FUNCTION rollout._tenant_for_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'pgr_tenant_for_support';
COMMENT ON FUNCTION rollout._tenant_for_support(internal) IS
    'internal: planner support of rollout._tenant_for (a plan executed once carries the tenant as a constant)';
REVOKE ALL ON FUNCTION rollout._tenant_for_support(internal) FROM PUBLIC;
--@function rollout._tenant_for

-- Resolution misses (issue 11, cold sessions): the tenant rows a miss reads
-- (parent, status, channel, test tenant) come from a covering index, read
-- index-only, instead of the table's wide rows.
CREATE INDEX tenant_resolve_idx ON rollout.tenant (tenant_id) INCLUDE (parent_id, status, channel_id, test_tenant);

-- Advancing tick, fourth pass (issue 11, helper session): fewer queries and
-- aggregates per advanced rollout, the same writes, events and checks.
-- rollout._enter_stage reads the two stage rows its UPDATE returns in a
-- loop and calls rollout._event in assignments; rollout._finish_stage_row
-- reads the last stage without an aggregate; rollout._activate_rows reads
-- whether the rollout has deferred tenants with the tenants it replaces.
--@function rollout._enter_stage
--@function rollout._finish_stage_row
--@function rollout._activate_rows
-- rollout._enforce_stage_row asks in one query whether the component has a
-- current block policy or block conflict rule at all before it calls the
-- functions that decide in detail.
--@function rollout._enforce_stage_row
-- A stage's evaluation: rollout._stage_metric runs the mean or the sum (one
-- aggregate), rollout._stage_gate decides a stage with criteria without a
-- query, rollout._evaluate_stage_row lists its criteria without one unless
-- the stage has metric bounds.
--@function rollout._stage_metric
--@function rollout._stage_gate
--@function rollout._evaluate_stage_row
-- rollout.stage_metric and rollout._stage_metric in C (src/metrics.c): the
-- same query (mean or sum, the stage's latest run) with a plan kept for the
-- session, instead of two PL/pgSQL calls per metric.
--@function rollout._stage_metric
--@function rollout.stage_metric
-- rollout.breached_trigger in C (src/metrics.c): the triggers read with a
-- plan kept for the session, their metrics computed as stage_metric does.
--@function rollout.breached_trigger

-- Citus, cost of tenant look-ups (helper session, issue 16): the guard's
-- compact form, rollout._citus_guard(anchor, token), one text constant in
-- each statement on a distributed protected table instead of three.
--@include src/sql/80_isolation/6_citus_guard.sql
