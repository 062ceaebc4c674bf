-- Monitoring: rollout.health(), one row per check, for people (psql) and
-- for probes.  Cheap: no walk of the audit chain, no resolution.  SECURITY
-- DEFINER so that pg_monitor can call it: it shows counts and states, no
-- tenant's data.

CREATE FUNCTION rollout.health()
RETURNS TABLE (check_name text, status text, detail text, hint text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    installed text;
    available text;
    due bigint;
    oldest timestamptz;
    last_tick timestamptz;
    pending bigint;
    oldest_event timestamptz;
    waiting bigint;
    v_at timestamptz;
    v_intact boolean;
    v_problem text;
    v_rows bigint;
    clock_at timestamptz;
    clock_by text;
    mode text := coalesce(current_setting('pg_rollout.enforcement_mode', true), 'unknown');
    -- pg_cron lives in one database (cron.database_name): from any other,
    -- cron.schedule does not exist and the job is scheduled from there
    cron_here boolean := pg_catalog.to_regnamespace('cron') IS NOT NULL;
    cron_elsewhere text := 'from the database pg_cron lives in (cron.database_name), as a superuser: '
                           'SELECT cron.schedule_in_database(%L, %L, %L, %L, ''<a login in rollout_operator>'').';
    n_dist bigint;
    cert_cn text;
BEGIN
    check_name := 'library';
    IF rollout.preloaded() THEN
        status := 'ok'; detail := 'pg_rollout is in shared_preload_libraries'; hint := NULL;
    ELSE
        status := 'critical'; detail := 'pg_rollout is not preloaded: state changes and resolution fail';
        hint := 'Add pg_rollout to shared_preload_libraries and restart the server.';
    END IF;
    RETURN NEXT;

    check_name := 'schema version';
    SELECT e.extversion, a.default_version INTO installed, available
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_available_extensions a ON a.name = e.extname
     WHERE e.extname = 'pg_rollout';
    IF installed IS NOT DISTINCT FROM available THEN
        status := 'ok'; detail := format('schema %s, the installed library''s default', installed); hint := NULL;
    ELSE
        status := 'warning';
        detail := format('schema %s, but the installed scripts are for %s', installed, available);
        hint := 'Run ALTER EXTENSION pg_rollout UPDATE.';
    END IF;
    RETURN NEXT;

    check_name := 'tick';
    SELECT count(*), min(r.next_due_at) INTO due, oldest
      FROM rollout.rollout r WHERE r.status = 'running' AND r.next_due_at <= now();
    SELECT max(l.finished_at) INTO last_tick FROM rollout.tick_log l;
    IF due > 0 AND oldest < now() - interval '5 minutes' THEN
        status := 'critical';
        detail := format('%s rollout(s) due, the oldest for %s; last tick %s', due,
                         date_trunc('second', now() - oldest), coalesce(last_tick::text, 'never'));
        hint := 'Schedule it: ' || CASE WHEN cron_here
                    THEN 'SELECT cron.schedule(''rollout-tick'', ''* * * * *'', ''SELECT rollout.tick()'').'
                    ELSE format(cron_elsewhere, 'rollout-tick', '* * * * *', 'SELECT rollout.tick()', current_database()) END;
    ELSIF due > 0 THEN
        status := 'ok'; detail := format('%s rollout(s) due since less than 5 minutes', due); hint := NULL;
    ELSE
        status := 'ok'; detail := format('nothing due; last tick %s', coalesce(last_tick::text, 'never')); hint := NULL;
    END IF;
    RETURN NEXT;

    check_name := 'waiting for a person';
    SELECT count(*) INTO waiting FROM rollout.rollout r
     WHERE r.status IN ('paused', 'failed')
        OR (r.status = 'running' AND EXISTS (SELECT 1 FROM rollout.rollout_stage s
                                              WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage
                                                AND s.status = 'passed'));
    IF waiting > 0 THEN
        status := 'warning';
        detail := format('%s rollout(s) paused, failed or waiting for advance_rollout', waiting);
        hint := 'See SELECT * FROM rollout.rollout_status WHERE status <> ''completed''.';
    ELSE
        status := 'ok'; detail := 'no rollout waits for a person'; hint := NULL;
    END IF;
    RETURN NEXT;

    check_name := 'event outbox';
    SELECT count(*), min(e.created_at) INTO pending, oldest_event FROM rollout.event_outbox e WHERE e.acked_at IS NULL;
    IF pending > 0 AND oldest_event < now() - interval '10 minutes' THEN
        status := 'warning';
        detail := format('%s pending event(s), the oldest from %s ago', pending, date_trunc('second', now() - oldest_event));
        hint := 'Is the notifier running?  It acknowledges with rollout.ack_events().';
    ELSE
        status := 'ok'; detail := format('%s pending event(s)', pending); hint := NULL;
    END IF;
    RETURN NEXT;

    check_name := 'audit verification';
    SELECT v.finished_at, v.intact, v.problem, v.rows_checked INTO v_at, v_intact, v_problem, v_rows
      FROM rollout.audit_verification v ORDER BY v.verification_id DESC LIMIT 1;
    IF v_at IS NULL THEN
        status := 'warning'; detail := 'rollout.verify_audit() has never run here';
        hint := 'Schedule it: ' || CASE WHEN cron_here
                    THEN 'SELECT cron.schedule(''rollout-verify-audit'', ''17 3 * * *'', ''SELECT rollout.verify_audit()'').'
                    ELSE format(cron_elsewhere, 'rollout-verify-audit', '17 3 * * *', 'SELECT rollout.verify_audit()',
                                current_database()) END;
    ELSIF NOT v_intact THEN
        status := 'critical';
        detail := format('the last verification (%s) found the audit log broken: %s', date_trunc('second', v_at), v_problem);
        hint := 'Find what changed from rollout.audit_log and rollout.audit_seal near the row or block named; restore them from a backup.';
    ELSIF v_at < now() - interval '25 hours' THEN
        status := 'warning';
        detail := format('the last verification found the audit log intact, but %s ago', date_trunc('second', now() - v_at));
        hint := 'Is the daily SELECT rollout.verify_audit() job still scheduled?';
    ELSE
        status := 'ok';
        detail := format('intact at %s (%s rows checked)', date_trunc('second', v_at), v_rows);
        hint := NULL;
    END IF;
    RETURN NEXT;

    check_name := 'enforcement';
    status := CASE WHEN mode IN ('enforce', 'selective', 'log_only') THEN 'ok' ELSE 'warning' END;
    detail := format('pg_rollout.enforcement_mode = %s in this session', mode);
    hint := CASE WHEN status = 'ok' THEN NULL ELSE 'Tenant isolation is off: set pg_rollout.enforcement_mode.' END;
    RETURN NEXT;

    -- the superuser-only override of the clock release functions read
    -- (soak, approval and memo times): meant for tests and replays, never
    -- left set in production
    check_name := 'release clock';
    SELECT c.at, c.set_by INTO clock_at, clock_by FROM rollout.release_clock c;
    IF FOUND THEN
        status := 'warning';
        detail := format('the release clock is overridden: release functions read %s (set by %s), not now()',
                         rollout._release_utc(clock_at), clock_by);
        hint := 'Remove the override unless this is a test or a replay: SELECT rollout.set_release_clock(NULL) (superuser).';
    ELSE
        status := 'ok'; detail := 'release functions read now()'; hint := NULL;
    END IF;
    RETURN NEXT;

    -- Citus (docs/citus.md): a shard of a distributed protected table
    -- accepts INSERTs only from connections that present the nodes'
    -- client certificate (or from a session with a tenant context).
    -- Only where Citus is installed in this database.
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        check_name := 'citus worker writes';
        EXECUTE 'SELECT pg_catalog.count(*) FROM rollout.protected_table p'
                ' JOIN pg_catalog.pg_dist_partition d'
                '   ON d.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) p.tbl::pg_catalog.oid'
                ' WHERE d.partmethod OPERATOR(pg_catalog.=) ''h''' INTO n_dist;
        cert_cn := coalesce(current_setting('pg_rollout.citus_node_cert_cn', true), '');
        IF n_dist = 0 THEN
            status := 'ok'; detail := 'no distributed protected table'; hint := NULL;
        ELSIF cert_cn = '' THEN
            status := 'warning';
            detail := format('%s distributed protected table(s), but pg_rollout.citus_node_cert_cn is not set here: '
                             'no connection is trusted as the coordinator''s, INSERTs into shards on other nodes fail', n_dist);
            hint := 'Give the nodes a client certificate (citus.node_conninfo: sslcert, sslkey, sslrootcert), '
                    'then set pg_rollout.citus_node_cert_cn to its common name on every node (docs/citus.md).';
        ELSIF coalesce(current_setting('citus.node_conninfo', true), '') !~ 'sslcert' THEN
            status := 'warning';
            detail := format('pg_rollout.citus_node_cert_cn is %L, but citus.node_conninfo presents no client certificate: '
                             'the other nodes refuse this node''s INSERTs into their shards', cert_cn);
            hint := 'Add sslcert, sslkey and sslrootcert to citus.node_conninfo on every node (docs/citus.md).';
        ELSE
            status := 'ok';
            detail := format('shards accept INSERTs from connections with the node certificate %L (and from sessions with a tenant context)', cert_cn);
            hint := NULL;
        END IF;
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION rollout.health() IS
    'one row per check (library preloaded, schema version, tick fresh while rollouts are due, rollouts waiting for a person, event outbox drained, audit verified within 25 hours and intact, enforcement mode, release clock not overridden; where Citus is installed, whether the shards of distributed protected tables accept the coordinator''s inserts) with ok / warning / critical, a detail and a hint';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION rollout.health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.health() TO rollout_viewer, pg_monitor;
