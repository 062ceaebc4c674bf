-- Remediation (issue 13): upgrade tasks from the roster, EOL notification
-- milestones exactly once under a moving clock (rollout.remediate(at)),
-- digests, forced upgrades into maintenance windows, delays, tenant update
-- approval, concurrency limits, and every bad input.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_gov_bob;
RESET client_min_messages;
-- approvals come from another login than requests (docs/governance.md §2)
CREATE ROLE regress_gov_bob IN ROLE rollout_admin;
SET timezone = 'UTC';
SET pg_rollout.actor = 'alice';

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT (rollout.create_tenant('web', parent_id => 'acme', kind => 'team')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2'], ARRAY['web', 'web'], ARRAY['project', 'project']);
SELECT (rollout.create_tenant('globex', kind => 'organisation')).tenant_id;
SELECT (rollout.create_tenant('g1', parent_id => 'globex', kind => 'project')).tenant_id;
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.5.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('agent', '1.0.0')).default_version;
-- policy: upgrades are scheduled at the end of grace; delays up to 45 days of grace
SELECT policy_id, action FROM rollout.set_version_policy('agent', min_version => '1.0.0', action => 'schedule',
                                                          grace_limit => '45 days', reason => 'keep agents supported');
-- globex reads its notices in a daily e-mail digest
SELECT channel, target FROM rollout.set_tenant_preference('globex', 'email_digest', 'ops@globex.example', 'ops@globex.example');
-- p1 is upgraded on Tuesdays 02:00-04:00 UTC only, and not on 2027-07-06
SELECT rollout.add_maintenance_window('p1', '{2}', '02:00', '04:00', 'UTC', 'change window') > 0 AS window;
SELECT rollout.add_blackout('p1', '[2027-07-06 00:00+00, 2027-07-07 00:00+00)', 'quarter close') > 0 AS blackout;

-- nothing to do yet: every tenant is compliant
SELECT tasks_opened, tasks_closed, notifications, events, forced FROM rollout.remediate('2027-01-01 08:00+00');

-- 1.0.0 reaches EOL on 2027-06-01: forced-upgrade date 2027-07-01 (30 days of grace)
SELECT (rollout.set_version_eol('agent', '1.0.0', '2027-06-01', 'vendor EOL')).version;
SELECT tasks_opened, tasks_closed, notifications, events, forced FROM rollout.remediate('2027-01-01 08:00+00');
SELECT tenant_id, version, target_version, status, reason, owner, eol_date, forced_upgrade_on
  FROM rollout.upgrade_task ORDER BY tenant_id;
-- running again changes nothing (idempotent)
SELECT tasks_opened, tasks_closed, notifications, events, forced FROM rollout.remediate('2027-01-01 09:00+00');
SELECT count(*) AS tasks FROM rollout.upgrade_task;

-- The clock moves.  step(at) runs remediation at that instant and shows
-- the events it wrote: single milestones (acme is in_app), digests (globex).
CREATE FUNCTION pg_temp.step(at timestamptz)
RETURNS TABLE (event text, subject text, milestone text, late boolean)
LANGUAGE plpgsql AS $$
DECLARE
    last bigint := coalesce((SELECT max(e.event_id) FROM rollout.event_outbox e), 0);
