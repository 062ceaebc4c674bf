-- The notification step of remediation looks at an open task only on the
-- day of its next milestone (upgrade_task.notify_from), not at every run:
-- a milestone is still recorded on its day; a new EOL date, a changed
-- milestone schedule and a move to a subtree with another schedule make the
-- step compute that day again; a run that looks at every task again finds
-- nothing the skipping runs missed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET timezone = 'UTC';
SET pg_rollout.actor = 'alice';

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT (rollout.create_tenant('beta', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'q1'], ARRAY['acme', 'acme', 'beta'],
                              ARRAY['project', 'project', 'project']);
SELECT count(*) FROM (SELECT rollout.create_component(c, 'plugin'), rollout.add_version(c, '1.0.0', 'published'),
                             rollout.add_version(c, '2.0.0', 'published'), rollout.set_default_version(c, '1.0.0')
                        FROM unnest(ARRAY['agent']) c) x;
-- EOL on 2027-06-01: default milestones eol-90 (2027-03-03) and eol-30 (2027-05-02)
SELECT (rollout.set_version_eol('agent', '1.0.0', '2027-06-01', 'vendor EOL')).version;

CREATE FUNCTION pg_temp.run(at timestamptz)
RETURNS TABLE (notifications integer, events integer)
LANGUAGE sql AS $$
    SELECT r.notifications, r.events FROM rollout.remediate(at, 100) r
$$;
CREATE VIEW pg_temp.next_day AS
    SELECT tenant_id, notify_from FROM rollout.upgrade_task WHERE closed_at IS NULL ORDER BY tenant_id;
CREATE VIEW pg_temp.sent AS
    SELECT tenant_id, milestone, due_on, state FROM rollout.notification ORDER BY tenant_id, due_on, milestone;

-- 1. A run long before the first milestone opens the tasks and notes the
-- day of the next milestone; nothing is sent.
SELECT * FROM pg_temp.run('2027-01-10 08:00+00');
SELECT * FROM pg_temp.next_day;
-- the day before: still nothing; the day itself: eol-90 for every tenant,
-- and the next day becomes eol-30's
SELECT * FROM pg_temp.run('2027-03-02 08:00+00');
SELECT * FROM pg_temp.run('2027-03-03 08:00+00');
SELECT * FROM pg_temp.sent;
SELECT * FROM pg_temp.next_day;
-- a second run on the same day looks at no task and sends nothing
SELECT * FROM pg_temp.run('2027-03-03 09:00+00');

-- 2. A milestone schedule set on beta (eol-60, due 2027-04-02) makes the
-- step compute every open task's next day again: q1's moves to 2027-04-02.
SELECT eol_days FROM rollout.set_milestone_schedule('beta', 'agent', '{60}', '{}', 0, 'beta wants 60 days');
SELECT count(*) FILTER (WHERE notify_from IS NULL) AS recompute FROM rollout.upgrade_task WHERE closed_at IS NULL;
SELECT * FROM pg_temp.run('2027-03-04 08:00+00');
SELECT * FROM pg_temp.next_day;
SELECT * FROM pg_temp.run('2027-04-02 08:00+00');
SELECT * FROM pg_temp.sent WHERE tenant_id = 'q1';

-- 3. A move into beta's subtree: p2 now follows beta's schedule.  Its
-- eol-60 day (2027-04-02) has passed: recorded late at the next run.
SELECT (rollout.move_tenant('p2', 'beta', 'reorganisation')).path;
SELECT tenant_id, notify_from FROM rollout.upgrade_task WHERE tenant_id = 'p2';
SELECT * FROM pg_temp.run('2027-04-03 08:00+00');
SELECT * FROM pg_temp.sent WHERE tenant_id = 'p2';
SELECT * FROM pg_temp.next_day;
-- an update of a tenant that does not move it leaves the next days alone
SELECT (rollout.update_tenant('p1', display_name => 'Project one')).display_name;
SELECT * FROM pg_temp.next_day;

-- 4. A later EOL date: the task's dates change, so does its next day
-- (acme's p1: eol-30 of 2027-09-01 is 2027-08-02)
SELECT (rollout.set_version_eol('agent', '1.0.0', '2027-09-01', 'vendor extended support')).version;
SELECT * FROM pg_temp.run('2027-04-04 08:00+00');
SELECT * FROM pg_temp.next_day;
SELECT * FROM pg_temp.run('2027-08-02 08:00+00');
SELECT * FROM pg_temp.sent WHERE due_on >= '2027-08-01';

-- 5. Nothing was missed: after every task's next day is forgotten, a run
-- finds nothing to send that the skipping runs did not send.
UPDATE rollout.upgrade_task SET notify_from = NULL;
SELECT * FROM pg_temp.run('2027-08-03 08:00+00');
SELECT count(*) AS notifications FROM rollout.notification;
-- a removed schedule: the tasks are looked at again
SELECT rollout.clear_milestone_schedule('beta', 'agent', 'back to defaults');
SELECT count(*) FILTER (WHERE notify_from IS NULL) AS recompute FROM rollout.upgrade_task WHERE closed_at IS NULL;
