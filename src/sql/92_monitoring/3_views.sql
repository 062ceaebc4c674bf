-- Monitoring views: shaped for Prometheus exporters (label columns, then
-- value columns; monitoring/ maps them to pg_rollout_* metric names), cheap
-- enough to scrape every 15 s: no resolution, no walk of the audit chain.
-- Readable by rollout_viewer and pg_monitor.

CREATE VIEW rollout.metrics_rollouts AS
SELECT s.status, count(r.rollout_id) AS rollouts
  FROM (VALUES ('draft'), ('approved'), ('running'), ('paused'), ('failed'), ('completed'), ('rolled_back'),
               ('cancelled')) AS s(status)
  LEFT JOIN rollout.rollout r ON r.status = s.status
 GROUP BY s.status
 ORDER BY s.status;
COMMENT ON VIEW rollout.metrics_rollouts IS 'rollouts by status (every status, zeros included): pg_rollout_rollouts{status}';

CREATE VIEW rollout.metrics_tick AS
SELECT extract(epoch FROM (SELECT max(l.started_at) FROM rollout.tick_log l))::double precision AS last_start_timestamp_seconds,
       extract(epoch FROM (SELECT max(l.finished_at) FROM rollout.tick_log l))::double precision AS last_finish_timestamp_seconds,
       (SELECT extract(epoch FROM l.finished_at - l.started_at) FROM rollout.tick_log l
         ORDER BY l.tick_id DESC LIMIT 1)::double precision AS last_duration_seconds,
       (SELECT count(*) FROM rollout.tick_log l WHERE l.started_at > now() - interval '1 hour') AS ticks_last_hour,
       (SELECT coalesce(sum(l.actions), 0) FROM rollout.tick_log l WHERE l.started_at > now() - interval '1 hour') AS actions_last_hour,
       (SELECT coalesce(sum(l.errors), 0) FROM rollout.tick_log l WHERE l.started_at > now() - interval '1 hour') AS errors_last_hour,
       (SELECT count(*) FROM rollout.rollout r WHERE r.status = 'running' AND r.next_due_at <= now()) AS rollouts_due,
       coalesce((SELECT extract(epoch FROM now() - min(r.next_due_at)) FROM rollout.rollout r
                  WHERE r.status = 'running' AND r.next_due_at <= now()), 0)::double precision AS oldest_due_seconds;
COMMENT ON VIEW rollout.metrics_tick IS
    'scheduler health from the tick ledger: last start and finish (Unix time), last duration, ticks, actions and errors in the last hour, rollouts due now and how long the oldest has waited';

CREATE VIEW rollout.metrics_events AS
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(e.created_at)), 0)::double precision AS oldest_pending_seconds
  FROM rollout.event_outbox e WHERE e.acked_at IS NULL;
COMMENT ON VIEW rollout.metrics_events IS 'events waiting in the outbox and the age of the oldest';

CREATE VIEW rollout.metrics_violations AS
SELECT v.tbl::text AS table_name, v.kind, v.command, v.severity, v.enforced,
       coalesce(current_setting('pg_rollout.enforcement_mode', true), 'unknown') AS mode, v.count
  FROM rollout.violation_counts() v;
COMMENT ON VIEW rollout.metrics_violations IS
    'tenant-isolation events since the server started, by table, kind, command, severity, whether refused, and the enforcement mode of the scraping session';

CREATE VIEW rollout.metrics_bypasses AS
SELECT b.role_name, sum(b.count)::bigint AS count FROM rollout.bypass_counts() b GROUP BY b.role_name;
COMMENT ON VIEW rollout.metrics_bypasses IS 'rollout.bypass() uses since the server started, by role';

CREATE VIEW rollout.metrics_state AS
SELECT (SELECT count(*) FROM rollout.tenant t WHERE t.status = 'active') AS tenants_active,
       (SELECT count(*) FROM rollout.tenant t WHERE t.status = 'suspended') AS tenants_suspended,
       (SELECT count(*) FROM rollout.flag f WHERE f.killed)
           + (SELECT count(*) FROM rollout.flag_setting f WHERE f.killed) AS kill_switches,
       (SELECT coalesce(max(a.seq), 0) FROM rollout.audit_log a) AS audit_rows,
       extract(epoch FROM (SELECT a.logged_at FROM rollout.audit_log a ORDER BY a.seq DESC LIMIT 1))::double precision
           AS audit_last_timestamp_seconds;
COMMENT ON VIEW rollout.metrics_state IS
    'tenants by status, kill switches flipped (global and per tenant), audit rows and the time of the last one';

-- Privileges of the objects above: rollout_viewer and pg_monitor (with the
-- counter functions the views read).
GRANT SELECT ON rollout.metrics_rollouts,
                rollout.metrics_tick, rollout.metrics_events, rollout.metrics_violations, rollout.metrics_bypasses,
                rollout.metrics_state
    TO rollout_viewer, pg_monitor;
GRANT USAGE ON SCHEMA rollout TO pg_monitor;
GRANT EXECUTE ON FUNCTION rollout.violation_counts(), rollout.bypass_counts(), rollout.preloaded() TO pg_monitor;
