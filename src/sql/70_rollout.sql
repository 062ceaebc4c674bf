-- Rollouts: plans of ordered stages that move a component from one version
-- to another, their lifecycle, deterministic selection and activation.

CREATE FUNCTION rollout._actor()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text) $$;
COMMENT ON FUNCTION rollout._actor() IS 'internal: the acting identity: pg_rollout.actor when set, else the session user';

CREATE FUNCTION rollout.bucket(salt bytea, tenant_id text)
RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_bucket';
COMMENT ON FUNCTION rollout.bucket(bytea, text) IS
    'deterministic bucket 0..999999 of a tenant under a salt (SHA-256); a stage at p % selects buckets below p * 10000';

CREATE FUNCTION rollout.weight_key(salt bytea, tenant_id text, weight double precision)
RETURNS double precision
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_weight_key';
COMMENT ON FUNCTION rollout.weight_key(bytea, text, double precision) IS
    'deterministic weighted-sampling key (-ln(u)/weight); tenants in ascending key order form a weighted random permutation';

CREATE TABLE rollout.rollout (
    rollout_id           text COLLATE "C" PRIMARY KEY
                         CHECK (rollout_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(rollout_id) <= 63),
    component_id         text COLLATE "C" NOT NULL REFERENCES rollout.component (component_id),
    from_version         rollout.semver NOT NULL,
    to_version           rollout.semver NOT NULL,
    strategy             text        NOT NULL DEFAULT 'staged'
                         CHECK (strategy IN ('staged', 'canary', 'blue_green', 'feature_flag')),
    description          text,
    scope_tenant_id      text COLLATE "C" REFERENCES rollout.tenant (tenant_id),
    channel_id           text COLLATE "C" REFERENCES rollout.channel (channel_id),
    target_kind          text,
    allow_downgrade      boolean     NOT NULL DEFAULT false,
    rollback_automatic   boolean     NOT NULL DEFAULT true,
    monitoring_extension interval    NOT NULL DEFAULT '1 hour' CHECK (monitoring_extension > interval '0'),
    stage_timeout        interval    NOT NULL DEFAULT '24 hours' CHECK (stage_timeout >= interval '0'),
    flag_id              text COLLATE "C" REFERENCES rollout.flag (flag_id),
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
    CONSTRAINT rollout_versions_differ CHECK (from_version OPERATOR(rollout.<>) to_version),
    CONSTRAINT rollout_flag_strategy CHECK ((strategy = 'feature_flag') = (flag_id IS NOT NULL)),
    CONSTRAINT rollout_salt_length CHECK (pg_catalog.octet_length(salt) BETWEEN 8 AND 64)
);
-- One rollout at a time moves a component's tenants.
CREATE UNIQUE INDEX rollout_one_live_per_component ON rollout.rollout (component_id)
    WHERE status IN ('running', 'paused', 'failed');
CREATE INDEX rollout_due_idx ON rollout.rollout (next_due_at) WHERE status = 'running';
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout', '');
COMMENT ON TABLE rollout.rollout IS 'rollouts: a component moved from one version to another over ordered stages';
COMMENT ON COLUMN rollout.rollout.strategy IS 'staged, canary (generated increments), blue_green (both versions kept, instant switch back) or feature_flag';
COMMENT ON COLUMN rollout.rollout.scope_tenant_id IS 'limit the rollout to this tenant''s subtree; NULL for every tenant';
COMMENT ON COLUMN rollout.rollout.channel_id IS 'only tenants whose effective channel is this one are eligible; NULL for any';
COMMENT ON COLUMN rollout.rollout.target_kind IS 'only tenants of this kind (e.g. project) are selected; NULL for every kind';
COMMENT ON COLUMN rollout.rollout.salt IS 'random salt fixed at creation: tenants'' buckets never change during the rollout';
COMMENT ON COLUMN rollout.rollout.current_stage IS 'number of the stage being monitored (1-based); NULL before start';
COMMENT ON COLUMN rollout.rollout.revision IS 'incremented by every edit of the plan; an approval covers one revision';
COMMENT ON COLUMN rollout.rollout.monitoring_extension IS 'how long monitoring is extended when a due stage has no metrics';
COMMENT ON COLUMN rollout.rollout.stage_timeout IS 'a stage still undecided this long after it was due pauses the rollout';
COMMENT ON COLUMN rollout.rollout.next_due_at IS 'when rollout.tick() next has work for this rollout';
COMMENT ON COLUMN rollout.rollout.flag_id IS 'feature_flag strategy: the flag that gates the to-version (overrides and kill switch apply)';
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
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout._rollout_guard() IS 'internal: keeps a rollout''s id, component and salt immutable';
CREATE TRIGGER rollout_guard BEFORE UPDATE ON rollout.rollout
    FOR EACH ROW EXECUTE FUNCTION rollout._rollout_guard();

CREATE TABLE rollout.rollout_stage (
    rollout_id                text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    stage_no                  integer     NOT NULL CHECK (stage_no > 0),
    name                      text        NOT NULL
                              CHECK (name ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(name) <= 63),
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
    rollout_id text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    metric     text    NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.]*$' AND length(metric) <= 63),
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
    PRIMARY KEY (component_id, tenant_id)
);
CREATE INDEX activation_rollout_idx ON rollout.activation (rollout_id, stage_no);
SELECT pg_catalog.pg_extension_config_dump('rollout.activation', '');
COMMENT ON TABLE rollout.activation IS
    'tenants a rollout has moved to its to-version; inherited by descendants; a rollback restores the previous row';
COMMENT ON COLUMN rollout.activation.stage_no IS 'stage that was current when the tenant was activated';
COMMENT ON COLUMN rollout.activation.previous_version IS 'version of the activation this one replaced (restored by a rollback), NULL if none';

