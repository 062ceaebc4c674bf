-- Tenant functions: look-ups through the tree, create (one or a batch), update, move, lifecycle.

CREATE FUNCTION rollout._tenant_for_update(tenant_id text, allow_decommissioned boolean DEFAULT false)
RETURNS rollout.tenant
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
BEGIN
    IF _tenant_for_update.tenant_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'tenant id must not be null';
    END IF;
    SELECT * INTO t FROM rollout.tenant WHERE tenant_id = _tenant_for_update.tenant_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" does not exist', _tenant_for_update.tenant_id);
    END IF;
    IF t.status = 'decommissioned' AND NOT allow_decommissioned THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('tenant "%s" is decommissioned', t.tenant_id),
            DETAIL = 'A decommissioned tenant is kept for audit and can no longer be changed.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout._tenant_for_update(text, boolean) IS
    'internal: lock a tenant row; raise undefined_object if missing, object_not_in_prerequisite_state if decommissioned';

CREATE FUNCTION rollout.tenant_path(tenant_id text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'pgr_tenant_path'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.tenant_path(text) IS 'tenant ids from the root down to the tenant';

-- Upper bound of the subtree range under a path: no descendant's path reaches it.
CREATE FUNCTION rollout._path_upper(path text[])
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    -- PL/pgSQL: the SQL text could not be inlined (|| on arrays is not
    -- strict) and was parsed and planned on every call.
    RETURN path[1:pg_catalog.cardinality(path) OPERATOR(pg_catalog.-) 1]
           OPERATOR(pg_catalog.||) (path[pg_catalog.cardinality(path)] OPERATOR(pg_catalog.||) pg_catalog.chr(1));
END
$$;
COMMENT ON FUNCTION rollout._path_upper(text[]) IS 'internal: exclusive upper bound of the path range of a subtree';

CREATE FUNCTION rollout.ancestors(tenant_id text, include_self boolean DEFAULT false)
RETURNS TABLE (tenant_id text, parent_id text, kind text, display_name text, status text,
               depth integer, distance integer)
AS 'MODULE_PATHNAME', 'pgr_ancestors'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION rollout.ancestors(text, boolean) IS
    'ancestors of a tenant, nearest first (distance 1 = parent), from its materialized path';

CREATE FUNCTION rollout.descendants(tenant_id text, include_self boolean DEFAULT false,
                                    max_depth integer DEFAULT NULL)
RETURNS TABLE (tenant_id text, parent_id text, kind text, display_name text, status text,
               depth integer, distance integer)
LANGUAGE sql STABLE
AS $$
    -- One range scan of the path index, in index order.  The bounds are
    -- scalar subqueries over a one-row CTE (tenant_path() runs once): as
    -- parameters they let the planner scan the index in order instead of a
    -- bitmap scan plus a sort of text[] paths.
    WITH a AS MATERIALIZED (SELECT rollout.tenant_path($1) AS p)
    SELECT d.tenant_id, d.parent_id, d.kind, d.display_name, d.status,
           pg_catalog.cardinality(d.path) OPERATOR(pg_catalog.-) 1,
           pg_catalog.cardinality(d.path) OPERATOR(pg_catalog.-) (SELECT pg_catalog.cardinality(a.p) FROM a)
      FROM rollout.tenant d
     WHERE d.path OPERATOR(pg_catalog.>=) (SELECT a.p FROM a)
       AND d.path OPERATOR(pg_catalog.<) (SELECT rollout._path_upper(a.p) FROM a)
       AND ($2 OR d.path OPERATOR(pg_catalog.<>) (SELECT a.p FROM a))
       AND ($3 IS NULL
            OR pg_catalog.cardinality(d.path) OPERATOR(pg_catalog.-) (SELECT pg_catalog.cardinality(a.p) FROM a)
               OPERATOR(pg_catalog.<=) $3)
     ORDER BY d.path
$$;
COMMENT ON FUNCTION rollout.descendants(text, boolean, integer) IS
    'descendants of a tenant in depth-first order (distance 1 = children), optionally limited to max_depth levels';

CREATE FUNCTION rollout.is_ancestor(ancestor_id text, tenant_id text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT $1 OPERATOR(pg_catalog.=) ANY (p[1:pg_catalog.cardinality(p) OPERATOR(pg_catalog.-) 1])
      FROM (SELECT rollout.tenant_path($2) AS p OFFSET 0) a
$$;
COMMENT ON FUNCTION rollout.is_ancestor(text, text) IS 'true when ancestor_id is a proper ancestor of tenant_id';

-- Attributes a tenant may carry: a JSON object whose numbers fit a double
-- precision value (they serve as stage weights); raises invalid_parameter_value.
CREATE FUNCTION rollout._require_attributes(tenant_id text, attributes jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    IF attributes IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of tenant "%s" must be a JSON object', tenant_id),
            DETAIL = format('A JSON %s was given.', jsonb_typeof(attributes));
    END IF;
    SELECT e.key, e.value #>> '{}' AS num INTO bad FROM jsonb_each(attributes) e
     WHERE jsonb_typeof(e.value) = 'number'
       AND (abs((e.value #>> '{}')::numeric) > 1e308
            OR ((e.value #>> '{}')::numeric <> 0 AND abs((e.value #>> '{}')::numeric) < 1e-307))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('attribute "%s" of tenant "%s" is out of range', bad.key, tenant_id),
            DETAIL = format('A numeric attribute must fit a double precision value (1e-307 to 1e308 in magnitude, or 0); %s was given.',
                            bad.num);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_attributes(text, jsonb) IS
    'internal: raise unless attributes are a JSON object whose numbers fit double precision';

CREATE FUNCTION rollout.create_tenant(
    tenant_id text, display_name text DEFAULT NULL, parent_id text DEFAULT NULL,
    kind text DEFAULT 'tenant', attributes jsonb DEFAULT '{}', channel_id text DEFAULT NULL,
    test_tenant boolean DEFAULT false, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p rollout.tenant;
    t rollout.tenant;
    newpath text[];
BEGIN
    PERFORM rollout._require_slug('tenant id', create_tenant.tenant_id);
    PERFORM rollout._require_slug('tenant kind', coalesce(create_tenant.kind, 'tenant'));
    PERFORM rollout._require_attributes(create_tenant.tenant_id, create_tenant.attributes);
    -- FOR KEY SHARE: drop_channel cannot remove the channel before this commits.
    IF create_tenant.channel_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_tenant.channel_id FOR KEY SHARE) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', create_tenant.channel_id);
    END IF;
    IF create_tenant.parent_id IS NOT NULL THEN
        -- FOR SHARE: a concurrent move of the parent either finished before
        -- (we see its new path) or waits for us.
        SELECT * INTO p FROM rollout.tenant WHERE tenant_id = create_tenant.parent_id FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('parent tenant "%s" does not exist', create_tenant.parent_id);
        END IF;
        IF p.status = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('parent tenant "%s" is decommissioned', p.tenant_id),
                DETAIL = 'No tenant can be created under a decommissioned tenant.';
        END IF;
        IF cardinality(p.path) >= @PGR_MAX_DEPTH@ THEN
            RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
                MESSAGE = format('tenant "%s" would be deeper than @PGR_MAX_DEPTH@ levels', create_tenant.tenant_id);
        END IF;
        newpath := p.path || create_tenant.tenant_id;
    ELSE
        newpath := ARRAY[create_tenant.tenant_id];
    END IF;
    BEGIN
        INSERT INTO rollout.tenant (tenant_id, parent_id, kind, display_name, attributes, channel_id, test_tenant, path)
        VALUES (create_tenant.tenant_id, create_tenant.parent_id, coalesce(create_tenant.kind, 'tenant'),
                coalesce(create_tenant.display_name, create_tenant.tenant_id),
                coalesce(create_tenant.attributes, '{}'), create_tenant.channel_id,
                coalesce(create_tenant.test_tenant, false), newpath)
        RETURNING * INTO t;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" already exists', create_tenant.tenant_id);
    END;
    PERFORM rollout._audit('tenant.created', t.tenant_id, 'tenant', t.tenant_id, create_tenant.reason,
                           pg_catalog.to_jsonb(t) - 'path' - 'created_at' - 'updated_at');
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text) IS
    'create a tenant, as a root or under a parent; audited';

CREATE FUNCTION rollout.create_tenants(tenant_ids text[], parent_ids text[], kinds text[] DEFAULT NULL,
                                       display_names text[] DEFAULT NULL, attributes jsonb[] DEFAULT NULL,
                                       reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(tenant_ids), 0);
    bad text;
    inserted bigint;
BEGIN
    IF coalesce(cardinality(parent_ids), 0) <> n
       OR (kinds IS NOT NULL AND cardinality(kinds) <> n)
       OR (display_names IS NOT NULL AND cardinality(display_names) <> n)
       OR (attributes IS NOT NULL AND cardinality(attributes) <> n) THEN
        RAISE EXCEPTION USING ERRCODE = 'array_subscript_error',
            MESSAGE = 'create_tenants arrays must all have the same length',
            DETAIL = format('%s tenant ids were given with %s parent ids.', n, coalesce(cardinality(parent_ids), 0));
    END IF;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    -- The first invalid id, kind or attributes value, if any.
    SELECT u.id INTO bad FROM unnest(tenant_ids) AS u(id)
     WHERE u.id IS NULL OR length(u.id) > @PGR_NAME_MAX_LEN@ OR u.id !~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' LIMIT 1;
    IF FOUND THEN
        PERFORM rollout._require_slug('tenant id', bad);
    END IF;
    IF kinds IS NOT NULL THEN
        SELECT u.k INTO bad FROM unnest(kinds) AS u(k)
         WHERE u.k IS NOT NULL AND (length(u.k) > @PGR_NAME_MAX_LEN@ OR u.k !~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$') LIMIT 1;
        IF FOUND THEN
            PERFORM rollout._require_slug('tenant kind', bad);
        END IF;
    END IF;
    IF attributes IS NOT NULL THEN
        PERFORM rollout._require_attributes(u.id, u.a) FROM unnest(tenant_ids, attributes) AS u(id, a);
    END IF;
    SELECT u.id INTO bad FROM unnest(tenant_ids) AS u(id) GROUP BY u.id HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" appears more than once in the batch', bad);
    END IF;
    SELECT t.tenant_id INTO bad FROM unnest(tenant_ids) AS u(id)
      JOIN rollout.tenant t ON t.tenant_id = u.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" already exists', bad);
    END IF;
    -- Existing parents must not be decommissioned; lock them against moves.
    SELECT t.tenant_id INTO bad FROM rollout.tenant t
     WHERE t.tenant_id IN (SELECT DISTINCT p FROM unnest(parent_ids) AS u(p) WHERE p IS NOT NULL)
       AND t.status = 'decommissioned' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('parent tenant "%s" is decommissioned', bad),
            DETAIL = 'No tenant can be created under a decommissioned tenant.';
    END IF;
    PERFORM 1 FROM rollout.tenant t
     WHERE t.tenant_id IN (SELECT DISTINCT p FROM unnest(parent_ids) AS u(p) WHERE p IS NOT NULL)
     ORDER BY t.tenant_id FOR SHARE;
    -- Every parent exists already or is in the batch.
    -- (EXCEPT is hashed or sorted, never a nested loop over two large arrays.)
    SELECT m.p INTO bad
      FROM (SELECT x.p FROM unnest(parent_ids) AS x(p) WHERE x.p IS NOT NULL
            EXCEPT
            SELECT i.id FROM unnest(tenant_ids) AS i(id)) m
     WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = m.p)
     ORDER BY m.p LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('parent tenant "%s" does not exist', bad),
            DETAIL = 'Every parent must exist already or be in the same batch.';
    END IF;

    -- Insert the whole forest in one statement: paths computed top-down.
    BEGIN
    WITH RECURSIVE input AS MATERIALIZED (
        SELECT u.id, u.parent, u.kind, u.name, u.attrs
          FROM unnest(tenant_ids, parent_ids,
                      coalesce(kinds, array_fill(NULL::text, ARRAY[n])),
                      coalesce(display_names, array_fill(NULL::text, ARRAY[n])),
                      coalesce(attributes, array_fill(NULL::jsonb, ARRAY[n])))
               AS u(id, parent, kind, name, attrs)
    ), tree AS (
        SELECT i.id, i.parent, i.kind, i.name, i.attrs,
               (coalesce(p.path, '{}'::text[]) || (i.id COLLATE "C")) AS path
          FROM input i LEFT JOIN rollout.tenant p ON p.tenant_id = i.parent
         WHERE i.parent IS NULL OR p.tenant_id IS NOT NULL
        UNION ALL
        SELECT i.id, i.parent, i.kind, i.name, i.attrs, tr.path || (i.id COLLATE "C")
          FROM tree tr JOIN input i ON i.parent = tr.id
    )
    INSERT INTO rollout.tenant (tenant_id, parent_id, kind, display_name, attributes, path)
    SELECT tr.id, tr.parent, coalesce(tr.kind, 'tenant'), coalesce(tr.name, tr.id),
           coalesce(tr.attrs, '{}'), tr.path
      FROM tree tr;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = 'a tenant of the batch would be deeper than @PGR_MAX_DEPTH@ levels';
    END;

    -- Rows not reached from an existing tenant or a root form cycles.
    IF inserted <> n THEN
        SELECT u.id INTO bad
          FROM unnest(tenant_ids) AS u(id)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = u.id)
         ORDER BY u.id LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s tenants of the batch form parent cycles, among them "%s"', n - inserted, bad),
            DETAIL = 'Following parents from these tenants never reaches an existing tenant or a root.';
    END IF;

    PERFORM rollout._audit_each('tenant.created', tenant_ids, 'tenant', create_tenants.reason,
                                jsonb_build_object('batch_size', n));
    RETURN inserted;
END
$$;
COMMENT ON FUNCTION rollout.create_tenants(text[], text[], text[], text[], jsonb[], text) IS
    'create many tenants at once (parents before or alongside their children); one audit row per tenant; all or nothing';

CREATE FUNCTION rollout.update_tenant(tenant_id text, display_name text DEFAULT NULL, kind text DEFAULT NULL,
                                      attributes jsonb DEFAULT NULL, test_tenant boolean DEFAULT NULL,
                                      reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    old rollout.tenant;
    t rollout.tenant;
    merged jsonb;
BEGIN
    old := rollout._tenant_for_update(update_tenant.tenant_id);
    IF update_tenant.kind IS NOT NULL THEN
        PERFORM rollout._require_slug('tenant kind', update_tenant.kind);
    END IF;
    merged := old.attributes;
    IF update_tenant.attributes IS NOT NULL THEN
        PERFORM rollout._require_attributes(old.tenant_id, update_tenant.attributes);
        -- Merge patch: given keys are set, keys given as null are removed.
        merged := old.attributes - ARRAY(SELECT e.key FROM jsonb_each(update_tenant.attributes) e WHERE e.value = 'null'::jsonb)
                  || (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}')
                        FROM jsonb_each(update_tenant.attributes) e WHERE e.value <> 'null'::jsonb);
    END IF;
    UPDATE rollout.tenant SET
        display_name = coalesce(update_tenant.display_name, display_name),
        kind         = coalesce(update_tenant.kind, kind),
        attributes   = merged,
        test_tenant  = coalesce(update_tenant.test_tenant, test_tenant),
        updated_at   = pg_catalog.now()
    WHERE tenant_id = old.tenant_id
    RETURNING * INTO t;
    PERFORM rollout._audit('tenant.updated', t.tenant_id, 'tenant', t.tenant_id, update_tenant.reason,
                           jsonb_build_object(
                               'before', jsonb_build_object('display_name', old.display_name, 'kind', old.kind,
                                                            'attributes', old.attributes, 'test_tenant', old.test_tenant),
                               'after', jsonb_build_object('display_name', t.display_name, 'kind', t.kind,
                                                           'attributes', t.attributes, 'test_tenant', t.test_tenant)));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.update_tenant(text, text, text, jsonb, boolean, text) IS
    'change a tenant''s display name, kind, attributes (JSON merge patch: null removes a key) or test flag; audited';

CREATE FUNCTION rollout.move_tenant(tenant_id text, new_parent_id text, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    np rollout.tenant;
    prefix text[];
    subtree_height integer;
    moved bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
            MESSAGE = 'rollout.move_tenant requires READ COMMITTED isolation',
            DETAIL = format('The current transaction runs at %s: its snapshot could miss tenants created concurrently under the moved subtree.',
                            upper(current_setting('transaction_isolation'))),
            HINT = 'Run the move in a READ COMMITTED transaction.';
    END IF;
    -- Moves exclude concurrent creations and other moves.
    LOCK TABLE rollout.tenant IN SHARE ROW EXCLUSIVE MODE;
    t := rollout._tenant_for_update(move_tenant.tenant_id);
    IF move_tenant.new_parent_id IS NOT NULL THEN
        SELECT * INTO np FROM rollout.tenant WHERE tenant_id = move_tenant.new_parent_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('parent tenant "%s" does not exist', move_tenant.new_parent_id);
        END IF;
        IF np.status = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('parent tenant "%s" is decommissioned', np.tenant_id),
                DETAIL = 'No tenant can be moved under a decommissioned tenant.';
        END IF;
        IF t.tenant_id = ANY (np.path) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('cannot move tenant "%s" under "%s": that would make a cycle', t.tenant_id, np.tenant_id),
                DETAIL = CASE WHEN np.tenant_id = t.tenant_id THEN 'A tenant cannot be its own parent.'
                              ELSE format('Tenant "%s" is a descendant of "%s".', np.tenant_id, t.tenant_id) END;
        END IF;
        prefix := np.path || t.tenant_id;
    ELSE
        prefix := ARRAY[t.tenant_id]::text[];
    END IF;
    IF t.parent_id IS NOT DISTINCT FROM move_tenant.new_parent_id THEN
        RETURN t;
    END IF;
    SELECT max(cardinality(d.path)) - cardinality(t.path) INTO subtree_height
      FROM rollout.tenant d WHERE d.path >= t.path AND d.path < rollout._path_upper(t.path);
    IF cardinality(prefix) + subtree_height > @PGR_MAX_DEPTH@ THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('cannot move tenant "%s" under "%s": the tree would be deeper than @PGR_MAX_DEPTH@ levels',
                             t.tenant_id, move_tenant.new_parent_id);
    END IF;
    UPDATE rollout.tenant d
       SET path = prefix || d.path[cardinality(t.path) + 1:],
           parent_id = CASE WHEN d.tenant_id = t.tenant_id THEN move_tenant.new_parent_id ELSE d.parent_id END,
           updated_at = CASE WHEN d.tenant_id = t.tenant_id THEN pg_catalog.now() ELSE d.updated_at END
     WHERE d.path >= t.path AND d.path < rollout._path_upper(t.path);
    GET DIAGNOSTICS moved = ROW_COUNT;
    PERFORM rollout._audit('tenant.moved', t.tenant_id, 'tenant', t.tenant_id, move_tenant.reason,
                           jsonb_build_object('from_parent', t.parent_id, 'to_parent', move_tenant.new_parent_id,
                                              'tenants_moved', moved));
    SELECT * INTO t FROM rollout.tenant WHERE tenant_id = t.tenant_id;
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.move_tenant(text, text, text) IS
    'move a tenant and its subtree under another parent (NULL: make it a root); refuses cycles; audited';

CREATE FUNCTION rollout._set_tenant_status(tenant_id text, from_status text, to_status text,
                                           action text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
BEGIN
    t := rollout._tenant_for_update(_set_tenant_status.tenant_id);
    IF t.status <> from_status THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('tenant "%s" is %s, not %s', t.tenant_id, t.status, from_status);
    END IF;
    UPDATE rollout.tenant SET status = to_status, updated_at = pg_catalog.now(),
           suspended_at = CASE WHEN to_status = 'suspended' THEN pg_catalog.now() END
     WHERE tenant_id = t.tenant_id
    RETURNING * INTO t;
    PERFORM rollout._audit(action, t.tenant_id, 'tenant', t.tenant_id, reason,
                           jsonb_build_object('from', from_status, 'to', to_status));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout._set_tenant_status(text, text, text, text, text) IS
    'internal: one lifecycle transition of a tenant, checked and audited';

CREATE FUNCTION rollout.suspend_tenant(tenant_id text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_reason(reason, 'suspend a tenant');
    RETURN rollout._set_tenant_status(tenant_id, 'active', 'suspended', 'tenant.suspended', reason);
END
$$;
COMMENT ON FUNCTION rollout.suspend_tenant(text, text) IS
    'suspend an active tenant (it and its descendants are never activated while suspended); reason required; audited';

CREATE FUNCTION rollout.reactivate_tenant(tenant_id text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_reason(reason, 'reactivate a tenant');
    RETURN rollout._set_tenant_status(tenant_id, 'suspended', 'active', 'tenant.reactivated', reason);
END
$$;
COMMENT ON FUNCTION rollout.reactivate_tenant(text, text) IS 'reactivate a suspended tenant; reason required; audited';

CREATE FUNCTION rollout.decommission_tenant(tenant_id text, reason text, cascade boolean DEFAULT false)
RETURNS SETOF rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    live bigint;
    d rollout.tenant;
BEGIN
    PERFORM rollout._require_reason(reason, 'decommission a tenant');
    t := rollout._tenant_for_update(decommission_tenant.tenant_id);
    SELECT count(*) INTO live FROM rollout.tenant d
     WHERE d.path > t.path AND d.path < rollout._path_upper(t.path) AND d.status <> 'decommissioned';
    IF live > 0 AND NOT coalesce(decommission_tenant.cascade, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('tenant "%s" has %s %s not decommissioned', t.tenant_id, live,
                             CASE WHEN live = 1 THEN 'descendant that is' ELSE 'descendants that are' END),
            HINT = 'Decommission them first, or pass cascade => true to decommission the whole subtree.';
    END IF;
    -- One audit row per decommissioned tenant, each keeping the archived row.
    FOR d IN
        UPDATE rollout.tenant x SET status = 'decommissioned', decommissioned_at = pg_catalog.now(),
               updated_at = pg_catalog.now()
         WHERE x.path >= t.path AND x.path < rollout._path_upper(t.path) AND x.status <> 'decommissioned'
        RETURNING x.*
    LOOP
        PERFORM rollout._audit('tenant.decommissioned', d.tenant_id, 'tenant', d.tenant_id, reason,
                               jsonb_build_object('archived', to_jsonb(d) - 'path',
                                                  'cascade_from', CASE WHEN d.tenant_id <> t.tenant_id THEN t.tenant_id END));
        RETURN NEXT d;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.decommission_tenant(text, text, boolean) IS
    'decommission a tenant (and with cascade its subtree): kept for audit with its archived state, never activated or changed again';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._require_attributes(text, jsonb),
    rollout._tenant_for_update(text, boolean),
    rollout.tenant_path(text),
    rollout._path_upper(text[]),
    rollout.ancestors(text, boolean),
    rollout.descendants(text, boolean, integer),
    rollout.is_ancestor(text, text),
    rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text),
    rollout.create_tenants(text[], text[], text[], text[], jsonb[], text),
    rollout.update_tenant(text, text, text, jsonb, boolean, text),
    rollout.move_tenant(text, text, text),
    rollout._set_tenant_status(text, text, text, text, text),
    rollout.suspend_tenant(text, text),
    rollout.reactivate_tenant(text, text),
    rollout.decommission_tenant(text, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.tenant_path(text),
    rollout.ancestors(text, boolean),
    rollout.descendants(text, boolean, integer),
    rollout.is_ancestor(text, text)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text),
    rollout.create_tenants(text[], text[], text[], text[], jsonb[], text),
    rollout.update_tenant(text, text, text, jsonb, boolean, text),
    rollout.suspend_tenant(text, text),
    rollout.reactivate_tenant(text, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.move_tenant(text, text, text),
    rollout.decommission_tenant(text, text, boolean)
TO rollout_admin;
-- Internal helpers that descendants() calls with the caller's rights.
GRANT EXECUTE ON FUNCTION rollout._path_upper(text[]) TO rollout_viewer;
