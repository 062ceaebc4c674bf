-- Releases: a component version, its manifest and its class (seed 004 §3).
CREATE TABLE rollout.release (
    release_id    text COLLATE "C" PRIMARY KEY
                  CHECK (release_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(release_id) <= @PGR_NAME_MAX_LEN@),
    component_id  text COLLATE "C" NOT NULL,
    version       rollout.semver NOT NULL,
    class         text CHECK (class IN ('ui_only', 'workflow', 'capability', 'mechanism')),
    manifest      jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(manifest) = 'object'),
    revision      integer     NOT NULL DEFAULT 1 CHECK (revision > 0),
    status        text        NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'promoting', 'rolled_back')),
    halted        boolean     NOT NULL DEFAULT false,
    halted_reason text,
    incidents     integer     NOT NULL DEFAULT 0,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    revised_by    text        NOT NULL,
    CONSTRAINT release_component_version_key UNIQUE (component_id, version)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.release', '');
COMMENT ON TABLE rollout.release IS
    'releases (seed 004): a component version with its manifest and class; a component with a release is governed: its channels change only through rollout.promote()';
COMMENT ON COLUMN rollout.release.class IS 'ui_only, workflow, capability or mechanism (seed 004 §3); NULL = unclassified, which blocks entry to any channel; frozen once promotion begins';
COMMENT ON COLUMN rollout.release.manifest IS 'description, files_changed, data_changes, kill_switch (a flag id), auto_kill_on_sev1, rollback_plan {trigger, procedure, verification, data_recovery, communication, owner}';
COMMENT ON COLUMN rollout.release.revision IS 'bumped whenever the manifest, class or exposure plan changes; approvals of an older revision are void';
COMMENT ON COLUMN rollout.release.halted IS 'true after a SEV-1: no promotion until the rollback evaluation is decided';
COMMENT ON COLUMN rollout.release.incidents IS 'number of incidents reported (every report updates the row, so a concurrent promotion re-checks)';
COMMENT ON COLUMN rollout.release.created_by IS 'login (session_user) that created the release: its author, who may not approve it';
COMMENT ON COLUMN rollout.release.revised_by IS 'login (session_user) that made the current revision (created the release, or last changed its class, manifest or exposure plan): it may not approve this revision';

