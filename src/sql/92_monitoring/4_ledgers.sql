-- Monitoring ledgers and tallies: the runs of rollout.verify_audit()
-- (written by the C function itself, src/audit.c), and what
-- rollout.refresh_metrics() counts on a schedule because counting it at every
-- scrape would cost too much at 100,000 tenants: the governance roster per
-- organisation, status and action (an evaluation of every (tenant, component)
-- pair), tenants per activated version (a count of every activation) and
-- tenants by status (a scan of the tenant table).
-- The scrape reads a few hundred rows instead.  Views shaped for the
-- exporters read them, and the live rollouts' progress from counters.

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

-- The tallies of the latest refresh (older runs' rows are deleted), and the
-- runs (30 days).
CREATE SEQUENCE rollout.metrics_refresh_seq;
CREATE TABLE rollout.metrics_refresh (
    run_id      bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.metrics_refresh_seq'),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    pairs       bigint      NOT NULL,
    activations bigint      NOT NULL,
    tenants_active    bigint NOT NULL,
    tenants_suspended bigint NOT NULL,
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
CREATE TABLE rollout.activation_tally (
    run_id       bigint           NOT NULL,
    component_id text COLLATE "C" NOT NULL,
    version      text             NOT NULL,
    tenants      bigint           NOT NULL CHECK (tenants > 0),
    PRIMARY KEY (run_id, component_id, version)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.metrics_refresh', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.metrics_refresh_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.compliance_tally', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.activation_tally', '');
COMMENT ON TABLE rollout.metrics_refresh IS
    'runs of rollout.refresh_metrics(): when, how long, roster pairs and activations counted, tenants active and suspended (kept 30 days, the newest always)';
COMMENT ON SEQUENCE rollout.metrics_refresh_seq IS 'ids of rollout.metrics_refresh';
COMMENT ON TABLE rollout.compliance_tally IS
    'the roster (rollout.drift_roster) at the latest refresh, counted per organisation, status and policy action ('''': no policy)';
COMMENT ON TABLE rollout.activation_tally IS
    'tenants activated by rollouts per component and version at the latest refresh';

-- Refresh the tallies.  The roster is what a session sees, so a session
-- bound to tenants (rollout.bind_tenant) would count only its subtrees: it
-- may not refresh.
CREATE FUNCTION rollout.refresh_metrics()
RETURNS rollout.metrics_refresh
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run rollout.metrics_refresh;
BEGIN
    IF rollout._visible_tenants() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'a session bound to tenants cannot refresh the metrics',
            DETAIL = 'The metrics count every tenant; this session sees only the subtrees it is bound to.',
            HINT = 'Refresh them as a role bound to no tenant, for example from the pg_cron job of the extension''s owner.';
    END IF;
    -- one refresh at a time; readers are not blocked
    LOCK TABLE rollout.metrics_refresh IN EXCLUSIVE MODE;
    INSERT INTO rollout.metrics_refresh (started_at, finished_at, pairs, activations, tenants_active, tenants_suspended, ran_by)
    SELECT clock_timestamp(), clock_timestamp(), 0, 0, count(*) FILTER (WHERE t.status = 'active'),
           count(*) FILTER (WHERE t.status = 'suspended'), session_user
      FROM rollout.tenant t
    RETURNING * INTO run;
    INSERT INTO rollout.compliance_tally (run_id, org_id, status, action, pairs)
    SELECT run.run_id, t.path[1], d.status, coalesce(d.action, ''), count(*)
      FROM rollout.drift_roster d JOIN rollout.tenant t ON t.tenant_id = d.tenant_id
     GROUP BY t.path[1], d.status, coalesce(d.action, '');
    INSERT INTO rollout.activation_tally (run_id, component_id, version, tenants)
    SELECT run.run_id, a.component_id, a.version::text, count(*)
      FROM rollout.activation a GROUP BY a.component_id, a.version;
    UPDATE rollout.metrics_refresh r
       SET finished_at = clock_timestamp(),
           pairs = (SELECT coalesce(sum(c.pairs), 0) FROM rollout.compliance_tally c WHERE c.run_id = run.run_id),
           activations = (SELECT coalesce(sum(c.tenants), 0) FROM rollout.activation_tally c WHERE c.run_id = run.run_id)
     WHERE r.run_id = run.run_id
    RETURNING * INTO run;
    DELETE FROM rollout.compliance_tally c WHERE c.run_id <> run.run_id;
    DELETE FROM rollout.activation_tally c WHERE c.run_id <> run.run_id;
    DELETE FROM rollout.metrics_refresh r WHERE r.run_id <> run.run_id AND r.finished_at < now() - interval '30 days';
    RETURN run;
END
$$;
COMMENT ON FUNCTION rollout.refresh_metrics() IS
    'count the governance roster per organisation, status and policy action, and the activations per component and version, for the metrics a scrape reads; schedule it (it evaluates every pair); returns the run';

CREATE VIEW rollout.metrics_refresh_last AS
SELECT coalesce(extract(epoch FROM r.finished_at), 0)::double precision AS last_timestamp_seconds,
       coalesce(extract(epoch FROM r.finished_at - r.started_at), 0)::double precision AS last_duration_seconds,
       coalesce(r.tenants_active, 0) AS tenants_active, coalesce(r.tenants_suspended, 0) AS tenants_suspended
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT x.* FROM rollout.metrics_refresh x ORDER BY x.run_id DESC LIMIT 1) r ON true;
COMMENT ON VIEW rollout.metrics_refresh_last IS
    'the last rollout.refresh_metrics(): when it finished (Unix time, 0: never), how long it took, and the tenants active and suspended it counted';

-- Tenants per version: the tally of the last refresh, the 20 largest
-- versions of each component.
CREATE VIEW rollout.metrics_activations AS
SELECT x.component_id, x.version, x.tenants
  FROM (SELECT t.component_id, t.version, t.tenants,
               row_number() OVER (PARTITION BY t.component_id ORDER BY t.tenants DESC, t.version) AS rank
          FROM rollout.activation_tally t
         WHERE t.run_id = (SELECT max(r.run_id) FROM rollout.metrics_refresh r)) x
 WHERE x.rank <= 20;
COMMENT ON VIEW rollout.metrics_activations IS
    'tenants activated by rollouts per component and version at the last rollout.refresh_metrics() (the nodes activated, not the tenants that inherit), the 20 largest versions of each component';

-- Live rollouts, without counting their activations: each stage records the
-- tenants it activated (rollout_stage.activated, cumulative over re-runs);
-- those a rollback undid are in the activation history (rolled_back), so
-- the tenants activated now are the stages' counts up to the current one
-- less the undone rows of those stages.  The count of a never rolled-back
-- rollout reads no history row.
CREATE VIEW rollout.metrics_rollout_progress AS
SELECT r.rollout_id, r.component_id, r.status, s.name AS stage, r.current_stage AS stage_no,
       n.stages,
       n.activated - coalesce((SELECT count(*) FROM rollout.activation_history h
                                WHERE h.rollout_id = r.rollout_id AND h.ended_by = 'rolled_back'
                                  AND h.stage_no <= r.current_stage), 0) AS tenants_activated,
       (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) AS tenants_deferred,
       (coalesce(r.current_stage, 0) - CASE WHEN s.status IN ('passed', 'completed') THEN 0 ELSE 1 END)::double precision
           / greatest(n.stages, 1) AS progress_ratio,
       extract(epoch FROM now() - s.started_at)::double precision AS seconds_in_stage,
       coalesce(s.monitoring_extensions, 0) AS stage_monitoring_extensions
  FROM rollout.rollout r
  LEFT JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage
 CROSS JOIN LATERAL (SELECT count(*) AS stages,
                            coalesce(sum(x.activated) FILTER (WHERE x.stage_no <= r.current_stage), 0) AS activated
                       FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id) n
 WHERE r.status IN ('running', 'paused', 'failed');
COMMENT ON VIEW rollout.metrics_rollout_progress IS
    'each live rollout (running, paused, failed): stage, stages, tenants activated (from the stages'' counters less what rollbacks undid) and deferred, progress ratio (stages done / stages), seconds in the current stage, and how often monitoring of the current stage was extended for lack of metrics';

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
         ON c.status = s.status AND c.run_id = (SELECT max(r.run_id) FROM rollout.metrics_refresh r)
 GROUP BY s.status
 ORDER BY s.status;
COMMENT ON VIEW rollout.metrics_compliance_status IS
    'pairs (tenant, component) per roster status at the last rollout.refresh_metrics() (every known status, zeros included)';

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
         WHERE c.run_id = (SELECT max(r.run_id) FROM rollout.metrics_refresh r)
         GROUP BY c.org_id) x
 WHERE x.ratio IS NOT NULL
 ORDER BY x.ratio, x.org_id
 LIMIT 100;
COMMENT ON VIEW rollout.metrics_compliance IS
    'compliance ratio per organisation at the last rollout.refresh_metrics(): (compliant + exempt + eol_in_grace) / deployed pairs, as compliance_summary''s compliance_pct / 100; the 100 organisations with the lowest ratio';

CREATE VIEW rollout.metrics_compliance_totals AS
SELECT coalesce(sum(c.pairs), 0)::bigint AS pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.status NOT IN ('compliant', 'exempt', 'eol_in_grace', 'not_deployed')), 0)::bigint
           AS drift_pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.action = 'block' AND c.status <> 'not_deployed'), 0)::bigint AS enforced_pairs,
       coalesce(sum(c.pairs) FILTER (WHERE c.status = 'conflicting'), 0)::bigint AS conflict_pairs,
       coalesce((sum(c.pairs) FILTER (WHERE c.status IN ('compliant', 'exempt', 'eol_in_grace'))
                 / nullif(sum(c.pairs) FILTER (WHERE c.status <> 'not_deployed'), 0))::double precision, 1) AS ratio
  FROM rollout.compliance_tally c
 WHERE c.run_id = (SELECT max(r.run_id) FROM rollout.metrics_refresh r);
COMMENT ON VIEW rollout.metrics_compliance_totals IS
    'at the last rollout.refresh_metrics(): pairs, drifting pairs (not compliant, exempt or in grace), deployed pairs under a block policy (enforced), conflicting pairs, and the compliance ratio over all organisations (1 when nothing is deployed)';

-- Release readiness for the exporters (defined here, after the releases of
-- src/sql/90_release, which the update script creates after 3_views.sql).
CREATE VIEW rollout.metrics_release AS
SELECT (SELECT count(*) FROM rollout.release_clock c)::integer AS clock_overridden;
COMMENT ON VIEW rollout.metrics_release IS
    '1 while the superuser release clock override (rollout.set_release_clock) is set, so that release times do not come from now(); else 0';

-- Privileges of the objects above.
GRANT SELECT ON rollout.audit_verification, rollout.metrics_refresh, rollout.compliance_tally, rollout.activation_tally
    TO rollout_viewer;
REVOKE ALL ON FUNCTION rollout.refresh_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.refresh_metrics() TO rollout_operator;
GRANT SELECT ON rollout.metrics_audit_verification, rollout.metrics_refresh_last, rollout.metrics_activations,
                rollout.metrics_rollout_progress, rollout.metrics_compliance_status, rollout.metrics_compliance,
                rollout.metrics_compliance_totals, rollout.metrics_release
    TO rollout_viewer, pg_monitor;
