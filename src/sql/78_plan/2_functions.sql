-- JSON rollout plans (src/plan.c): seed 000's "Rollout Plan Definition"
-- document, validated strictly and created through the SQL API in one
-- statement.  docs/plan-json.md describes the format.

CREATE FUNCTION rollout.create_rollout_from_plan(plan text)
RETURNS rollout.rollout
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_create_rollout_from_plan';
COMMENT ON FUNCTION rollout.create_rollout_from_plan(text) IS
    'create a draft rollout from a JSON plan document: validated strictly (errors name the field''s path), then create_rollout, add_stage or add_canary_stages, add_trigger and set_flag with the caller''s privileges, all or nothing; the document is kept in rollout.rollout.plan';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.create_rollout_from_plan(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_rollout_from_plan(text)
TO rollout_operator;
