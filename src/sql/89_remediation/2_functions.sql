-- Remediation functions: targets and milestones (pure rules), preferences,
-- the remediation run (tasks, notifications, forced upgrades) that tick()
-- calls, the holds that stage activation applies (tenant approval,
-- concurrency limits), and the functions people call.
--
-- Exactly once.  A notification milestone is a row of rollout.notification
-- with the unique key (tenant, component, EOL version, milestone), inserted
-- with ON CONFLICT DO NOTHING in the transaction that also writes its
-- outbox event (rollout._event).  A concurrent run waits on the key until
-- the first commits (then inserts nothing) or aborts (then inserts it
-- itself); a crash loses both the row and the event or neither.  Only the
-- rows this transaction inserted (RETURNING) get an event.
--
-- Clock.  rollout.remediate(at) evaluates the roster, milestones and
-- schedules at an explicit instant; only a superuser may pass one other
-- than now() (tests move time with it).  Real activations always use the
-- real clock: a forced rollout starts when both the given clock and now()
-- have reached its start.

-- ---------------------------------------------------------------------
-- Rules (pure)
-- ---------------------------------------------------------------------

-- The version a tenant should upgrade to: the policy's baseline or minimum
-- (the higher) when newer than its version and not blocked; down to the
-- maximum when above it; else the lowest newer published version without
-- an EOL date inside the policy's bounds.  NULL: no upgrade path.
CREATE FUNCTION rollout._remediation_target(component_id text, version rollout.semver, baseline rollout.semver,
                                            min_version rollout.semver, max_version rollout.semver,
                                            blocked rollout.semver_multirange)
RETURNS rollout.semver
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN $5 IS NOT NULL AND $2 OPERATOR(rollout.>) $5 THEN $5
        WHEN rollout.semver_larger(coalesce($3, $4), coalesce($4, $3)) OPERATOR(rollout.>) $2
             AND NOT coalesce($6 OPERATOR(pg_catalog.@>) rollout.semver_larger(coalesce($3, $4), coalesce($4, $3)), false)
            THEN rollout.semver_larger(coalesce($3, $4), coalesce($4, $3))
        ELSE (SELECT v.version FROM rollout.component_version v
               WHERE v.component_id = $1 AND v.status = 'published' AND v.eol_date IS NULL
                 AND v.version OPERATOR(rollout.>) $2
                 AND ($4 IS NULL OR v.version OPERATOR(rollout.>=) $4)
                 AND ($5 IS NULL OR v.version OPERATOR(rollout.<=) $5)
                 AND NOT coalesce($6 OPERATOR(pg_catalog.@>) v.version, false)
               ORDER BY v.version USING OPERATOR(rollout.<) LIMIT 1) END
$$;
COMMENT ON FUNCTION rollout._remediation_target(text, rollout.semver, rollout.semver, rollout.semver, rollout.semver,
                                                rollout.semver_multirange) IS
    'internal: the target version of an upgrade task (baseline or minimum, the maximum when above it, else the lowest newer published version without EOL); NULL when there is none';