-- When a release entered each channel: soak is measured from here and is
-- never reset by a newer release of the same component.
CREATE TABLE rollout.release_channel (
    release_id  text COLLATE "C" NOT NULL,
    channel_id  text COLLATE "C" NOT NULL,
    entered_at  timestamptz NOT NULL,
    entered_by  text        NOT NULL,
    automatic   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (release_id, channel_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_channel', '');
COMMENT ON TABLE rollout.release_channel IS 'the recorded entry of a release into each channel (soak starts here); one row per channel, never rewritten';
COMMENT ON COLUMN rollout.release_channel.automatic IS 'promoted by rollout.tick() rather than by a person';

-- Recorded checks: checklist items people verify (the derived ones are computed).
CREATE TABLE rollout.release_check (
    release_id text COLLATE "C" NOT NULL,
    check_id   text COLLATE "C" NOT NULL,
    passed     boolean     NOT NULL,
    evidence   text        NOT NULL,
    checked_by text        NOT NULL,
    checked_at timestamptz NOT NULL,
    PRIMARY KEY (release_id, check_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_check', '');
COMMENT ON TABLE rollout.release_check IS 'the latest recorded result of each checklist item of a release (hard stops, data safety, observability); history in the audit log';

-- Approvals per transition, by role.
CREATE SEQUENCE rollout.release_approval_seq;
COMMENT ON SEQUENCE rollout.release_approval_seq IS 'ids of rollout.release_approval';
CREATE TABLE rollout.release_approval (
    approval_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.release_approval_seq'),
    release_id  text COLLATE "C" NOT NULL,
    to_channel  text COLLATE "C" NOT NULL,
    role        text        NOT NULL CHECK (role IN ('dev_lead', 'qa', 'system_owner')),
    approver    text        NOT NULL,
    revision    integer     NOT NULL,
    note        text,
    approved_at timestamptz NOT NULL
);
CREATE INDEX release_approval_release_idx ON rollout.release_approval (release_id, to_channel);
-- One approval per role and one role per login for a transition at a
-- revision, whatever the isolation level of the approving transactions
-- (approve_release checks both first, but a REPEATABLE READ snapshot taken
-- before a concurrent approval committed would not see it).
CREATE UNIQUE INDEX release_approval_role_key ON rollout.release_approval (release_id, to_channel, revision, role);
CREATE UNIQUE INDEX release_approval_approver_key ON rollout.release_approval (release_id, to_channel, revision, approver);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_approval', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.release_approval_seq', '');
COMMENT ON TABLE rollout.release_approval IS 'approvals of a release''s transition into a channel, by role and login; void when the release''s revision has moved on';
COMMENT ON COLUMN rollout.release_approval.approver IS 'login (session_user) of the approving person, a member of rollout_release_<role>';
COMMENT ON COLUMN rollout.release_approval.revision IS 'release revision approved; a later manifest, class or exposure-plan change voids the approval';

-- Incidents SEV-1..4 against a release in a channel.
CREATE SEQUENCE rollout.release_incident_seq;
COMMENT ON SEQUENCE rollout.release_incident_seq IS 'ids of rollout.release_incident';
CREATE TABLE rollout.release_incident (
    incident_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.release_incident_seq'),
    release_id  text COLLATE "C" NOT NULL,
    channel_id  text COLLATE "C" NOT NULL,
    severity    integer     NOT NULL CHECK (severity BETWEEN 1 AND 4),
    summary     text        NOT NULL,
    reported_by text        NOT NULL,
    reported_at timestamptz NOT NULL,
    resolved_at timestamptz,
    resolution  text
);
CREATE INDEX release_incident_release_idx ON rollout.release_incident (release_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_incident', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.release_incident_seq', '');
COMMENT ON TABLE rollout.release_incident IS 'incidents (SEV-1 to SEV-4) reported against a release in a channel; SEV-1 halts the release, SEV-1/2 fail the channel''s exit criteria';

-- Rollback evaluations opened by SEV-1 incidents (seed 004 §4, §7).
CREATE SEQUENCE rollout.release_rollback_evaluation_seq;
COMMENT ON SEQUENCE rollout.release_rollback_evaluation_seq IS 'ids of rollout.release_rollback_evaluation';
CREATE TABLE rollout.release_rollback_evaluation (
    evaluation_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.release_rollback_evaluation_seq'),
    release_id    text COLLATE "C" NOT NULL,
    incident_id   bigint      NOT NULL,
    opened_at     timestamptz NOT NULL,
    decision      text CHECK (decision IN ('rollback', 'continue')),
    decided_by    text,
    decided_role  text,
    decided_at    timestamptz,
    note          text
);
CREATE INDEX release_rollback_evaluation_release_idx ON rollout.release_rollback_evaluation (release_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_rollback_evaluation', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.release_rollback_evaluation_seq', '');
COMMENT ON TABLE rollout.release_rollback_evaluation IS 'rollback evaluations opened by SEV-1 incidents; decided (rollback or continue) by the class''s rollback authority';

-- Tenant exposure plan for the experimental channel (seed 004 §5).
CREATE TABLE rollout.release_exposure_plan (
    release_id    text COLLATE "C" PRIMARY KEY,
    tenants       text[]      NOT NULL,
    opt_in_method text        NOT NULL,
    min_duration  interval    NOT NULL,
    max_duration  interval,
    exit_criteria text[]      NOT NULL,
    owner         text        NOT NULL,
    recorded_by   text        NOT NULL,
    recorded_at   timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_exposure_plan', '');
COMMENT ON TABLE rollout.release_exposure_plan IS 'tenant exposure plan of a release for the experimental channel: tenants, opt-in method, duration, exit criteria, owner (approved with the transition into experimental)';

-- Kill-switch tests recorded while the release is in the first channel (dev).
CREATE SEQUENCE rollout.release_kill_switch_test_seq;
COMMENT ON SEQUENCE rollout.release_kill_switch_test_seq IS 'ids of rollout.release_kill_switch_test';
CREATE TABLE rollout.release_kill_switch_test (
    test_id    bigint PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.release_kill_switch_test_seq'),
    release_id text COLLATE "C" NOT NULL,
    flag_id    text COLLATE "C" NOT NULL,
    channel_id text COLLATE "C" NOT NULL,
    passed     boolean     NOT NULL,
    evidence   text        NOT NULL,
    tested_by  text        NOT NULL,
    tested_at  timestamptz NOT NULL
);
CREATE INDEX release_kill_switch_test_release_idx ON rollout.release_kill_switch_test (release_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_kill_switch_test', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.release_kill_switch_test_seq', '');
COMMENT ON TABLE rollout.release_kill_switch_test IS 'kill-switch tests of a release (flag, result, evidence), recorded in the first channel before experimental';

-- GO/NO-GO memos (seed 004 §9), stored; their digest is chained into the audit log.
CREATE SEQUENCE rollout.release_memo_seq;
COMMENT ON SEQUENCE rollout.release_memo_seq IS 'ids of rollout.release_memo';
CREATE TABLE rollout.release_memo (
    memo_id      bigint PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.release_memo_seq'),
    release_id   text COLLATE "C" NOT NULL,
    decision     text        NOT NULL CHECK (decision IN ('GO', 'NO-GO')),
    revision     integer     NOT NULL,
    facts        jsonb       NOT NULL,
    state_digest bytea       NOT NULL,
    known_risks  jsonb       NOT NULL DEFAULT '[]',
    notes        text,
    rationale    text,
    remediation  text,
    body         text        NOT NULL,
    body_digest  bytea       NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT release_memo_no_go_explained CHECK (decision = 'GO' OR (rationale IS NOT NULL AND remediation IS NOT NULL))
);
CREATE INDEX release_memo_release_idx ON rollout.release_memo (release_id, memo_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_memo', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.release_memo_seq', '');
COMMENT ON TABLE rollout.release_memo IS 'GO/NO-GO decision memos: the facts they were generated from, the digest of those facts (must match at promotion to stable) and the rendered memo';
COMMENT ON COLUMN rollout.release_memo.state_digest IS 'SHA-256 of the facts (without the date): promotion to the last channel needs a GO memo whose digest equals the current one';
COMMENT ON COLUMN rollout.release_memo.body_digest IS 'SHA-256 of the rendered memo, recorded in the audit log (and so chained by rollout.seal_audit)';

-- The release clock override: superuser only, for tests and replays.
CREATE TABLE rollout.release_clock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    at        timestamptz NOT NULL,
    set_by    text        NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.release_clock', '');
COMMENT ON TABLE rollout.release_clock IS
    'superuser-only override of the clock release functions read (rollout.set_release_clock); empty in production';

-- Privileges of the objects above.
GRANT SELECT ON rollout.release, rollout.release_channel, rollout.release_check, rollout.release_approval,
                rollout.release_incident, rollout.release_rollback_evaluation, rollout.release_exposure_plan,
                rollout.release_kill_switch_test, rollout.release_memo, rollout.release_clock
   TO rollout_viewer;
