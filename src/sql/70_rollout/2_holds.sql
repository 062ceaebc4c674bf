-- Holds on activation: blackout periods and weekly maintenance windows
-- (tables and functions); a lifted hold wakes deferred tenants.

CREATE SEQUENCE rollout.blackout_seq;
CREATE TABLE rollout.blackout (
    blackout_id bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.blackout_seq'),
    tenant_id   text COLLATE "C" NOT NULL,
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
    tenant_id   text COLLATE "C" NOT NULL,
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

-- Privileges of the objects above.
GRANT SELECT ON rollout.blackout, rollout.maintenance_window TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._wake_deferred(),
    rollout.add_blackout(text, tstzrange, text),
    rollout.remove_blackout(bigint, text),
    rollout.in_blackout(text, timestamptz),
    rollout._window_open(integer[], time, time, text, timestamptz),
    rollout.add_maintenance_window(text, integer[], time, time, text, text),
    rollout.remove_maintenance_window(bigint, text),
    rollout.activation_hold(text, timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.add_blackout(text, tstzrange, text),
    rollout.remove_blackout(bigint, text),
    rollout.add_maintenance_window(text, integer[], time, time, text, text),
    rollout.remove_maintenance_window(bigint, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.in_blackout(text, timestamptz),
    rollout.activation_hold(text, timestamptz)
TO rollout_viewer;
-- Internal helpers that activation_hold() calls with the caller's rights.
GRANT EXECUTE ON FUNCTION rollout._window_open(integer[], time, time, text, timestamptz) TO rollout_viewer;
