-- Rollouts: plans of ordered stages that move a component from one version to
-- another.  Tables: rollouts, stages, rollback triggers, activations, deferrals.

CREATE TABLE rollout.rollout (
    rollout_id           text COLLATE "C" PRIMARY KEY
                         CHECK (rollout_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(rollout_id) <= @PGR_NAME_MAX_LEN@),
    component_id         text COLLATE "C" NOT NULL,
    from_version         rollout.semver NOT NULL,
    to_version           rollout.semver NOT NULL,
    strategy             text        NOT NULL DEFAULT 'staged'
                         CHECK (strategy IN ('staged', 'canary', 'blue_green', 'feature_flag')),
    description          text,
    scope_tenant_id      text COLLATE "C",
    channel_id           text COLLATE "C",
    target_kind          text,
    allow_downgrade      boolean     NOT NULL DEFAULT false,
    rollback_automatic   boolean     NOT NULL DEFAULT true,
    monitoring_extension interval    NOT NULL DEFAULT '1 hour' CHECK (monitoring_extension > interval '0'),
    stage_timeout        interval    NOT NULL DEFAULT '24 hours' CHECK (stage_timeout >= interval '0'),
    flag_id              text COLLATE "C",
    plan                 jsonb,
    salt                 bytea       NOT NULL,
    status               text        NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'approved', 'running', 'paused', 'completed',
                                           'rolled_back', 'failed', 'cancelled')),
    current_stage        integer,
    revision             integer     NOT NULL DEFAULT 1,
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    approved_by          text,
    approved_at          timestamptz,
    approval_note        text,
    started_at           timestamptz,
    finished_at          timestamptz,
    status_reason        text,
    next_due_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    start_no             integer,
    CONSTRAINT rollout_versions_differ CHECK (from_version OPERATOR(rollout.<>) to_version),
    CONSTRAINT rollout_flag_strategy CHECK ((strategy = 'feature_flag') = (flag_id IS NOT NULL)),
    CONSTRAINT rollout_salt_length CHECK (pg_catalog.octet_length(salt) BETWEEN 8 AND 64)
);
-- One rollout at a time moves a component's tenants.
CREATE UNIQUE INDEX rollout_one_live_per_component ON rollout.rollout (component_id)
    WHERE status IN ('running', 'paused', 'failed');
CREATE INDEX rollout_due_idx ON rollout.rollout (next_due_at) WHERE status = 'running';
-- Rollouts of a component in the order they started: later ones supersede.
CREATE UNIQUE INDEX rollout_start_no_idx ON rollout.rollout (component_id, start_no);
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout', '');
COMMENT ON TABLE rollout.rollout IS 'rollouts: a component moved from one version to another over ordered stages';
COMMENT ON COLUMN rollout.rollout.strategy IS 'staged, canary (generated increments), blue_green (both versions kept, instant switch back) or feature_flag';
COMMENT ON COLUMN rollout.rollout.scope_tenant_id IS 'limit the rollout to this tenant''s subtree; NULL for every tenant';
COMMENT ON COLUMN rollout.rollout.channel_id IS 'only tenants whose effective channel is this one are eligible; NULL for any';
COMMENT ON COLUMN rollout.rollout.target_kind IS 'only tenants of this kind (e.g. project) are selected; NULL for every kind';
COMMENT ON COLUMN rollout.rollout.salt IS 'random salt fixed at creation: tenants'' buckets never change during the rollout';
COMMENT ON COLUMN rollout.rollout.current_stage IS 'number of the stage being monitored (1-based); NULL before start';
COMMENT ON COLUMN rollout.rollout.revision IS 'incremented by every transaction that edits the plan; an approval covers one revision';
COMMENT ON COLUMN rollout.rollout.monitoring_extension IS 'how long monitoring is extended when a due stage has no metrics';
COMMENT ON COLUMN rollout.rollout.stage_timeout IS 'a stage still undecided this long after it was due pauses the rollout';
COMMENT ON COLUMN rollout.rollout.next_due_at IS 'when rollout.tick() next has work for this rollout';
COMMENT ON COLUMN rollout.rollout.flag_id IS 'feature_flag strategy: the flag that gates the to-version (overrides and kill switch apply)';
COMMENT ON COLUMN rollout.rollout.start_no IS
    'place among the component''s rollouts in the order they started (1, 2, ...), NULL before the start; a later rollout''s activations supersede earlier ones';
