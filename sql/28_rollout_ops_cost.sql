-- Rollout operations without needless work (issue 11): what a tick and a
-- stage activation write, and what a seal reads, when there is nothing to
-- do; the answers stay those of the full path.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

-- Statements on rollout.activation and rollout.deferral, counted by a
-- statement trigger of our own (each such statement also fires the
-- extension's invalidate_resolution, which makes the session plan again
-- every statement that reads the table).
CREATE TABLE stmt_log (tbl text, op text);
CREATE FUNCTION count_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.stmt_log VALUES (TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END
$$;
CREATE TRIGGER zz_count AFTER INSERT OR UPDATE OR DELETE ON rollout.activation
    FOR EACH STATEMENT EXECUTE FUNCTION count_stmt();
CREATE TRIGGER zz_count AFTER INSERT OR UPDATE OR DELETE ON rollout.deferral
    FOR EACH STATEMENT EXECUTE FUNCTION count_stmt();

SELECT (rollout.create_tenant('org', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(array_agg('team-' || i ORDER BY i), array_agg('org'::text ORDER BY i),
                              array_agg('team'::text ORDER BY i))
  FROM generate_series(1, 2) i;
SELECT rollout.create_tenants(array_agg('env-' || i ORDER BY i), array_agg('team-' || (1 + i % 2) ORDER BY i),
                              array_agg('environment'::text ORDER BY i))
  FROM generate_series(1, 40) i;
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '3.0.0']) v) x;

-- Buckets: only rollouts with a percentage stage compute them (_eligible
-- returns NULL otherwise), and the selection is that of the buckets.
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0', target_kind => 'environment');
SELECT stage_no FROM rollout.add_stage('r1', 'one', 'tenants', tenants => ARRAY['env-1'], auto_proceed => true);
SELECT stage_no FROM rollout.add_stage('r1', 'all', 'all');
SELECT count(*) AS tenants, count(bucket) AS with_bucket, bool_and(target) AS all_targets
  FROM rollout._eligible('r1');
SELECT rollout_id FROM rollout.create_rollout('r2', 'svc', '1.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r2', 'half', 'percentage', percent => 50);
SELECT count(*) AS tenants, count(bucket) AS with_bucket,
       count(*) FILTER (WHERE bucket IS DISTINCT FROM rollout.bucket(r.salt, e.tenant_id)) AS wrong_bucket,
       count(*) FILTER (WHERE target) AS leaves
  FROM rollout._eligible('r2') e, rollout.rollout r WHERE r.rollout_id = 'r2';
SELECT count(*) AS misplaced
  FROM rollout._eligible('r2') e
  LEFT JOIN rollout._selection('r2', 1) s USING (tenant_id)
 WHERE (e.target AND e.bucket < 500000) IS DISTINCT FROM (s.stage_no IS NOT NULL);
SELECT count(*) FILTER (WHERE weight <> 0) AS weighted, count(*) FILTER (WHERE stage_no <> 1) AS other_stage
  FROM rollout._selection('r2', 1);

-- A stage activation with nothing held writes no deferral statement, and
-- one activation statement.
SET pg_rollout.actor = 'approver';
SELECT rollout_id FROM rollout.approve_rollout('r1');
TRUNCATE stmt_log;
SELECT status, current_stage FROM rollout.start_rollout('r1');
SELECT tbl, op, count(*) FROM stmt_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS active FROM rollout.activation WHERE rollout_id = 'r1';

-- A blackout holds tenants: they are deferred, and activated once it ends.
SELECT rollout.add_blackout('team-1', tstzrange(now() - interval '1 hour', now() + interval '1 hour'), 'freeze') AS blackout \gset
TRUNCATE stmt_log;
SELECT status, current_stage FROM rollout.advance_rollout('r1', 'next');
SELECT tbl, op, count(*) FROM stmt_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS active, (SELECT count(*) FROM rollout.deferral WHERE rollout_id = 'r1') AS deferred,
       (SELECT activated FROM rollout.rollout_stage WHERE rollout_id = 'r1' AND stage_no = 2) AS stage_activated
  FROM rollout.activation WHERE rollout_id = 'r1';
SELECT details ->> 'tenants_activated' AS activated, details ->> 'tenants_deferred' AS deferred
  FROM rollout.audit_log WHERE action = 'rollout.stage.started' AND subject_id = 'r1' ORDER BY seq DESC LIMIT 1;
-- a tenant already active stays active when a hold covers it later
SELECT count(*) AS env1_active FROM rollout.activation WHERE rollout_id = 'r1' AND tenant_id = 'env-1';
SELECT count(*) AS env1_deferred FROM rollout.deferral WHERE rollout_id = 'r1' AND tenant_id = 'env-1';
SELECT rollout.remove_blackout(:blackout, 'thaw');
SELECT rollout_id, action, detail FROM rollout.tick();
SELECT count(*) AS active, (SELECT count(*) FROM rollout.deferral WHERE rollout_id = 'r1') AS deferred
  FROM rollout.activation WHERE rollout_id = 'r1';

