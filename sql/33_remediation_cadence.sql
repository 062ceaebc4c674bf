-- Remediation cadence and cost (follow-up of issue 13, found in issue 11's
-- benchmark): tick() runs remediation 5 minutes after the END of the last
-- run by a tick, and after a run that took longer than that, only as long
-- after its end as it took; a run evaluates only the components that can
-- need a task (a policy, an EOL date, an open task); a forced upgrade that
-- cannot be scheduled is reported once, not at every run.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET timezone = 'UTC';
SET pg_rollout.actor = 'alice';

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2'], ARRAY['acme', 'acme'], ARRAY['project', 'project']);
SELECT count(*) FROM (SELECT rollout.create_component(c, 'plugin'), rollout.add_version(c, '1.0.0', 'published'),
                             rollout.add_version(c, '2.0.0', 'published'), rollout.set_default_version(c, '1.0.0')
                        FROM unnest(ARRAY['agent', 'db', 'ui']) c) x;

-- 1. The cadence.  due() runs the remediation step of a tick (as tick()
-- does) and says whether it recorded a run; each case starts from one run
-- by a tick with the given start and end.
CREATE FUNCTION pg_temp.due(started interval, finished interval)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM rollout.remediation_run;
    INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications,
                                         events, forced, by_tick, ran_by)
    VALUES (now() - started, now() - started, now() - finished, 0, 0, 0, 0, 0, true, 'test');
    n := (SELECT count(*) FROM rollout.remediation_run);
    PERFORM rollout._remediation_tick();
    RETURN (SELECT count(*) FROM rollout.remediation_run) > n;
END
$$;
-- no run yet: due
DELETE FROM rollout.remediation_run;
SELECT count(*) AS tick_actions FROM rollout.tick();
SELECT count(*) AS runs_by_tick FROM rollout.remediation_run WHERE by_tick;
-- started 6 minutes ago, ended 1 minute ago: not due (the interval counts from the end)
SELECT pg_temp.due('6 minutes', '1 minute') AS due;
-- started 10 minutes ago, ended 9 minutes ago: due
SELECT pg_temp.due('10 minutes', '9 minutes') AS due;
-- a run of 12 minutes that ended 8 minutes ago: not due (as long after its end as it took)
SELECT pg_temp.due('20 minutes', '8 minutes') AS due;
-- a run of 7 minutes that ended 8 minutes ago: due
SELECT pg_temp.due('15 minutes', '8 minutes') AS due;
-- a run of 12 minutes that ended 13 minutes ago: due
SELECT pg_temp.due('25 minutes', '13 minutes') AS due;
-- a run dated 'infinity' (bench/rollout_ops.sh keeps remediation out of its ticks this way): never due
DELETE FROM rollout.remediation_run;
INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications,
                                     events, forced, by_tick, ran_by)
VALUES (now(), 'infinity', 'infinity', 0, 0, 0, 0, 0, true, 'test');
SELECT count(*) AS rows FROM rollout.tick();
SELECT count(*) AS runs FROM rollout.remediation_run;
-- an explicit run (remediate) does not count for the tick's cadence
DELETE FROM rollout.remediation_run;
INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications,
                                     events, forced, by_tick, ran_by)
VALUES (now(), now() - interval '10 minutes', now() - interval '9 minutes', 0, 0, 0, 0, 0, true, 'test');
SELECT tasks_opened FROM rollout.remediate();
SELECT rollout._remediation_tick();
SELECT by_tick, count(*) FROM rollout.remediation_run GROUP BY 1 ORDER BY 1;
DELETE FROM rollout.remediation_run;

-- 2. What a run evaluates.  No policy, no EOL date, no open task: nothing
-- to evaluate, no task.
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-01 08:00+00');
-- an EOL date on db 1.0.0: db's tasks only
SELECT (rollout.set_version_eol('db', '1.0.0', '2027-06-01', 'vendor EOL')).version;
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-01 08:00+00');
SELECT tenant_id, component_id, version, target_version, reason, status FROM rollout.upgrade_task ORDER BY 1, 2;
-- a policy on agent (no EOL): a task where it is breached (p1 below the minimum)
SELECT rollout.pin_version('p1', 'agent', '1.0.0', reason => 'stays');
SELECT (rollout.set_default_version('agent', '2.0.0')).default_version;
SELECT policy_id > 0 AS policy FROM rollout.set_version_policy('agent', min_version => '2.0.0', action => 'remind',
                                                                reason => 'r');
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-01 08:00+00');
SELECT tenant_id, component_id, version, target_version, reason, status FROM rollout.upgrade_task
 WHERE closed_at IS NULL ORDER BY 1, 2;