COMMENT ON COLUMN rollout.rollout.plan IS 'the JSON plan document the rollout was created from, if any';

CREATE FUNCTION rollout._rollout_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.salt IS DISTINCT FROM OLD.salt OR NEW.rollout_id IS DISTINCT FROM OLD.rollout_id
       OR NEW.component_id IS DISTINCT FROM OLD.component_id THEN
        RAISE EXCEPTION USING ERRCODE = 'prohibited_sql_statement_attempted',
            MESSAGE = format('the id, component and salt of rollout "%s" cannot change', OLD.rollout_id),
            DETAIL = 'Tenants'' buckets are derived from the salt; changing it would move tenants between stages.';
    END IF;
    IF OLD.start_no IS NOT NULL AND NEW.start_no IS DISTINCT FROM OLD.start_no THEN
        RAISE EXCEPTION USING ERRCODE = 'prohibited_sql_statement_attempted',
            MESSAGE = format('the start number of rollout "%s" cannot change', OLD.rollout_id),
            DETAIL = 'Resolution lets the latest started rollout of a component decide; renumbering would change which rollout decides for every tenant.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout._rollout_guard() IS 'internal: keeps a rollout''s id, component, salt and (once started) start number immutable';
CREATE TRIGGER rollout_guard BEFORE UPDATE ON rollout.rollout
    FOR EACH ROW EXECUTE FUNCTION rollout._rollout_guard();

