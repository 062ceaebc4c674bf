-- Remediation (issue 13): acting on the drift roster of version governance
-- (src/sql/88_governance).  Upgrade tasks derived from the roster, EOL
-- notification milestones recorded exactly once, forced upgrades scheduled
-- into maintenance windows, tenant notification and update preferences,
-- approvals of held tenants, concurrency limits per subtree.  See
-- docs/remediation.md.

-- Upgrade tasks: one per (tenant, component, target version) while open.
CREATE SEQUENCE rollout.upgrade_task_seq;
CREATE TABLE rollout.upgrade_task (
    task_id           bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.upgrade_task_seq'),
    tenant_id         text COLLATE "C" NOT NULL,
    component_id      text COLLATE "C" NOT NULL,
    version           rollout.semver NOT NULL,
    target_version    rollout.semver,
    reason            text        NOT NULL,
    status            text        NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'notified', 'scheduled', 'in_progress', 'done', 'exempted',
                                        'cancelled', 'overdue')),
    owner             text,
    policy_id         bigint,
    action            text,
    eol_date          date,
    forced_upgrade_on date,
    rollout_id        text COLLATE "C",
    scheduled_for     timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    closed_at         timestamptz,
    close_reason      text,
    notify_from       date,
    CONSTRAINT upgrade_task_closed CHECK ((status IN ('done', 'exempted', 'cancelled')) = (closed_at IS NOT NULL))
);
-- One open task per (tenant, component, target); a NULL target (no upgrade
-- path) is one task too.
CREATE UNIQUE INDEX upgrade_task_open_idx ON rollout.upgrade_task (tenant_id, component_id, target_version)
    NULLS NOT DISTINCT WHERE closed_at IS NULL;
