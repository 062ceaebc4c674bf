-- Monitoring ledgers: the runs of rollout.verify_audit() (written by the C
-- function itself, src/audit.c) and a tally of the governance roster that
-- rollout.refresh_compliance_metrics() stores, so that scraping compliance
-- costs a read of a few hundred rows instead of an evaluation of every
-- (tenant, component) pair.  Views shaped for the exporters read both.

CREATE SEQUENCE rollout.audit_verification_seq;
CREATE TABLE rollout.audit_verification (
    verification_id bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.audit_verification_seq'),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    intact          boolean     NOT NULL,
    rows_checked    bigint      NOT NULL,
    problem         text,
    head_block      bigint,
    ran_by          text        NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_verification', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_verification_seq', '');
COMMENT ON TABLE rollout.audit_verification IS
    'one row per rollout.verify_audit() call that returned (in a transaction that could write): when, intact or the first problem, rows checked, against which recorded head; kept 90 days (the newest always)';
COMMENT ON COLUMN rollout.audit_verification.problem IS 'the first problem found, NULL when the log is intact';
COMMENT ON COLUMN rollout.audit_verification.head_block IS 'the recorded head block the chain was checked against, NULL when none was given';
COMMENT ON COLUMN rollout.audit_verification.ran_by IS 'session user that ran the verification';
COMMENT ON SEQUENCE rollout.audit_verification_seq IS 'ids of rollout.audit_verification';

-- Compliance tally: one run (the latest) of counts per organisation, roster
-- status and policy action.
CREATE SEQUENCE rollout.compliance_tally_run_seq;
CREATE TABLE rollout.compliance_tally_run (
    run_id      bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.compliance_tally_run_seq'),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    pairs       bigint      NOT NULL,
    ran_by      text        NOT NULL
);
CREATE TABLE rollout.compliance_tally (
    run_id  bigint           NOT NULL,
    org_id  text COLLATE "C" NOT NULL,
    status  text             NOT NULL,
    action  text             NOT NULL,
    pairs   bigint           NOT NULL CHECK (pairs > 0),
    PRIMARY KEY (run_id, org_id, status, action)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_tally_run', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_tally_run_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_tally', '');
COMMENT ON TABLE rollout.compliance_tally_run IS
    'runs of rollout.refresh_compliance_metrics(): when, how long, pairs counted (kept 30 days, the newest always)';
