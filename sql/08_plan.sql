-- JSON rollout plans: rollout.create_rollout_from_plan() with seed 000's
-- rollout-789 loaded verbatim, the canary_traffic, feature_flag and
-- blue_green strategies, and every kind of error, each leaving nothing
-- behind.
\set VERBOSITY terse
SET search_path = public, rollout;
SET pg_rollout.actor = 'platform-admin@acme.com';

-- Start from an empty extension whatever test files ran before in this
-- database (they share one under make installcheck).
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

-- What a plan leaves behind, to show that a failed one leaves nothing.
CREATE FUNCTION test_stored(OUT rollouts bigint, OUT stages bigint, OUT triggers bigint, OUT flags bigint,
                            OUT flag_settings bigint, OUT audit_rows bigint) LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM rollout.rollout), (SELECT count(*) FROM rollout.rollout_stage),
           (SELECT count(*) FROM rollout.rollout_trigger), (SELECT count(*) FROM rollout.flag),
           (SELECT count(*) FROM rollout.flag_setting), (SELECT count(*) FROM rollout.audit_log)
$$;
-- The error of a plan, and the context line naming the part of the plan
-- that failed (without the PL/pgSQL lines above it).
CREATE FUNCTION test_plan_error(doc text, OUT message text, OUT plan_context text) LANGUAGE plpgsql AS $$
DECLARE
    ctx text;
BEGIN
    PERFORM rollout.create_rollout_from_plan(doc);
    message := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    plan_context := substring(ctx from '(?n)^rollout plan, .*$');
END
$$;

-- seed 000's tenant tree
SELECT tenant_id FROM rollout.create_tenant('acme-corp', 'ACME Corp', NULL, 'organisation', '{}');
SELECT tenant_id FROM rollout.create_tenant('platform-eng', 'Platform Engineering', 'acme-corp', 'team', '{}');
SELECT tenant_id FROM rollout.create_tenant('platform-eng-core-services', 'core-services', 'platform-eng', 'project', '{"scan_volume": 1200}');
SELECT tenant_id FROM rollout.create_tenant('platform-eng-infrastructure', 'infrastructure', 'platform-eng', 'project', '{"scan_volume": 300}');
SELECT tenant_id FROM rollout.create_tenant('product-dev', 'Product Development', 'acme-corp', 'team', '{}');
SELECT tenant_id FROM rollout.create_tenant('web-app', 'web-app', 'product-dev', 'project', '{"scan_volume": 5000}');
SELECT tenant_id FROM rollout.create_tenant('mobile-api', 'mobile-api', 'product-dev', 'project', '{"scan_volume": 2000}');
SELECT tenant_id FROM rollout.create_tenant('data-pipeline', 'data-pipeline', 'product-dev', 'project', '{"scan_volume": 800}');
SELECT tenant_id FROM rollout.create_tenant('security-team', 'Security', 'acme-corp', 'team', '{}');
SELECT tenant_id FROM rollout.create_tenant('security-tools', 'security-tools', 'security-team', 'project', '{"scan_volume": 150}');

-- the policy set and its two versions
SELECT component_id, kind FROM rollout.create_component('policy:production', 'policy_set', 'Production policy set');
SELECT version, status FROM rollout.add_version('policy:production', '1.0.0', 'published');
SELECT version, status FROM rollout.add_version('policy:production', '2.0.0', 'published');

SELECT * FROM test_stored();

-- ---------------------------------------------------------------------
-- seed 000's "Rollout Plan Definition", verbatim
-- ---------------------------------------------------------------------
WITH doc AS (SELECT $plan$
{
  "rollout_id": "rollout-789",
  "policy_set": "production",
  "from_version": "v1.0.0",
  "to_version": "v2.0.0",
  "strategy": "staged",
  "stages": [
    {
      "name": "canary",
      "description": "Single low-risk tenant",
      "tenants": ["platform-eng-core-services"],
      "duration": "24h",
      "success_criteria": {
        "max_new_failures": 5,
        "max_failure_rate_increase": 0.05
      },
      "auto_proceed": false
    },
    {
      "name": "early-adopters",
      "description": "25% of tenants (by scan volume)",
      "selection": {
        "method": "percentage",
        "value": 25,
        "weight_by": "scan_volume"
      },
      "duration": "48h",
      "success_criteria": {
        "max_new_failures": 20,
        "max_failure_rate_increase": 0.10
      },
      "auto_proceed": true
    },
    {
      "name": "majority",
      "description": "75% of tenants",
      "selection": {
        "method": "percentage",
        "value": 75
      },
      "duration": "24h",
      "auto_proceed": true
    },
    {
      "name": "full",
      "description": "100% of tenants",
      "selection": {
        "method": "all"
      }
    }
  ],
  "rollback": {
    "automatic": true,
    "triggers": [
      {"metric": "failure_rate_increase", "threshold": 0.20},
      {"metric": "new_critical_blocks", "threshold": 50}
    ]
  }
}
$plan$ AS text)
SELECT r.rollout_id, r.component_id, r.from_version, r.to_version, r.strategy, r.status, r.rollback_automatic,
       r.stage_timeout, r.monitoring_extension, r.created_by, r.plan = doc.text::jsonb AS plan_kept
  FROM doc, LATERAL rollout.create_rollout_from_plan(doc.text) r;