-- The last stage passed: the rollout completes.  A later rollout replaces
-- the activations and remembers them; a third one sends the oldest to the
-- history (the upsert path, with its history statement first).
SELECT status FROM rollout.advance_rollout('r1', 'last');
SELECT (rollout.cancel_rollout('r2', 'not this one')).status;
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('r3', 'svc', '2.0.0', '3.0.0', target_kind => 'environment');
SELECT stage_no FROM rollout.add_stage('r3', 'some', 'tenants', tenants => ARRAY['env-1', 'env-2'], auto_proceed => true,
                                       min_duration => '1 hour');
SELECT stage_no FROM rollout.add_stage('r3', 'all', 'all', min_duration => '1 hour');
SET pg_rollout.actor = 'approver';
SELECT rollout_id FROM rollout.approve_rollout('r3');
SELECT status FROM rollout.start_rollout('r3');
SELECT tenant_id, version, rollout_id, previous_version, previous_rollout_id
  FROM rollout.activation WHERE tenant_id IN ('env-1', 'env-2', 'env-3') ORDER BY tenant_id;
SELECT status FROM rollout.advance_rollout('r3', 'all of them');
SELECT status FROM rollout.advance_rollout('r3', 'done');
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('r4', 'svc', '3.0.0', '1.0.0', target_kind => 'environment',
                                              allow_downgrade => true);
SELECT stage_no FROM rollout.add_stage('r4', 'one', 'tenants', tenants => ARRAY['env-1'], auto_proceed => true);
SELECT stage_no FROM rollout.add_stage('r4', 'all', 'all');
SET pg_rollout.actor = 'approver';
SELECT rollout_id FROM rollout.approve_rollout('r4');
TRUNCATE stmt_log;
SELECT status FROM rollout.start_rollout('r4');
SELECT tbl, op, count(*) FROM stmt_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT tenant_id, version, rollout_id, previous_version, previous_rollout_id
  FROM rollout.activation WHERE tenant_id IN ('env-1', 'env-2') ORDER BY tenant_id;
SELECT tenant_id, version, rollout_id, ended_by, ended_rollout_id
  FROM rollout.activation_history WHERE ended_by = 'superseded' ORDER BY tenant_id;
-- rolling r4 back restores r3's activation of env-1
SELECT rollout.rollback_rollout('r4', 'bad idea') AS restored;
SELECT tenant_id, version, rollout_id FROM rollout.activation WHERE tenant_id = 'env-1';

-- A tick: a due stage that passes starts the next one, which leaves the
-- rollout due when that stage is; no statement on deferral without holds,
-- and the stage's new tenants are one plain INSERT (no upsert: none of them
-- runs an earlier rollout's activation).
SET pg_rollout.actor = 'author';
SELECT (rollout.create_component('web')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('web', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT rollout_id FROM rollout.create_rollout('w1', 'web', '1.0.0', '2.0.0', scope_tenant_id => 'team-2');
SELECT stage_no FROM rollout.add_stage('w1', 'canary', 'tenants', tenants => ARRAY['env-1'], auto_proceed => true);
SELECT stage_no FROM rollout.add_stage('w1', 'half', 'percentage', percent => 50, min_duration => '1 hour',
                                       auto_proceed => true);
SELECT stage_no FROM rollout.add_stage('w1', 'rest', 'all');
SET pg_rollout.actor = 'approver';
SELECT rollout_id FROM rollout.approve_rollout('w1');
SELECT status FROM rollout.start_rollout('w1');
SELECT rollout.report_metrics('w1', NULL, ARRAY['error_rate'], ARRAY[0.01]::float8[]);
TRUNCATE stmt_log;
SELECT rollout_id, action, detail FROM rollout.tick();
SELECT tbl, op, count(*) FROM stmt_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT x.current_stage, x.next_due_at = s.due_at AS due_with_stage, s.due_at > now() AS later,
       s.activated = (SELECT count(*) FROM rollout._selection('w1', 2) WHERE stage_no = 2) AS activated_as_selected
  FROM rollout.rollout x JOIN rollout.rollout_stage s ON s.rollout_id = x.rollout_id AND s.stage_no = x.current_stage
 WHERE x.rollout_id = 'w1';
SELECT count(*) AS ticks_with_nothing_due FROM (SELECT * FROM rollout.tick()) t;

-- Seal: nothing appended since the last seal reads no log row and writes
-- no block; the next append is sealed by the next seal; the chain holds.
SELECT rollout.seal_audit() IS NOT NULL AS sealed;
SELECT max(block) AS last_block FROM rollout.audit_seal \gset
SELECT rollout.seal_audit() AS sealed;
SELECT max(block) = :last_block AS no_new_block FROM rollout.audit_seal;
SELECT rollout.add_blackout('team-2', tstzrange(now() + interval '1 day', now() + interval '2 days'), 'later') > 0 AS added;
SELECT rollout.seal_audit() AS sealed;
SELECT max(block) = :last_block + 1 AS one_new_block FROM rollout.audit_seal;
SELECT rollout.seal_audit() AS sealed;
SELECT intact, problem, rows_unsealed FROM rollout.verify_audit();
DROP TABLE stmt_log;
DROP FUNCTION count_stmt() CASCADE;
