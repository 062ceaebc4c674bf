-- Components and versions: semantic ordering, status transitions, EOL,
-- platform default, and every error.
\set VERBOSITY terse
-- the semver operators and max/min live in schema rollout
SET search_path = public, rollout;

SELECT component_id, kind, display_name, default_version, grace_period
  FROM rollout.create_component('policy:production', 'policy_set', 'Production policy set');
SELECT component_id, kind FROM rollout.create_component('web-plugin', 'plugin', grace_period => '14 days');

-- versions in any order; listed in precedence order
SELECT version, status, released_at IS NOT NULL AS released
  FROM rollout.add_version('policy:production', 'v1.0.0', 'published', notes => 'initial');
SELECT count(*) FROM (
    SELECT rollout.add_version('policy:production', v)
      FROM unnest(ARRAY['1.10.0', '1.9.2', '2.0.0-rc.1', '2.0.0-beta.11', '2.0.0-beta.2', '2.0.0']::rollout.semver[]) v) s;
SELECT component_id, version, status, is_default FROM rollout.component_versions WHERE component_id = 'policy:production';
SELECT max(version) AS newest, min(version) AS oldest FROM rollout.component_version WHERE component_id = 'policy:production';

-- errors on versions, nothing stored
SELECT rollout.add_version('policy:production', '1.2');
SELECT rollout.add_version('policy:production', '01.2.3');
SELECT rollout.add_version('policy:production', '1.0.0');
SELECT rollout.add_version('policy:production', '1.0.0+build.7');
SELECT rollout.add_version('policy:production', NULL);
SELECT rollout.add_version('policy:production', '3.0.0', 'eol');
SELECT rollout.add_version('policy:production', '3.0.0', attributes => '[]');
SELECT rollout.add_version('no-such-component', '1.0.0');
SELECT count(*) FROM rollout.component_version WHERE component_id = 'policy:production';

-- status transitions
SELECT status FROM rollout.set_version_status('policy:production', '1.9.2', 'published');
SELECT status FROM rollout.set_version_status('policy:production', '1.9.2', 'deprecated', reason => 'superseded by 1.10');
SELECT status FROM rollout.set_version_status('policy:production', '1.9.2', 'published', reason => 'un-deprecate');
SELECT status, eol_date = current_date AS eol_today FROM rollout.set_version_status('policy:production', '1.9.2', 'eol');
SELECT rollout.set_version_status('policy:production', '1.9.2', 'published');
SELECT rollout.set_version_status('policy:production', '2.0.0', 'deprecated');
SELECT rollout.set_version_status('policy:production', '2.0.0', 'retired');
SELECT rollout.set_version_status('policy:production', '9.9.9', 'published');
SELECT rollout.set_version_status('no-such-component', '1.0.0', 'published');

-- EOL dates and grace
SELECT eol_date FROM rollout.set_version_eol('policy:production', '1.0.0', '2027-03-31', reason => 'announced');
SELECT version, eol_date, grace_ends FROM rollout.component_versions WHERE eol_date IS NOT NULL AND version <> '1.9.2';
SELECT rollout.set_version_eol('policy:production', '1.9.2', '2030-01-01');
SELECT eol_date FROM rollout.set_version_eol('policy:production', '1.0.0', NULL, reason => 'extended support');

-- the platform default: a published or deprecated version
SELECT rollout.set_default_version('policy:production', '1.10.0', reason => 'baseline');
SELECT status FROM rollout.set_version_status('policy:production', '1.10.0', 'published');
SELECT default_version FROM rollout.set_default_version('policy:production', '1.10.0', reason => 'baseline');
SELECT version FROM rollout.component_versions WHERE is_default;
SELECT rollout.set_default_version('policy:production', '2.0.0');
SELECT rollout.set_default_version('policy:production', '1.9.2');
SELECT rollout.set_default_version('policy:production', '4.0.0');
SELECT rollout.set_default_version('no-such-component', '1.0.0');
-- a deprecated default stays the default; it cannot reach eol while it is one
SELECT status FROM rollout.set_version_status('policy:production', '1.10.0', 'deprecated');
SELECT version, status FROM rollout.component_versions WHERE is_default;
SELECT rollout.set_version_status('policy:production', '1.10.0', 'eol');
SELECT default_version FROM rollout.set_default_version('policy:production', NULL, reason => 'no default');
SELECT status FROM rollout.set_version_status('policy:production', '1.10.0', 'eol');

-- components: errors
SELECT rollout.create_component('policy:production');
SELECT rollout.create_component('Bad Component');
SELECT rollout.create_component('c1', 'widget');
SELECT rollout.create_component('c1', attributes => '1');
SELECT rollout.create_component('c1', grace_period => '-1 day');
SELECT grace_period, description FROM rollout.update_component('web-plugin', description => 'browser plugin', grace_period => '7 days');
SELECT rollout.update_component('web-plugin', grace_period => '-7 days');
SELECT rollout.update_component('web-plugin', attributes => '"x"');
SELECT rollout.update_component('no-such-component', description => 'x');
SELECT count(*) FROM rollout.component;

SELECT action, subject_kind, subject_id, reason, details->>'from' AS "from", details->>'to' AS "to"
  FROM rollout.audit_log WHERE subject_kind IN ('component', 'version') ORDER BY seq;