SELECT stage_no, name, method, percent, weight_by, status, auto_proceed
  FROM rollout.stage_status WHERE rollout_id = 'rollout-789';
SELECT stage_no, tenants, min_duration, max_new_failures, max_failure_rate_increase, metric_bounds, description
  FROM rollout.rollout_stage WHERE rollout_id = 'rollout-789' ORDER BY stage_no;
SELECT metric, threshold FROM rollout.rollout_trigger WHERE rollout_id = 'rollout-789' ORDER BY metric;
-- the API calls it made, in order, by the acting user
SELECT actor, action, details ->> 'name' AS stage, details ->> 'metric' AS metric
  FROM rollout.audit_log WHERE subject_kind = 'rollout' AND subject_id = 'rollout-789' ORDER BY seq;
-- the canary stage selects the seed's single low-risk tenant
SELECT stage_no, stage, tenant_id FROM rollout.preview('rollout-789') WHERE stage_no <= 1;

SELECT * FROM test_stored();

-- ---------------------------------------------------------------------
-- Errors: malformed JSON and the document's shape (checked before
-- anything is created), then errors of the SQL API, which propagate with
-- a context line naming the part of the plan.  Nothing is stored.
-- ---------------------------------------------------------------------
-- malformed JSON: where the parser stopped
\set VERBOSITY default
SELECT rollout.create_rollout_from_plan($plan${
  "rollout_id": "bad-plan",
  "policy_set": "production"
  "from_version": "1.0.0",
  "to_version": "2.0.0",
  "stages": [{"name": "all", "selection": {"method": "all"}}]
}$plan$);
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan",}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "rollout_id": "again"}');
SELECT rollout.create_rollout_from_plan('');
SELECT rollout.create_rollout_from_plan(NULL);

-- the document's shape: the path of the problem, and what is wrong
SELECT rollout.create_rollout_from_plan('[]');
-- a typo in a field name
SELECT rollout.create_rollout_from_plan($plan${
  "rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
  "stages": [{"name": "canary", "tenants": ["web-app"], "duraton": "24h"}]
}$plan$);
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}], "approver": "bob"}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "from_version": "1.0.0", "to_version": "2.0.0",
  "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "component": "policy:production",
  "from_version": "1.0.0", "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "to_version": "2.0.0",
  "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": 789, "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "rolling", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- stages
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0"}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": []}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "tenants": ["web-app"], "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s"}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "tenants": []}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "tenants": ["web-app", 7]}]}');
-- percentages: 120, 0, a string; an unknown method; a value for all
SELECT rollout.create_rollout_from_plan($plan${
  "rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
  "stages": [{"name": "canary", "tenants": ["web-app"]},
             {"name": "most", "selection": {"method": "percentage", "value": 120}}]
}$plan$);
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "percentage", "value": 0}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "percentage", "value": "25"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "random", "value": 25}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all", "value": 100}}]}');
-- durations
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}, "duration": "24 hours"}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}, "duration": "P1M"}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}, "duration": "99999999999h"}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "monitoring_extension": "0s", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- success criteria and triggers
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"},
  "success_criteria": {"max_new_failures": -1}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"},
  "success_criteria": {"min_new_failures": 1}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"},
  "success_criteria": {"max_Error_Rate": 0.1}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "rollback": {"automatic": "yes"}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "rollback": {"triggers": [{"metric": "error_rate", "threshold": 0.1}, {"metric": "error_rate", "threshold": 0.2}]}}');
-- config that does not go with the strategy
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}], "config": {"increment": 10}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "canary_traffic", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "config": {"initial_percentage": 5, "increment": 10, "increment_interval": "4h"}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "canary_traffic", "config": {"initial_percentage": 5, "increment": 10}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "canary_traffic", "config": {"initial_percentage": 5, "increment": 10,
  "increment_interval": "4h", "max_errror_rate": 0.01}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "feature_flag", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "feature_flag", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "config": {"flag_name": "policy-v2-enabled", "overrides": [{"tenant": "web-app", "value": "on"}]}}');

