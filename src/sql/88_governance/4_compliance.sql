-- Compliance snapshots and reports (issue 12, item 7): a dated snapshot of
-- a scope's compliance (statuses, outstanding, completed and planned
-- actions, exemptions used) whose SHA-256 digest goes into the audit chain;
-- reports read the snapshots (JSON, or flat rows for COPY ... TO CSV) with
-- the trend between them; snapshots older than the retention are purged.

CREATE TABLE rollout.compliance_setting (
    setting    text COLLATE "C" PRIMARY KEY CHECK (setting IN ('snapshot_retention')),
    value      interval    NOT NULL CHECK (value >= interval '1 day'),
    reason     text        NOT NULL,
    set_by     text        NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_setting', '');
COMMENT ON TABLE rollout.compliance_setting IS
    'compliance settings: snapshot_retention (how long compliance snapshots are kept; 365 days when not set)';

CREATE SEQUENCE rollout.compliance_snapshot_seq;
CREATE TABLE rollout.compliance_snapshot (
    snapshot_id     bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.compliance_snapshot_seq'),
    scope_tenant_id text COLLATE "C",
    taken_at        timestamptz NOT NULL,
    taken_by        text        NOT NULL,
    pairs           bigint      NOT NULL,
    compliance_pct  numeric,
    content         jsonb       NOT NULL,
    digest          text        NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    audit_seq       bigint      NOT NULL
);
CREATE INDEX compliance_snapshot_scope_idx ON rollout.compliance_snapshot (scope_tenant_id, taken_at);
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_snapshot_seq', '');
COMMENT ON SEQUENCE rollout.compliance_snapshot_seq IS 'ids of rollout.compliance_snapshot';
COMMENT ON TABLE rollout.compliance_snapshot IS
    'dated compliance snapshots of the whole tree (scope_tenant_id NULL) or a subtree; content is the report body, digest its SHA-256 (hex of the jsonb text), also written into the audit row audit_seq';
COMMENT ON COLUMN rollout.compliance_snapshot.content IS
    'summary, by_component, outstanding (non-compliant pairs per component, version and status), exemptions_used, completed and planned actions';
COMMENT ON COLUMN rollout.compliance_snapshot.digest IS 'hex SHA-256 of content::text; the same value is in the audit row audit_seq (action compliance.snapshot)';

CREATE FUNCTION rollout.snapshot_retention()
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.value FROM rollout.compliance_setting s WHERE s.setting = 'snapshot_retention'),
                    interval '365 days')
$$;
COMMENT ON FUNCTION rollout.snapshot_retention() IS 'how long compliance snapshots are kept (365 days unless set with rollout.set_snapshot_retention)';

CREATE FUNCTION rollout.set_snapshot_retention(retention interval, reason text)
RETURNS interval
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    old interval := rollout.snapshot_retention();
BEGIN
    IF retention IS NULL OR retention < interval '1 day' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid snapshot retention %s: it must be at least 1 day', coalesce(retention::text, 'NULL'));
    END IF;
    PERFORM rollout._require_reason(reason, 'change the snapshot retention');
    INSERT INTO rollout.compliance_setting AS s (setting, value, reason, set_by)
    VALUES ('snapshot_retention', retention, reason, rollout._actor())
    ON CONFLICT (setting) DO UPDATE SET value = excluded.value, reason = excluded.reason, set_by = excluded.set_by,
                                        set_at = now();
    PERFORM rollout._audit('compliance.retention_set', NULL, 'setting', 'snapshot_retention', reason,
                           jsonb_build_object('before', old, 'after', retention));
    RETURN retention;
END
$$;
COMMENT ON FUNCTION rollout.set_snapshot_retention(interval, text) IS
    'set how long compliance snapshots are kept (at least 1 day; 365 days by default); a reason is required; audited';

-- The scope a caller may ask for: NULL (everything) only when it sees every
-- tenant; otherwise a tenant inside its subtrees.
CREATE FUNCTION rollout._compliance_scope(scope text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    vis text[] := rollout._visible_tenants();
BEGIN
    IF scope IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = scope) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('tenant "%s" does not exist', scope);
    END IF;
    IF vis IS NOT NULL AND (scope IS NULL OR NOT scope = ANY (vis)) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('compliance of %s is outside the tenants bound to role "%s"',
                             coalesce('tenant "' || scope || '"', 'every tenant'), session_user),
            HINT = 'Name a tenant inside the subtrees bound with rollout.bind_tenant().';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._compliance_scope(text) IS
    'internal: refuse a compliance scope the session user may not see (NULL means every tenant)';

