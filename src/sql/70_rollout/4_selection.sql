-- Selection: deterministic buckets and weighted keys, eligible tenants,
-- cumulative selection through a stage, impact preview.

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

-- ---------------------------------------------------------------------
-- Selection
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._weight(attributes jsonb, weight_by text)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN (pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) $2) OPERATOR(pg_catalog.=) 'number') IS NOT TRUE
                THEN 0
                WHEN ($1 OPERATOR(pg_catalog.->>) $2)::numeric OPERATOR(pg_catalog.<=) 1e-300 THEN 0
                WHEN ($1 OPERATOR(pg_catalog.->>) $2)::numeric OPERATOR(pg_catalog.>=) 1e300 THEN 1e300
                ELSE ($1 OPERATOR(pg_catalog.->>) $2)::double precision END
$$;
COMMENT ON FUNCTION rollout._weight(jsonb, text) IS
    'internal: a numeric tenant attribute as a weight: 0 when absent, not a number, negative or below 1e-300; at most 1e300, so sums cannot overflow';

-- Tenants eligible for a rollout, with their bucket and blackout state.
CREATE FUNCTION rollout._eligible(rollout_id text)
RETURNS TABLE (tenant_id text, path text[], kind text, attributes jsonb, bucket integer, blacked_out boolean,
               target boolean, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    r rollout.rollout;
    lo text[];
    hi text[];
    pct boolean;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _eligible.rollout_id;
    -- Buckets only matter to percentage stages (rollout._selection reads
    -- them nowhere else): without one, bucket is NULL and no SHA-256 is
    -- computed for each tenant.
    pct := EXISTS (SELECT 1 FROM rollout.rollout_stage s
                    WHERE s.rollout_id = r.rollout_id AND s.method = 'percentage');
    IF r.scope_tenant_id IS NOT NULL THEN
        lo := rollout.tenant_path(r.scope_tenant_id);
        hi := rollout._path_upper(lo);
    END IF;
    -- Two texts.  Without a scope, every tenant: a text planned for each
    -- call with the parameters' values (the parents hash-joined; a pass
    -- over the whole table, where planning costs nothing beside the work).
    -- With a scope (a range of paths, scanned through tenant_path_idx): a
    -- static query planned once per session with a generic plan (see the
    -- SET above), not again for every rollout a tick advances; it has no
    -- join whose plan could go wrong without statistics (a leaf is one
    -- probe of tenant_parent_idx).  With a target kind, leaves do not
    -- matter (every tenant of the kind is a target): no parents then.
    IF lo IS NULL THEN
        RETURN QUERY EXECUTE format($q$
    WITH dark AS MATERIALIZED (
            SELECT b.tenant_id FROM rollout.blackout b WHERE b.during @> now()),
         windowed AS MATERIALIZED (
            SELECT w.tenant_id, bool_or(rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, now())) AS open
              FROM rollout.maintenance_window w GROUP BY w.tenant_id),
         chan AS MATERIALIZED (
            SELECT c.tenant_id, c.channel_id FROM rollout.effective_channels() c
             WHERE $1 IS NOT NULL AND c.channel_id = $1),
         -- tenants with children
         parents AS MATERIALIZED (
            SELECT DISTINCT c.parent_id FROM rollout.tenant c
             WHERE c.parent_id IS NOT NULL AND c.status <> 'decommissioned'),
         base AS (
            SELECT t.tenant_id, t.path, t.kind, t.attributes,
                   %s AS leaf,
                   CASE WHEN NOT EXISTS (SELECT 1 FROM dark) THEN false
                        ELSE EXISTS (SELECT 1 FROM dark d WHERE d.tenant_id = ANY (t.path)) END AS dark,
                   -- the windows of the nearest windowed tenant on the path decide
                   CASE WHEN NOT EXISTS (SELECT 1 FROM windowed) THEN true
                        ELSE coalesce((SELECT w.open FROM unnest(t.path) WITH ORDINALITY u(id, o)
                                         JOIN windowed w ON w.tenant_id = u.id
                                        ORDER BY u.o DESC LIMIT 1), true) END AS window_open
              FROM rollout.tenant t %s
             WHERE t.status = 'active'
               AND ($2 IS NULL OR t.kind = $2)
               AND ($1 IS NULL OR EXISTS (SELECT 1 FROM chan WHERE chan.tenant_id = t.tenant_id)))
    SELECT t.tenant_id, t.path, t.kind, t.attributes, CASE WHEN $4 THEN rollout.bucket($3, t.tenant_id) END,
           t.dark OR NOT t.window_open,
           $2 IS NOT NULL OR t.leaf,
           CASE WHEN t.dark THEN 'maintenance blackout'
                WHEN NOT t.window_open THEN 'outside maintenance window' END
      FROM base t
    $q$, CASE WHEN r.target_kind IS NULL THEN 'p.parent_id IS NULL' ELSE 'NULL::boolean' END,
         CASE WHEN r.target_kind IS NULL THEN 'LEFT JOIN parents p ON p.parent_id = t.tenant_id' END)
        USING r.channel_id, r.target_kind, r.salt, pct;
    ELSE
        RETURN QUERY
        WITH dark AS MATERIALIZED (
                SELECT b.tenant_id FROM rollout.blackout b WHERE b.during @> now()),
             windowed AS MATERIALIZED (
                SELECT w.tenant_id, bool_or(rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, now())) AS open
                  FROM rollout.maintenance_window w GROUP BY w.tenant_id),
             chan AS MATERIALIZED (
                SELECT c.tenant_id, c.channel_id FROM rollout.effective_channels() c
                 WHERE r.channel_id IS NOT NULL AND c.channel_id = r.channel_id),
             base AS (
                SELECT t.tenant_id, t.path, t.kind, t.attributes,
                       -- a leaf: no child (the children of a tenant in scope are in scope)
                       NOT EXISTS (SELECT 1 FROM rollout.tenant c
                                    WHERE c.parent_id = t.tenant_id AND c.status <> 'decommissioned') AS leaf,
                       CASE WHEN NOT EXISTS (SELECT 1 FROM dark) THEN false
                            ELSE EXISTS (SELECT 1 FROM dark d WHERE d.tenant_id = ANY (t.path)) END AS dark,
                       -- the windows of the nearest windowed tenant on the path decide
                       CASE WHEN NOT EXISTS (SELECT 1 FROM windowed) THEN true
                            ELSE coalesce((SELECT w.open FROM unnest(t.path) WITH ORDINALITY u(id, o)
                                             JOIN windowed w ON w.tenant_id = u.id
                                            ORDER BY u.o DESC LIMIT 1), true) END AS window_open
                  FROM rollout.tenant t
                 WHERE t.status = 'active' AND t.path >= lo AND t.path < hi
                   AND (r.target_kind IS NULL OR t.kind = r.target_kind)
                   AND (r.channel_id IS NULL OR EXISTS (SELECT 1 FROM chan WHERE chan.tenant_id = t.tenant_id)))
        SELECT t.tenant_id, t.path, t.kind, t.attributes, CASE WHEN pct THEN rollout.bucket(r.salt, t.tenant_id) END,
               t.dark OR NOT t.window_open,
               r.target_kind IS NOT NULL OR t.leaf,
               CASE WHEN t.dark THEN 'maintenance blackout'
                    WHEN NOT t.window_open THEN 'outside maintenance window' END
          FROM base t;
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._eligible(text) IS
    'internal: active tenants in the rollout''s scope, kind and channel, with bucket (NULL when the rollout has no percentage stage), blackout state and whether percentages draw from them (target_kind, else leaves)';