CREATE TABLE rollout.rollout_stage (
    rollout_id                text COLLATE "C" NOT NULL,
    stage_no                  integer     NOT NULL CHECK (stage_no > 0),
    name                      text        NOT NULL
                              CHECK (name ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(name) <= @PGR_NAME_MAX_LEN@),
    description               text,
    method                    text        NOT NULL CHECK (method IN ('tenants', 'percentage', 'all')),
    tenants                   text[] COLLATE "C",
    percent                   numeric(7,4) CHECK (percent > 0 AND percent <= 100),
    weight_by                 text,
    min_duration              interval    NOT NULL DEFAULT '0' CHECK (min_duration >= interval '0'),
    max_new_failures          numeric     CHECK (max_new_failures >= 0),
    max_failure_rate_increase numeric,
    metric_bounds             jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(metric_bounds) = 'object'),
    auto_proceed              boolean     NOT NULL DEFAULT false,
    status                    text        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'monitoring', 'passed', 'completed', 'failed', 'rolled_back')),
    started_at                timestamptz,
    due_at                    timestamptz,
    completed_at              timestamptz,
    activated                 integer     NOT NULL DEFAULT 0,
    last_evaluation           jsonb,
    pass_without_metrics      boolean     NOT NULL DEFAULT false,
    monitoring_extensions     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, stage_no),
    CONSTRAINT rollout_stage_name_key UNIQUE (rollout_id, name),
    CONSTRAINT rollout_stage_method_args CHECK (
        (method = 'tenants' AND tenants IS NOT NULL AND percent IS NULL AND weight_by IS NULL)
        OR (method = 'percentage' AND percent IS NOT NULL AND tenants IS NULL)
        OR (method = 'all' AND percent IS NULL AND tenants IS NULL AND weight_by IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout_stage', '');
COMMENT ON TABLE rollout.rollout_stage IS 'the ordered stages of a rollout: selection, minimum duration, success criteria, auto-proceed, status';
COMMENT ON COLUMN rollout.rollout_stage.method IS 'tenants (an explicit list), percentage (of eligible tenants, optionally weighted) or all';
COMMENT ON COLUMN rollout.rollout_stage.pass_without_metrics IS
    'a stage without success criteria, in a rollout without rollback triggers, passes when due even if no metric sample was reported';
COMMENT ON COLUMN rollout.rollout_stage.monitoring_extensions IS
    'times tick() extended monitoring of the stage because it was due without the metric samples it needs';
COMMENT ON COLUMN rollout.rollout_stage.percent IS 'share of eligible tenants (or of their weight), in (0, 100]';
COMMENT ON COLUMN rollout.rollout_stage.weight_by IS 'numeric tenant attribute the percentage is weighted by (e.g. scan_volume)';
COMMENT ON COLUMN rollout.rollout_stage.min_duration IS 'minimum time the stage is monitored before it can pass';
COMMENT ON COLUMN rollout.rollout_stage.max_new_failures IS 'success criterion: sum of metric new_failures in the stage at most this';
COMMENT ON COLUMN rollout.rollout_stage.max_failure_rate_increase IS 'success criterion: mean failure_rate in the stage minus the baseline mean at most this';
COMMENT ON COLUMN rollout.rollout_stage.metric_bounds IS 'success criteria on named metrics: {"metric": upper bound, ...}';
COMMENT ON COLUMN rollout.rollout_stage.auto_proceed IS 'rollout.tick() starts the next stage when this one passes';
COMMENT ON COLUMN rollout.rollout_stage.activated IS 'tenants activated while this stage was current';
COMMENT ON COLUMN rollout.rollout_stage.last_evaluation IS 'the latest evaluation of the success criteria';

CREATE TABLE rollout.rollout_trigger (
    rollout_id text COLLATE "C" NOT NULL,
    metric     text    NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.]*$' AND length(metric) <= @PGR_NAME_MAX_LEN@),
    threshold  numeric NOT NULL,
    PRIMARY KEY (rollout_id, metric)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout_trigger', '');
COMMENT ON TABLE rollout.rollout_trigger IS 'rollback triggers: a metric of the current stage above its threshold rolls the rollout back';

-- No foreign keys: a stage may activate 100,000 tenants in one statement,
-- and three key checks per row would triple its cost.  Only the rollout
-- functions write this table, from rows they have just read, and tenants,
-- components and rollouts are never deleted (tenants are decommissioned).
CREATE TABLE rollout.activation (
    component_id          text COLLATE "C" NOT NULL,
    tenant_id             text COLLATE "C" NOT NULL,
    version               rollout.semver NOT NULL,
    rollout_id            text COLLATE "C" NOT NULL,
    stage_no              integer     NOT NULL,
    activated_at          timestamptz NOT NULL,
    previous_version      rollout.semver,
    previous_rollout_id   text COLLATE "C",
    previous_stage_no     integer,
    previous_activated_at timestamptz,
    start_no              integer     NOT NULL,
    previous_start_no     integer,
    PRIMARY KEY (component_id, tenant_id)
);
CREATE INDEX activation_rollout_idx ON rollout.activation (rollout_id, stage_no);
SELECT pg_catalog.pg_extension_config_dump('rollout.activation', '');
COMMENT ON TABLE rollout.activation IS
    'tenants a rollout has moved to its to-version; inherited by descendants; a rollback restores the previous row';
COMMENT ON COLUMN rollout.activation.stage_no IS 'stage that was current when the tenant was activated';
COMMENT ON COLUMN rollout.activation.previous_version IS 'version of the activation this one replaced (restored by a rollback), NULL if none';
COMMENT ON COLUMN rollout.activation.start_no IS
    'start_no of the activating rollout: in resolution, the activation on the tenant''s path with the highest start_no decides';
COMMENT ON COLUMN rollout.activation.previous_start_no IS 'start_no of the activation this one replaced, NULL if none';

CREATE TABLE rollout.deferral (
    rollout_id  text COLLATE "C" NOT NULL,
    tenant_id   text COLLATE "C" NOT NULL,
    stage_no    integer     NOT NULL,
    deferred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reason      text        NOT NULL,
    PRIMARY KEY (rollout_id, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.deferral', '');
COMMENT ON TABLE rollout.deferral IS
    'tenants selected by a stage but held back by a maintenance blackout; activated by rollout.tick() once allowed';

-- Activations that left rollout.activation: undone by a rollback or a
-- cancellation, or dropped from previous_* by a third rollout.  With the
-- activation rows (current and previous_*) and the audit log, they make
-- each tenant's version history (rollout.tenant_history).  A stage's first
-- activation of a tenant writes nothing here.
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

-- Privileges of the objects above.
GRANT SELECT ON rollout.rollout, rollout.rollout_stage, rollout.rollout_trigger, rollout.activation, rollout.deferral,
    rollout.activation_history TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._rollout_guard()
FROM PUBLIC;