CREATE FUNCTION rollout._check_milestone_days(what text, days integer[], max_days integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF days IS NULL OR array_position(days, NULL) IS NOT NULL
       OR EXISTS (SELECT 1 FROM unnest(days) d WHERE d < 1 OR d > max_days)
       OR (SELECT count(DISTINCT d) FROM unnest(days) d) <> cardinality(days) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid milestone schedule: %s %s', what, coalesce(days::text, 'NULL')),
            DETAIL = format('%s must list distinct whole numbers of days from 1 to %s (an empty list sends none).', what, max_days);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._check_milestone_days(text, integer[], integer) IS 'internal: validate the days of a milestone schedule';

-- The preference row governing each listed tenant (nearest node wins);
-- defaults for tenants under no preference.
CREATE FUNCTION rollout._preferences(tenant_ids text[])
RETURNS TABLE (tenant_id text, channel text, target text, contact text, approval text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH l AS MATERIALIZED (
            SELECT t.tenant_id, t.path FROM (SELECT DISTINCT x.id FROM unnest($1) x(id)) a
              JOIN rollout.tenant t ON t.tenant_id = a.id),
         -- the nearest node with a preference on each path (none when the table is empty)
         p AS (
            SELECT DISTINCT ON (l.tenant_id) l.tenant_id, x.channel, x.target, x.contact, x.approval
              FROM l CROSS JOIN LATERAL unnest(l.path) WITH ORDINALITY u(node, depth)
              JOIN rollout.tenant_preference x ON x.tenant_id = u.node
             WHERE EXISTS (SELECT 1 FROM rollout.tenant_preference)
             ORDER BY l.tenant_id, u.depth DESC)
    SELECT l.tenant_id, coalesce(p.channel, 'in_app'), p.target, p.contact, coalesce(p.approval, 'auto')
      FROM l LEFT JOIN p ON p.tenant_id = l.tenant_id
$$;
COMMENT ON FUNCTION rollout._preferences(text[]) IS
    'internal: the notification and update preference of each listed tenant (nearest node wins; in_app and auto by default)';

-- The first instant at or after from_at at which a rollout may activate the
-- tenant (no blackout on its path, inside its windows: activation_hold), on
-- a 15-minute grid (the tick's period for deferred tenants), within 60 days.
CREATE FUNCTION rollout._next_allowed(tenant_id text, from_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := from_at;
BEGIN
    IF rollout.activation_hold(tenant_id, t) IS NULL THEN
        RETURN t;
    END IF;
    t := date_bin(interval '15 minutes', from_at, timestamptz '2001-01-01 00:00:00+00') + interval '15 minutes';
    WHILE t <= from_at + interval '60 days' LOOP
        IF rollout.activation_hold(tenant_id, t) IS NULL THEN
            RETURN t;
        END IF;
        t := t + interval '15 minutes';
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout._next_allowed(text, timestamptz) IS
    'internal: the first instant (15-minute grid, within 60 days) when the tenant is inside its maintenance window and outside blackouts; NULL if none';

-- ---------------------------------------------------------------------
-- The remediation run
-- ---------------------------------------------------------------------

-- 1. Tasks from the roster: open what needs action, update what changed,
--    close what no longer does (done, exempted, cancelled).
-- Only components that can need a task are evaluated: those with a policy
-- in force, with a version that has an EOL date, or with an open task (to
-- close it).  Any other (tenant, component) is compliant or not deployed
-- (rollout._version_status with no policy and no EOL), so needs nothing.
-- Of their rows only those that need a task or belong to an open task are
-- kept: the run costs what can need a task, not tenants x components.
-- budget (tick's runs): at most that many tasks opened or updated and that
-- many closed; complete is false when a limit was reached (the next tick
-- runs again and carries on: every run derives what is left from the
-- tables).  NULL: no limit.
CREATE FUNCTION rollout._sync_tasks(at timestamptz, budget integer DEFAULT NULL, OUT opened integer, OUT closed integer,
                                    OUT complete boolean)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    pols rollout.version_policy[] := rollout._policies_as_of(at);
    comps text[];
    written integer;
BEGIN
    complete := true;
    comps := ARRAY(SELECT v.component_id FROM rollout.component_version v WHERE v.eol_date IS NOT NULL
                   UNION SELECT p.component_id FROM unnest(pols) p
                   UNION SELECT k.component_id FROM rollout.upgrade_task k WHERE k.closed_at IS NULL);
    IF cardinality(comps) = 0 THEN
        opened := 0;
        closed := 0;
        RETURN;
    END IF;
    WITH open_pairs AS MATERIALIZED (
            SELECT DISTINCT k.tenant_id, k.component_id FROM rollout.upgrade_task k WHERE k.closed_at IS NULL),
         ev AS MATERIALIZED (
            SELECT e.tenant_id, e.component_id, e.version, e.status, e.violation, e.policy_id, e.action, e.eol_date,
                   e.forced_upgrade_on, e.exemption_id
              FROM rollout._evaluate(at, pols, comps, NULL, NULL) e
             WHERE (e.version IS NOT NULL
                    AND (e.violation IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum', 'eol_in_grace')
                         OR (e.violation = 'behind_baseline' AND e.action IN ('remind', 'schedule', 'block'))
                         OR (e.violation IN ('compliant', 'behind_baseline') AND e.eol_date IS NOT NULL)))
                OR (e.tenant_id, e.component_id) IN (SELECT o.tenant_id, o.component_id FROM open_pairs o)),
         need0 AS MATERIALIZED (
            SELECT ev.tenant_id, ev.component_id, ev.version, ev.policy_id, ev.action, ev.eol_date, ev.forced_upgrade_on,
                   CASE WHEN ev.violation = 'compliant' THEN 'eol_announced' ELSE ev.violation END AS reason
              FROM ev
             WHERE ev.version IS NOT NULL AND ev.status <> 'exempt'
               AND (ev.violation IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum', 'eol_in_grace')
                    OR (ev.violation = 'behind_baseline' AND ev.action IN ('remind', 'schedule', 'block'))
                    OR (ev.violation IN ('compliant', 'behind_baseline') AND ev.eol_date IS NOT NULL))),
         -- the target of each (component, version, policy): a few rows, not one per tenant
         targets AS MATERIALIZED (
            SELECT d.component_id, d.version, d.policy_id,
                   rollout._remediation_target(d.component_id, d.version, p.baseline, p.min_version, p.max_version,
                                               p.blocked) AS target
              FROM (SELECT DISTINCT n.component_id, n.version, n.policy_id FROM need0 n) d
              LEFT JOIN rollout.version_policy p ON p.policy_id = d.policy_id),
         need AS MATERIALIZED (
            SELECT n.*, x.target
              FROM need0 n JOIN targets x ON x.component_id = n.component_id
                                         AND x.version OPERATOR(rollout.=) n.version
                                         AND x.policy_id IS NOT DISTINCT FROM n.policy_id),
         pref AS MATERIALIZED (
            SELECT * FROM rollout._preferences(ARRAY(SELECT DISTINCT n.tenant_id FROM need n))),
         -- what to write, found with every row in view; only then the budget
         -- (a LIMIT in the statement that finds them makes the planner
         -- choose plans for the first rows: 17 times slower for all of them)
         todo AS MATERIALIZED (
            SELECT n.* FROM need n
             -- what an open task already says exactly is left alone (the
             -- usual case, and much cheaper than a conflict per row)
             WHERE NOT EXISTS (SELECT 1 FROM rollout.upgrade_task k
                                WHERE k.closed_at IS NULL AND k.tenant_id = n.tenant_id
                                  AND k.component_id = n.component_id
                                  AND (k.target_version OPERATOR(rollout.=) n.target
                                       OR (k.target_version IS NULL AND n.target IS NULL))
                                  AND k.version OPERATOR(rollout.=) n.version AND k.reason = n.reason
                                  AND k.policy_id IS NOT DISTINCT FROM n.policy_id
                                  AND k.action IS NOT DISTINCT FROM n.action
                                  AND k.eol_date IS NOT DISTINCT FROM n.eol_date
                                  AND k.forced_upgrade_on IS NOT DISTINCT FROM n.forced_upgrade_on)),
         ins AS (
            INSERT INTO rollout.upgrade_task AS t (tenant_id, component_id, version, target_version, reason, owner,
                                                   policy_id, action, eol_date, forced_upgrade_on, created_at, updated_at)
            SELECT n.tenant_id, n.component_id, n.version, n.target, n.reason, pf.contact, n.policy_id, n.action,
                   n.eol_date, n.forced_upgrade_on, at, at
              FROM (SELECT * FROM todo LIMIT budget) n
              LEFT JOIN pref pf ON pf.tenant_id = n.tenant_id
            ON CONFLICT (tenant_id, component_id, target_version) WHERE closed_at IS NULL
            DO UPDATE SET version = excluded.version, reason = excluded.reason, policy_id = excluded.policy_id,
                          action = excluded.action, eol_date = excluded.eol_date,
                          forced_upgrade_on = excluded.forced_upgrade_on, updated_at = excluded.updated_at,
                          notify_from = NULL   -- its milestones move with its version and dates
               WHERE t.version OPERATOR(rollout.<>) excluded.version OR t.reason <> excluded.reason
                  OR t.policy_id IS DISTINCT FROM excluded.policy_id OR t.action IS DISTINCT FROM excluded.action
                  OR t.eol_date IS DISTINCT FROM excluded.eol_date
                  OR t.forced_upgrade_on IS DISTINCT FROM excluded.forced_upgrade_on
            RETURNING t.xmax = 0 AS inserted),
         to_close AS MATERIALIZED (
            SELECT k.task_id, ev.version AS now_version, ev.exemption_id,
                   CASE WHEN ev.status = 'exempt' THEN 'exempted'
                        WHEN ev.version IS NULL THEN 'cancelled'
                        WHEN k.target_version IS NOT NULL
                             AND ev.version OPERATOR(rollout.>=) k.target_version THEN 'done'
                        WHEN np.tenant_id IS NULL THEN 'done'
                        ELSE 'cancelled' END AS new_status
              FROM rollout.upgrade_task k
              LEFT JOIN ev ON ev.tenant_id = k.tenant_id AND ev.component_id = k.component_id
              -- a join, not a subquery per task (a new target for every tenant closes them all)
              LEFT JOIN (SELECT DISTINCT n.tenant_id, n.component_id FROM need n) np
                     ON np.tenant_id = k.tenant_id AND np.component_id = k.component_id
             WHERE k.closed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM need n
                                WHERE n.tenant_id = k.tenant_id AND n.component_id = k.component_id
                                  AND (n.target OPERATOR(rollout.=) k.target_version
                                       OR (n.target IS NULL AND k.target_version IS NULL)))),
         cls AS (
            UPDATE rollout.upgrade_task t
               SET status = x.new_status, closed_at = at, updated_at = at,
                   close_reason = CASE x.new_status
                       WHEN 'exempted' THEN format('exemption %s', x.exemption_id)
                       WHEN 'done' THEN format('runs %s', x.now_version)
                       WHEN 'cancelled' THEN CASE WHEN x.now_version IS NULL THEN 'tenant gone or nothing deployed'
                                                  ELSE 'target changed' END END
              FROM (SELECT * FROM to_close LIMIT budget) x
             WHERE t.task_id = x.task_id
            RETURNING 1)
    SELECT (SELECT count(*) FILTER (WHERE i.inserted) FROM ins i), (SELECT count(*) FROM ins), (SELECT count(*) FROM cls)
      INTO opened, written, closed;
    complete := budget IS NULL OR (written < budget AND closed < budget);
END
$$;
COMMENT ON FUNCTION rollout._sync_tasks(timestamptz, integer) IS
    'internal: open, update and close upgrade tasks from the roster evaluated at an instant (at most budget of each, then complete is false); idempotent';

-- 2. Notifications: every milestone due by the clock's day and not yet
--    recorded, once; when several are due for one task at once, the latest
--    day's are sent (late if their day has passed), the earlier ones are
--    recorded as superseded.  Then one event per notification, or one
--    digest per organisation and recipient (channel, target) when the
--    channel is email_digest or more than digest_threshold are due at once.
CREATE FUNCTION rollout._notify(at timestamptz, digest_threshold integer, OUT notifications integer, OUT events integer)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- The tasks may have been opened in this very transaction (the first run
-- after an EOL date is set): the planner then believes the task table is
-- nearly empty.  Hash joins whatever it believes, and no JIT.
SET enable_nestloop = off
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    day date := pg_catalog.timezone('UTC', at)::date;   -- a UTC day, as governance counts them
    ids bigint[];
    g record;
    n record;
    ev bigint;
BEGIN
    events := 0;
    WITH t AS MATERIALIZED (
            SELECT k.task_id, k.tenant_id, k.component_id, k.version, k.eol_date, k.forced_upgrade_on, tt.path
              FROM rollout.upgrade_task k JOIN rollout.tenant tt ON tt.tenant_id = k.tenant_id
             WHERE k.closed_at IS NULL AND k.eol_date IS NOT NULL AND k.eol_date - 3650 <= day
               -- a task whose next milestone is later than today has nothing due
               AND (k.notify_from IS NULL OR k.notify_from <= day)),
         -- the schedule of each task: the nearest node's on its path (a
         -- component's own before the all-components one), else the global
         -- one, else the default {90,30} / {7} / 7
         node_sch AS MATERIALIZED (
            SELECT DISTINCT ON (t.task_id) t.task_id, s.eol_days, s.forced_days, s.final_days
              FROM t CROSS JOIN LATERAL unnest(t.path) WITH ORDINALITY u(node, depth)
              JOIN rollout.milestone_schedule s ON s.tenant_id = u.node
                                               AND (s.component_id IS NULL OR s.component_id = t.component_id)
             WHERE EXISTS (SELECT 1 FROM rollout.milestone_schedule x WHERE x.tenant_id IS NOT NULL)
             ORDER BY t.task_id, u.depth DESC, s.component_id NULLS LAST),
         sch AS MATERIALIZED (
            SELECT t.task_id, t.tenant_id, t.component_id, t.version, t.eol_date, t.forced_upgrade_on, t.path,
                   coalesce(ns.eol_days, gs.eol_days, '{90,30}') AS eol_days,
                   coalesce(ns.forced_days, gs.forced_days, '{7}') AS forced_days,
                   coalesce(ns.final_days, gs.final_days, 7) AS final_days
              FROM t LEFT JOIN node_sch ns ON ns.task_id = t.task_id
              LEFT JOIN LATERAL (SELECT x.eol_days, x.forced_days, x.final_days FROM rollout.milestone_schedule x
                                  WHERE x.tenant_id IS NULL AND (x.component_id IS NULL OR x.component_id = t.component_id)
                                  ORDER BY x.component_id NULLS LAST LIMIT 1) gs ON ns.task_id IS NULL),
         -- the milestones of each distinct schedule, once: eol-N on the EOL
         -- date - N, forced-N on the forced date - N (N in forced_days and
         -- 1 .. final_days - 1), forced on the forced date
         offs AS MATERIALIZED (
            SELECT d.eol_days, d.forced_days, d.final_days, m.milestone, m.base, m.days
              FROM (SELECT DISTINCT s.eol_days, s.forced_days, s.final_days FROM sch s) d
              CROSS JOIN LATERAL (
                    SELECT 'eol-' || x AS milestone, 'eol' AS base, x AS days FROM unnest(d.eol_days) x
                    UNION
                    SELECT CASE WHEN x = 0 THEN 'forced' ELSE 'forced-' || x END, 'forced', x
                      FROM (SELECT unnest(d.forced_days) UNION SELECT generate_series(0, greatest(d.final_days - 1, 0))) y(x)) m),
         due AS MATERIALIZED (
            SELECT s.task_id, s.tenant_id, s.component_id, s.version, s.path, o.milestone,
                   CASE o.base WHEN 'eol' THEN s.eol_date - o.days ELSE s.forced_upgrade_on - o.days END AS due_on
              FROM sch s
              JOIN offs o ON o.eol_days = s.eol_days AND o.forced_days = s.forced_days AND o.final_days = s.final_days
             WHERE CASE o.base WHEN 'eol' THEN s.eol_date - o.days ELSE s.forced_upgrade_on - o.days END <= day
               AND NOT EXISTS (SELECT 1 FROM rollout.notification x
                                WHERE x.tenant_id = s.tenant_id AND x.component_id = s.component_id
                                  AND x.version OPERATOR(rollout.=) s.version AND x.milestone = o.milestone)),
         latest AS (
            SELECT d.*, max(d.due_on) OVER (PARTITION BY d.task_id) AS last_due FROM due d),
         pref AS MATERIALIZED (
            SELECT * FROM rollout._preferences(ARRAY(SELECT DISTINCT d.tenant_id FROM due d))),
         -- the day of each task's next milestone after today, so that later
         -- runs look at the task again only then; not for a task with a due
         -- milestone left unrecorded (its tenant has no preference row: gone)
         nxt AS (
            SELECT s.task_id,
                   coalesce((SELECT min(CASE o.base WHEN 'eol' THEN s.eol_date - o.days
                                                    ELSE s.forced_upgrade_on - o.days END)
                               FROM offs o
                              WHERE o.eol_days = s.eol_days AND o.forced_days = s.forced_days
                                AND o.final_days = s.final_days
                                AND CASE o.base WHEN 'eol' THEN s.eol_date - o.days
                                                ELSE s.forced_upgrade_on - o.days END > day),
                            'infinity'::date) AS next_on
              FROM sch s
             WHERE NOT EXISTS (SELECT 1 FROM due d WHERE d.task_id = s.task_id
                                 AND NOT EXISTS (SELECT 1 FROM pref p WHERE p.tenant_id = d.tenant_id))),
         upd AS (
            UPDATE rollout.upgrade_task k SET notify_from = nx.next_on
              FROM nxt nx
             WHERE k.task_id = nx.task_id AND k.notify_from IS DISTINCT FROM nx.next_on),
         ins AS (
            INSERT INTO rollout.notification (tenant_id, component_id, version, milestone, due_on, state, task_id,
                                              org_id, channel, target, clock)
            SELECT l.tenant_id, l.component_id, l.version, l.milestone, l.due_on,
                   CASE WHEN l.due_on < l.last_due THEN 'superseded' WHEN l.due_on < day THEN 'late' ELSE 'sent' END,
                   l.task_id, l.path[1], p.channel, p.target, at
              FROM latest l JOIN pref p ON p.tenant_id = l.tenant_id
             ORDER BY l.tenant_id, l.component_id, l.due_on
            ON CONFLICT ON CONSTRAINT notification_once DO NOTHING
            RETURNING notification_id)
    SELECT array_agg(i.notification_id) INTO ids FROM ins i;
    notifications := coalesce(cardinality(ids), 0);
    IF notifications = 0 THEN
        RETURN;
    END IF;

    FOR g IN
        SELECT x.org_id, x.channel, x.target, count(*) AS n, array_agg(x.notification_id ORDER BY x.notification_id) AS ids
          FROM rollout.notification x
         WHERE x.notification_id = ANY (ids) AND x.state <> 'superseded'
         GROUP BY x.org_id, x.channel, x.target
         ORDER BY x.org_id, x.channel, x.target
    LOOP
        IF g.channel = 'email_digest' OR g.n > digest_threshold THEN
            ev := rollout._event('remediation.digest', NULL,
                                 format('%s upgrade notifications for organisation "%s" (%s%s)', g.n, g.org_id, g.channel,
                                        coalesce(' ' || g.target, '')),
                                 jsonb_build_object('org_id', g.org_id, 'channel', g.channel, 'target', g.target,
                                                    'day', day, 'count', g.n,
                                                    'items', (SELECT jsonb_agg(rollout._notification_item(x, k)
                                                                               ORDER BY x.tenant_id, x.component_id, x.milestone)
                                                                FROM rollout.notification x
                                                                JOIN rollout.upgrade_task k ON k.task_id = x.task_id
                                                               WHERE x.notification_id = ANY (g.ids))),
                                 g.org_id, 'organisation', g.org_id);
            UPDATE rollout.notification x SET event_id = ev, digest = true WHERE x.notification_id = ANY (g.ids);
            events := events + 1;
        ELSE
            FOR n IN
                SELECT x AS x, k AS k FROM rollout.notification x JOIN rollout.upgrade_task k ON k.task_id = x.task_id
                 WHERE x.notification_id = ANY (g.ids) ORDER BY x.notification_id
            LOOP
                ev := rollout._event('remediation.milestone', NULL,
                                     format('%s %s on tenant "%s": %s%s', (n.x).component_id, (n.x).version,
                                            (n.x).tenant_id, (n.x).milestone,
                                            CASE WHEN (n.x).state = 'late'
                                                 THEN format(' (late: due %s)', (n.x).due_on) ELSE '' END),
                                     rollout._notification_item(n.x, n.k),
                                     (n.x).tenant_id, 'upgrade_task', (n.k).task_id::text);
                UPDATE rollout.notification x SET event_id = ev WHERE x.notification_id = (n.x).notification_id;
                events := events + 1;
            END LOOP;
        END IF;
    END LOOP;
    UPDATE rollout.upgrade_task k SET status = 'notified', updated_at = at
     WHERE k.status = 'open'
       AND k.task_id IN (SELECT x.task_id FROM rollout.notification x
                          WHERE x.notification_id = ANY (ids) AND x.state <> 'superseded');
END
$$;
COMMENT ON FUNCTION rollout._notify(timestamptz, integer) IS
    'internal: record every due notification milestone exactly once and write its outbox event (single, or a digest per organisation and recipient)';

CREATE FUNCTION rollout._notification_item(x rollout.notification, k rollout.upgrade_task)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('notification_id', x.notification_id, 'task_id', k.task_id, 'tenant_id', x.tenant_id,
                              'component_id', x.component_id, 'version', x.version::text, 'milestone', x.milestone,
                              'kind', CASE WHEN x.milestone LIKE 'eol-%' THEN 'eol_notice'
                                           WHEN x.milestone = 'forced' THEN 'forced_upgrade_due'
                                           ELSE 'forced_upgrade_reminder' END,
                              'due_on', x.due_on, 'late', x.state = 'late', 'eol_date', k.eol_date,
                              'forced_upgrade_on', k.forced_upgrade_on, 'target_version', k.target_version::text,
                              'channel', x.channel, 'target', x.target, 'contact', k.owner)
$$;
COMMENT ON FUNCTION rollout._notification_item(rollout.notification, rollout.upgrade_task) IS
    'internal: one notification as the JSON an event or digest carries';

-- A forced upgrade that cannot be scheduled or started is reported once,
-- not at every run: the failure is known when the latest audit row of its
-- subject (the component, or the forced rollout) is a forced_failed with the
-- same details (tasks, versions, error).  Anything audited on the subject in
-- between (a new version, an EOL date, a policy, a change of the rollout),
-- another set of tasks or another error reports it again.  Failures of the
-- component's other targets do not count as a change.
CREATE FUNCTION rollout._forced_failure_known(subject_kind text, subject_id text, details jsonb)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT a.action OPERATOR(pg_catalog.=) 'remediation.forced_failed'
                            AND a.details OPERATOR(pg_catalog.=) $3
                       FROM rollout.audit_log a
                      WHERE a.subject_kind OPERATOR(pg_catalog.=) $1 AND a.subject_id OPERATOR(pg_catalog.=) $2
                        AND NOT (a.action OPERATOR(pg_catalog.=) 'remediation.forced_failed'
                                 AND (a.details OPERATOR(pg_catalog.->>) 'target_version')
                                     IS DISTINCT FROM ($3 OPERATOR(pg_catalog.->>) 'target_version'))
                      ORDER BY a.seq DESC LIMIT 1), false)
$$;
COMMENT ON FUNCTION rollout._forced_failure_known(text, text, jsonb) IS
    'internal: was this forced-upgrade failure already reported, with nothing audited on its subject since (remediation reports each failure once)?';

-- 3. Forced upgrades (runs are serialized by _remediate): unschedule tenants whose forced date moved later
--    (an approved delay) while their rollout has not started; schedule the
--    tasks past grace under a policy with action schedule into a forced
--    rollout per (component, target) (created, or extended while not
--    started), approved by policy; start due forced rollouts.
CREATE FUNCTION rollout._force(at timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    day date := pg_catalog.timezone('UTC', at)::date;   -- a UTC day, as governance counts them
    k record;
    g record;
    fr record;
    rid text;
    left_tenants text[];
    old_actor text := current_setting('pg_rollout.actor', true);
    n integer := 0;
    err text;
BEGIN
    PERFORM set_config('pg_rollout.actor', 'pg_rollout:remediation', true);

    -- a delay was approved: the tenant leaves the forced rollout that has not started
    -- (and so do its ancestors in that rollout: their activation would reach it)
    FOR k IN
        WITH moved AS (
            SELECT t.task_id, t.tenant_id, t.rollout_id, t.forced_upgrade_on, tt.path
              FROM rollout.upgrade_task t JOIN rollout.rollout r ON r.rollout_id = t.rollout_id
              JOIN rollout.tenant tt ON tt.tenant_id = t.tenant_id
             WHERE t.closed_at IS NULL AND t.status = 'scheduled' AND t.forced_upgrade_on > day
               AND r.status IN ('draft', 'approved'))
        SELECT m.task_id, m.tenant_id, m.rollout_id, m.forced_upgrade_on FROM moved m
        UNION
        SELECT a.task_id, a.tenant_id, a.rollout_id, a.forced_upgrade_on
          FROM moved m JOIN rollout.upgrade_task a ON a.rollout_id = m.rollout_id AND a.closed_at IS NULL
         WHERE a.status = 'scheduled' AND a.tenant_id = ANY (m.path)
         ORDER BY 1
    LOOP
        UPDATE rollout.rollout_stage s SET tenants = array_remove(s.tenants, k.tenant_id)
         WHERE s.rollout_id = k.rollout_id AND s.stage_no = 1
        RETURNING s.tenants INTO left_tenants;
        UPDATE rollout.upgrade_task t SET status = 'notified', rollout_id = NULL, scheduled_for = NULL, updated_at = at
         WHERE t.task_id = k.task_id;
        PERFORM rollout._event('remediation.forced_unscheduled', k.rollout_id,
                               format('tenant "%s" delayed to %s', k.tenant_id, k.forced_upgrade_on),
                               jsonb_build_object('task_id', k.task_id, 'forced_upgrade_on', k.forced_upgrade_on),
                               k.tenant_id, 'upgrade_task', k.task_id::text);
        IF cardinality(left_tenants) = 0 THEN
            PERFORM rollout.cancel_rollout(k.rollout_id, 'forced upgrade: every tenant was delayed');
        ELSE
            UPDATE rollout.forced_upgrade x
               SET starts_at = (SELECT min(t.scheduled_for) FROM rollout.upgrade_task t
                                 WHERE t.rollout_id = k.rollout_id AND t.closed_at IS NULL)
             WHERE x.rollout_id = k.rollout_id;
        END IF;
    END LOOP;

    -- schedule: per (component, target), the tenants below the target.  An
    -- inner node is scheduled only after its subtree: its activation would
    -- reach every descendant (whatever their windows, delays or
    -- exemptions), so none may have an open task for the component or be
    -- exempt.
    FOR g IN
        WITH due AS MATERIALIZED (
            SELECT t.* FROM rollout.upgrade_task t
             WHERE t.closed_at IS NULL AND t.status IN ('open', 'notified', 'overdue') AND t.rollout_id IS NULL
               AND t.action = 'schedule' AND t.target_version IS NOT NULL AND t.forced_upgrade_on <= day
               AND t.version OPERATOR(rollout.<) t.target_version)
        SELECT t.component_id, t.target_version,
               array_agg(t.task_id ORDER BY t.tenant_id) AS task_ids,
               array_agg(t.tenant_id ORDER BY t.tenant_id) AS tenant_ids,
               array_agg(DISTINCT t.policy_id ORDER BY t.policy_id) AS policy_ids,
               rollout.min(t.version) AS from_version
          FROM due t JOIN rollout.tenant tt ON tt.tenant_id = t.tenant_id
         WHERE NOT EXISTS (
                SELECT 1 FROM rollout.tenant d
                  JOIN rollout.upgrade_task o ON o.tenant_id = d.tenant_id AND o.component_id = t.component_id
                 WHERE d.path > tt.path AND d.path < rollout._path_upper(tt.path)
                   AND (o.closed_at IS NULL
                        OR (o.status = 'exempted'
                            AND NOT EXISTS (SELECT 1 FROM rollout.upgrade_task y
                                             WHERE y.tenant_id = o.tenant_id AND y.component_id = o.component_id
                                               AND y.task_id > o.task_id))))
         GROUP BY t.component_id, t.target_version
         ORDER BY t.component_id, t.target_version USING OPERATOR(rollout.<)
    LOOP
        BEGIN
            -- each tenant's first allowed instant; a tenant without one in 60 days stays for a person
            UPDATE rollout.upgrade_task t SET scheduled_for = rollout._next_allowed(t.tenant_id, at)
             WHERE t.task_id = ANY (g.task_ids);
            SELECT f.rollout_id INTO rid
              FROM rollout.forced_upgrade f JOIN rollout.rollout r ON r.rollout_id = f.rollout_id
             WHERE f.component_id = g.component_id AND f.target_version OPERATOR(rollout.=) g.target_version
               AND r.status = 'approved'
             ORDER BY f.created_at DESC LIMIT 1;
            IF rid IS NULL THEN
                rid := 'forced-' || left(trim(BOTH '-' FROM regexp_replace(lower(g.component_id), '[^a-z0-9]+', '-', 'g')), 30);
                rid := rid || '-' || ((SELECT count(*) FROM rollout.forced_upgrade) + 1);
                WHILE EXISTS (SELECT 1 FROM rollout.rollout r WHERE r.rollout_id = rid) LOOP
                    rid := rid || 'x';
                END LOOP;
                PERFORM rollout.create_rollout(rid, g.component_id, g.from_version, g.target_version,
                                               description => format('forced upgrade to %s: grace ended (policy %s)',
                                                                     g.target_version, array_to_string(g.policy_ids, ', ')));
                PERFORM rollout.add_stage(rid, 'forced', 'tenants',
                                          tenants => ARRAY(SELECT t.tenant_id FROM rollout.upgrade_task t
                                                            WHERE t.task_id = ANY (g.task_ids) AND t.scheduled_for IS NOT NULL
                                                            ORDER BY t.tenant_id),
                                          auto_proceed => true, pass_without_metrics => true);
                UPDATE rollout.rollout r
                   SET status = 'approved', approved_by = 'policy ' || array_to_string(g.policy_ids, ','),
                       approved_at = now(), approval_note = 'approved by version policy (action schedule)', updated_at = now()
                 WHERE r.rollout_id = rid;
                PERFORM rollout._event('rollout.approved', rid, 'approved by version policy (action schedule)',
                                       jsonb_build_object('approved_by_policy', to_jsonb(g.policy_ids), 'revision', 1));
                INSERT INTO rollout.forced_upgrade (rollout_id, component_id, target_version, policy_ids, starts_at)
                VALUES (rid, g.component_id, g.target_version, g.policy_ids, 'infinity');
            ELSE
                UPDATE rollout.rollout_stage s
                   SET tenants = ARRAY(SELECT DISTINCT u FROM unnest(s.tenants || ARRAY(
                                          SELECT t.tenant_id FROM rollout.upgrade_task t
                                           WHERE t.task_id = ANY (g.task_ids) AND t.scheduled_for IS NOT NULL)) u ORDER BY u)
                 WHERE s.rollout_id = rid AND s.stage_no = 1;
                UPDATE rollout.forced_upgrade f
                   SET policy_ids = ARRAY(SELECT DISTINCT p FROM unnest(f.policy_ids || g.policy_ids) p ORDER BY p)
                 WHERE f.rollout_id = rid;
            END IF;
            UPDATE rollout.upgrade_task t SET status = 'scheduled', rollout_id = rid, updated_at = at
             WHERE t.task_id = ANY (g.task_ids) AND t.scheduled_for IS NOT NULL;
            UPDATE rollout.forced_upgrade f
               SET starts_at = coalesce((SELECT min(t.scheduled_for) FROM rollout.upgrade_task t
                                          WHERE t.rollout_id = rid AND t.closed_at IS NULL), 'infinity')
             WHERE f.rollout_id = rid;
            PERFORM rollout._event('remediation.forced_scheduled', rid,
                                   format('forced upgrade of %s tenants to %s@%s', cardinality(g.task_ids),
                                          g.component_id, g.target_version),
                                   jsonb_build_object('component_id', g.component_id,
                                                      'target_version', g.target_version::text,
                                                      'policy_ids', to_jsonb(g.policy_ids),
                                                      'tenants', (SELECT jsonb_agg(jsonb_build_object(
                                                                      'tenant_id', t.tenant_id, 'task_id', t.task_id,
                                                                      'scheduled_for', t.scheduled_for) ORDER BY t.tenant_id)
                                                                    FROM rollout.upgrade_task t
                                                                   WHERE t.task_id = ANY (g.task_ids))),
                                   NULL, 'rollout', rid);
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN
            -- nothing of this group is kept; the tasks stay for a person (overdue)
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            -- once until something changes (the tasks, their versions, the error, or the component)
            IF NOT rollout._forced_failure_known('component', g.component_id,
                                                 jsonb_build_object('task_ids', to_jsonb(g.task_ids),
                                                                    'target_version', g.target_version::text,
                                                                    'from_version', g.from_version::text, 'error', err)) THEN
                PERFORM rollout._event('remediation.forced_failed', NULL,
                                       format('forced upgrade to %s@%s not scheduled: %s', g.component_id, g.target_version, err),
                                       jsonb_build_object('task_ids', to_jsonb(g.task_ids),
                                                          'target_version', g.target_version::text,
                                                          'from_version', g.from_version::text, 'error', err),
                                       NULL, 'component', g.component_id);
            END IF;
        END;
        rid := NULL;
    END LOOP;

    -- start forced rollouts whose first window has come (on both clocks)
    FOR fr IN
        SELECT x.rollout_id, x.component_id
          FROM rollout.forced_upgrade x JOIN rollout.rollout r ON r.rollout_id = x.rollout_id
         WHERE r.status = 'approved' AND x.starts_at <= least(at, now())
         ORDER BY x.starts_at
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM rollout.rollout r
                               WHERE r.component_id = fr.component_id AND r.status IN ('running', 'paused', 'failed'));
        BEGIN
            PERFORM rollout.start_rollout(fr.rollout_id, 'forced upgrade: grace ended');
            UPDATE rollout.upgrade_task t SET status = 'in_progress', updated_at = at
             WHERE t.rollout_id = fr.rollout_id AND t.status = 'scheduled';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            IF NOT rollout._forced_failure_known('rollout', fr.rollout_id, jsonb_build_object('error', err)) THEN
                PERFORM rollout._event('remediation.forced_failed', fr.rollout_id,
                                       format('forced rollout "%s" not started: %s', fr.rollout_id, err),
                                       jsonb_build_object('error', err), NULL, 'rollout', fr.rollout_id);
            END IF;
        END;
    END LOOP;

    -- overdue: the forced date has come and nothing is scheduled; back when a delay moved it
    UPDATE rollout.upgrade_task t SET status = 'overdue', updated_at = at
     WHERE t.closed_at IS NULL AND t.status IN ('open', 'notified') AND t.forced_upgrade_on <= day;
    UPDATE rollout.upgrade_task t
       SET status = CASE WHEN EXISTS (SELECT 1 FROM rollout.notification x WHERE x.task_id = t.task_id)
                         THEN 'notified' ELSE 'open' END, updated_at = at
     WHERE t.closed_at IS NULL AND t.status = 'overdue' AND t.forced_upgrade_on > day;
    -- a forced rollout that ended without upgrading: a person looks (the task keeps its rollout)
    UPDATE rollout.upgrade_task t SET status = 'overdue', updated_at = at
      FROM rollout.rollout r
     WHERE r.rollout_id = t.rollout_id AND t.closed_at IS NULL AND t.status IN ('scheduled', 'in_progress')
       AND r.status IN ('rolled_back', 'cancelled', 'failed');
    PERFORM set_config('pg_rollout.actor', coalesce(old_actor, ''), true);
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout._force(timestamptz) IS
    'internal: schedule forced upgrades (rollouts approved by policy, in each tenant''s first window), unschedule delayed tenants, start due forced rollouts, mark overdue tasks';

CREATE FUNCTION rollout._remediate(at timestamptz, digest_threshold integer, by_tick boolean,
                                   task_budget integer DEFAULT NULL)
RETURNS rollout.remediation_run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    run rollout.remediation_run;
    t record;
    m record;
BEGIN
    -- one run at a time (tick() only tries: NOWAIT in _remediation_tick)
    LOCK TABLE rollout.remediation_run IN SHARE ROW EXCLUSIVE MODE;
    run.started_at := clock_timestamp();
    t := rollout._sync_tasks(at, task_budget);
    m := rollout._notify(at, digest_threshold);
    run.forced := rollout._force(at);
    INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications,
                                         events, forced, by_tick, ran_by, complete)
    VALUES (at, run.started_at, clock_timestamp(), t.opened, t.closed, m.notifications, m.events, run.forced,
            by_tick, rollout._actor(), t.complete)
    RETURNING * INTO run;
    RETURN run;
END
$$;
COMMENT ON FUNCTION rollout._remediate(timestamptz, integer, boolean, integer) IS
    'internal: one remediation run at an instant (at most task_budget tasks opened or updated and as many closed)';

CREATE FUNCTION rollout.remediate(at timestamptz DEFAULT pg_catalog.now(), digest_threshold integer DEFAULT 10)
RETURNS rollout.remediation_run
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'the clock of a remediation run must not be null';
    END IF;
    IF at <> now() AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('only a superuser may run remediation at another time than now (%s)', at),
            DETAIL = 'An explicit clock sends milestones and schedules forced upgrades early or late; it is meant for tests.';
    END IF;
    IF digest_threshold IS NULL OR digest_threshold < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('digest_threshold must be zero or more, not %s', coalesce(digest_threshold::text, 'NULL'));
    END IF;
    RETURN rollout._remediate(at, digest_threshold, false);
END
$$;
COMMENT ON FUNCTION rollout.remediate(timestamptz, integer) IS
    'one remediation run: upgrade tasks from the drift roster, due notification milestones (exactly once; digests above digest_threshold per organisation and recipient), forced upgrades; at other than now() only for a superuser (tests)';

-- Called by tick() first: wakes rollouts holding tenants for a concurrency
-- limit (every tick), and runs remediation when its last run by a tick
-- ended 5 minutes ago or more (and at least as long ago as it took) and no
-- other run is in progress (a concurrent tick does not wait for it: it
-- skips remediation).  A failure is an event and does not stop the tick.
CREATE FUNCTION rollout._remediation_tick()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    err_state text;
    err_message text;
BEGIN
    UPDATE rollout.rollout r SET next_due_at = now()
     WHERE r.status = 'running' AND (r.next_due_at IS NULL OR r.next_due_at > now())
       AND EXISTS (SELECT 1 FROM rollout.deferral d
                    WHERE d.rollout_id = r.rollout_id AND d.reason LIKE 'concurrency limit%');
    -- another run holds the lock: this tick leaves remediation to it (or to the next tick)
    BEGIN
        LOCK TABLE rollout.remediation_run IN SHARE ROW EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RETURN;
    END;
    -- due 5 minutes after the END of the last run by a tick; after a run
    -- that took longer, as long after its end as it took (so remediation
    -- takes at most half of the ticks' time, and one slow run is not
    -- followed by another at the very next tick); at once when that run
    -- stopped at its task budget (it left work for the next one)
    IF EXISTS (SELECT 1
                 FROM (SELECT x.started_at, x.finished_at, x.complete FROM rollout.remediation_run x
                        WHERE x.by_tick ORDER BY x.started_at DESC LIMIT 1) l
                WHERE CASE WHEN NOT l.complete AND isfinite(l.finished_at) THEN false
                           WHEN l.finished_at > now() - interval '5 minutes' THEN true
                           WHEN NOT (isfinite(l.started_at) AND isfinite(l.finished_at)) THEN false
                           ELSE l.finished_at + (l.finished_at - l.started_at) > now() END) THEN
        RETURN;
    END IF;
    BEGIN
        -- a budget keeps the tick short when many tasks change at once
        -- (an EOL date for a version everyone runs): 10,000 tasks opened or
        -- updated and 10,000 closed per tick; the rest at the next ticks
        PERFORM rollout._remediate(now(), 10, true, 10000);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        PERFORM rollout._event('remediation.failed', NULL, format('remediation failed: %s (SQLSTATE %s)', err_message, err_state),
                               jsonb_build_object('sqlstate', err_state, 'message', err_message), NULL, 'remediation', NULL);
    END;
END
$$;
COMMENT ON FUNCTION rollout._remediation_tick() IS
    'internal: tick()''s remediation step: wake rollouts held by concurrency limits; run remediation 5 minutes after the end of the last run by a tick (or as long after it as it took, when longer)';

-- ---------------------------------------------------------------------
-- Holds at stage activation: tenant approval and concurrency limits
-- ---------------------------------------------------------------------

-- The selection of rollout._selection with two more holds: a tenant whose
-- update preference requires approval of this rollout (every update, or a
-- major one) and has none (rollouts approved by policy, forced upgrades,
-- are not held); and a tenant over a concurrency limit of a subtree it is
-- in (tenants of the subtree activated by a running or paused rollout less
-- than settle ago, this one's included, plus the ones this activation
-- would add, by stage then id).  Tenants the rollout already activated are
-- never held.  Held tenants are deferred like blacked-out ones.
-- Whether stage activation can hold a tenant for its approval or a
-- concurrency limit at all (the usual answer is no: then the selection is
-- rollout._selection's, row for row).
CREATE FUNCTION rollout._holds_possible()
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM rollout.tenant_preference p WHERE p.approval <> 'auto')
        OR EXISTS (SELECT 1 FROM rollout.concurrency_limit);
END
$$;
COMMENT ON FUNCTION rollout._holds_possible() IS
    'internal: may stage activation hold tenants for approval (an update preference other than auto) or a concurrency limit? When not, rollout._held_selection is rollout._selection';

CREATE FUNCTION rollout._held_selection(rollout_id text, through_stage integer)
RETURNS TABLE (tenant_id text, stage_no integer, blacked_out boolean, weight double precision, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.rollout;
    needs_approval text[];
BEGIN
    IF NOT rollout._holds_possible() THEN
        RETURN QUERY SELECT * FROM rollout._selection($1, $2);
        RETURN;
    END IF;
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = $1;
    IF EXISTS (SELECT 1 FROM rollout.forced_upgrade f WHERE f.rollout_id = r.rollout_id) THEN
        needs_approval := '{}';
    ELSIF rollout.semver_major(r.to_version) > rollout.semver_major(r.from_version) THEN
        needs_approval := '{major,all}';
    ELSE
        needs_approval := '{all}';
    END IF;
    RETURN QUERY
    WITH sel AS MATERIALIZED (
            SELECT s.tenant_id, s.stage_no, s.blacked_out, s.weight, s.hold_reason, t.path,
                   EXISTS (SELECT 1 FROM rollout.activation a
                            WHERE a.component_id = r.component_id AND a.tenant_id = s.tenant_id
                              AND a.rollout_id = r.rollout_id) AS active
              FROM rollout._selection($1, $2) s JOIN rollout.tenant t ON t.tenant_id = s.tenant_id),
         appr AS MATERIALIZED (
            SELECT p.tenant_id FROM rollout._preferences(ARRAY(SELECT s.tenant_id FROM sel s WHERE NOT s.active)) p
             WHERE p.approval = ANY (needs_approval)
               AND NOT EXISTS (SELECT 1 FROM rollout.update_approval u
                                WHERE u.rollout_id = r.rollout_id AND u.tenant_id = p.tenant_id)),
         lim AS MATERIALIZED (
            SELECT l.tenant_id AS node, l.max_tenants,
                   (SELECT count(*) FROM rollout.activation a
                      JOIN rollout.rollout x ON x.rollout_id = a.rollout_id
                      JOIN rollout.tenant t ON t.tenant_id = a.tenant_id
                     WHERE x.status IN ('running', 'paused') AND a.activated_at > now() - l.settle
                       AND l.tenant_id = ANY (t.path)) AS busy
              FROM rollout.concurrency_limit l),
         cand AS (
            SELECT s.tenant_id, l.node, l.max_tenants, l.max_tenants - l.busy AS room,
                   row_number() OVER (PARTITION BY l.node ORDER BY s.stage_no, s.tenant_id) AS rn
              FROM sel s JOIN lim l ON l.node = ANY (s.path)
             WHERE NOT s.active AND NOT s.blacked_out
               AND NOT EXISTS (SELECT 1 FROM appr a WHERE a.tenant_id = s.tenant_id)),
         over AS (
            SELECT c.tenant_id,
                   min(format('concurrency limit: %s tenants of "%s" being updated', c.max_tenants, c.node)) AS why
              FROM cand c WHERE c.rn > c.room GROUP BY c.tenant_id)
    SELECT s.tenant_id, s.stage_no,
           s.blacked_out OR (NOT s.active AND (a.tenant_id IS NOT NULL OR o.tenant_id IS NOT NULL)),
           s.weight,
           coalesce(s.hold_reason,
                    CASE WHEN NOT s.active AND a.tenant_id IS NOT NULL THEN 'awaiting tenant approval' END,
                    CASE WHEN NOT s.active THEN o.why END)
      FROM sel s
      LEFT JOIN appr a ON a.tenant_id = s.tenant_id
      LEFT JOIN over o ON o.tenant_id = s.tenant_id;
END
$$;
COMMENT ON FUNCTION rollout._held_selection(text, integer) IS
    'internal: rollout._selection plus the tenants held for their approval (update preference) or by a concurrency limit; what stage activation and preview use';

-- ---------------------------------------------------------------------
-- Settings and actions
-- ---------------------------------------------------------------------

-- A bound role may act only inside its subtrees.
CREATE FUNCTION rollout._require_visible(tenant_id text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vis text[] := rollout._visible_tenants();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = _require_visible.tenant_id)
       OR (vis IS NOT NULL AND NOT (tenant_id = ANY (vis))) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('tenant "%s" does not exist', tenant_id);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_visible(text) IS
    'internal: raise undefined_object unless the tenant exists and the session user sees it (bound roles see their subtrees)';

CREATE FUNCTION rollout.set_milestone_schedule(tenant_id text, component_id text, eol_days integer[] DEFAULT '{90,30}',
                                               forced_days integer[] DEFAULT '{7}', final_days integer DEFAULT 7,
                                               reason text DEFAULT NULL)
RETURNS rollout.milestone_schedule
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.milestone_schedule;
    old rollout.milestone_schedule;
BEGIN
    IF tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(tenant_id);
    END IF;
    IF component_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.component c
                                                 WHERE c.component_id = set_milestone_schedule.component_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('component "%s" does not exist', component_id);
    END IF;
    PERFORM rollout._check_milestone_days('eol_days', eol_days, 3650);
    PERFORM rollout._check_milestone_days('forced_days', forced_days, 3650);
    IF final_days IS NULL OR final_days NOT BETWEEN 0 AND 30 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid milestone schedule: final_days %s', coalesce(final_days::text, 'NULL')),
            DETAIL = 'final_days is the number of days before the forced upgrade with a daily reminder: 0 to 30.';
    END IF;
    DELETE FROM rollout.milestone_schedule x
     WHERE x.tenant_id IS NOT DISTINCT FROM set_milestone_schedule.tenant_id
       AND x.component_id IS NOT DISTINCT FROM set_milestone_schedule.component_id
    RETURNING * INTO old;
    INSERT INTO rollout.milestone_schedule (component_id, tenant_id, eol_days, forced_days, final_days, set_by)
    VALUES (component_id, tenant_id, eol_days, forced_days, final_days, rollout._actor())
    RETURNING * INTO s;
    -- any task's next milestone may move (the nearest node's schedule wins)
    UPDATE rollout.upgrade_task k SET notify_from = NULL WHERE k.closed_at IS NULL AND k.notify_from IS NOT NULL;
    PERFORM rollout._audit('milestone_schedule.set', tenant_id, 'component', coalesce(component_id, '*'), reason,
                           jsonb_build_object('before', CASE WHEN old.set_by IS NOT NULL THEN to_jsonb(old) END,
                                              'after', to_jsonb(s)));
    RETURN s;
END
$$;
COMMENT ON FUNCTION rollout.set_milestone_schedule(text, text, integer[], integer[], integer, text) IS
    'set the notification milestones of a node (NULL: global) for a component (NULL: all): days before EOL, days before the forced upgrade, daily reminders in the last final_days days; audited';

CREATE FUNCTION rollout.clear_milestone_schedule(tenant_id text, component_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    old rollout.milestone_schedule;
BEGIN
    DELETE FROM rollout.milestone_schedule x
     WHERE x.tenant_id IS NOT DISTINCT FROM clear_milestone_schedule.tenant_id
       AND x.component_id IS NOT DISTINCT FROM clear_milestone_schedule.component_id
    RETURNING * INTO old;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('no milestone schedule for tenant %s and component %s',
                             coalesce('"' || tenant_id || '"', '(global)'), coalesce('"' || component_id || '"', '(all)'));
    END IF;
    -- any task's next milestone may move (the nearest node's schedule wins)
    UPDATE rollout.upgrade_task k SET notify_from = NULL WHERE k.closed_at IS NULL AND k.notify_from IS NOT NULL;
    PERFORM rollout._audit('milestone_schedule.cleared', tenant_id, 'component', coalesce(component_id, '*'), reason,
                           jsonb_build_object('before', to_jsonb(old)));
END
$$;
COMMENT ON FUNCTION rollout.clear_milestone_schedule(text, text, text) IS 'remove a milestone schedule; audited';

CREATE FUNCTION rollout.set_tenant_preference(tenant_id text, channel text DEFAULT 'in_app', target text DEFAULT NULL,
                                              contact text DEFAULT NULL, approval text DEFAULT 'auto')
RETURNS rollout.tenant_preference
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.tenant_preference;
BEGIN
    PERFORM rollout._require_visible(tenant_id);
    PERFORM rollout._tenant_for_update(tenant_id);
    IF channel IS NULL OR channel NOT IN ('in_app', 'email_digest', 'webhook') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid notification channel "%s" for tenant "%s"', channel, tenant_id),
            DETAIL = 'A channel is in_app, email_digest or webhook.';
    END IF;
    IF channel <> 'in_app' AND nullif(target, '') IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('channel %s of tenant "%s" needs a target (an e-mail list or webhook target name)', channel, tenant_id);
    END IF;
    IF approval IS NULL OR approval NOT IN ('auto', 'major', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid update approval "%s" for tenant "%s"', approval, tenant_id),
            DETAIL = 'Approval is auto, major (major versions need approval) or all (every update needs approval).';
    END IF;
    INSERT INTO rollout.tenant_preference AS x (tenant_id, channel, target, contact, approval, set_by)
    VALUES (tenant_id, channel, nullif(target, ''), contact, approval, rollout._actor())
    ON CONFLICT ON CONSTRAINT tenant_preference_pkey DO UPDATE
       SET channel = excluded.channel, target = excluded.target, contact = excluded.contact,
           approval = excluded.approval, set_by = excluded.set_by, set_at = now()
    RETURNING * INTO p;
    PERFORM rollout._audit('tenant_preference.set', tenant_id, 'tenant', tenant_id, NULL, to_jsonb(p));
    RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.set_tenant_preference(text, text, text, text, text) IS
    'set a tenant''s (and its subtree''s, nearest wins) notification channel and target, contact, and update approval (auto, major, all); a bound role only inside its subtrees; audited';

CREATE FUNCTION rollout.set_concurrency_limit(tenant_id text, max_tenants integer, settle interval DEFAULT '1 hour')
RETURNS rollout.concurrency_limit
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    l rollout.concurrency_limit;
BEGIN
    PERFORM rollout._tenant_for_update(tenant_id);
    IF max_tenants IS NULL OR max_tenants < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('concurrency limit of tenant "%s" must be at least 1, not %s', tenant_id,
                             coalesce(max_tenants::text, 'NULL'));
    END IF;
    IF settle IS NULL OR settle <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('settle time of the concurrency limit of tenant "%s" must be positive', tenant_id);
    END IF;
    INSERT INTO rollout.concurrency_limit AS x (tenant_id, max_tenants, settle, set_by)
    VALUES (tenant_id, max_tenants, settle, rollout._actor())
    ON CONFLICT ON CONSTRAINT concurrency_limit_pkey DO UPDATE
       SET max_tenants = excluded.max_tenants, settle = excluded.settle, set_by = excluded.set_by, set_at = now()
    RETURNING * INTO l;
    PERFORM rollout._audit('concurrency_limit.set', tenant_id, 'tenant', tenant_id, NULL, to_jsonb(l));
    RETURN l;
END
$$;
COMMENT ON FUNCTION rollout.set_concurrency_limit(text, integer, interval) IS
    'at most max_tenants tenants of a subtree being updated at once (activated less than settle ago by a running or paused rollout); stage activation defers the others; audited';

CREATE FUNCTION rollout.clear_concurrency_limit(tenant_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    DELETE FROM rollout.concurrency_limit l WHERE l.tenant_id = clear_concurrency_limit.tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" has no concurrency limit', tenant_id);
    END IF;
    PERFORM rollout._audit('concurrency_limit.cleared', tenant_id, 'tenant', tenant_id, NULL, '{}');
    PERFORM rollout._wake_deferred();
END
$$;
COMMENT ON FUNCTION rollout.clear_concurrency_limit(text) IS 'remove a concurrency limit; held tenants are activated at the next tick; audited';

CREATE FUNCTION rollout.assign_upgrade_task(task_id bigint, owner text)
RETURNS rollout.upgrade_task
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    k rollout.upgrade_task;
BEGIN
    SELECT * INTO k FROM rollout.upgrade_task x WHERE x.task_id = assign_upgrade_task.task_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('upgrade task %s does not exist', coalesce(task_id::text, 'NULL'));
    END IF;
    PERFORM rollout._require_visible(k.tenant_id);
    IF k.closed_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('upgrade task %s is already %s', task_id, k.status);
    END IF;
    UPDATE rollout.upgrade_task x SET owner = nullif(assign_upgrade_task.owner, ''), updated_at = now()
     WHERE x.task_id = k.task_id RETURNING * INTO k;
    PERFORM rollout._audit('upgrade_task.assigned', k.tenant_id, 'upgrade_task', k.task_id::text, NULL,
                           jsonb_build_object('owner', k.owner));
    RETURN k;
END
$$;
COMMENT ON FUNCTION rollout.assign_upgrade_task(bigint, text) IS 'set (or clear) the owner of an open upgrade task; audited';

-- A delay of a forced upgrade is a grace extension (governance): it needs
-- approval by someone else (rollout.approve_grace_extension) and never runs
-- past the policy's grace_limit; once approved the tenant leaves a forced
-- rollout that has not started.
CREATE FUNCTION rollout.request_upgrade_delay(tenant_id text, component_id text, until date, reason text,
                                              ticket text DEFAULT NULL)
RETURNS rollout.grace_extension
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    k rollout.upgrade_task;
BEGIN
    PERFORM rollout._require_visible(tenant_id);
    SELECT * INTO k FROM rollout.upgrade_task x
     WHERE x.tenant_id = request_upgrade_delay.tenant_id AND x.component_id = request_upgrade_delay.component_id
       AND x.closed_at IS NULL AND x.eol_date IS NOT NULL
     ORDER BY x.task_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('tenant "%s" has no open upgrade task with a forced-upgrade date for component "%s"',
                             tenant_id, component_id);
    END IF;
    IF until IS NULL OR until <= k.forced_upgrade_on THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a delay of the forced upgrade of tenant "%s" on %s must end after %s, not %s',
                             tenant_id, component_id, k.forced_upgrade_on, coalesce(until::text, 'NULL'));
    END IF;
    RETURN rollout.request_grace_extension(tenant_id, component_id, k.version,
                                           make_interval(days => until - k.forced_upgrade_on), reason, ticket);
END
$$;
COMMENT ON FUNCTION rollout.request_upgrade_delay(text, text, date, text, text) IS
    'ask to delay a tenant''s forced upgrade of a component until a date: a grace extension (approved by someone else with rollout.approve_grace_extension, never past the policy''s grace_limit)';

CREATE FUNCTION rollout.approve_tenant_update(rollout_id text, tenant_id text, include_subtree boolean DEFAULT false,
                                              note text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    who text := rollout._actor();
    vis text[] := rollout._visible_tenants();
    n integer;
    author_login text;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = approve_tenant_update.rollout_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    PERFORM rollout._require_visible(tenant_id);
    -- the author is the actor that created the rollout and the login it
    -- did so from (the audit log's db_user): pg_rollout.actor alone is
    -- whatever the session says.  A forced upgrade has no person as author
    -- (tick() created it from a policy, under whatever login runs it).
    IF NOT EXISTS (SELECT 1 FROM rollout.forced_upgrade f WHERE f.rollout_id OPERATOR(pg_catalog.=) r.rollout_id) THEN
        author_login := rollout._rollout_author_login(r.rollout_id);
    END IF;
    IF rollout._is_author(r.created_by, author_login) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('the update of tenant "%s" by rollout "%s" cannot be approved by the rollout''s author "%s"',
                             tenant_id, r.rollout_id, CASE WHEN who = r.created_by THEN who ELSE session_user END),
            DETAIL = format('A tenant''s approval must come from someone other than the person who created the rollout ("%s", from login "%s"); pg_rollout.actor does not change who approves.',
                            r.created_by, author_login);
    END IF;
    IF r.status NOT IN ('draft', 'approved', 'running', 'paused') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('rollout "%s" is %s: there is nothing to approve', r.rollout_id, r.status);
    END IF;
    INSERT INTO rollout.update_approval (rollout_id, tenant_id, approved_by, note)
    SELECT r.rollout_id, d.tenant_id, who, note
      FROM rollout.descendants(tenant_id, true) d
     WHERE (coalesce(include_subtree, false) OR d.tenant_id = approve_tenant_update.tenant_id)
       AND (vis IS NULL OR d.tenant_id = ANY (vis))
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM rollout._event('rollout.tenant_update_approved', r.rollout_id, note,
                           jsonb_build_object('tenant_id', tenant_id, 'include_subtree', coalesce(include_subtree, false),
                                              'tenants_approved', n, 'approved_by', who),
                           tenant_id, 'rollout', r.rollout_id);
    UPDATE rollout.rollout x SET next_due_at = now()
     WHERE x.rollout_id = r.rollout_id AND x.status = 'running'
       AND EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id);
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.approve_tenant_update(text, text, boolean, text) IS
    'approve a rollout for a tenant (or its whole subtree) whose update preference requires approval; not by the rollout''s author; held tenants are activated at the next tick; returns how many tenants were approved';

-- The notification step looks at a task again only on the day of its next
-- milestone (upgrade_task.notify_from).  A change of a tenant's place in
-- the tree (the nearest node's schedule wins) can move that day: this
-- trigger makes the next run compute it again for the moved tenants' tasks
-- (set_milestone_schedule and clear_milestone_schedule do so for every
-- task; not a trigger on rollout.milestone_schedule: a restore loads that
-- table and would forget the restored days).  SECURITY DEFINER: whoever
-- may move a tenant (through the function, or a superuser) needs no right
-- on the tasks; a trigger function cannot be called directly.
CREATE FUNCTION rollout._notify_recompute()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE rollout.upgrade_task k SET notify_from = NULL
      FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id
     WHERE n.path IS DISTINCT FROM o.path AND k.tenant_id = n.tenant_id
       AND k.closed_at IS NULL AND k.notify_from IS NOT NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout._notify_recompute() IS
    'internal (trigger): tenants moved in the tree; the next notification step computes the day of their open tasks'' next milestone again';
CREATE TRIGGER tenant_moved_notify
    AFTER UPDATE ON rollout.tenant REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._notify_recompute();

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._notify_recompute(),
    rollout._remediation_target(text, rollout.semver, rollout.semver, rollout.semver, rollout.semver,
                                rollout.semver_multirange),
    rollout._check_milestone_days(text, integer[], integer),
    rollout._preferences(text[]),
    rollout._next_allowed(text, timestamptz),
    rollout._sync_tasks(timestamptz, integer),
    rollout._notify(timestamptz, integer),
    rollout._notification_item(rollout.notification, rollout.upgrade_task),
    rollout._forced_failure_known(text, text, jsonb),
    rollout._force(timestamptz),
    rollout._remediate(timestamptz, integer, boolean, integer),
    rollout.remediate(timestamptz, integer),
    rollout._remediation_tick(),
    rollout._holds_possible(),
    rollout._held_selection(text, integer),
    rollout._require_visible(text),
    rollout.set_milestone_schedule(text, text, integer[], integer[], integer, text),
    rollout.clear_milestone_schedule(text, text, text),
    rollout.set_tenant_preference(text, text, text, text, text),
    rollout.set_concurrency_limit(text, integer, interval),
    rollout.clear_concurrency_limit(text),
    rollout.assign_upgrade_task(bigint, text),
    rollout.request_upgrade_delay(text, text, date, text, text),
    rollout.approve_tenant_update(text, text, boolean, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.set_tenant_preference(text, text, text, text, text),
    rollout.assign_upgrade_task(bigint, text),
    rollout.request_upgrade_delay(text, text, date, text, text),
    rollout.approve_tenant_update(text, text, boolean, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.remediate(timestamptz, integer),
    rollout.set_milestone_schedule(text, text, integer[], integer[], integer, text),
    rollout.clear_milestone_schedule(text, text, text),
    rollout.set_concurrency_limit(text, integer, interval),
    rollout.clear_concurrency_limit(text)
TO rollout_admin;
-- Internal helpers that preview() (viewer) calls with the caller's rights.
GRANT EXECUTE ON FUNCTION
    rollout._holds_possible(),
    rollout._held_selection(text, integer),
    rollout._preferences(text[])
TO rollout_viewer;