-- The rollouts that concern a scope: global ones, and those whose subtree
-- contains the scope or lies inside it.
CREATE FUNCTION rollout._rollout_in_scope(rollout_scope text, scope text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT $2 IS NULL OR $1 IS NULL OR $1 = $2 OR rollout.is_ancestor($1, $2) OR rollout.is_ancestor($2, $1)
$$;
COMMENT ON FUNCTION rollout._rollout_in_scope(text, text) IS
    'internal: does a rollout limited to rollout_scope (NULL: every tenant) concern the scope (NULL: every tenant)?';

-- The report body of a scope now (what a snapshot stores): statuses,
-- outstanding pairs, exemptions used, rollouts finished since the previous
-- snapshot (completed) and rollouts to come and forced upgrades (planned).
CREATE FUNCTION rollout._compliance_content(scope text, since timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH ev AS MATERIALIZED (
        SELECT e.component_id, e.version, e.status, e.action, e.forced_upgrade_on, e.days_left, e.exemption_id
          FROM rollout._evaluate(now(), rollout._policies_as_of(now()), NULL,
                                 CASE WHEN $1 IS NOT NULL
                                      THEN ARRAY(SELECT d.tenant_id FROM rollout.descendants($1, true) d) END,
                                 NULL) e),
     st AS MATERIALIZED (
        SELECT ev.component_id, ev.status, count(*) AS n FROM ev GROUP BY ev.component_id, ev.status),
     bystatus AS (
        SELECT st.status, sum(st.n)::bigint AS n FROM st GROUP BY st.status),
     bycomp AS (
        SELECT st.component_id, sum(st.n)::bigint AS pairs,
               round(100.0 * coalesce(sum(st.n) FILTER (WHERE st.status IN ('compliant', 'exempt', 'eol_in_grace')), 0)
                     / nullif(coalesce(sum(st.n) FILTER (WHERE st.status <> 'not_deployed'), 0), 0), 2) AS pct,
               jsonb_object_agg(st.status, st.n ORDER BY st.status) AS statuses
          FROM st GROUP BY st.component_id),
     tot AS (
        SELECT coalesce(sum(b.n), 0)::bigint AS pairs,
               coalesce(sum(b.n) FILTER (WHERE b.status <> 'not_deployed'), 0)::bigint AS assessed,
               coalesce(sum(b.n) FILTER (WHERE b.status IN ('compliant', 'exempt', 'eol_in_grace')), 0)::bigint AS ok
          FROM bystatus b),
     outstanding AS (
        SELECT ev.component_id, ev.version, ev.status, ev.action, count(*) AS tenants,
               min(ev.forced_upgrade_on) AS forced_upgrade_on, min(ev.days_left) AS days_left
          FROM ev WHERE ev.status NOT IN ('compliant', 'not_deployed', 'exempt')
         GROUP BY ev.component_id, ev.version, ev.status, ev.action),
     used AS (
        SELECT ev.exemption_id, count(*) AS pairs FROM ev WHERE ev.exemption_id IS NOT NULL GROUP BY ev.exemption_id),
     ro AS (
        SELECT r.* FROM rollout.rollout r WHERE rollout._rollout_in_scope(r.scope_tenant_id, $1))
SELECT jsonb_build_object(
    'scope', $1,
    'taken_at', now(),
    'since', $2,
    'summary', jsonb_build_object(
        'pairs', tot.pairs, 'assessed', tot.assessed, 'compliant_or_allowed', tot.ok,
        'compliance_pct', round(100.0 * tot.ok / nullif(tot.assessed, 0), 2),
        'by_status', coalesce((SELECT jsonb_object_agg(b.status, b.n ORDER BY b.status) FROM bystatus b), '{}')),
    'by_component', coalesce((SELECT jsonb_agg(jsonb_build_object('component_id', c.component_id, 'pairs', c.pairs,
                                                                  'compliance_pct', c.pct, 'by_status', c.statuses)
                                               ORDER BY c.component_id) FROM bycomp c), '[]'),
    'outstanding', coalesce((SELECT jsonb_agg(jsonb_build_object('component_id', o.component_id, 'version', o.version::text,
                                                                 'status', o.status, 'action', o.action, 'tenants', o.tenants,
                                                                 'forced_upgrade_on', o.forced_upgrade_on,
                                                                 'days_left', o.days_left)
                                              ORDER BY o.component_id, o.version, o.status) FROM outstanding o), '[]'),
    'exemptions_used', coalesce((SELECT jsonb_agg(jsonb_build_object('exemption_id', x.exemption_id, 'tenant_id', x.tenant_id,
                                                                     'component_id', x.component_id,
                                                                     'versions', x.versions::text, 'category', x.category,
                                                                     'reason', x.reason, 'ticket', x.ticket,
                                                                     'approved_by', x.approved_by,
                                                                     'expires_at', x.expires_at, 'pairs', u.pairs)
                                                  ORDER BY x.exemption_id)
                                   FROM used u JOIN rollout.exemption x ON x.exemption_id = u.exemption_id), '[]'),
    'completed', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', 'rollout', 'rollout_id', r.rollout_id,
                                                               'component_id', r.component_id,
                                                               'from_version', r.from_version::text,
                                                               'to_version', r.to_version::text, 'status', r.status,
                                                               'scope', r.scope_tenant_id, 'finished_at', r.finished_at)
                                            ORDER BY r.finished_at, r.rollout_id)
                             FROM ro r
                            WHERE r.status IN ('completed', 'rolled_back')
                              AND r.finished_at > coalesce($2, '-infinity') AND r.finished_at <= now()), '[]'),
    'planned', coalesce((SELECT jsonb_agg(p.item ORDER BY p.due NULLS LAST, p.ord, p.id)
                           FROM (SELECT jsonb_build_object('kind', 'rollout', 'rollout_id', r.rollout_id,
                                                           'component_id', r.component_id,
                                                           'from_version', r.from_version::text,
                                                           'to_version', r.to_version::text, 'status', r.status,
                                                           'scope', r.scope_tenant_id, 'current_stage', r.current_stage,
                                                           'next_due_at', r.next_due_at) AS item,
                                        r.next_due_at::date AS due, 1 AS ord, r.rollout_id AS id
                                   FROM ro r WHERE r.status IN ('draft', 'approved', 'running', 'paused')
                                 UNION ALL
                                 SELECT jsonb_build_object('kind', 'forced_upgrade', 'component_id', o.component_id,
                                                           'version', o.version::text, 'tenants', o.tenants,
                                                           'forced_upgrade_on', o.forced_upgrade_on,
                                                           'days_left', o.days_left),
                                        o.forced_upgrade_on, 2, o.component_id || '@' || o.version::text
                                   FROM outstanding o WHERE o.status = 'eol_in_grace') p), '[]'))
  FROM tot