-- errors of the SQL API, unchanged
\set VERBOSITY terse
-- stages that shrink
SELECT rollout.create_rollout_from_plan($plan${
  "rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
  "stages": [{"name": "most", "selection": {"method": "percentage", "value": 75}},
             {"name": "few", "selection": {"method": "percentage", "value": 25}}]
}$plan$);
-- duplicate stage names
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "wave", "selection": {"method": "percentage", "value": 10}},
                                    {"name": "wave", "selection": {"method": "percentage", "value": 50}}]}');
-- an unknown tenant in the canary list
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "canary", "tenants": ["web-app", "platform-eng-core-service"]}]}');
-- an unknown component, by id and by policy set
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "component": "policy:staging", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "staging", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- an unknown version
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "3.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- a downgrade without allow_downgrade
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "2.0.0",
  "to_version": "1.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- an invalid stage name, a stage after "all", a duplicate rollout id, an unknown scope
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "Early Adopters", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "full", "selection": {"method": "all"}},
                                    {"name": "more", "selection": {"method": "percentage", "value": 50}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "rollout-789", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "scope": "initech", "stages": [{"name": "s", "selection": {"method": "all"}}]}');
-- a bad trigger metric, a flag override on an unknown tenant: after the
-- rollout and its stages were created, all undone
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "rollback": {"triggers": [{"metric": "Error Rate", "threshold": 0.1}]}}');
SELECT rollout.create_rollout_from_plan('{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0",
  "to_version": "2.0.0", "strategy": "feature_flag", "stages": [{"name": "s", "selection": {"method": "all"}}],
  "config": {"flag_name": "bad-plan-flag", "overrides": [{"tenant": "nobody", "value": true}]}}');
-- each with a context line naming the part of the plan that failed
SELECT n, plan_context, message
  FROM (VALUES
    (1, '{"rollout_id": "bad-plan", "policy_set": "staging", "from_version": "1.0.0", "to_version": "2.0.0",
          "stages": [{"name": "s", "selection": {"method": "all"}}]}'),
    (2, '{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
          "stages": [{"name": "most", "selection": {"method": "percentage", "value": 75}},
                     {"name": "few", "selection": {"method": "percentage", "value": 25}}]}'),
    (3, '{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
          "strategy": "canary", "config": {"initial_percentage": 5, "increment": 10, "increment_interval": "1h",
          "max_error_rate": 0.01}, "rollback": {"triggers": [{"metric": "error_rate", "threshold": 0.1},
          {"metric": "Latency", "threshold": 300}]}}'),
    (4, '{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
          "strategy": "feature_flag", "stages": [{"name": "s", "selection": {"method": "all"}}],
          "config": {"flag_name": "bad-plan-flag", "overrides": [{"tenant": "web-app", "value": true},
          {"tenant": "nobody", "value": true}]}}'),
    (5, '{"rollout_id": "bad-plan", "policy_set": "production", "from_version": "1.0.0", "to_version": "2.0.0",
          "strategy": "canary", "config": {"initial_percentage": 5, "increment": 1e-5, "increment_interval": "1h"}}')
  ) AS t(n, doc), LATERAL test_plan_error(doc)
 ORDER BY n;

SELECT * FROM test_stored();

-- ---------------------------------------------------------------------
-- The other strategies
-- ---------------------------------------------------------------------
-- a downgrade, explicitly allowed; scope, channel and kind; durations in every form
SELECT rollout_id, from_version, to_version, allow_downgrade, scope_tenant_id, channel_id, target_kind,
       stage_timeout, monitoring_extension
  FROM rollout.create_rollout_from_plan('{"rollout_id": "rollback-to-v1", "component": "policy:production",
    "from_version": "2.0.0", "to_version": "1.0.0", "allow_downgrade": true,
    "scope": "acme-corp", "channel": "stable", "target_kind": "project",
    "stage_timeout": "P1DT12H", "monitoring_extension": "30m",
    "stages": [{"name": "s1", "tenants": ["web-app"], "duration": "PT24H"},
               {"name": "s2", "tenants": ["mobile-api"], "duration": "2d"},
               {"name": "s3", "tenants": ["data-pipeline"], "duration": "1w"},
               {"name": "s4", "tenants": ["security-tools"], "duration": "1d12h30m45s"},
               {"name": "s5", "selection": {"method": "tenants", "tenants": ["platform-eng"]}, "duration": "P2W"}]}');