COMMENT ON SEQUENCE rollout.compliance_tally_run_seq IS 'ids of rollout.compliance_tally_run';
COMMENT ON TABLE rollout.compliance_tally IS
    'the roster (rollout.drift_roster) of the latest refresh, counted per organisation, status and policy action ('''': no policy)';

-- Refresh the tally from the roster.  The roster is what a session sees, so
-- a session bound to tenants (rollout.bind_tenant) would count only its
-- subtrees: it may not refresh.
CREATE FUNCTION rollout.refresh_compliance_metrics()
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    rid bigint;
    n bigint;
BEGIN
    IF rollout._visible_tenants() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'a session bound to tenants cannot refresh the compliance metrics',
            DETAIL = 'The metrics count every tenant; this session sees only the subtrees it is bound to.',
            HINT = 'Refresh them as a role bound to no tenant, for example from the pg_cron job of the extension''s owner.';
    END IF;
    -- one refresh at a time; readers are not blocked
    LOCK TABLE rollout.compliance_tally_run IN EXCLUSIVE MODE;
    INSERT INTO rollout.compliance_tally_run (started_at, finished_at, pairs, ran_by)
    VALUES (started, started, 0, session_user) RETURNING run_id INTO rid;
    INSERT INTO rollout.compliance_tally (run_id, org_id, status, action, pairs)
    SELECT rid, t.path[1], d.status, coalesce(d.action, ''), count(*)
      FROM rollout.drift_roster d JOIN rollout.tenant t ON t.tenant_id = d.tenant_id
     GROUP BY t.path[1], d.status, coalesce(d.action, '');
    SELECT coalesce(sum(c.pairs), 0) INTO n FROM rollout.compliance_tally c WHERE c.run_id = rid;
    UPDATE rollout.compliance_tally_run r SET finished_at = clock_timestamp(), pairs = n WHERE r.run_id = rid;
    DELETE FROM rollout.compliance_tally c WHERE c.run_id <> rid;
    DELETE FROM rollout.compliance_tally_run r WHERE r.run_id <> rid AND r.finished_at < now() - interval '30 days';
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.refresh_compliance_metrics() IS
    'count the governance roster per organisation, status and policy action into rollout.compliance_tally for the compliance metrics; schedule it (it evaluates every pair); returns the pairs counted';

CREATE VIEW rollout.metrics_audit_verification AS
SELECT coalesce(extract(epoch FROM v.finished_at), 0)::double precision AS last_timestamp_seconds,
       CASE WHEN v.intact THEN 0 WHEN NOT v.intact THEN 1 ELSE 0 END AS last_failed,
       coalesce(v.rows_checked, 0) AS last_rows_checked,
       coalesce(extract(epoch FROM v.finished_at - v.started_at), 0)::double precision AS last_duration_seconds
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT a.* FROM rollout.audit_verification a ORDER BY a.verification_id DESC LIMIT 1) v ON true;
COMMENT ON VIEW rollout.metrics_audit_verification IS
    'the last rollout.verify_audit() run: when it finished (Unix time, 0: never), whether it found the log broken (1) or intact (0), rows checked and duration';

-- The statuses the roster knows, shown with zeros; a status it adds later
-- (conflicting, when conflict rules come) appears as soon as it is counted.
CREATE VIEW rollout.metrics_compliance_status AS
SELECT s.status, coalesce(sum(c.pairs), 0)::bigint AS pairs
  FROM (SELECT x.status FROM (VALUES ('compliant'), ('exempt'), ('eol_in_grace'), ('behind_baseline'), ('below_minimum'),
                                     ('above_maximum'), ('blocked'), ('past_grace'), ('conflicting'), ('not_deployed')) x(status)
        UNION
        SELECT DISTINCT t.status FROM rollout.compliance_tally t) s
  LEFT JOIN rollout.compliance_tally c
         ON c.status = s.status AND c.run_id = (SELECT max(r.run_id) FROM rollout.compliance_tally_run r)
 GROUP BY s.status
 ORDER BY s.status;
COMMENT ON VIEW rollout.metrics_compliance_status IS
    'pairs (tenant, component) per roster status at the last refresh of the compliance metrics (every known status, zeros included)';

-- Per organisation: compliance_pct of rollout.compliance_summary as a ratio
-- (compliant + exempt + eol_in_grace over the deployed pairs), the 100
-- lowest, so that the series stay few however many organisations there are.
CREATE VIEW rollout.metrics_compliance AS
SELECT x.org_id, x.pairs, x.deployed, x.ok AS compliant, x.ratio
  FROM (SELECT c.org_id, sum(c.pairs)::bigint AS pairs,
               coalesce(sum(c.pairs) FILTER (WHERE c.status <> 'not_deployed'), 0)::bigint AS deployed,
               coalesce(sum(c.pairs) FILTER (WHERE c.status IN ('compliant', 'exempt', 'eol_in_grace')), 0)::bigint AS ok,
               (coalesce(sum(c.pairs) FILTER (WHERE c.status IN ('compliant', 'exempt', 'eol_in_grace')), 0)
                / nullif(sum(c.pairs) FILTER (WHERE c.status <> 'not_deployed'), 0))::double precision AS ratio
          FROM rollout.compliance_tally c
         WHERE c.run_id = (SELECT max(r.run_id) FROM rollout.compliance_tally_run r)
         GROUP BY c.org_id) x
 WHERE x.ratio IS NOT NULL
 ORDER BY x.ratio, x.org_id
 LIMIT 100;
COMMENT ON VIEW rollout.metrics_compliance IS
    'compliance ratio per organisation at the last refresh: (compliant + exempt + eol_in_grace) / deployed pairs, as compliance_summary''s compliance_pct / 100; the 100 organisations with the lowest ratio';

CREATE VIEW rollout.metrics_compliance_totals AS
SELECT coalesce(extract(epoch FROM r.finished_at), 0)::double precision AS last_refresh_timestamp_seconds,
       coalesce(extract(epoch FROM r.finished_at - r.started_at), 0)::double precision AS refresh_duration_seconds,
       coalesce(sum(c.pairs), 0)::bigint AS pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.status NOT IN ('compliant', 'exempt', 'eol_in_grace', 'not_deployed')), 0)::bigint
           AS drift_pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.action = 'block' AND c.status <> 'not_deployed'), 0)::bigint AS enforced_pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.status = 'conflicting'), 0)::bigint AS conflict_pairs,
       coalesce((sum(c.pairs) FILTER (WHERE c.status IN ('compliant', 'exempt', 'eol_in_grace'))
                 / nullif(sum(c.pairs) FILTER (WHERE c.status <> 'not_deployed'), 0))::double precision, 1) AS ratio
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT x.* FROM rollout.compliance_tally_run x ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN rollout.compliance_tally c ON c.run_id = r.run_id
 GROUP BY r.run_id, r.started_at, r.finished_at;
COMMENT ON VIEW rollout.metrics_compliance_totals IS
    'at the last refresh of the compliance metrics (Unix time, 0: never): pairs, drifting pairs (not compliant, exempt or in grace), deployed pairs under a block policy (enforced), conflicting pairs, and the compliance ratio over all organisations (1 when nothing is deployed)';

-- Privileges of the objects above.
GRANT SELECT ON rollout.audit_verification, rollout.compliance_tally, rollout.compliance_tally_run TO rollout_viewer;
REVOKE ALL ON FUNCTION rollout.refresh_compliance_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.refresh_compliance_metrics() TO rollout_operator;
GRANT SELECT ON rollout.metrics_audit_verification, rollout.metrics_compliance_status, rollout.metrics_compliance,
                rollout.metrics_compliance_totals
    TO rollout_viewer, pg_monitor;