-- the EOL date is withdrawn and the policy cleared: db and agent are no
-- longer candidates, but their open tasks still are, and are closed
SELECT (rollout.set_version_eol('db', '1.0.0', NULL, 'withdrawn')).version;
SELECT rollout.clear_version_policy('agent', reason => 'done');
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-02 08:00+00');
SELECT tenant_id, component_id, status, close_reason FROM rollout.upgrade_task ORDER BY 1, 2;
-- and then nothing is evaluated at all
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-03 08:00+00');
-- a tenant that upgrades past an EOL version closes its task as done
SELECT (rollout.set_version_eol('ui', '1.0.0', '2027-06-01', 'vendor EOL')).version;
SELECT tasks_opened FROM rollout.remediate('2027-01-04 08:00+00');
SELECT rollout.pin_version('p2', 'ui', '2.0.0', reason => 'upgraded');
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-01-05 08:00+00');
SELECT tenant_id, status, close_reason FROM rollout.upgrade_task WHERE component_id = 'ui' ORDER BY 1;

-- A tick's run has a task budget: when it stops there, the next tick
-- carries on at once (a budget of 2 here; tick() uses 10,000).
SELECT count(*) FROM (SELECT rollout.create_component('api', 'plugin'), rollout.add_version('api', '1.0.0', 'published'),
                             rollout.add_version('api', '2.0.0', 'published'), rollout.set_default_version('api', '1.0.0')) x;
SELECT (rollout.set_version_eol('api', '1.0.0', current_date + 400, 'vendor EOL')).version;
DELETE FROM rollout.remediation_run;
SELECT tasks_opened, complete FROM rollout._remediate(now(), 10, true, 2);
SELECT rollout._remediation_tick();
SELECT tasks_opened, complete, by_tick FROM rollout.remediation_run ORDER BY run_id;
-- complete: the next run waits 5 minutes
SELECT rollout._remediation_tick();
SELECT count(*) AS runs FROM rollout.remediation_run;
SELECT tenant_id, status FROM rollout.upgrade_task WHERE component_id = 'api' ORDER BY 1;
-- closing is budgeted too
SELECT (rollout.set_version_eol('api', '1.0.0', NULL, 'withdrawn')).version;
SELECT tasks_closed, complete FROM rollout._remediate(now(), 10, true, 2);
SELECT tasks_closed, complete FROM rollout._remediate(now(), 10, true, 2);
SELECT count(*) AS open_api_tasks FROM rollout.upgrade_task WHERE component_id = 'api' AND closed_at IS NULL;

-- 3. A forced upgrade that cannot be scheduled is reported once.  ui has a
-- policy that schedules; a blackout on acme covers the next 60 days after
-- the forced date, so no tenant has a window and the forced rollout cannot
-- be created.
SELECT policy_id > 0 AS policy FROM rollout.set_version_policy('ui', min_version => '1.0.0', action => 'schedule',
                                                                reason => 'schedule ui');
SELECT rollout.add_blackout('acme', '[2027-06-20 00:00+00, 2027-09-30 00:00+00)', 'freeze') > 0 AS blackout;
SELECT forced FROM rollout.remediate('2027-07-02 08:00+00');
SELECT forced FROM rollout.remediate('2027-07-02 09:00+00');
SELECT forced FROM rollout.remediate('2027-07-03 08:00+00');
SELECT payload ->> 'reason' AS reason, payload #> '{details,task_ids}' AS task_ids
  FROM rollout.event_outbox WHERE event = 'remediation.forced_failed' ORDER BY event_id;
SELECT tenant_id, status FROM rollout.upgrade_task WHERE component_id = 'ui' AND closed_at IS NULL ORDER BY 1;
-- something changes on the component (its policy is set again): reported again, once
SELECT policy_id > 0 AS policy FROM rollout.set_version_policy('ui', min_version => '1.0.0', action => 'schedule',
                                                                reason => 'schedule ui, reviewed');
SELECT forced FROM rollout.remediate('2027-07-03 09:00+00');
SELECT forced FROM rollout.remediate('2027-07-03 10:00+00');
SELECT count(*) AS failures_reported FROM rollout.event_outbox WHERE event = 'remediation.forced_failed';
-- another task joins the group (p2 goes back to 1.0.0): reported again
SELECT rollout.unpin_version('p2', 'ui', reason => 'back');
SELECT forced FROM rollout.remediate('2027-07-03 11:00+00');
SELECT forced FROM rollout.remediate('2027-07-03 12:00+00');
SELECT payload #> '{details,task_ids}' AS task_ids
  FROM rollout.event_outbox WHERE event = 'remediation.forced_failed' ORDER BY event_id;
-- the blackout goes: the forced upgrade is scheduled
SELECT rollout.remove_blackout(blackout_id, 'freeze lifted') FROM rollout.blackout;
SELECT forced FROM rollout.remediate('2027-07-03 13:00+00');
SELECT tenant_id, status FROM rollout.upgrade_task WHERE component_id = 'ui' AND closed_at IS NULL ORDER BY 1;