BEGIN
    PERFORM rollout.remediate(at);
    RETURN QUERY
    SELECT e.event, coalesce(e.payload #>> '{details,tenant_id}', e.payload #>> '{details,org_id}', e.rollout_id),
           coalesce(e.payload #>> '{details,milestone}',
                    (SELECT string_agg((i ->> 'tenant_id') || ':' || (i ->> 'milestone'), ' ' ORDER BY i ->> 'tenant_id')
                       FROM jsonb_array_elements(e.payload #> '{details,items}') i)),
           (e.payload #>> '{details,late}')::boolean
      FROM rollout.event_outbox e
     WHERE e.event_id > last AND e.event LIKE 'remediation.%'
     ORDER BY e.event_id;
END
$$;

-- EOL - 90 (2027-03-03): the first notice, once
SELECT * FROM pg_temp.step('2027-03-03 00:05+00');
SELECT * FROM pg_temp.step('2027-03-03 12:00+00');      -- later the same day: nothing
SELECT * FROM pg_temp.step('2027-04-01 00:05+00');      -- between milestones: nothing
-- EOL - 30 (2027-05-02)
SELECT * FROM pg_temp.step('2027-05-02 00:05+00');
SELECT * FROM pg_temp.step('2027-05-02 00:10+00');
SELECT tenant_id, status FROM rollout.upgrade_task ORDER BY tenant_id;
-- forced - 7 (2027-06-24), then the final week, one reminder a day
SELECT * FROM pg_temp.step('2027-06-24 00:05+00');
SELECT * FROM pg_temp.step('2027-06-25 00:05+00');
SELECT * FROM pg_temp.step('2027-06-26 00:05+00');
-- the scheduler was down on 2027-06-27: the reminder of 06-27 is recorded
-- once, superseded by the one of 06-28 (sent); nothing is sent twice
SELECT * FROM pg_temp.step('2027-06-28 00:05+00');
SELECT tenant_id, milestone, due_on, state FROM rollout.notification
 WHERE milestone IN ('forced-4', 'forced-3') ORDER BY tenant_id, milestone;

-- p2 asks for a delay (a grace extension): past the limit is refused,
-- the requester cannot approve, someone else can
SELECT rollout.request_upgrade_delay('p2', 'agent', '2027-07-20', 'vendor fix pending');      -- 30 + 19 > 45 days
SELECT extension_id, extend_by, status FROM rollout.request_upgrade_delay('p2', 'agent', '2027-07-10', 'vendor fix pending', 'CHG-7');
SELECT tenant_id, needs FROM rollout.remediation_queue WHERE needs IS NOT NULL ORDER BY tenant_id;
SELECT rollout.approve_grace_extension(1, 'ok');                     -- self-approval
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT status, decided_by FROM rollout.approve_grace_extension(1, 'ok until the vendor fix');
RESET SESSION AUTHORIZATION;
SET pg_rollout.actor = 'alice';
SELECT * FROM pg_temp.step('2027-06-29 00:05+00');
SELECT tenant_id, forced_upgrade_on FROM rollout.upgrade_task WHERE tenant_id = 'p2';
SELECT * FROM pg_temp.step('2027-06-30 00:05+00');

-- the forced date (2027-07-01, a Thursday): "forced" notices, and a forced
-- rollout approved by policy.  p2 is delayed, so its ancestors web and acme
-- wait (their activation would reach p2).  p1 is scheduled into its first
-- Tuesday window outside the blackout: 2027-07-13 02:00.
SELECT * FROM pg_temp.step('2027-07-01 00:05+00');
SELECT rollout_id, status, created_by, approved_by, approval_note, to_version FROM rollout.rollout;
SELECT stage_no, name, method, tenants, auto_proceed FROM rollout.rollout_stage;
SELECT rollout_id, component_id, target_version, policy_ids, starts_at FROM rollout.forced_upgrade;
SELECT tenant_id, status, rollout_id, scheduled_for FROM rollout.upgrade_task ORDER BY tenant_id;
SELECT e.payload #>> '{details,approved_by_policy}' AS approved_by_policy, e.payload ->> 'actor' AS actor
  FROM rollout.event_outbox e WHERE e.event = 'rollout.approved';
SELECT tenant_id, status, needs FROM rollout.remediation_queue ORDER BY tenant_id;
-- again the same day: nothing new, the rollout is not duplicated
SELECT * FROM pg_temp.step('2027-07-01 06:00+00');
SELECT count(*) AS rollouts FROM rollout.rollout;

-- every milestone exactly once: per tenant, the milestones recorded
SELECT tenant_id, string_agg(milestone || CASE state WHEN 'sent' THEN '' ELSE '(' || state || ')' END, ' '
                             ORDER BY due_on, milestone) AS milestones
  FROM rollout.notification GROUP BY tenant_id ORDER BY tenant_id;
SELECT count(*) AS notifications, count(DISTINCT (tenant_id, component_id, version::text, milestone)) AS distinct_keys
  FROM rollout.notification;
-- each sent notification is in exactly one outbox event; digests for globex
SELECT n.channel, n.digest, count(*) AS notifications, count(DISTINCT n.event_id) AS events
  FROM rollout.notification n WHERE n.state <> 'superseded' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS unsent FROM rollout.notification n
 WHERE n.state <> 'superseded' AND NOT EXISTS (SELECT 1 FROM rollout.event_outbox e WHERE e.event_id = n.event_id);

-- p2's forced date: web and acme join it in a second forced rollout (the first has not started: it is extended)
SELECT * FROM pg_temp.step('2027-07-10 00:05+00');
SELECT stage_no, tenants FROM rollout.rollout_stage;
SELECT tenant_id, status, scheduled_for FROM rollout.upgrade_task ORDER BY tenant_id;

-- p1 is upgraded by hand (a pin): its task is done at the next run
SELECT rollout.pin_version('p1', 'agent', '2.0.0', 'upgraded by the team') IS NOT NULL AS pinned;
SELECT tasks_opened, tasks_closed FROM rollout.remediate('2027-07-10 08:00+00');
SELECT tenant_id, status, close_reason FROM rollout.upgrade_task WHERE closed_at IS NOT NULL ORDER BY tenant_id;

-- ---------------------------------------------------------------------
-- Bad inputs
-- ---------------------------------------------------------------------
SELECT rollout.request_upgrade_delay('nobody', 'agent', '2027-07-20', 'x');                   -- unknown tenant
SELECT rollout.request_upgrade_delay('p2', 'agent', '2027-07-01', 'x');                       -- not after the forced date
SELECT rollout.set_tenant_preference('nobody', 'in_app');                                     -- unknown tenant
SELECT rollout.set_tenant_preference('p1', 'webhook');                                        -- webhook without target
SELECT rollout.set_tenant_preference('p1', 'pigeon', 'x');                                    -- unknown channel
SELECT rollout.set_tenant_preference('p1', approval => 'sometimes');                          -- unknown approval rule
SELECT rollout.set_milestone_schedule(NULL, 'agent', '{90,0}');                               -- invalid milestone schedule
SELECT rollout.set_milestone_schedule(NULL, 'agent', '{30,30}');
SELECT rollout.set_milestone_schedule(NULL, 'agent', forced_days => '{7,NULL}');
SELECT rollout.set_milestone_schedule(NULL, 'agent', final_days => 31);
SELECT rollout.set_milestone_schedule('nobody', 'agent');
SELECT rollout.set_milestone_schedule(NULL, 'nothing');
SELECT rollout.clear_milestone_schedule('p1', NULL);
SELECT rollout.set_concurrency_limit('acme', 0);
SELECT rollout.set_concurrency_limit('nobody', 3);
SELECT rollout.clear_concurrency_limit('acme');
SELECT rollout.assign_upgrade_task(999, 'x');
SELECT rollout.remediate(digest_threshold => -1);
SELECT rollout.remediate(NULL);
SELECT rollout.approve_tenant_update('nothing', 'p1');
SELECT count(*) AS schedules, (SELECT count(*) FROM rollout.concurrency_limit) AS limits FROM rollout.milestone_schedule;

-- a valid schedule for acme's subtree: 60 days before EOL, no reminders.
-- eol-60 (2027-04-02) is new and long past for its open tasks: sent once,
-- late; globex keeps the default schedule (nothing new)
SELECT eol_days, forced_days, final_days FROM rollout.set_milestone_schedule('acme', 'agent', '{60}', '{}', 0, 'quiet');
SELECT * FROM pg_temp.step('2027-07-10 09:00+00');
SELECT * FROM pg_temp.step('2027-07-10 10:00+00');
SELECT tenant_id, milestone, due_on, state FROM rollout.notification WHERE milestone = 'eol-60' ORDER BY tenant_id;
SELECT rollout.clear_milestone_schedule('acme', 'agent', 'back to defaults');

-- ---------------------------------------------------------------------
-- Tenant update preferences: approval of major versions or of every update
-- ---------------------------------------------------------------------
-- The ticks below run on the real clock.  A tick runs remediation only
-- when its last run is 5 minutes old: this ledger row keeps them from
-- re-evaluating the walk-through above at today's date.
INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications, events,
                                     forced, by_tick, ran_by)
VALUES (now(), clock_timestamp(), clock_timestamp(), 0, 0, 0, 0, 0, true, 'test');
-- (p1's window and blackout are removed: activation below runs on the real clock)
SELECT rollout.remove_maintenance_window(w.window_id, 'test on the real clock') FROM rollout.maintenance_window w;
SELECT (rollout.create_component('ui', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('ui', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.1.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('ui', '1.0.0')).default_version;
SELECT approval FROM rollout.set_tenant_preference('p2', approval => 'major');
SELECT approval FROM rollout.set_tenant_preference('g1', 'email_digest', 'ops@globex.example', approval => 'all');
SELECT (rollout.create_rollout('ui-2', 'ui', '1.0.0', '2.0.0')).status;
SELECT (rollout.add_stage('ui-2', 'everyone', 'all', min_duration => '1 hour')).name;
SET pg_rollout.actor = 'bob';
SELECT (rollout.approve_rollout('ui-2')).status;
SELECT (rollout.start_rollout('ui-2')).status;
-- p2 (major) and g1 (all) are held; the others are activated
SELECT tenant_id, deferred, hold_reason FROM rollout.preview('ui-2') ORDER BY tenant_id;
SELECT rollout_id, tenant_id, approval FROM rollout.pending_tenant_approvals ORDER BY tenant_id;
SELECT tenant_id, version, source FROM rollout.resolve_versions('ui') ORDER BY tenant_id;
-- the rollout's author cannot approve for the tenant; someone else can
SET pg_rollout.actor = 'alice';
SELECT rollout.approve_tenant_update('ui-2', 'p2', note => 'fine');
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT rollout.approve_tenant_update('ui-2', 'p2', note => 'p2 owner agrees');
SELECT rollout.approve_tenant_update('ui-2', 'nobody');
RESET SESSION AUTHORIZATION;
SELECT rollout_id, action FROM rollout.tick();
SELECT tenant_id, version, source FROM rollout.resolve_versions('ui') WHERE tenant_id IN ('p2', 'g1') ORDER BY tenant_id;
-- in bulk: the whole globex subtree
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT rollout.approve_tenant_update('ui-2', 'globex', include_subtree => true);
RESET SESSION AUTHORIZATION;
SELECT rollout_id, action FROM rollout.tick();
SELECT count(*) AS still_held FROM rollout.pending_tenant_approvals;
SELECT (rollout.cancel_rollout('ui-2', 'done testing')).status;
-- a minor update does not wait for p2 ('major'), it waits for g1 ('all')
SELECT (rollout.create_rollout('ui-11', 'ui', '1.0.0', '1.1.0')).status;
SELECT (rollout.add_stage('ui-11', 'everyone', 'all')).name;
SET pg_rollout.actor = 'alice';
SELECT (rollout.approve_rollout('ui-11')).status;
SELECT tenant_id, hold_reason FROM rollout.preview('ui-11') WHERE deferred ORDER BY tenant_id;
SET pg_rollout.actor = 'bob';
SELECT (rollout.cancel_rollout('ui-11', 'done testing')).status;

-- ---------------------------------------------------------------------
-- Concurrency limit: at most 2 tenants of acme being updated at once
-- ---------------------------------------------------------------------
SELECT max_tenants, settle FROM rollout.set_concurrency_limit('acme', 2, '1 hour');
SELECT approval FROM rollout.set_tenant_preference('p2', approval => 'auto');
SELECT (rollout.create_rollout('db-11', 'ui', '1.0.0', '1.1.0')).status;
SELECT (rollout.add_stage('db-11', 'everyone', 'all', min_duration => '1 hour')).name;
SET pg_rollout.actor = 'alice';
SELECT (rollout.approve_rollout('db-11')).status;
SELECT (rollout.start_rollout('db-11')).status;
SELECT tenant_id, reason FROM rollout.deferral WHERE rollout_id = 'db-11' ORDER BY tenant_id;
SELECT count(*) AS acme_active FROM rollout.activation a
 WHERE a.rollout_id = 'db-11' AND a.tenant_id IN (SELECT tenant_id FROM rollout.descendants('acme', true));
-- a later tick does not exceed it either (the two are still settling)
SELECT count(*) >= 0 AS ticked FROM rollout.tick();
SELECT count(*) AS acme_active FROM rollout.activation a
 WHERE a.rollout_id = 'db-11' AND a.tenant_id IN (SELECT tenant_id FROM rollout.descendants('acme', true));
-- once the limit is lifted the held tenants are activated
SELECT rollout.clear_concurrency_limit('acme');
SELECT count(*) >= 0 AS ticked FROM rollout.tick();
SELECT count(*) AS acme_active FROM rollout.activation a
 WHERE a.rollout_id = 'db-11' AND a.tenant_id IN (SELECT tenant_id FROM rollout.descendants('acme', true));

-- every reference of the remediation tables holds
SELECT count(*) AS problems FROM rollout.verify_state() WHERE problems > 0;
SELECT count(*) AS remediation_checks FROM rollout.verify_state()
 WHERE check_name ~ '^(upgrade_task|notification|milestone_schedule|tenant_preference|update_approval|concurrency_limit|forced_upgrade)\.';
-- the remediation runs are in the ledger
SELECT count(*) > 10 AS runs, sum(notifications) AS notifications FROM rollout.remediation_run;
DROP ROLE regress_gov_bob;
