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

-- Version governance (issue 12): version policies (global or at a tenant
-- node, inherited, versioned), EOL grace and its extensions, exemptions
-- decided by one function, enforcement of block policies on pins, channel
-- releases, rollouts and stage activations, the drift roster, compliance
-- roll-ups, version distribution, simulation.
-- Version governance (issue 12): version policies attached globally or at a
-- node of the tenant tree (nearest node wins, as for pins), versioned so
-- they can be listed as of any past time; grace-period extensions approved
-- by someone other than the requester; exemptions.

-- Version ranges: [1.2.0,1.3.0) and lists of them ('{[1.2.0,1.2.0], [1.4.0,)}').
CREATE TYPE rollout.semver_range AS RANGE (subtype = rollout.semver);
COMMENT ON TYPE rollout.semver_range IS 'a range of semantic versions, e.g. [1.2.0,1.3.0)';
COMMENT ON TYPE rollout.semver_multirange IS 'a set of version ranges, e.g. {[1.2.0,1.2.0], [1.4.0,2.0.0)}';
COMMENT ON FUNCTION rollout.semver_range(rollout.semver, rollout.semver) IS 'version range [lower, upper)';
COMMENT ON FUNCTION rollout.semver_range(rollout.semver, rollout.semver, text) IS 'version range with explicit bounds, e.g. ''[]''';
COMMENT ON FUNCTION rollout.semver_multirange() IS 'empty set of version ranges';
COMMENT ON FUNCTION rollout.semver_multirange(rollout.semver_range) IS 'set of one version range';
COMMENT ON FUNCTION rollout.semver_multirange(VARIADIC rollout.semver_range[]) IS 'set of version ranges';

CREATE SEQUENCE rollout.version_policy_seq;
CREATE TABLE rollout.version_policy (
    policy_id    bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.version_policy_seq'),
    component_id text COLLATE "C" NOT NULL,
    tenant_id    text COLLATE "C",
    min_version  rollout.semver,
    max_version  rollout.semver,
    baseline     rollout.semver,
    blocked      rollout.semver_multirange NOT NULL DEFAULT '{}',
    action       text        NOT NULL DEFAULT 'report' CHECK (action IN ('report', 'remind', 'schedule', 'block')),
    grace_limit  interval    CHECK (grace_limit >= interval '0'),
    reason       text        NOT NULL,
    set_by       text        NOT NULL,
    valid_from   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    valid_to     timestamptz,
    CONSTRAINT version_policy_period CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT version_policy_bounds CHECK (min_version IS NULL OR max_version IS NULL
                                            OR min_version OPERATOR(rollout.<=) max_version)
);
-- One current policy per component and node ('' is the global one).
CREATE UNIQUE INDEX version_policy_current_idx ON rollout.version_policy (component_id, (coalesce(tenant_id, '')))
    WHERE valid_to IS NULL;