SELECT stage_no, name, method, tenants, min_duration FROM rollout.rollout_stage WHERE rollout_id = 'rollback-to-v1' ORDER BY stage_no;

-- canary_traffic (seed 000's "Canary with Traffic Split"): generated stages
SELECT rollout_id, strategy, status FROM rollout.create_rollout_from_plan($plan${
  "rollout_id": "canary-v2",
  "policy_set": "production",
  "from_version": "1.0.0",
  "to_version": "2.0.0",
  "strategy": "canary_traffic",
  "config": {
    "initial_percentage": 5,
    "increment": 10,
    "increment_interval": "4h",
    "max_error_rate": 0.01
  },
  "rollback": {"automatic": false, "triggers": [{"metric": "error_rate", "threshold": 0.05}]},
  "notifications": [{"channel": "slack", "target": "#platform-engineering"}]
}$plan$);
SELECT s.stage_no, s.name, s.method, s.percent, s.min_duration, s.metric_bounds, s.auto_proceed
  FROM rollout.rollout_stage s WHERE s.rollout_id = 'canary-v2' ORDER BY s.stage_no;
SELECT rollback_automatic, plan -> 'notifications' AS notifications FROM rollout.rollout WHERE rollout_id = 'canary-v2';

-- feature_flag (seed 000's "Feature Flag"), loaded by an operator: the
-- API calls run with the operator's privileges; only the plan is stored
-- as the extension's owner (operators cannot UPDATE rollout.rollout)
SELECT has_function_privilege('rollout_viewer', 'rollout.create_rollout_from_plan(text)', 'EXECUTE') AS viewer,
       has_function_privilege('rollout_operator', 'rollout.create_rollout_from_plan(text)', 'EXECUTE') AS operator;
CREATE ROLE regress_plan_operator IN ROLE rollout_operator;
SET ROLE regress_plan_operator;
SELECT rollout_id, strategy, flag_id, created_by FROM rollout.create_rollout_from_plan($plan${
  "rollout_id": "flag-v2",
  "policy_set": "production",
  "from_version": "1.0.0",
  "to_version": "2.0.0",
  "strategy": "feature_flag",
  "config": {
    "flag_name": "policy-v2-enabled",
    "default": false,
    "overrides": [
      {"tenant": "security-team", "value": true},
      {"tenant": "data-pipeline", "value": false}
    ]
  },
  "stages": [{"name": "everyone", "selection": {"method": "all"}}]
}$plan$);
RESET ROLE;
SELECT flag_id, default_enabled, description FROM rollout.flag WHERE flag_id = 'policy-v2-enabled';
SELECT tenant_id, enabled, reason, set_by FROM rollout.flag_setting WHERE flag_id = 'policy-v2-enabled' ORDER BY tenant_id;
SELECT rollout.flag_enabled('security-tools', 'policy-v2-enabled') AS security_tools,
       rollout.flag_enabled('data-pipeline', 'policy-v2-enabled') AS data_pipeline;

-- blue_green without stages: one "switch" stage; the config is kept in the plan only
SELECT rollout_id, strategy, plan -> 'config' AS config FROM rollout.create_rollout_from_plan($plan${
  "rollout_id": "blue-green-v2",
  "component": "policy:production",
  "from_version": "1.0.0",
  "to_version": "2.0.0",
  "strategy": "blue_green",
  "description": "both versions evaluated, then switched at once",
  "config": {
    "parallel_evaluation": true,
    "comparison_period": "24h",
    "switch_threshold": {"verdict_match_rate": 0.95}
  }
}$plan$);
SELECT stage_no, name, method, description FROM rollout.rollout_stage WHERE rollout_id = 'blue-green-v2';

SELECT rollout_id, strategy, status, (SELECT count(*) FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id) AS stages,
       plan IS NOT NULL AS plan_kept
  FROM rollout.rollout r ORDER BY rollout_id;
SELECT * FROM test_stored();
DROP ROLE regress_plan_operator;

-- A number that underflows double precision is refused where it stands,
-- not stored as 0 (numbers inside strings are text).
\set VERBOSITY default
SELECT rollout.create_rollout_from_plan('{"rollout_id": "tiny", "policy_set": "production",
  "from_version": "1.0.0", "to_version": "2.0.0", "description": "1e-400 in a string is text",
  "stages": [{"name": "all", "selection": {"method": "all"},
              "success_criteria": {"max_error_rate": 1e-400}}]}');
\set VERBOSITY terse
SELECT count(*) AS nothing_stored FROM rollout.rollout WHERE rollout_id = 'tiny';