CREATE INDEX upgrade_task_rollout_idx ON rollout.upgrade_task (rollout_id) WHERE rollout_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('rollout.upgrade_task', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.upgrade_task_seq', '');
COMMENT ON SEQUENCE rollout.upgrade_task_seq IS 'ids of rollout.upgrade_task';
COMMENT ON TABLE rollout.upgrade_task IS
    'upgrade tasks: one per (tenant, component, target version) that needs action, opened and closed by rollout.remediate() (tick) from the drift roster';
COMMENT ON COLUMN rollout.upgrade_task.status IS
    'open, notified (a milestone was sent), scheduled (in a forced-upgrade rollout), in_progress (that rollout runs), overdue (forced date passed, nothing scheduled); closed: done, exempted, cancelled';
COMMENT ON COLUMN rollout.upgrade_task.target_version IS 'the version to upgrade to (policy baseline or minimum, else the lowest newer published version without EOL); NULL: no upgrade path';
COMMENT ON COLUMN rollout.upgrade_task.reason IS 'the roster status that requires the upgrade (or eol_announced)';
COMMENT ON COLUMN rollout.upgrade_task.owner IS 'who handles the task: set with rollout.assign_upgrade_task, else the contact of the tenant''s notification preference';
COMMENT ON COLUMN rollout.upgrade_task.notify_from IS 'internal to the notification step: the next UTC day on which one of the task''s milestones falls due (infinity: none left); NULL: not computed yet (new task, or its dates, its tenant''s place in the tree or a milestone schedule changed)';
COMMENT ON COLUMN rollout.upgrade_task.scheduled_for IS 'the first allowed instant (maintenance window, no blackout) of the tenant''s forced upgrade';

-- Milestone schedules: nearest node wins (a tenant's own schedule is per
-- tenant; one attached at a policy's node is that policy's); a
-- component-specific schedule beats the all-components one of the same node.
CREATE TABLE rollout.milestone_schedule (
    component_id text COLLATE "C",
    tenant_id    text COLLATE "C",
    eol_days     integer[]   NOT NULL,
    forced_days  integer[]   NOT NULL,
    final_days   integer     NOT NULL CHECK (final_days BETWEEN 0 AND 30),
    set_by       text        NOT NULL,
    set_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX milestone_schedule_node_idx ON rollout.milestone_schedule (coalesce(component_id, ''), coalesce(tenant_id, ''));
SELECT pg_catalog.pg_extension_config_dump('rollout.milestone_schedule', '');
COMMENT ON TABLE rollout.milestone_schedule IS
    'notification milestones: days before EOL, days before the forced upgrade, and daily reminders in the last final_days days; attached globally or to a tree node (nearest wins), for one component or all (NULL); default {90,30}, {7}, 7';
COMMENT ON COLUMN rollout.milestone_schedule.eol_days IS 'send eol-N on EOL date minus N days';
COMMENT ON COLUMN rollout.milestone_schedule.forced_days IS 'send forced-N on the forced-upgrade date minus N days';
COMMENT ON COLUMN rollout.milestone_schedule.final_days IS 'daily reminders forced-(final_days-1) .. forced-1 before the forced date; forced on the day itself';

-- Notifications: one row per (tenant, component, EOL version, milestone), ever.
CREATE SEQUENCE rollout.notification_seq;
CREATE TABLE rollout.notification (
    notification_id bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.notification_seq'),
    tenant_id       text COLLATE "C" NOT NULL,
    component_id    text COLLATE "C" NOT NULL,
    version         rollout.semver NOT NULL,
    milestone       text        NOT NULL CHECK (milestone ~ '^(eol-[0-9]+|forced-[0-9]+|forced)$'),
    due_on          date        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('sent', 'late', 'superseded')),
    task_id         bigint      NOT NULL,
    org_id          text COLLATE "C" NOT NULL,
    channel         text        NOT NULL,
    target          text,
    event_id        bigint,
    digest          boolean     NOT NULL DEFAULT false,
    recorded_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    clock           timestamptz NOT NULL,
    CONSTRAINT notification_once UNIQUE (tenant_id, component_id, version, milestone)
);
CREATE INDEX notification_event_idx ON rollout.notification (event_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.notification', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.notification_seq', '');
COMMENT ON SEQUENCE rollout.notification_seq IS 'ids of rollout.notification';
COMMENT ON TABLE rollout.notification IS
    'EOL notification milestones: at most one row per (tenant, component, EOL version, milestone), written in the transaction of its outbox event (single or digest)';
COMMENT ON COLUMN rollout.notification.state IS 'sent (on its day), late (after its day: the scheduler was down or the EOL was set late), superseded (a later milestone of the same pair was due at once; recorded, not sent)';
COMMENT ON COLUMN rollout.notification.event_id IS 'the outbox event that carries it (a digest carries many)';
COMMENT ON COLUMN rollout.notification.clock IS 'the clock of the remediation run that recorded it (now(), or the explicit at of rollout.remediate)';

-- Tenant preferences: nearest node wins, as a whole row.
CREATE TABLE rollout.tenant_preference (
    tenant_id   text COLLATE "C" PRIMARY KEY,
    channel     text        NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email_digest', 'webhook')),
    target      text,
    contact     text,
    approval    text        NOT NULL DEFAULT 'auto' CHECK (approval IN ('auto', 'major', 'all')),
    set_by      text        NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT tenant_preference_target CHECK (channel = 'in_app' OR target IS NOT NULL)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.tenant_preference', '');
COMMENT ON TABLE rollout.tenant_preference IS
    'tenant notification and update preferences (nearest node wins): channel and target of notifications (stored, not sent), contact, and which updates need the tenant''s approval';
COMMENT ON COLUMN rollout.tenant_preference.channel IS 'in_app, email_digest (always in the daily digest) or webhook';
COMMENT ON COLUMN rollout.tenant_preference.target IS 'e-mail list or webhook target name, resolved by the notifier';
COMMENT ON COLUMN rollout.tenant_preference.approval IS 'auto (updates proceed), major (major-version updates wait for approval), all (every update waits)';

-- Approvals of held tenants by someone other than the rollout's author.
CREATE TABLE rollout.update_approval (
    rollout_id  text COLLATE "C" NOT NULL,
    tenant_id   text COLLATE "C" NOT NULL,
    approved_by text        NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    note        text,
    PRIMARY KEY (rollout_id, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.update_approval', '');
COMMENT ON TABLE rollout.update_approval IS
    'a tenant''s approval of a rollout that its update preference holds back (rollout.approve_tenant_update)';

-- Concurrency limits per subtree.
CREATE TABLE rollout.concurrency_limit (
    tenant_id   text COLLATE "C" PRIMARY KEY,
    max_tenants integer     NOT NULL CHECK (max_tenants > 0),
    settle      interval    NOT NULL DEFAULT '1 hour' CHECK (settle > interval '0'),
    set_by      text        NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.concurrency_limit', '');
COMMENT ON TABLE rollout.concurrency_limit IS
    'at most max_tenants tenants of the subtree of tenant_id being updated at once: activated by a running or paused rollout less than settle ago';

-- Forced upgrades: rollouts created by remediation, approved by policy.
CREATE TABLE rollout.forced_upgrade (
    rollout_id     text COLLATE "C" PRIMARY KEY,
    component_id   text COLLATE "C" NOT NULL,
    target_version rollout.semver NOT NULL,
    policy_ids     bigint[]    NOT NULL,
    starts_at      timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX forced_upgrade_component_idx ON rollout.forced_upgrade (component_id, target_version);
SELECT pg_catalog.pg_extension_config_dump('rollout.forced_upgrade', '');
COMMENT ON TABLE rollout.forced_upgrade IS
    'rollouts created by remediation for tenants past grace under a policy with action schedule, approved by policy, started at starts_at (the earliest tenant window)';

-- The ledger of remediation runs.
CREATE SEQUENCE rollout.remediation_run_seq;
CREATE TABLE rollout.remediation_run (
    run_id        bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.remediation_run_seq'),
    clock         timestamptz NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    tasks_opened  integer     NOT NULL,
    tasks_closed  integer     NOT NULL,
    notifications integer     NOT NULL,
    events        integer     NOT NULL,
    forced        integer     NOT NULL,
    by_tick       boolean     NOT NULL,
    ran_by        text        NOT NULL,
    complete      boolean     NOT NULL DEFAULT true
);
CREATE INDEX remediation_run_started_idx ON rollout.remediation_run (started_at);
SELECT pg_catalog.pg_extension_config_dump('rollout.remediation_run', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.remediation_run_seq', '');
COMMENT ON SEQUENCE rollout.remediation_run_seq IS 'ids of rollout.remediation_run';
COMMENT ON TABLE rollout.remediation_run IS 'one row per remediation run (rollout.remediate, or tick() at most every 5 minutes)';
COMMENT ON COLUMN rollout.remediation_run.clock IS 'the instant the run evaluated (now(), or the explicit at of rollout.remediate)';
COMMENT ON COLUMN rollout.remediation_run.complete IS
    'false when a run by tick() stopped at its task budget (10,000 tasks opened or updated, or closed): the next tick runs again and carries on';
COMMENT ON COLUMN rollout.remediation_run.by_tick IS 'run by tick() (which runs it when its last run by a tick ended 5 minutes ago or more, and at least as long ago as it took)';

-- Privileges of the objects above.
GRANT SELECT ON rollout.upgrade_task, rollout.milestone_schedule, rollout.notification, rollout.tenant_preference,
                rollout.update_approval, rollout.concurrency_limit, rollout.forced_upgrade,
                rollout.remediation_run TO rollout_viewer;