CREATE TABLE rollout.deferral (
    rollout_id  text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    stage_no    integer     NOT NULL,
    deferred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reason      text        NOT NULL,
    PRIMARY KEY (rollout_id, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.deferral', '');
COMMENT ON TABLE rollout.deferral IS
    'tenants selected by a stage but held back by a maintenance blackout; activated by rollout.tick() once allowed';

CREATE SEQUENCE rollout.blackout_seq;
CREATE TABLE rollout.blackout (
    blackout_id bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.blackout_seq'),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    during      tstzrange   NOT NULL CHECK (NOT pg_catalog.isempty(during)),
    reason      text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX blackout_tenant_idx ON rollout.blackout (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.blackout', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.blackout_seq', '');
COMMENT ON SEQUENCE rollout.blackout_seq IS 'ids of rollout.blackout';
COMMENT ON TABLE rollout.blackout IS
    'maintenance blackouts: no tenant in the subtree of tenant_id is activated during the period';

-- A hold was lifted: running rollouts with deferred tenants are due now.
CREATE FUNCTION rollout._wake_deferred()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE rollout.rollout r SET next_due_at = now()
     WHERE r.status = 'running' AND EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
$$;
COMMENT ON FUNCTION rollout._wake_deferred() IS
    'internal: make every running rollout with deferred tenants due at once (a blackout or window was removed)';

CREATE FUNCTION rollout.add_blackout(tenant_id text, during tstzrange, reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM rollout._tenant_for_update(add_blackout.tenant_id);
    IF during IS NULL OR isempty(during) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blackout period of tenant "%s" must be a non-empty range', add_blackout.tenant_id);
    END IF;
    PERFORM rollout._require_reason(reason, 'add a blackout');
    INSERT INTO rollout.blackout (tenant_id, during, reason, created_by)
    VALUES (add_blackout.tenant_id, during, reason, rollout._actor())
    RETURNING blackout_id INTO id;
    PERFORM rollout._audit('blackout.added', add_blackout.tenant_id, 'blackout', id::text, reason,
                           jsonb_build_object('during', during::text));
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.add_blackout(text, tstzrange, text) IS
    'add a maintenance blackout on a tenant and its subtree; rollouts defer their tenants during it';

CREATE FUNCTION rollout.remove_blackout(blackout_id bigint, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b rollout.blackout;
BEGIN
    DELETE FROM rollout.blackout x WHERE x.blackout_id = remove_blackout.blackout_id RETURNING * INTO b;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('blackout %s does not exist', remove_blackout.blackout_id);
    END IF;
    PERFORM rollout._audit('blackout.removed', b.tenant_id, 'blackout', b.blackout_id::text, reason,
                           jsonb_build_object('during', b.during::text));
    PERFORM rollout._wake_deferred();
END
$$;
COMMENT ON FUNCTION rollout.remove_blackout(bigint, text) IS 'remove a maintenance blackout; audited';

CREATE FUNCTION rollout.in_blackout(tenant_id text, at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM rollout.blackout b
                    WHERE b.tenant_id = ANY (rollout.tenant_path($1)) AND b.during @> $2)
$$;
COMMENT ON FUNCTION rollout.in_blackout(text, timestamptz) IS
    'whether a blackout on the tenant or an ancestor covers the time';

CREATE SEQUENCE rollout.maintenance_window_seq;
CREATE TABLE rollout.maintenance_window (
    window_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.maintenance_window_seq'),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    weekdays    integer[]   NOT NULL
                CHECK (pg_catalog.cardinality(weekdays) > 0 AND weekdays <@ '{1,2,3,4,5,6,7}'),
    starts      time        NOT NULL,
    ends        time        NOT NULL CHECK (ends <> starts),
    time_zone   text        NOT NULL DEFAULT 'UTC',
    reason      text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX maintenance_window_tenant_idx ON rollout.maintenance_window (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.maintenance_window', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.maintenance_window_seq', '');
COMMENT ON SEQUENCE rollout.maintenance_window_seq IS 'ids of rollout.maintenance_window';
COMMENT ON TABLE rollout.maintenance_window IS
    'recurring maintenance windows: a tenant whose nearest windowed ancestor (or itself) has windows is activated only inside one';
COMMENT ON COLUMN rollout.maintenance_window.weekdays IS 'ISO days of the week the window opens on: 1 = Monday .. 7 = Sunday';
COMMENT ON COLUMN rollout.maintenance_window.starts IS 'local opening time';
COMMENT ON COLUMN rollout.maintenance_window.ends IS 'local closing time; earlier than starts for a window that spans midnight';
COMMENT ON COLUMN rollout.maintenance_window.time_zone IS 'time zone of starts and ends (a name such as Europe/Berlin)';

CREATE FUNCTION rollout._window_open(weekdays integer[], starts time, ends time, time_zone text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $2 < $3
                THEN extract(isodow FROM l.t)::integer = ANY ($1) AND l.t::time >= $2 AND l.t::time < $3
                ELSE (extract(isodow FROM l.t)::integer = ANY ($1) AND l.t::time >= $2)
                     OR (extract(isodow FROM l.t - interval '1 day')::integer = ANY ($1) AND l.t::time < $3) END
      FROM (SELECT $5 AT TIME ZONE $4 AS t) l
$$;
COMMENT ON FUNCTION rollout._window_open(integer[], time, time, text, timestamptz) IS
    'internal: whether a weekly window is open at a time';

CREATE FUNCTION rollout.add_maintenance_window(tenant_id text, weekdays integer[], starts time, ends time,
                                               time_zone text DEFAULT 'UTC', reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    PERFORM rollout._tenant_for_update(tenant_id);
    IF weekdays IS NULL OR cardinality(weekdays) = 0 OR NOT (weekdays <@ '{1,2,3,4,5,6,7}') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid weekdays %s for a maintenance window of tenant "%s"', coalesce(weekdays::text, 'NULL'), tenant_id),
            DETAIL = 'Weekdays are ISO day numbers: 1 (Monday) to 7 (Sunday), at least one.';
    END IF;
    IF starts IS NULL OR ends IS NULL OR starts = ends THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a maintenance window of tenant "%s" needs different start and end times', tenant_id);
    END IF;
    IF time_zone IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = time_zone)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev = time_zone) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('time zone "%s" is not recognized', time_zone);
    END IF;
    INSERT INTO rollout.maintenance_window (tenant_id, weekdays, starts, ends, time_zone, reason, created_by)
    VALUES (tenant_id, weekdays, starts, ends, time_zone, reason, rollout._actor())
    RETURNING window_id INTO id;
    PERFORM rollout._audit('maintenance_window.added', tenant_id, 'maintenance_window', id::text, reason,
                           jsonb_build_object('weekdays', weekdays, 'starts', starts, 'ends', ends, 'time_zone', time_zone));
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.add_maintenance_window(text, integer[], time, time, text, text) IS
    'add a weekly maintenance window to a tenant (and its subtree, unless a descendant has its own); rollouts activate them only inside';

CREATE FUNCTION rollout.remove_maintenance_window(window_id bigint, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w rollout.maintenance_window;
BEGIN
    DELETE FROM rollout.maintenance_window x WHERE x.window_id = remove_maintenance_window.window_id RETURNING * INTO w;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('maintenance window %s does not exist', remove_maintenance_window.window_id);
    END IF;
    PERFORM rollout._audit('maintenance_window.removed', w.tenant_id, 'maintenance_window', w.window_id::text, reason, '{}');
    PERFORM rollout._wake_deferred();
END
$$;
COMMENT ON FUNCTION rollout.remove_maintenance_window(bigint, text) IS 'remove a maintenance window; audited';

CREATE FUNCTION rollout.activation_hold(tenant_id text, at timestamptz DEFAULT now())
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS (SELECT u.id, u.o FROM unnest(rollout.tenant_path($1)) WITH ORDINALITY u(id, o)),
         nearest AS (SELECT p.id FROM p WHERE EXISTS (SELECT 1 FROM rollout.maintenance_window w WHERE w.tenant_id = p.id)
                      ORDER BY p.o DESC LIMIT 1)
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM rollout.blackout b JOIN p ON p.id = b.tenant_id WHERE b.during @> $2)
            THEN 'maintenance blackout'
        WHEN EXISTS (SELECT 1 FROM nearest)
             AND NOT EXISTS (SELECT 1 FROM rollout.maintenance_window w JOIN nearest n ON n.id = w.tenant_id
                              WHERE rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, $2))
            THEN 'outside maintenance window'
        END
$$;
COMMENT ON FUNCTION rollout.activation_hold(text, timestamptz) IS
    'why a rollout may not activate the tenant at a time (a blackout on its path, or outside the windows of its nearest windowed ancestor), NULL when it may';

-- ---------------------------------------------------------------------
-- Definition
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._rollout_for_update(rollout_id text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout;
BEGIN
    IF rollout_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'rollout id must not be null';
    END IF;
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _rollout_for_update.rollout_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_for_update(text) IS 'internal: lock a rollout row or raise undefined_object';

CREATE FUNCTION rollout._require_rollout_status(r rollout.rollout, allowed text[], action text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (r.status = ANY (allowed)) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot %s rollout "%s": it is %s', action, r.rollout_id, r.status),
            DETAIL = format('To %s a rollout, it must be %s.', action, array_to_string(allowed, ' or '));
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_rollout_status(rollout.rollout, text[], text) IS
    'internal: raise object_not_in_prerequisite_state naming the current status unless it is allowed';

-- An edit of a draft or approved plan; an approved plan loses its approval.
CREATE FUNCTION rollout._rollout_edit(rollout_id text, what text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    IF r.status NOT IN ('draft', 'approved') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot edit rollout "%s": it is %s', r.rollout_id, r.status),
            DETAIL = 'Only a draft or approved plan can be edited.';
    END IF;
    IF r.status = 'approved' THEN
        PERFORM rollout._event('rollout.approval_voided', r.rollout_id,
                               format('plan edited: %s', what),
                               jsonb_build_object('approved_by', r.approved_by, 'revision', r.revision));
    END IF;
    UPDATE rollout.rollout x
       SET status = 'draft', approved_by = NULL, approved_at = NULL, approval_note = NULL,
           revision = x.revision + 1, updated_at = now()
     WHERE x.rollout_id = r.rollout_id
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_edit(text, text) IS
    'internal: lock a draft or approved rollout for an edit, voiding any approval';

CREATE FUNCTION rollout._require_version(component_id text, version rollout.semver, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be null', what);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component_version v
                    WHERE v.component_id = _require_version.component_id
                      AND v.version OPERATOR(rollout.=) _require_version.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('version %s of component "%s" does not exist', version, component_id),
            HINT = 'Add it first with rollout.add_version().';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_version(text, rollout.semver, text) IS
    'internal: raise undefined_object unless the component has the version';

CREATE FUNCTION rollout.create_rollout(
    rollout_id text, component_id text, from_version rollout.semver, to_version rollout.semver,
    strategy text DEFAULT 'staged', scope_tenant_id text DEFAULT NULL, channel_id text DEFAULT NULL,
    target_kind text DEFAULT NULL, allow_downgrade boolean DEFAULT false,
    rollback_automatic boolean DEFAULT true, description text DEFAULT NULL,
    stage_timeout interval DEFAULT '24 hours', monitoring_extension interval DEFAULT '1 hour',
    flag_id text DEFAULT NULL, salt bytea DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    PERFORM rollout._require_slug('rollout id', rollout_id);
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_version(component_id, from_version, 'from-version');
    PERFORM rollout._require_version(component_id, to_version, 'to-version');
    IF from_version OPERATOR(rollout.=) to_version THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is the same as from-version %s', to_version, from_version);
    END IF;
    IF to_version OPERATOR(rollout.<) from_version AND NOT coalesce(allow_downgrade, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is not newer than from-version %s', to_version, from_version),
            HINT = 'A downgrade must be explicit: pass allow_downgrade => true.';
    END IF;
    IF strategy IS NULL OR strategy NOT IN ('staged', 'canary', 'blue_green', 'feature_flag') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid rollout strategy "%s"', strategy),
            DETAIL = 'A strategy is staged, canary, blue_green or feature_flag.';
    END IF;
    IF strategy = 'feature_flag' AND flag_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" uses the feature_flag strategy but names no flag', rollout_id),
            HINT = 'Pass flag_id => ''...'': the flag is created (off by default) when it does not exist.';
    END IF;
    IF strategy <> 'feature_flag' AND flag_id IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" names flag "%s" but its strategy is %s', rollout_id, flag_id, strategy),
            DETAIL = 'Only a feature_flag rollout is gated by a flag.';
    END IF;
    IF flag_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.flag f WHERE f.flag_id = create_rollout.flag_id) THEN
        PERFORM rollout.create_flag(flag_id, false, format('gates rollout %s', rollout_id));
    END IF;
    IF scope_tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(scope_tenant_id);
    END IF;
    IF channel_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_rollout.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', channel_id);
    END IF;
    IF target_kind IS NOT NULL THEN
        PERFORM rollout._require_slug('tenant kind', target_kind);
    END IF;
    IF salt IS NOT NULL AND octet_length(salt) NOT BETWEEN 8 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('salt of rollout "%s" must be 8 to 64 bytes, not %s', rollout_id, octet_length(salt));
    END IF;
    IF stage_timeout IS NULL OR stage_timeout < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage timeout of rollout "%s" must be zero or positive', rollout_id);
    END IF;
    IF monitoring_extension IS NULL OR monitoring_extension <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('monitoring extension of rollout "%s" must be positive', rollout_id);
    END IF;
    BEGIN
        INSERT INTO rollout.rollout (rollout_id, component_id, from_version, to_version, strategy, description,
                                     scope_tenant_id, channel_id, target_kind, allow_downgrade, rollback_automatic,
                                     stage_timeout, monitoring_extension, flag_id, salt, created_by)
        VALUES (rollout_id, component_id, from_version, to_version, strategy, description,
                scope_tenant_id, channel_id, target_kind, coalesce(allow_downgrade, false),
                coalesce(rollback_automatic, true), stage_timeout, monitoring_extension, flag_id,
                coalesce(salt, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), rollout._actor())
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('rollout "%s" already exists', rollout_id);
    END;
    PERFORM rollout._event('rollout.created', r.rollout_id, NULL,
                           jsonb_build_object('component', r.component_id, 'from_version', r.from_version::text,
                                              'to_version', r.to_version::text, 'strategy', r.strategy, 'flag', r.flag_id,
                                              'scope', r.scope_tenant_id, 'channel', r.channel_id));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text,
                                           boolean, boolean, text, interval, interval, text, bytea) IS
    'create a draft rollout of a component from one version to a newer one (or an explicit downgrade); add stages next. The salt (random unless given) fixes every tenant''s bucket for good';

CREATE FUNCTION rollout.add_stage(
    rollout_id text, name text, method text, tenants text[] DEFAULT NULL, percent numeric DEFAULT NULL,
    weight_by text DEFAULT NULL, min_duration interval DEFAULT '0', max_new_failures numeric DEFAULT NULL,
    max_failure_rate_increase numeric DEFAULT NULL, metric_bounds jsonb DEFAULT '{}',
    auto_proceed boolean DEFAULT false, description text DEFAULT NULL)
RETURNS rollout.rollout_stage
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    prev rollout.rollout_stage;
    scope_path text[];
    bad text;
    k text;
BEGIN
    r := rollout._rollout_edit(rollout_id, format('stage "%s" added', name));
    PERFORM rollout._require_slug('stage name', name);
    IF EXISTS (SELECT 1 FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = add_stage.name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('stage "%s" already exists in rollout "%s"', name, r.rollout_id);
    END IF;
    IF method IS NULL OR method NOT IN ('tenants', 'percentage', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid selection method "%s" for stage "%s"', method, name),
            DETAIL = 'A stage selects by tenants (an explicit list), percentage or all.';
    END IF;
    SELECT * INTO prev FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id ORDER BY x.stage_no DESC LIMIT 1;
    IF FOUND AND prev.method = 'all' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage "%s" cannot follow stage "%s", which selects all tenants', name, prev.name);
    END IF;
    IF method = 'tenants' THEN
        IF tenants IS NULL OR cardinality(tenants) = 0 OR array_position(tenants, NULL) IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants but lists none', name),
                DETAIL = 'Pass a non-empty list of tenant ids without nulls.';
        END IF;
        IF percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants: percent and weight_by do not apply', name);
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = u.id) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('tenant "%s" does not exist', bad),
                DETAIL = format('Stage "%s" of rollout "%s" lists it.', name, r.rollout_id);
        END IF;
        IF r.scope_tenant_id IS NOT NULL THEN
            scope_path := rollout.tenant_path(r.scope_tenant_id);
            SELECT t.tenant_id INTO bad FROM rollout.tenant t
             WHERE t.tenant_id = ANY (tenants) AND t.path[1:cardinality(scope_path)] IS DISTINCT FROM scope_path LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('tenant "%s" is outside the scope of rollout "%s"', bad, r.rollout_id),
                    DETAIL = format('The rollout is limited to the subtree of "%s".', r.scope_tenant_id);
            END IF;
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id) GROUP BY u.id HAVING count(*) > 1 LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" lists tenant "%s" more than once', name, bad);
        END IF;
    ELSIF method = 'percentage' THEN
        IF percent IS NULL OR percent <= 0 OR percent > 100 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" is outside (0, 100]', coalesce(percent::text, 'NULL'), name);
        END IF;
        IF percent <> round(percent, 4) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" has more than 4 decimals', percent, name);
        END IF;
        IF weight_by IS NOT NULL AND (weight_by !~ '^[A-Za-z_][A-Za-z0-9_.-]*$' OR length(weight_by) > 63) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid weight attribute "%s" for stage "%s"', weight_by, name);
        END IF;
        IF tenants IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by percentage: a tenant list does not apply', name);
        END IF;
        SELECT x.* INTO prev FROM rollout.rollout_stage x
         WHERE x.rollout_id = r.rollout_id AND x.method = 'percentage' AND x.percent > percent
         ORDER BY x.stage_no LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects %s %% but earlier stage "%s" already selects %s %%',
                                 name, percent::float8, prev.name, prev.percent::float8),
                DETAIL = 'Stages never shrink: each percentage is at least the previous one.';
        END IF;
    ELSE
        IF tenants IS NOT NULL OR percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects all tenants: tenants, percent and weight_by do not apply', name);
        END IF;
    END IF;
    IF min_duration IS NULL OR min_duration < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('minimum duration of stage "%s" must be zero or positive', name);
    END IF;
    IF max_new_failures < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_new_failures of stage "%s" must be zero or positive', name);
    END IF;
    IF metric_bounds IS NOT NULL THEN
        IF jsonb_typeof(metric_bounds) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('metric bounds of stage "%s" must be a JSON object of numbers', name);
        END IF;
        FOR k IN SELECT e.key FROM jsonb_each(metric_bounds) e
                  WHERE jsonb_typeof(e.value) <> 'number' OR e.key !~ '^[a-z][a-z0-9_.]*$' LOOP
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid metric bound "%s" in stage "%s"', k, name),
                DETAIL = 'A bound maps a metric name (lower case, digits, "_" and ".") to a number.';
        END LOOP;
    END IF;
    INSERT INTO rollout.rollout_stage (rollout_id, stage_no, name, description, method, tenants, percent, weight_by,
                                       min_duration, max_new_failures, max_failure_rate_increase, metric_bounds,
                                       auto_proceed)
    VALUES (r.rollout_id,
            coalesce((SELECT max(x.stage_no) FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id), 0) + 1,
            name, description, method, tenants, percent, weight_by, min_duration, max_new_failures,
            max_failure_rate_increase, coalesce(metric_bounds, '{}'), coalesce(auto_proceed, false))
    RETURNING * INTO s;
    PERFORM rollout._audit('rollout.stage_added', NULL, 'rollout', r.rollout_id, NULL,
                           to_jsonb(s) - 'status' - 'activated' - 'started_at' - 'due_at' - 'completed_at' - 'last_evaluation');
    RETURN s;
END
$$;
COMMENT ON FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text) IS
    'append a stage to a draft (or approved: voids the approval) rollout: an explicit tenant list, a percentage (optionally weighted by a tenant attribute) or all';

CREATE FUNCTION rollout.drop_stage(rollout_id text, name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('stage "%s" dropped', name));
    s rollout.rollout_stage;
    k integer;
BEGIN
    DELETE FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = drop_stage.name RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('stage "%s" of rollout "%s" does not exist', name, r.rollout_id);
    END IF;
    -- Keep the numbering dense: 1, 2, 3, ... (in order: each slot is free)
    FOR k IN SELECT x.stage_no FROM rollout.rollout_stage x
              WHERE x.rollout_id = r.rollout_id AND x.stage_no > s.stage_no ORDER BY x.stage_no LOOP
        UPDATE rollout.rollout_stage x SET stage_no = k - 1 WHERE x.rollout_id = r.rollout_id AND x.stage_no = k;
    END LOOP;
    PERFORM rollout._audit('rollout.stage_dropped', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no));
END
$$;
COMMENT ON FUNCTION rollout.drop_stage(text, text) IS 'remove a stage from a draft (or approved: voids the approval) rollout';

CREATE FUNCTION rollout.add_trigger(rollout_id text, metric text, threshold numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('trigger on "%s" added', metric));
BEGIN
    IF metric IS NULL OR metric !~ '^[a-z][a-z0-9_.]*$' OR length(metric) > 63 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid trigger metric "%s"', metric),
            DETAIL = 'A metric name is lower-case letters, digits, "_" and ".", starting with a letter.';
    END IF;
    IF threshold IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('threshold of trigger "%s" must not be null', metric);
    END IF;
    INSERT INTO rollout.rollout_trigger (rollout_id, metric, threshold) VALUES (r.rollout_id, metric, threshold)
    ON CONFLICT ON CONSTRAINT rollout_trigger_pkey DO UPDATE SET threshold = excluded.threshold;
    PERFORM rollout._audit('rollout.trigger_set', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('metric', metric, 'threshold', threshold));
END
$$;
COMMENT ON FUNCTION rollout.add_trigger(text, text, numeric) IS
    'add (or change) a rollback trigger: the metric above the threshold in the current stage rolls back (or fails) the rollout';

CREATE FUNCTION rollout.add_canary_stages(rollout_id text, initial_percent numeric, increment numeric,
                                          increment_interval interval, metric_bounds jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p numeric := initial_percent;
    n integer := 0;
BEGIN
    IF initial_percent IS NULL OR initial_percent <= 0 OR initial_percent > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('initial percentage %s is outside (0, 100]', coalesce(initial_percent::text, 'NULL'));
    END IF;
    IF increment IS NULL OR increment <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('increment %s must be positive', coalesce(increment::text, 'NULL'));
    END IF;
    IF increment_interval IS NULL OR increment_interval < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'increment interval must be zero or positive';
    END IF;
    IF ceil((100 - initial_percent) / increment) + 1 > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('canary increments of %s %% from %s %% would make %s stages', trim_scale(increment),
                             trim_scale(initial_percent), ceil((100 - initial_percent) / increment) + 1),
            DETAIL = 'A canary rollout has at most 100 stages.';
    END IF;
    LOOP
        n := n + 1;
        PERFORM rollout.add_stage(rollout_id, format('canary-%s', trim_scale(p)), 'percentage',
                                  percent => p, min_duration => increment_interval,
                                  metric_bounds => metric_bounds, auto_proceed => true);
        EXIT WHEN p >= 100;
        p := least(p + increment, 100);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.add_canary_stages(text, numeric, numeric, interval, jsonb) IS
    'canary strategy: generate auto-proceeding percentage stages initial, initial + increment, ... up to 100 %, each monitored for the interval';

-- ---------------------------------------------------------------------
-- Selection
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._weight(attributes jsonb, weight_by text)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof($1 -> $2) = 'number'
                THEN GREATEST(($1 ->> $2)::double precision, 0) ELSE 0 END
$$;
COMMENT ON FUNCTION rollout._weight(jsonb, text) IS 'internal: a numeric tenant attribute as a weight (0 when absent, negative or not a number)';

-- Tenants eligible for a rollout, with their bucket and blackout state.
CREATE FUNCTION rollout._eligible(rollout_id text)
RETURNS TABLE (tenant_id text, path text[], kind text, attributes jsonb, bucket integer, blacked_out boolean,
               target boolean, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout;
    lo text[];
    hi text[];
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _eligible.rollout_id;
    IF r.scope_tenant_id IS NOT NULL THEN
        lo := rollout.tenant_path(r.scope_tenant_id);
        hi := rollout._path_upper(lo);
    END IF;
    -- A scope is a range of paths, scanned through tenant_path_idx; without
    -- one the query has no path condition at all (a sequential scan), so the
    -- text is built for the case at hand rather than planned generically.
    RETURN QUERY EXECUTE format($q$
    WITH dark AS MATERIALIZED (
            SELECT b.tenant_id FROM rollout.blackout b WHERE b.during @> now()),
         windowed AS MATERIALIZED (
            SELECT w.tenant_id, bool_or(rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, now())) AS open
              FROM rollout.maintenance_window w GROUP BY w.tenant_id),
         chan AS MATERIALIZED (
            SELECT c.tenant_id, c.channel_id FROM rollout.effective_channels() c
             WHERE $3 IS NOT NULL AND c.channel_id = $3),
         -- tenants with children (the children of a tenant in scope are in scope)
         parents AS MATERIALIZED (
            SELECT DISTINCT c.parent_id FROM rollout.tenant c
             WHERE c.parent_id IS NOT NULL AND c.status <> 'decommissioned' AND %1$s),
         base AS (
            SELECT t.tenant_id, t.path, t.kind, t.attributes,
                   p.parent_id IS NULL AS leaf,
                   EXISTS (SELECT 1 FROM dark d WHERE d.tenant_id = ANY (t.path)) AS dark,
                   -- the windows of the nearest windowed tenant on the path decide
                   CASE WHEN NOT EXISTS (SELECT 1 FROM windowed) THEN true
                        ELSE coalesce((SELECT w.open FROM unnest(t.path) WITH ORDINALITY u(id, o)
                                         JOIN windowed w ON w.tenant_id = u.id
                                        ORDER BY u.o DESC LIMIT 1), true) END AS window_open
              FROM rollout.tenant t LEFT JOIN parents p ON p.parent_id = t.tenant_id
             WHERE t.status = 'active' AND %2$s
               AND ($4 IS NULL OR t.kind = $4)
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM chan WHERE chan.tenant_id = t.tenant_id)))
    SELECT t.tenant_id, t.path, t.kind, t.attributes, rollout.bucket($5, t.tenant_id),
           t.dark OR NOT t.window_open,
           $4 IS NOT NULL OR t.leaf,
           CASE WHEN t.dark THEN 'maintenance blackout'
                WHEN NOT t.window_open THEN 'outside maintenance window' END
      FROM base t
    $q$,
        CASE WHEN lo IS NULL THEN 'true' ELSE 'c.path >= $1 AND c.path < $2' END,
        CASE WHEN lo IS NULL THEN 'true' ELSE 't.path >= $1 AND t.path < $2' END)
    USING lo, hi, r.channel_id, r.target_kind, r.salt;
END
$$;
COMMENT ON FUNCTION rollout._eligible(text) IS
    'internal: active tenants in the rollout''s scope, kind and channel, with bucket, blackout state and whether percentages draw from them (target_kind, else leaves)';

-- Tenants selected by the stages up to through_stage: the first stage that
-- selects each.  Selection is cumulative and deterministic.
CREATE FUNCTION rollout._selection(rollout_id text, through_stage integer)
RETURNS TABLE (tenant_id text, stage_no integer, blacked_out boolean, weight double precision, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL, not SQL: the statement is planned once per session, not on
    -- every call (the tick calls this for every rollout it advances).
    RETURN QUERY
    WITH e AS MATERIALIZED (SELECT * FROM rollout._eligible($1)),
         st AS MATERIALIZED (SELECT s.* FROM rollout.rollout_stage s WHERE s.rollout_id = $1 AND s.stage_no <= $2),
         salt AS MATERIALIZED (SELECT r.salt FROM rollout.rollout r WHERE r.rollout_id = $1),
         -- unweighted percentages: stage numbers and bucket cuts, both
         -- ascending (stages never shrink), for one width_bucket() per tenant
         agg AS MATERIALIZED (
            SELECT min(s.stage_no) FILTER (WHERE s.method = 'all') AS all_stage,
                   array_agg(s.stage_no ORDER BY s.stage_no)
                       FILTER (WHERE s.method = 'percentage' AND s.weight_by IS NULL) AS pct_stages,
                   array_agg((s.percent * 10000)::integer ORDER BY s.stage_no)
                       FILTER (WHERE s.method = 'percentage' AND s.weight_by IS NULL) AS pct_cuts,
                   (array_agg(s.weight_by ORDER BY s.stage_no DESC) FILTER (WHERE s.weight_by IS NOT NULL))[1] AS weight_by
              FROM st s),
         listed AS (
            SELECT u.id AS tenant_id, min(s.stage_no) AS stage_no
              FROM st s CROSS JOIN LATERAL unnest(s.tenants) AS u(id)
             WHERE s.method = 'tenants'
             GROUP BY u.id),
         weighted AS (
            SELECT w.tenant_id, min(w.stage_no) AS stage_no
              FROM (SELECT e.tenant_id, s.stage_no, s.percent, x.wt,
                           sum(x.wt) OVER (PARTITION BY s.stage_no ORDER BY x.key, e.tenant_id
                                           ROWS UNBOUNDED PRECEDING) - x.wt AS before,
                           sum(x.wt) OVER (PARTITION BY s.stage_no) AS total
                      FROM st s CROSS JOIN e CROSS JOIN salt
                      CROSS JOIN LATERAL (SELECT rollout._weight(e.attributes, s.weight_by) AS wt) w0
                      CROSS JOIN LATERAL (SELECT w0.wt, rollout.weight_key(salt.salt, e.tenant_id, w0.wt) AS key) x
                     WHERE s.method = 'percentage' AND s.weight_by IS NOT NULL AND e.target) w
             WHERE w.percent >= 100 OR (w.wt > 0 AND w.before < w.percent / 100 * w.total)
             GROUP BY w.tenant_id),
         chosen AS (
            SELECT e.tenant_id, e.blacked_out, e.hold_reason, e.attributes,
                   LEAST(agg.all_stage, l.stage_no, w.stage_no,
                         CASE WHEN e.target AND agg.pct_stages IS NOT NULL
                              THEN agg.pct_stages[width_bucket(e.bucket, agg.pct_cuts) + 1] END) AS stage_no
              FROM e CROSS JOIN agg
              LEFT JOIN listed l ON l.tenant_id = e.tenant_id
              LEFT JOIN weighted w ON w.tenant_id = e.tenant_id)
    SELECT c.tenant_id, c.stage_no, c.blacked_out,
           coalesce(rollout._weight(c.attributes, agg.weight_by), 0),
           c.hold_reason
      FROM chosen c CROSS JOIN agg
     WHERE c.stage_no IS NOT NULL;
END
$$;
COMMENT ON FUNCTION rollout._selection(text, integer) IS
    'internal: tenants selected by stages 1..through_stage (cumulative), each with the first stage that selects it';

-- Impact preview: which tenants each stage would activate, if it ran now.
CREATE FUNCTION rollout.preview(rollout_id text)
RETURNS TABLE (stage_no integer, stage text, tenant_id text, path text, kind text, bucket integer,
               weight double precision, deferred boolean, already_active boolean, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.rollout;
    last_stage integer;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = preview.rollout_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', preview.rollout_id);
    END IF;
    SELECT max(s.stage_no) INTO last_stage FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id;
    RETURN QUERY
    SELECT sel.stage_no, s.name, sel.tenant_id, array_to_string(t.path, '/'), t.kind,
           rollout.bucket(r.salt, sel.tenant_id), sel.weight, sel.blacked_out,
           EXISTS (SELECT 1 FROM rollout.activation a
                    WHERE a.component_id = r.component_id AND a.tenant_id = sel.tenant_id
                      AND a.rollout_id = r.rollout_id),
           sel.hold_reason
      FROM rollout._selection(r.rollout_id, coalesce(last_stage, 0)) sel
      JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = sel.stage_no
      JOIN rollout.tenant t ON t.tenant_id = sel.tenant_id
     ORDER BY sel.stage_no, t.path;
END
$$;
COMMENT ON FUNCTION rollout.preview(text) IS
    'impact preview: every tenant the rollout would activate, with the first stage that selects it, bucket, weight, and whether (and why) it would be deferred now';

CREATE FUNCTION rollout.preview_summary(rollout_id text)
RETURNS TABLE (stage_no integer, stage text, level integer, group_id text, group_kind text,
               tenants bigint, cumulative_tenants bigint, weight_share numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS MATERIALIZED (SELECT * FROM rollout.preview($1)),
         stages AS (SELECT s.stage_no, s.name FROM rollout.rollout_stage s WHERE s.rollout_id = $1),
         wb AS (SELECT s.weight_by FROM rollout.rollout_stage s
                 WHERE s.rollout_id = $1 AND s.weight_by IS NOT NULL ORDER BY s.stage_no DESC LIMIT 1),
         -- the share of the weight of every target tenant (leaves, or target_kind)
         tot AS (SELECT nullif(sum(rollout._weight(e.attributes, wb.weight_by)), 0) AS w
                   FROM rollout._eligible($1) e, wb WHERE e.target),
         g AS (
            -- level 0: everything; 1: by root (organisation); 2: by second level (team)
            SELECT st.stage_no, st.name, lv.level,
                   CASE lv.level WHEN 0 THEN NULL ELSE (string_to_array(p.path, '/'))[lv.level] END AS group_id,
                   count(*) FILTER (WHERE p.stage_no = st.stage_no) AS n,
                   count(*) FILTER (WHERE p.stage_no <= st.stage_no) AS cum,
                   sum(p.weight) FILTER (WHERE p.stage_no <= st.stage_no) AS cum_w
              FROM stages st CROSS JOIN (VALUES (0), (1), (2)) lv(level) CROSS JOIN p
             WHERE lv.level = 0 OR cardinality(string_to_array(p.path, '/')) >= lv.level
             GROUP BY 1, 2, 3, 4)
    SELECT g.stage_no, g.name, g.level, g.group_id, t.kind, g.n, g.cum,
           round((g.cum_w / tot.w)::numeric, 4)
      FROM g LEFT JOIN tot ON true LEFT JOIN rollout.tenant t ON t.tenant_id = g.group_id
     ORDER BY g.stage_no, g.level, g.group_id
$$;
COMMENT ON FUNCTION rollout.preview_summary(text) IS
    'impact preview by stage: tenants newly selected and cumulative, overall (level 0), per organisation (1) and team (2), with the cumulative share of the target tenants'' weight (NULL without weighted stages)';

-- ---------------------------------------------------------------------
-- Activation
-- ---------------------------------------------------------------------

-- Activate every tenant selected through stage k that is not yet active in
-- this rollout; blacked-out tenants are deferred.  Idempotent.
CREATE FUNCTION rollout._activate_through(rollout_id text, k integer, OUT activated bigint, OUT deferred bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _activate_through.rollout_id;
    IF NOT EXISTS (SELECT 1 FROM rollout.activation a WHERE a.component_id = r.component_id) THEN
        -- Nobody runs an activation of this component yet (the usual first
        -- stage): a plain insert, the cheapest way to write many rows.
        WITH sel AS MATERIALIZED (
                SELECT s.tenant_id, s.blacked_out, s.hold_reason FROM rollout._selection(r.rollout_id, k) s),
             ins AS (
                INSERT INTO rollout.activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
                SELECT r.component_id, s.tenant_id, r.to_version, r.rollout_id, k, now()
                  FROM sel s
                 WHERE NOT s.blacked_out
                RETURNING 1),
             undefer AS (
                DELETE FROM rollout.deferral d USING sel s
                 WHERE d.rollout_id = r.rollout_id AND d.tenant_id = s.tenant_id AND NOT s.blacked_out
                RETURNING 1),
             defer AS (
                INSERT INTO rollout.deferral (rollout_id, tenant_id, stage_no, reason)
                SELECT r.rollout_id, s.tenant_id, k, s.hold_reason FROM sel s WHERE s.blacked_out
                ON CONFLICT DO NOTHING
                RETURNING 1)
        SELECT (SELECT count(*) FROM ins),
               (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
             - (SELECT count(*) FROM undefer) + (SELECT count(*) FROM defer)
          INTO activated, deferred;
    ELSE
        -- Some tenants may already run an activation: of this rollout (kept)
        -- or of an earlier one (replaced, remembering what it was, which a
        -- rollback restores).  One index probe per row, whatever the
        -- planner's statistics say.
        WITH sel AS MATERIALIZED (
                SELECT s.tenant_id, s.blacked_out, s.hold_reason FROM rollout._selection(r.rollout_id, k) s),
             ins AS (
                INSERT INTO rollout.activation AS a (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
                SELECT r.component_id, s.tenant_id, r.to_version, r.rollout_id, k, now()
                  FROM sel s
                 WHERE NOT s.blacked_out
                ON CONFLICT (component_id, tenant_id) DO UPDATE
                   SET previous_version = a.version, previous_rollout_id = a.rollout_id,
                       previous_stage_no = a.stage_no, previous_activated_at = a.activated_at,
                       version = excluded.version, rollout_id = excluded.rollout_id,
                       stage_no = excluded.stage_no, activated_at = excluded.activated_at
                 WHERE a.rollout_id <> excluded.rollout_id
                RETURNING 1),
             undefer AS (
                DELETE FROM rollout.deferral d USING sel s
                 WHERE d.rollout_id = r.rollout_id AND d.tenant_id = s.tenant_id AND NOT s.blacked_out
                RETURNING 1),
             defer AS (
                INSERT INTO rollout.deferral (rollout_id, tenant_id, stage_no, reason)
                SELECT r.rollout_id, s.tenant_id, k, s.hold_reason
                  FROM sel s
                 WHERE s.blacked_out
                   AND NOT EXISTS (SELECT 1 FROM rollout.activation a
                                    WHERE a.component_id = r.component_id AND a.tenant_id = s.tenant_id
                                      AND a.rollout_id = r.rollout_id)
                ON CONFLICT DO NOTHING
                RETURNING 1)
        SELECT (SELECT count(*) FROM ins),
               (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
             - (SELECT count(*) FROM undefer) + (SELECT count(*) FROM defer)
          INTO activated, deferred;
    END IF;
    UPDATE rollout.rollout_stage s SET activated = s.activated + _activate_through.activated
     WHERE s.rollout_id = r.rollout_id AND s.stage_no = k;
END
$$;
COMMENT ON FUNCTION rollout._activate_through(text, integer) IS
    'internal: activate the tenants selected through stage k (deferring blacked-out ones); idempotent';

-- Undo the activations made at stages after keep_through (0: all of them).
CREATE FUNCTION rollout._deactivate_after(rollout_id text, keep_through integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
    m bigint;
BEGIN
    DELETE FROM rollout.activation a
     WHERE a.rollout_id = _deactivate_after.rollout_id AND a.stage_no > keep_through
       AND a.previous_rollout_id IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE rollout.activation a
       SET version = a.previous_version, rollout_id = a.previous_rollout_id,
           stage_no = a.previous_stage_no, activated_at = a.previous_activated_at,
           previous_version = NULL, previous_rollout_id = NULL, previous_stage_no = NULL,
           previous_activated_at = NULL
     WHERE a.rollout_id = _deactivate_after.rollout_id AND a.stage_no > keep_through
       AND a.previous_rollout_id IS NOT NULL;
    GET DIAGNOSTICS m = ROW_COUNT;
    DELETE FROM rollout.deferral d WHERE d.rollout_id = _deactivate_after.rollout_id AND d.stage_no > keep_through;
    RETURN n + m;
END
$$;
COMMENT ON FUNCTION rollout._deactivate_after(text, integer) IS
    'internal: restore what tenants ran before the activations made after stage keep_through';

-- When does tick() next have work for a running rollout?
CREATE FUNCTION rollout._reschedule(rollout_id text)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    due timestamptz;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _reschedule.rollout_id;
    IF r.status = 'running' THEN
        SELECT * INTO s FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage;
        IF s.status = 'monitoring' THEN
            due := s.due_at;
        END IF;
        IF EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
            -- Deferred tenants: look again when the earliest current blackout
            -- ends, and every 15 minutes for maintenance windows to open.
            due := least(due, (SELECT min(upper(b.during)) FROM rollout.blackout b WHERE b.during @> now()),
                         CASE WHEN EXISTS (SELECT 1 FROM rollout.deferral d
                                            WHERE d.rollout_id = r.rollout_id AND d.reason = 'outside maintenance window')
                              THEN now() + interval '15 minutes' END);
        END IF;
    END IF;
    UPDATE rollout.rollout x SET next_due_at = due WHERE x.rollout_id = r.rollout_id;
    RETURN due;
END
$$;
COMMENT ON FUNCTION rollout._reschedule(text) IS 'internal: set when rollout.tick() next has work for the rollout';

CREATE FUNCTION rollout._start_stage(rollout_id text, k integer, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.rollout_stage;
    act record;
BEGIN
    UPDATE rollout.rollout_stage x
       SET status = 'monitoring', started_at = now(), due_at = now() + x.min_duration,
           completed_at = NULL, last_evaluation = NULL
     WHERE x.rollout_id = _start_stage.rollout_id AND x.stage_no = k
    RETURNING * INTO s;
    UPDATE rollout.rollout x SET current_stage = k, updated_at = now() WHERE x.rollout_id = _start_stage.rollout_id;
    act := rollout._activate_through(rollout_id, k);
    PERFORM rollout._event('rollout.stage.started', rollout_id, reason,
                           jsonb_build_object('stage', s.name, 'stage_no', k, 'tenants_activated', act.activated,
                                              'tenants_deferred', act.deferred, 'due_at', s.due_at));
    PERFORM rollout._reschedule(rollout_id);
END
$$;
COMMENT ON FUNCTION rollout._start_stage(text, integer, text) IS 'internal: make stage k current and activate its tenants';

CREATE FUNCTION rollout._complete_rollout(rollout_id text, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    UPDATE rollout.rollout x SET status = 'completed', finished_at = now(), next_due_at = NULL,
           status_reason = reason, updated_at = now()
     WHERE x.rollout_id = _complete_rollout.rollout_id
    RETURNING * INTO r;
    PERFORM rollout._event('rollout.completed', r.rollout_id, reason,
                           jsonb_build_object('duration', (now() - r.started_at)::text,
                                              'tenants_on_to_version',
                                              (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = r.rollout_id)));
END
$$;
COMMENT ON FUNCTION rollout._complete_rollout(text, text) IS 'internal: mark a rollout completed and announce it';

CREATE FUNCTION rollout._finish_stage(rollout_id text, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    last_stage integer;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _finish_stage.rollout_id;
    UPDATE rollout.rollout_stage x SET status = 'completed', completed_at = now()
     WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage
    RETURNING * INTO s;
    PERFORM rollout._event('rollout.stage.completed', r.rollout_id, reason,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no,
                                              'metrics', s.last_evaluation));
    SELECT max(x.stage_no) INTO last_stage FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id;
    IF r.current_stage >= last_stage THEN
        IF EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
            -- Deferred tenants are not forgotten: the rollout stays running
            -- and tick() completes it when the last of them is activated.
            UPDATE rollout.rollout x
               SET status_reason = format('last stage passed; waiting for %s deferred tenants',
                                          (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)),
                   updated_at = now()
             WHERE x.rollout_id = r.rollout_id;
            PERFORM rollout._event('rollout.waiting_for_deferred', r.rollout_id, reason,
                                   jsonb_build_object('tenants_deferred',
                                                      (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)));
            PERFORM rollout._reschedule(r.rollout_id);
        ELSE
            PERFORM rollout._complete_rollout(r.rollout_id, reason);
        END IF;
    ELSE
        PERFORM rollout._start_stage(r.rollout_id, r.current_stage + 1, reason);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._finish_stage(text, text) IS
    'internal: complete the current stage and start the next one, or complete the rollout';

CREATE FUNCTION rollout._roll_back(rollout_id text, keep_through integer, new_status text, reason text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    n bigint;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _roll_back.rollout_id;
    n := rollout._deactivate_after(r.rollout_id, keep_through);
    UPDATE rollout.rollout_stage x SET status = 'rolled_back', completed_at = now()
     WHERE x.rollout_id = r.rollout_id AND x.stage_no > keep_through AND x.status <> 'pending';
    UPDATE rollout.rollout x
       SET status = new_status, status_reason = reason, next_due_at = NULL, updated_at = now(),
           current_stage = CASE WHEN keep_through > 0 THEN keep_through ELSE x.current_stage END,
           finished_at = CASE WHEN new_status IN ('rolled_back', 'cancelled') THEN now() END
     WHERE x.rollout_id = r.rollout_id;
    IF keep_through > 0 THEN
        UPDATE rollout.rollout_stage x SET status = 'passed', completed_at = NULL
         WHERE x.rollout_id = r.rollout_id AND x.stage_no = keep_through;
    END IF;
    PERFORM rollout._event(CASE WHEN new_status = 'cancelled' THEN 'rollout.cancelled' ELSE 'rollout.rollback' END,
                           r.rollout_id, reason,
                           jsonb_build_object('rollback_stage',
                                              (SELECT s.name FROM rollout.rollout_stage s
                                                WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage),
                                              'back_to_stage', keep_through,
                                              'tenants_rolled_back', n,
                                              'action', format('reverted to %s', r.from_version)));
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout._roll_back(text, integer, text, text) IS
    'internal: undo activations after a stage and set the rollout''s status';

-- ---------------------------------------------------------------------
-- Lifecycle
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.approve_rollout(rollout_id text, note text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    who text := rollout._actor();
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['draft'], 'approve');
    IF NOT EXISTS (SELECT 1 FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot approve rollout "%s": it has no stages', r.rollout_id),
            HINT = 'Add stages with rollout.add_stage().';
    END IF;
    IF who = r.created_by THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollout "%s" cannot be approved by its author "%s"', r.rollout_id, who),
            DETAIL = 'A rollout must be approved by someone other than the person who created it.';
    END IF;
    UPDATE rollout.rollout x
       SET status = 'approved', approved_by = who, approved_at = now(), approval_note = note, updated_at = now()
     WHERE x.rollout_id = r.rollout_id
    RETURNING * INTO r;
    PERFORM rollout._event('rollout.approved', r.rollout_id, note,
                           jsonb_build_object('approved_by', who, 'revision', r.revision));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.approve_rollout(text, text) IS
    'approve a draft rollout; the approver (pg_rollout.actor, else the session user) must not be its author';

CREATE FUNCTION rollout.start_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    other text;
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['approved'], 'start');
    SELECT x.rollout_id INTO other FROM rollout.rollout x
     WHERE x.component_id = r.component_id AND x.status IN ('running', 'paused', 'failed');
    IF other IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
            MESSAGE = format('cannot start rollout "%s": rollout "%s" of component "%s" is still live',
                             r.rollout_id, other, r.component_id),
            DETAIL = 'One rollout at a time moves a component: complete, roll back or cancel the other first.';
    END IF;
    BEGIN
        UPDATE rollout.rollout x SET status = 'running', started_at = now(), status_reason = reason, updated_at = now()
         WHERE x.rollout_id = r.rollout_id;
    EXCEPTION WHEN unique_violation THEN
        -- another rollout of the component started concurrently
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
            MESSAGE = format('cannot start rollout "%s": another rollout of component "%s" has just started',
                             r.rollout_id, r.component_id),
            DETAIL = 'One rollout at a time moves a component.';
    END;
    PERFORM rollout._event('rollout.started', r.rollout_id, reason,
                           jsonb_build_object('stages', (SELECT jsonb_agg(s.name ORDER BY s.stage_no)
                                                           FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id)));
    PERFORM rollout._start_stage(r.rollout_id, 1, reason);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.start_rollout(text, text) IS 'start an approved rollout: activate its first stage';

CREATE FUNCTION rollout.advance_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running'], 'advance');
    PERFORM rollout._finish_stage(r.rollout_id, coalesce(reason, 'advanced manually'));
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.advance_rollout(text, text) IS
    'complete the current stage now and start the next one (or complete the rollout), whatever its duration and criteria';

CREATE FUNCTION rollout.pause_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running'], 'pause');
    PERFORM rollout._require_reason(reason, 'pause a rollout');
    UPDATE rollout.rollout x SET status = 'paused', status_reason = reason, next_due_at = NULL, updated_at = now()
     WHERE x.rollout_id = r.rollout_id RETURNING * INTO r;
    PERFORM rollout._event('rollout.paused', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.pause_rollout(text, text) IS 'pause a running rollout: tick() leaves it alone until resumed';

CREATE FUNCTION rollout.resume_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['paused'], 'resume');
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    -- A stage that was undecided gets a fresh monitoring period.
    UPDATE rollout.rollout_stage s SET due_at = greatest(s.due_at, now())
     WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage AND s.status = 'monitoring';
    PERFORM rollout._activate_through(r.rollout_id, r.current_stage);
    PERFORM rollout._event('rollout.resumed', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    PERFORM rollout._reschedule(r.rollout_id);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.resume_rollout(text, text) IS 'resume a paused rollout';

CREATE FUNCTION rollout.retry_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['failed'], 'retry');
    PERFORM rollout._require_reason(reason, 'retry a rollout');
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    PERFORM rollout._event('rollout.retried', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    -- The failed stage is monitored afresh.
    PERFORM rollout._start_stage(r.rollout_id, r.current_stage, reason);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.retry_rollout(text, text) IS
    'retry a failed rollout: its current stage is monitored afresh (its tenants stay activated)';

CREATE FUNCTION rollout.rollback_rollout(rollout_id text, reason text, back_to_stage integer DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    later text;
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running', 'paused', 'failed', 'completed'], 'roll back');
    PERFORM rollout._require_reason(reason, 'roll back a rollout');
    IF back_to_stage IS NULL OR back_to_stage < 0 OR back_to_stage >= r.current_stage THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('cannot roll rollout "%s" back to stage %s', r.rollout_id, coalesce(back_to_stage::text, 'NULL')),
            DETAIL = format('Its current stage is %s: roll back to 0 (everything) or to an earlier stage.', r.current_stage);
    END IF;
    IF back_to_stage > 0 AND r.status = 'completed' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot roll completed rollout "%s" back to stage %s', r.rollout_id, back_to_stage),
            DETAIL = 'A completed rollout can only be rolled back as a whole.';
    END IF;
    -- A rollback restores the activations this rollout replaced, one level
    -- deep: once a later rollout has moved the component's tenants (even if
    -- it was rolled back since), undo with a new rollout instead.
    SELECT x.rollout_id INTO later FROM rollout.rollout x
     WHERE r.status = 'completed' AND x.component_id = r.component_id AND x.rollout_id <> r.rollout_id
       AND x.started_at > r.started_at
     ORDER BY x.started_at LIMIT 1;
    IF later IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot roll back rollout "%s": later rollout "%s" of component "%s" has moved its tenants since',
                             r.rollout_id, later, r.component_id),
            HINT = 'Create a new rollout back to the version you want (allow_downgrade => true).';
    END IF;
    RETURN rollout._roll_back(r.rollout_id, back_to_stage,
                              CASE WHEN back_to_stage > 0 THEN 'paused' ELSE 'rolled_back' END, reason);
END
$$;
COMMENT ON FUNCTION rollout.rollback_rollout(text, text, integer) IS
    'roll a rollout back: whole (back_to_stage 0, status rolled_back) or the stages after back_to_stage (status paused); returns the tenants restored';

CREATE FUNCTION rollout.cancel_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['draft', 'approved', 'running', 'paused', 'failed'], 'cancel');
    PERFORM rollout._require_reason(reason, 'cancel a rollout');
    PERFORM rollout._roll_back(r.rollout_id, 0, 'cancelled', reason);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.cancel_rollout(text, text) IS
    'cancel a rollout; tenants it activated go back to what they ran before';

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
       s.due_at, s.completed_at, s.activated, s.auto_proceed, s.last_evaluation
  FROM rollout.rollout_stage s
 ORDER BY s.rollout_id, s.stage_no;
COMMENT ON VIEW rollout.stage_status IS 'every stage of every rollout with its status, timing, activations and latest evaluation';
