-- Reliability: one rollout that fails inside tick() does not stop the others;
-- tenant attributes that cannot serve as numbers are refused when set, and
-- weights from older data cannot overflow; a parallel restore's missing
-- rows are reported by verify_state().
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;

SELECT (rollout.create_tenant('org')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3', 'p4'], ARRAY['org', 'org', 'org', 'org']);

-- numbers that do not fit double precision are refused, naming the attribute
SELECT rollout.update_tenant('p1', attributes => '{"scan_volume": 1e400}');
SELECT rollout.update_tenant('p1', attributes => '{"scan_volume": -1e309}');
SELECT rollout.update_tenant('p1', attributes => '{"scan_volume": 1e-400}');
SELECT rollout.create_tenant('x', attributes => '{"weight": 2e308}');
SELECT rollout.create_tenants(ARRAY['y', 'z'], ARRAY[NULL, NULL], attributes => ARRAY['{}', '{"w": 1e999}']::jsonb[]);
SELECT rollout.create_tenant('x', attributes => '[1, 2]');
SELECT count(*) AS nothing_written FROM rollout.tenant WHERE tenant_id IN ('x', 'y', 'z');
-- ordinary numbers, zero and negatives are fine
SELECT (rollout.update_tenant('p2', attributes => '{"scan_volume": 0, "offset": -5, "big": 1e30}')).attributes;

-- weights: absent, negative, tiny -> 0; huge -> capped at 1e300
SELECT a, rollout._weight(a::jsonb, 'w') AS weight
  FROM unnest(ARRAY['{}', '{"w": "x"}', '{"w": -3}', '{"w": 1e-320}', '{"w": 2.5}', '{"w": 1e400}']) a;

-- data written before 0.2.0 validated attributes: a weighted stage still works
UPDATE rollout.tenant SET attributes = '{"scan_volume": 1e400}' WHERE tenant_id = 'p1';
SELECT (rollout.create_component('a')).component_id, (rollout.create_component('b')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version(c, v::rollout.semver, 'published')
                        FROM unnest(ARRAY['a', 'b']) c, unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version(c, '1.0.0') FROM unnest(ARRAY['a', 'b']) c) x;
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('ra', 'a', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('ra', 'canary', 'tenants', tenants => ARRAY['p2'], auto_proceed => true, pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('ra', 'heavy', 'percentage', percent => 50, weight_by => 'scan_volume',
                                       auto_proceed => true, pass_without_metrics => true);
SELECT rollout_id FROM rollout.create_rollout('rb', 'b', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('rb', 'canary', 'tenants', tenants => ARRAY['p3'], auto_proceed => true, pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('rb', 'all', 'all', auto_proceed => true, pass_without_metrics => true);
SET pg_rollout.actor = 'approver';
SELECT status FROM rollout.approve_rollout('ra');
SELECT status FROM rollout.approve_rollout('rb');
SELECT status FROM rollout.start_rollout('ra');
SELECT status FROM rollout.start_rollout('rb');
SELECT tenant_id FROM rollout.preview('ra') WHERE stage_no = 2 AND tenant_id = 'p1';

-- A fault in one rollout's step (injected with a trigger on the activation
-- table; any bug or bad row would do) rolls back that step only.
CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.rollout_id = 'ra' THEN
        RAISE EXCEPTION 'injected fault in %', NEW.rollout_id USING ERRCODE = current_setting('test.fault_state');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER inject_fault BEFORE INSERT ON rollout.activation FOR EACH ROW EXECUTE FUNCTION inject_fault();

-- a transient failure (serialization): ra stays running for the next tick
SET test.fault_state = '40001';
SELECT * FROM rollout.tick() ORDER BY rollout_id;
SELECT rollout_id, status, current_stage FROM rollout.rollout ORDER BY 1;

-- any other failure: ra is paused with the error, rb goes on
SET test.fault_state = 'XX000';
SELECT * FROM rollout.tick() ORDER BY rollout_id;
SELECT rollout_id, status, current_stage, status_reason FROM rollout.rollout ORDER BY 1;
SELECT event, rollout_id, payload -> 'details' ->> 'sqlstate' AS sqlstate, payload -> 'details' ->> 'paused' AS paused
  FROM rollout.event_outbox WHERE event = 'rollout.tick_failed' ORDER BY event_id;
SELECT count(*) AS audited FROM rollout.audit_log WHERE action = 'rollout.tick_failed';
SELECT rollout.resolve_version('p3', 'b') AS rb_advanced, rollout.resolve_version('p1', 'a') AS ra_not_advanced;
SELECT count(*) AS ra_stage2_activations FROM rollout.activation WHERE rollout_id = 'ra' AND stage_no = 2;

-- fixed, resumed, and the next tick goes on
DROP TRIGGER inject_fault ON rollout.activation;
SELECT status FROM rollout.resume_rollout('ra', 'fault fixed');
SELECT * FROM rollout.tick() ORDER BY rollout_id;
SELECT rollout.resolve_version('p1', 'a') AS ra_heavy_tenant;

-- verify_state: clean here; a lost parent row is reported
SELECT count(*) AS problems FROM rollout.verify_state() WHERE problems > 0;
ALTER TABLE rollout.tenant DISABLE TRIGGER USER;
DELETE FROM rollout.tenant WHERE tenant_id = 'p4';
ALTER TABLE rollout.tenant ENABLE TRIGGER USER;
SELECT check_name, problems, example FROM rollout.verify_state() WHERE problems > 0 ORDER BY 1;