-- Tenants selected by the stages up to through_stage: the first stage that
-- selects each.  Selection is cumulative and deterministic.
--
-- Percentage stages draw from one order of the rollout's target tenants, so
-- each stage's set is a prefix of the next one's:
--  * no stage weighted: tenants by bucket (SHA-256 of salt and id); p %
--    takes the buckets below p * 10000, so a tenant's place does not depend
--    on the others (a new tenant does not move anyone across a stage);
--  * a stage weighted by attribute A (every weighted stage of the rollout
--    uses the same A): tenants by weighted key -ln(u)/A, heaviest first in
--    expectation, zero weights last.  A weighted stage at p % takes the
--    shortest prefix holding p % of the total weight; an unweighted stage at
--    p % the prefix holding p % of the tenants (rounded up).  A stage takes
--    at least what the stages before it took (stages never shrink).
CREATE FUNCTION rollout._selection(rollout_id text, through_stage integer)
RETURNS TABLE (tenant_id text, stage_no integer, blacked_out boolean, weight double precision, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL, not SQL: the statements are planned once per session, not
    -- on every call (the tick calls this for every rollout it advances).
    IF NOT EXISTS (SELECT 1 FROM rollout.rollout_stage s
                    WHERE s.rollout_id = $1 AND s.stage_no <= $2 AND s.weight_by IS NOT NULL) THEN
        -- No weighted stage (the usual rollout): the query below without
        -- its weighted order, running weights and prefix lengths; every
        -- weight is 0 (rollout._weight of no attribute).
        RETURN QUERY
        WITH st AS MATERIALIZED (SELECT s.* FROM rollout.rollout_stage s WHERE s.rollout_id = $1 AND s.stage_no <= $2),
             agg AS MATERIALIZED (
                SELECT min(s.stage_no) FILTER (WHERE s.method = 'all') AS all_stage,
                       array_agg(s.stage_no ORDER BY s.stage_no) FILTER (WHERE s.method = 'percentage') AS pct_stages,
                       array_agg((s.percent * 10000)::integer ORDER BY s.stage_no)
                           FILTER (WHERE s.method = 'percentage') AS pct_cuts
                  FROM st s),
             listed AS (
                SELECT u.id AS tenant_id, min(s.stage_no) AS stage_no
                  FROM st s CROSS JOIN LATERAL unnest(s.tenants) AS u(id)
                 WHERE s.method = 'tenants'
                 GROUP BY u.id),
             chosen AS (
                SELECT e.tenant_id, e.blacked_out, e.hold_reason,
                       LEAST(agg.all_stage, l.stage_no,
                             CASE WHEN NOT e.target OR agg.pct_stages IS NULL THEN NULL
                                  ELSE agg.pct_stages[width_bucket(e.bucket, agg.pct_cuts) + 1] END) AS stage_no
                  FROM rollout._eligible($1) e CROSS JOIN agg
                  LEFT JOIN listed l ON l.tenant_id = e.tenant_id)
        SELECT c.tenant_id, c.stage_no, c.blacked_out, 0::double precision, c.hold_reason
          FROM chosen c
         WHERE c.stage_no IS NOT NULL;
        RETURN;
    END IF;
    RETURN QUERY
    WITH e AS MATERIALIZED (SELECT * FROM rollout._eligible($1)),
         st AS MATERIALIZED (SELECT s.* FROM rollout.rollout_stage s WHERE s.rollout_id = $1 AND s.stage_no <= $2),
         salt AS MATERIALIZED (SELECT r.salt FROM rollout.rollout r WHERE r.rollout_id = $1),
         agg AS MATERIALIZED (
            SELECT min(s.stage_no) FILTER (WHERE s.method = 'all') AS all_stage,
                   array_agg(s.stage_no ORDER BY s.stage_no) FILTER (WHERE s.method = 'percentage') AS pct_stages,
                   -- unweighted rollouts: bucket cuts, ascending (stages never shrink)
                   array_agg((s.percent * 10000)::integer ORDER BY s.stage_no)
                       FILTER (WHERE s.method = 'percentage') AS pct_cuts,
                   (array_agg(s.weight_by ORDER BY s.stage_no) FILTER (WHERE s.weight_by IS NOT NULL))[1] AS weight_by
              FROM st s),
         listed AS (
            SELECT u.id AS tenant_id, min(s.stage_no) AS stage_no
              FROM st s CROSS JOIN LATERAL unnest(s.tenants) AS u(id)
             WHERE s.method = 'tenants'
             GROUP BY u.id),
         -- weighted rollouts: the one order, with running weight and position
         ordered AS MATERIALIZED (
            SELECT o.tenant_id, o.wt,
                   row_number() OVER w AS pos,
                   sum(o.wt) OVER w - o.wt AS before
              FROM (SELECT e.tenant_id, x.wt, rollout.weight_key(salt.salt, e.tenant_id, x.wt) AS key
                      FROM e CROSS JOIN salt CROSS JOIN agg
                      CROSS JOIN LATERAL (SELECT rollout._weight(e.attributes, agg.weight_by) AS wt) x
                     WHERE agg.weight_by IS NOT NULL AND e.target) o
            WINDOW w AS (ORDER BY o.key, o.tenant_id ROWS UNBOUNDED PRECEDING)),
         totals AS MATERIALIZED (
            SELECT count(*) AS n, coalesce(sum(o.wt), 0) AS total FROM ordered o),
         -- the prefix length of each percentage stage, then made cumulative
         cuts AS MATERIALIZED (
            SELECT array_agg(c.len ORDER BY c.stage_no) AS lens
              FROM (SELECT s.stage_no,
                           max(CASE WHEN s.percent >= 100 THEN t.n
                                    WHEN s.weight_by IS NOT NULL
                                    THEN (SELECT count(*) FROM ordered o
                                           WHERE o.wt > 0 AND o.before < s.percent / 100 * t.total)
                                    ELSE ceil(s.percent / 100 * t.n)::bigint END)
                               OVER (ORDER BY s.stage_no ROWS UNBOUNDED PRECEDING) AS len
                      FROM st s CROSS JOIN totals t CROSS JOIN agg
                     WHERE s.method = 'percentage' AND agg.weight_by IS NOT NULL) c),
         chosen AS (
            SELECT e.tenant_id, e.blacked_out, e.hold_reason, e.attributes,
                   LEAST(agg.all_stage, l.stage_no,
                         CASE WHEN NOT e.target OR agg.pct_stages IS NULL THEN NULL
                              WHEN agg.weight_by IS NULL
                              THEN agg.pct_stages[width_bucket(e.bucket, agg.pct_cuts) + 1]
                              ELSE agg.pct_stages[width_bucket(o.pos - 1, cuts.lens) + 1] END) AS stage_no
              FROM e CROSS JOIN agg CROSS JOIN cuts
              LEFT JOIN listed l ON l.tenant_id = e.tenant_id
              LEFT JOIN ordered o ON o.tenant_id = e.tenant_id)
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
           -- as resolution decides: this rollout's activation of the tenant
           -- or an ancestor, not held back by its deferral of a tenant below
           -- that one, and none on the path by a later rollout
           EXISTS (SELECT 1 FROM unnest(t.path) WITH ORDINALITY u(id, o)
                     JOIN rollout.activation a ON a.component_id = r.component_id AND a.tenant_id = u.id
                                              AND a.rollout_id = r.rollout_id
                    WHERE NOT EXISTS (SELECT 1 FROM unnest(t.path) WITH ORDINALITY v(id, o)
                                        JOIN rollout.deferral d ON d.rollout_id = r.rollout_id AND d.tenant_id = v.id
                                       WHERE v.o > u.o))
           AND NOT EXISTS (SELECT 1 FROM rollout.activation a
                            WHERE a.component_id = r.component_id AND a.tenant_id = ANY (t.path)
                              AND a.start_no > r.start_no),
           sel.hold_reason
      FROM rollout._held_selection(r.rollout_id, coalesce(last_stage, 0)) sel
      JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = sel.stage_no
      JOIN rollout.tenant t ON t.tenant_id = sel.tenant_id
     ORDER BY sel.stage_no, t.path;
END
$$;
COMMENT ON FUNCTION rollout.preview(text) IS
    'impact preview: every tenant the rollout would activate, with the first stage that selects it, bucket, weight, whether (and why) it would be deferred now, and whether the rollout already decides its version (own or inherited activation)';

CREATE FUNCTION rollout.preview_summary(rollout_id text)
RETURNS TABLE (stage_no integer, stage text, level integer, group_id text, group_kind text,
               tenants bigint, cumulative_tenants bigint, weight_share numeric, passes_on text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS MATERIALIZED (SELECT * FROM rollout.preview($1)),
         stages AS (SELECT s.stage_no, s.name, rollout._stage_gate(s) AS gate
                      FROM rollout.rollout_stage s WHERE s.rollout_id = $1),
         wb AS (SELECT s.weight_by FROM rollout.rollout_stage s
                 WHERE s.rollout_id = $1 AND s.weight_by IS NOT NULL ORDER BY s.stage_no DESC LIMIT 1),
         -- the share of the weight of every target tenant (leaves, or target_kind)
         tot AS (SELECT nullif(sum(rollout._weight(e.attributes, wb.weight_by)), 0) AS w
                   FROM rollout._eligible($1) e, wb WHERE e.target),
         g AS (
            -- level 0: everything; 1: by root (organisation); 2: by second level (team)
            SELECT st.stage_no, st.name, st.gate, lv.level,
                   CASE lv.level WHEN 0 THEN NULL ELSE (string_to_array(p.path, '/'))[lv.level] END AS group_id,
                   count(*) FILTER (WHERE p.stage_no = st.stage_no) AS n,
                   count(*) FILTER (WHERE p.stage_no <= st.stage_no) AS cum,
                   sum(p.weight) FILTER (WHERE p.stage_no <= st.stage_no) AS cum_w
              FROM stages st CROSS JOIN (VALUES (0), (1), (2)) lv(level) CROSS JOIN p
             WHERE lv.level = 0 OR cardinality(string_to_array(p.path, '/')) >= lv.level
             GROUP BY 1, 2, 3, 4, 5)
    SELECT g.stage_no, g.name, g.level, g.group_id, t.kind, g.n, g.cum,
           round((g.cum_w / tot.w)::numeric, 4), g.gate
      FROM g LEFT JOIN tot ON true LEFT JOIN rollout.tenant t ON t.tenant_id = g.group_id
     ORDER BY g.stage_no, g.level, g.group_id
$$;
COMMENT ON FUNCTION rollout.preview_summary(text) IS
    'impact preview by stage: tenants newly selected and cumulative, overall (level 0), per organisation (1) and team (2), with the cumulative share of the target tenants'' weight (NULL without weighted stages)';

-- The arrays stage activation writes, computed in C (src/select.c): the
-- tenants rollout._selection(rollout_id, through_stage) selects that are
-- not held (go), those held (held) and why (why).  NULLs when a stage
-- through through_stage is weighted: rollout._selection then.  One scan of
-- the tenants instead of the SQL above (test 37_select_rows compares them).
CREATE FUNCTION rollout._select_rows(rollout_id text, through_stage integer,
                                     OUT go text[], OUT held text[], OUT why text[])
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_select_rows';
COMMENT ON FUNCTION rollout._select_rows(text, integer) IS
    'internal: the tenants rollout._selection selects through a stage as three arrays (to activate, held, why held), computed in C; NULLs for a rollout with a weighted stage';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.bucket(bytea, text),
    rollout.weight_key(bytea, text, double precision),
    rollout._weight(jsonb, text),
    rollout._eligible(text),
    rollout._selection(text, integer),
    rollout._select_rows(text, integer),
    rollout.preview(text),
    rollout.preview_summary(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.bucket(bytea, text),
    rollout.weight_key(bytea, text, double precision),
    rollout.preview(text),
    rollout.preview_summary(text)
TO rollout_viewer;
-- Internal helpers that preview() and preview_summary() calls with the caller's rights.
GRANT EXECUTE ON FUNCTION rollout._weight(jsonb, text), rollout._eligible(text), rollout._selection(text, integer) TO rollout_viewer;