$$;
COMMENT ON FUNCTION rollout._compliance_content(text, timestamptz) IS
    'internal: the body of a compliance report of a scope now: summary, by component, outstanding, exemptions used, completed (rollouts finished since the given instant) and planned actions';

CREATE FUNCTION rollout.snapshot_compliance(scope text DEFAULT NULL)
RETURNS rollout.compliance_snapshot
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    snap rollout.compliance_snapshot;
    since timestamptz;
    purged bigint;
BEGIN
    PERFORM rollout._compliance_scope(scope);
    -- one snapshot of a scope at a time
    PERFORM pg_advisory_xact_lock(hashtext('pg_rollout.compliance_snapshot'), hashtext(coalesce(scope, '')));
    SELECT max(s.taken_at) INTO since FROM rollout.compliance_snapshot s
     WHERE s.scope_tenant_id IS NOT DISTINCT FROM scope;
    snap.snapshot_id := nextval('rollout.compliance_snapshot_seq');
    snap.scope_tenant_id := scope;
    snap.taken_at := now();
    snap.taken_by := rollout._actor();
    snap.content := rollout._compliance_content(scope, since);
    snap.pairs := (snap.content #>> '{summary,pairs}')::bigint;
    snap.compliance_pct := (snap.content #>> '{summary,compliance_pct}')::numeric;
    snap.digest := encode(sha256(convert_to(snap.content::text, 'UTF8')), 'hex');
    DELETE FROM rollout.compliance_snapshot s WHERE s.taken_at < now() - rollout.snapshot_retention();
    GET DIAGNOSTICS purged = ROW_COUNT;
    snap.audit_seq := rollout._audit('compliance.snapshot', scope, 'compliance_snapshot', snap.snapshot_id::text, NULL,
                                     jsonb_build_object('snapshot_id', snap.snapshot_id, 'digest', snap.digest,
                                                        'pairs', snap.pairs, 'compliance_pct', snap.compliance_pct,
                                                        'purged', purged,
                                                        'retention', rollout.snapshot_retention()));
    INSERT INTO rollout.compliance_snapshot SELECT snap.*;
    RETURN snap;
END
$$;
COMMENT ON FUNCTION rollout.snapshot_compliance(text) IS
    'store a dated compliance snapshot of every tenant (scope NULL) or a subtree, its SHA-256 digest written into the audit chain; purges snapshots older than rollout.snapshot_retention(); schedulable with pg_cron';

CREATE FUNCTION rollout.compliance_report(scope text DEFAULT NULL, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.compliance_snapshot;
    trend jsonb;
BEGIN
    PERFORM rollout._compliance_scope(scope);
    IF as_of IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'the instant of a compliance report must not be null';
    END IF;
    SELECT * INTO s FROM rollout.compliance_snapshot x
     WHERE x.scope_tenant_id IS NOT DISTINCT FROM scope AND x.taken_at <= as_of
     ORDER BY x.taken_at DESC, x.snapshot_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('no compliance snapshot of %s at or before %s',
                             coalesce('tenant "' || scope || '"', 'every tenant'), as_of),
            HINT = 'Take one with rollout.snapshot_compliance() (pg_cron can schedule it).';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('snapshot_id', t.snapshot_id, 'taken_at', t.taken_at, 'pairs', t.pairs,
                                        'compliance_pct', t.compliance_pct,
                                        'change_pct', t.compliance_pct - t.previous_pct,
                                        'outstanding', t.outstanding)
                     ORDER BY t.taken_at, t.snapshot_id)
      INTO trend
      FROM (SELECT x.snapshot_id, x.taken_at, x.pairs, x.compliance_pct,
                   lag(x.compliance_pct) OVER (ORDER BY x.taken_at, x.snapshot_id) AS previous_pct,
                   (SELECT coalesce(sum((o ->> 'tenants')::bigint), 0) FROM jsonb_array_elements(x.content -> 'outstanding') o)
                       AS outstanding
              FROM rollout.compliance_snapshot x
             WHERE x.scope_tenant_id IS NOT DISTINCT FROM scope AND x.taken_at <= s.taken_at) t;
    RETURN s.content || jsonb_build_object('snapshot_id', s.snapshot_id, 'as_of', as_of, 'taken_by', s.taken_by,
                                           'digest', s.digest, 'audit_seq', s.audit_seq, 'trend', trend);
END
$$;
COMMENT ON FUNCTION rollout.compliance_report(text, timestamptz) IS
    'the compliance report of every tenant (scope NULL) or a subtree as of an instant: the latest snapshot taken by then (summary, by component, outstanding, exemptions used, completed and planned actions, digest and audit row) and the trend over the snapshots kept';

CREATE FUNCTION rollout.compliance_report_rows(scope text DEFAULT NULL, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (section text, item text, component_id text, version text, status text, tenants bigint, pct numeric,
               due date, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
WITH r AS MATERIALIZED (SELECT rollout.compliance_report($1, $2) AS j)
SELECT 'report', (r.j ->> 'snapshot_id'), NULL, NULL, NULL, (r.j #>> '{summary,pairs}')::bigint,
       (r.j #>> '{summary,compliance_pct}')::numeric, (r.j ->> 'taken_at')::timestamptz::date,
       format('digest %s, audit row %s, scope %s', r.j ->> 'digest', r.j ->> 'audit_seq', coalesce(r.j ->> 'scope', 'all'))
  FROM r
UNION ALL
SELECT 'status', NULL, NULL, NULL, s.key, s.value::text::bigint, NULL, NULL, NULL
  FROM r, jsonb_each(r.j #> '{summary,by_status}') s
UNION ALL
SELECT 'component', NULL, c ->> 'component_id', NULL, NULL, (c ->> 'pairs')::bigint, (c ->> 'compliance_pct')::numeric,
       NULL, (c -> 'by_status')::text
  FROM r, jsonb_array_elements(r.j -> 'by_component') c
UNION ALL
SELECT 'outstanding', NULL, o ->> 'component_id', o ->> 'version', o ->> 'status', (o ->> 'tenants')::bigint, NULL,
       (o ->> 'forced_upgrade_on')::date, 'action ' || coalesce(o ->> 'action', 'none')
  FROM r, jsonb_array_elements(r.j -> 'outstanding') o
UNION ALL
SELECT 'exemption', e ->> 'exemption_id', e ->> 'component_id', e ->> 'versions', e ->> 'category',
       (e ->> 'pairs')::bigint, NULL, (e ->> 'expires_at')::timestamptz::date,
       format('tenant %s, approved by %s: %s', e ->> 'tenant_id', e ->> 'approved_by', e ->> 'reason')
  FROM r, jsonb_array_elements(r.j -> 'exemptions_used') e
UNION ALL
SELECT 'completed', c ->> 'rollout_id', c ->> 'component_id', c ->> 'to_version', c ->> 'status', NULL, NULL,
       (c ->> 'finished_at')::timestamptz::date, format('from %s, scope %s', c ->> 'from_version', coalesce(c ->> 'scope', 'all'))
  FROM r, jsonb_array_elements(r.j -> 'completed') c
UNION ALL
SELECT 'planned', coalesce(p ->> 'rollout_id', p ->> 'kind'), p ->> 'component_id', coalesce(p ->> 'to_version', p ->> 'version'),
       coalesce(p ->> 'status', 'eol_in_grace'), (p ->> 'tenants')::bigint, NULL,
       coalesce((p ->> 'next_due_at')::timestamptz::date, (p ->> 'forced_upgrade_on')::date), p ->> 'kind'
  FROM r, jsonb_array_elements(r.j -> 'planned') p
UNION ALL
SELECT 'trend', t ->> 'snapshot_id', NULL, NULL, NULL, (t ->> 'pairs')::bigint, (t ->> 'compliance_pct')::numeric,
       (t ->> 'taken_at')::timestamptz::date, 'change ' || coalesce(t ->> 'change_pct', 'n/a')
  FROM r, jsonb_array_elements(r.j -> 'trend') t
$$;
COMMENT ON FUNCTION rollout.compliance_report_rows(text, timestamptz) IS
    'rollout.compliance_report as flat rows (section report, status, component, outstanding, exemption, completed, planned, trend) for COPY (SELECT ...) TO ... CSV';

CREATE FUNCTION rollout.verify_compliance_snapshot(id bigint)
RETURNS TABLE (snapshot_id bigint, digest text, content_matches boolean, audit_matches boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.compliance_snapshot;
BEGIN
    SELECT * INTO s FROM rollout.compliance_snapshot x WHERE x.snapshot_id = id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('compliance snapshot %s does not exist', coalesce(id::text, 'NULL'));
    END IF;
    PERFORM rollout._compliance_scope(s.scope_tenant_id);
    RETURN QUERY
    SELECT s.snapshot_id, s.digest,
           encode(sha256(convert_to(s.content::text, 'UTF8')), 'hex') = s.digest,
           coalesce((SELECT a.action = 'compliance.snapshot' AND a.details ->> 'digest' = s.digest
                            AND a.subject_id = s.snapshot_id::text
                       FROM rollout.audit_log a WHERE a.seq = s.audit_seq), false);
END
$$;
COMMENT ON FUNCTION rollout.verify_compliance_snapshot(bigint) IS
    'does a snapshot''s content still hash to its digest, and does its audit row carry that digest? (rollout.verify_audit checks the chain itself)';

-- Privileges of the objects above.
-- snapshots are read through the report functions (they check the scope against bind_tenant)
GRANT SELECT ON rollout.compliance_setting TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout.snapshot_retention(),
    rollout.set_snapshot_retention(interval, text),
    rollout._compliance_scope(text),
    rollout._rollout_in_scope(text, text),
    rollout._compliance_content(text, timestamptz),
    rollout.snapshot_compliance(text),
    rollout.compliance_report(text, timestamptz),
    rollout.compliance_report_rows(text, timestamptz),
    rollout.verify_compliance_snapshot(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.snapshot_retention(),
    rollout.compliance_report(text, timestamptz),
    rollout.compliance_report_rows(text, timestamptz),
    rollout.verify_compliance_snapshot(bigint)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout.snapshot_compliance(text) TO rollout_operator;
GRANT EXECUTE ON FUNCTION rollout.set_snapshot_retention(interval, text) TO rollout_admin;