CREATE INDEX version_policy_history_idx ON rollout.version_policy (component_id, tenant_id, valid_from);
SELECT pg_catalog.pg_extension_config_dump('rollout.version_policy', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.version_policy_seq', '');
COMMENT ON SEQUENCE rollout.version_policy_seq IS 'ids of rollout.version_policy';
COMMENT ON TABLE rollout.version_policy IS
    'version policies of components, global (tenant_id NULL) or attached at a tenant node and inherited by its subtree (nearest node wins); a change closes the current row (valid_to) and adds a new one';
COMMENT ON COLUMN rollout.version_policy.tenant_id IS 'node the policy is attached to; NULL for the global policy of the component';
COMMENT ON COLUMN rollout.version_policy.min_version IS 'minimum required version (security, compatibility)';
COMMENT ON COLUMN rollout.version_policy.max_version IS 'maximum allowed version';
COMMENT ON COLUMN rollout.version_policy.baseline IS 'the version tenants should be on: older is behind_baseline';
COMMENT ON COLUMN rollout.version_policy.blocked IS 'blocked versions and ranges (e.g. a known-bad release)';
COMMENT ON COLUMN rollout.version_policy.action IS 'report, remind, schedule or block (refuse pins, channel releases, rollouts and activations that violate it)';
COMMENT ON COLUMN rollout.version_policy.grace_limit IS 'hard limit on a tenant''s grace period after EOL, extensions included; NULL: no extension';
COMMENT ON COLUMN rollout.version_policy.valid_from IS 'when this version of the policy took effect';
COMMENT ON COLUMN rollout.version_policy.valid_to IS 'when it was replaced or cleared; NULL while current';

CREATE SEQUENCE rollout.grace_extension_seq;
CREATE TABLE rollout.grace_extension (
    extension_id  bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.grace_extension_seq'),
    tenant_id     text COLLATE "C" NOT NULL,
    component_id  text COLLATE "C" NOT NULL,
    version       rollout.semver NOT NULL,
    extend_by     interval    NOT NULL CHECK (extend_by > interval '0'),
    reason        text        NOT NULL,
    ticket        text,
    status        text        NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected')),
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_by    text,
    decided_at    timestamptz,
    decision_note text,
    CONSTRAINT grace_extension_decided CHECK ((status = 'requested') = (decided_at IS NULL))
);
CREATE INDEX grace_extension_tenant_idx ON rollout.grace_extension (component_id, tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.grace_extension', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.grace_extension_seq', '');
COMMENT ON SEQUENCE rollout.grace_extension_seq IS 'ids of rollout.grace_extension';
COMMENT ON TABLE rollout.grace_extension IS
    'requests to extend a tenant''s grace period after a version''s EOL; effective once approved by someone other than the requester, never past the policy''s grace_limit';

CREATE SEQUENCE rollout.exemption_seq;
CREATE TABLE rollout.exemption (
    exemption_id    bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.exemption_seq'),
    tenant_id       text COLLATE "C" NOT NULL,
    include_subtree boolean     NOT NULL DEFAULT true,
    component_id    text COLLATE "C" NOT NULL,
    versions        rollout.semver_range NOT NULL CHECK (NOT pg_catalog.isempty(versions)),
    category        text        NOT NULL CHECK (category IN ('waiver', 'mitigated')),
    reason          text        NOT NULL,
    ticket          text,
    requested_by    text        NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    approved_by     text,
    approved_at     timestamptz,
    expires_at      timestamptz NOT NULL,
    revoked_by      text,
    revoked_at      timestamptz,
    revoke_reason   text,
    CONSTRAINT exemption_approval CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT exemption_revocation CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
CREATE INDEX exemption_lookup_idx ON rollout.exemption (component_id, tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.exemption', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.exemption_seq', '');
COMMENT ON SEQUENCE rollout.exemption_seq IS 'ids of rollout.exemption';
COMMENT ON TABLE rollout.exemption IS
    'exemptions from version policy: a tenant (or its subtree) may run a range of versions of a component until expires_at; in force once approved by someone other than the requester; rollout.exemption_applies() alone decides';
COMMENT ON COLUMN rollout.exemption.category IS 'waiver (risk accepted) or mitigated (risk handled otherwise)';
COMMENT ON COLUMN rollout.exemption.include_subtree IS 'the exemption also covers the descendants of tenant_id';
COMMENT ON COLUMN rollout.exemption.versions IS 'the versions the exemption covers';
COMMENT ON COLUMN rollout.exemption.expires_at IS 'the exemption stops covering at this instant';

-- Privileges of the objects above.
GRANT SELECT ON rollout.version_policy, rollout.grace_extension, rollout.exemption TO rollout_viewer;

--@function rollout._grace
--@function rollout._version_status
--@function rollout._exemption_in_force
--@function rollout.exemption_applies
--@function rollout._exemption_for_path
--@function rollout.exemption_for
--@function rollout._visible_tenants
--@function rollout._policies_as_of
--@function rollout._policy_row
--@function rollout.set_version_policy
--@function rollout.clear_version_policy
--@function rollout.version_policies
--@function rollout._effective_policy
--@function rollout.resolve_versions_all
--@function rollout._evaluate
--@function rollout._check_grace_limit
--@function rollout.request_grace_extension
--@function rollout._decide_grace_extension
--@function rollout.approve_grace_extension
--@function rollout.reject_grace_extension
--@function rollout.request_exemption
--@function rollout.approve_exemption
--@function rollout.revoke_exemption
--@function rollout._refusing_nodes
--@function rollout._enforce_policy
--@function rollout._enforce_stage
--@function rollout.drift_roster_at
--@function rollout.check_version
--@function rollout._summary
--@function rollout.compliance_summary_at
--@function rollout.version_distribution_at
--@function rollout.exemption_ledger_at
-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._grace(interval, interval, interval),
    rollout._version_status(rollout.semver, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            date, interval, timestamptz),
    rollout._exemption_in_force(rollout.exemption, timestamptz),
    rollout.exemption_applies(rollout.exemption, text[], text, rollout.semver, timestamptz),
    rollout._exemption_for_path(text[], text, rollout.semver, timestamptz),
    rollout.exemption_for(text, text, rollout.semver, timestamptz),
    rollout._visible_tenants(),
    rollout._policies_as_of(timestamptz),
    rollout._policy_row(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange, text,
                        interval, text),
    rollout.set_version_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                               text, interval, text),
    rollout.clear_version_policy(text, text, text),
    rollout.version_policies(timestamptz),
    rollout._effective_policy(text, text),
    rollout.resolve_versions_all(text[]),
    rollout._evaluate(timestamptz, rollout.version_policy[], text[], text[], rollout.semver),
    rollout._check_grace_limit(text, text, rollout.semver, interval, bigint),
    rollout.request_grace_extension(text, text, rollout.semver, interval, text, text),
    rollout._decide_grace_extension(bigint, boolean, text),
    rollout.approve_grace_extension(bigint, text),
    rollout.reject_grace_extension(bigint, text),
    rollout.request_exemption(text, text, rollout.semver_range, text, text, timestamptz, text, boolean),
    rollout.approve_exemption(bigint, text),
    rollout.revoke_exemption(bigint, text),
    rollout._refusing_nodes(text, rollout.semver),
    rollout._enforce_policy(text, rollout.semver, text[], text, text),
    rollout._enforce_stage(text, integer),
    rollout.drift_roster_at(timestamptz, text),
    rollout.check_version(text, text, rollout.semver, timestamptz),
    rollout._summary(timestamptz, rollout.version_policy[], text[]),
    rollout.compliance_summary_at(timestamptz, text),
    rollout.version_distribution_at(timestamptz, text),
    rollout.exemption_ledger_at(timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.resolve_versions_all(text[]),
    rollout.exemption_applies(rollout.exemption, text[], text, rollout.semver, timestamptz),
    rollout._exemption_in_force(rollout.exemption, timestamptz),
    rollout.exemption_for(text, text, rollout.semver, timestamptz),
    rollout._exemption_for_path(text[], text, rollout.semver, timestamptz),
    rollout.version_policies(timestamptz),
    rollout._policies_as_of(timestamptz),
    rollout.drift_roster_at(timestamptz, text),
    rollout.check_version(text, text, rollout.semver, timestamptz),
    rollout.compliance_summary_at(timestamptz, text),
    rollout.version_distribution_at(timestamptz, text),
    rollout.exemption_ledger_at(timestamptz)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.request_grace_extension(text, text, rollout.semver, interval, text, text),
    rollout.request_exemption(text, text, rollout.semver_range, text, text, timestamptz, text, boolean)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.set_version_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                               text, interval, text),
    rollout.clear_version_policy(text, text, text),
    rollout.approve_grace_extension(bigint, text),
    rollout.reject_grace_extension(bigint, text),
    rollout.approve_exemption(bigint, text),
    rollout.revoke_exemption(bigint, text)
TO rollout_admin;

-- Enforcement hooks in existing functions.
--@function rollout.pin_version
--@function rollout.set_channel_release
--@function rollout._start_stage

-- Version governance views: live (evaluated when read, in the reader's
-- transaction); a role bound with rollout.bind_tenant() sees only its subtrees.

CREATE VIEW rollout.drift_roster AS
SELECT r.* FROM rollout.drift_roster_at(pg_catalog.now()) r;
COMMENT ON VIEW rollout.drift_roster IS
    'every (tenant, component): resolved version and source, governing policy, EOL and forced-upgrade date (days left), exemption, and status: compliant, behind_baseline, below_minimum, above_maximum, blocked, eol_in_grace, past_grace, exempt or not_deployed';

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

-- Privileges of the objects above.
GRANT SELECT ON rollout.drift_roster, rollout.compliance_summary, rollout.version_distribution,
                rollout.exemption_ledger TO rollout_viewer;

-- Simulation returns rows of the roster's shape.
--@function rollout.simulate_policy

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.simulate_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            text, interval, boolean, timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.simulate_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            text, interval, boolean, timestamptz)
TO rollout_viewer;
