-- Version governance functions: the status rules, the one exemption
-- decider, the evaluation every view, report, simulation and enforcement
-- check goes through, policy / grace / exemption changes, enforcement.

-- ---------------------------------------------------------------------
-- Rules (pure)
-- ---------------------------------------------------------------------

-- A tenant's grace period after a version's EOL: the component's, plus its
-- approved extensions, never past the policy's hard limit.
CREATE FUNCTION rollout._grace(component_grace interval, extension interval, grace_limit interval)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT component_grace OPERATOR(pg_catalog.+)
           least(coalesce(extension, '0'::pg_catalog.interval),
                 greatest(coalesce(grace_limit, component_grace) OPERATOR(pg_catalog.-) component_grace,
                          '0'::pg_catalog.interval))
$$;
COMMENT ON FUNCTION rollout._grace(interval, interval, interval) IS
    'internal: effective grace period: the component''s plus approved extensions, capped by the policy''s grace_limit';

-- Status of one version against one policy (NULL policy fields: no rule) at a
-- time; first match wins.  The day of an instant is its UTC day, whatever
-- the session's TimeZone (a session must not move its tenants in or out of
-- grace, nor past a block policy, by setting TimeZone).  The pure rules below are plain SQL expressions
-- (no SET clause, every operator qualified) so that the planner inlines
-- them into the evaluation of 2,000,000 pairs.
CREATE FUNCTION rollout._version_status(version rollout.semver, min_version rollout.semver, max_version rollout.semver,
                                        baseline rollout.semver, blocked rollout.semver_multirange,
                                        eol_date date, grace interval, at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN version IS NULL THEN 'not_deployed'
        WHEN blocked OPERATOR(pg_catalog.@>) version THEN 'blocked'
        WHEN eol_date IS NOT NULL
             AND pg_catalog.timezone('UTC', at)::pg_catalog.date OPERATOR(pg_catalog.>=)
                 (eol_date OPERATOR(pg_catalog.+) grace)::pg_catalog.date THEN 'past_grace'
        WHEN version OPERATOR(rollout.<) min_version THEN 'below_minimum'
        WHEN version OPERATOR(rollout.>) max_version THEN 'above_maximum'
        WHEN eol_date IS NOT NULL AND pg_catalog.timezone('UTC', at)::pg_catalog.date OPERATOR(pg_catalog.>=) eol_date THEN 'eol_in_grace'
        WHEN version OPERATOR(rollout.<) baseline THEN 'behind_baseline'
        ELSE 'compliant' END
$$;
COMMENT ON FUNCTION rollout._version_status(rollout.semver, rollout.semver, rollout.semver, rollout.semver,
                                           rollout.semver_multirange, date, interval, timestamptz) IS
    'internal: blocked, past_grace, below_minimum, above_maximum, eol_in_grace, behind_baseline or compliant (first that applies)';

CREATE FUNCTION rollout._exemption_in_force(e rollout.exemption, at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(e.approved_at OPERATOR(pg_catalog.<=) at AND at OPERATOR(pg_catalog.<) e.expires_at
                    AND (e.revoked_at IS NULL OR at OPERATOR(pg_catalog.<) e.revoked_at), false)
$$;
COMMENT ON FUNCTION rollout._exemption_in_force(rollout.exemption, timestamptz) IS
    'internal: the exemption is approved, not expired and not revoked at that instant (part of rollout.exemption_applies)';

-- THE decider: enforcement, the roster, the summaries, simulation and the
-- ledger all ask this function, so they cannot disagree.
CREATE FUNCTION rollout.exemption_applies(e rollout.exemption, tenant_path text[], component_id text,
                                          version rollout.semver, at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(rollout._exemption_in_force(e, at)
                    AND e.component_id OPERATOR(pg_catalog.=) component_id
                    AND (e.tenant_id OPERATOR(pg_catalog.=) tenant_path[pg_catalog.cardinality(tenant_path)]
                         OR (e.include_subtree AND e.tenant_id OPERATOR(pg_catalog.=) ANY (tenant_path)))
                    AND e.versions OPERATOR(pg_catalog.@>) version, false)
$$;
COMMENT ON FUNCTION rollout.exemption_applies(rollout.exemption, text[], text, rollout.semver, timestamptz) IS
    'does exemption e cover the tenant (given by its path, root first), component and version at that instant? The one rule used by enforcement, views and reports';

CREATE FUNCTION rollout._exemption_for_path(tenant_path text[], component_id text, version rollout.semver, at timestamptz)
RETURNS rollout.exemption
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e FROM rollout.exemption e
     WHERE e.component_id = $2 AND e.tenant_id = ANY ($1)
       AND rollout.exemption_applies(e, $1, $2, $3, $4)
     ORDER BY e.expires_at DESC, e.exemption_id
     LIMIT 1
$$;
COMMENT ON FUNCTION rollout._exemption_for_path(text[], text, rollout.semver, timestamptz) IS
    'internal: the exemption covering a tenant (by path), component and version at an instant (the latest-expiring), or NULL';


-- ---------------------------------------------------------------------
-- Who sees what: a role bound with rollout.bind_tenant() sees its subtrees
-- ---------------------------------------------------------------------

-- NULL: everything (superuser, or a session user bound to nothing);
-- otherwise the tenants inside the subtrees bound to the session user (or
-- to a role it is a member of), as set_tenant checks them.
CREATE FUNCTION rollout._visible_tenants()
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roots text[];
BEGIN
    IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT b.tenant_id) INTO roots
      FROM rollout.tenant_binding b JOIN pg_roles r ON r.rolname = b.role_name
     WHERE pg_has_role(session_user, r.oid, 'MEMBER');
    IF roots IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT DISTINCT d.tenant_id FROM unnest(roots) x(root), rollout.descendants(x.root, true) d);
END
$$;
COMMENT ON FUNCTION rollout._visible_tenants() IS
    'internal: NULL when the session user sees every tenant, else the tenants of the subtrees it is bound to (rollout.bind_tenant)';

-- The exemption covering a tenant (for a bound role, one of its tenants).
CREATE FUNCTION rollout.exemption_for(tenant_id text, component_id text, version rollout.semver,
                                      at timestamptz DEFAULT pg_catalog.now())
RETURNS rollout.exemption
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- NULL for a tenant a bound role does not see, as for one that does not exist
    SELECT rollout._exemption_for_path(rollout.tenant_path($1), $2, $3, $4)
      FROM (SELECT rollout._visible_tenants() AS v) vis
     WHERE vis.v IS NULL OR $1 = ANY (vis.v)
$$;
COMMENT ON FUNCTION rollout.exemption_for(text, text, rollout.semver, timestamptz) IS
    'the exemption that covers a tenant, component and version at an instant (NULL if none, or if the tenant is outside the subtrees of a bound role), decided by rollout.exemption_applies';

-- ---------------------------------------------------------------------
-- Policies
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._policies_as_of(at timestamptz)
RETURNS rollout.version_policy[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(p ORDER BY p.policy_id), '{}') FROM rollout.version_policy p
     WHERE p.valid_from <= $1 AND (p.valid_to IS NULL OR p.valid_to > $1)
$$;
COMMENT ON FUNCTION rollout._policies_as_of(timestamptz) IS 'internal: the policy rows in effect at an instant';

-- Validate a policy and build its row (nothing is written: simulation uses it too).
CREATE FUNCTION rollout._policy_row(component_id text, tenant_id text, min_version rollout.semver,
                                    max_version rollout.semver, baseline rollout.semver,
                                    blocked rollout.semver_multirange, action text, grace_limit interval,
                                    reason text)
RETURNS rollout.version_policy
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.version_policy;
    st text;
    v rollout.semver;
    what text;
BEGIN
    IF component_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'component id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component c WHERE c.component_id = _policy_row.component_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('component "%s" does not exist', component_id);
    END IF;
    IF tenant_id IS NOT NULL THEN
        SELECT t.status INTO st FROM rollout.tenant t WHERE t.tenant_id = _policy_row.tenant_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('tenant "%s" does not exist', tenant_id);
        ELSIF st = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('tenant "%s" is decommissioned', tenant_id);
        END IF;
    END IF;
    FOREACH what IN ARRAY ARRAY['minimum', 'maximum', 'baseline'] LOOP
        v := CASE what WHEN 'minimum' THEN min_version WHEN 'maximum' THEN max_version ELSE baseline END;
        IF v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.component_version cv
                                          WHERE cv.component_id = _policy_row.component_id
                                            AND cv.version OPERATOR(rollout.=) v) THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('%s version %s of component "%s" does not exist', what, v, component_id),
                HINT = 'Add it first with rollout.add_version().';
        END IF;
    END LOOP;
    IF min_version OPERATOR(rollout.>) max_version THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('minimum version %s is above maximum version %s in the policy of component "%s"',
                             min_version, max_version, component_id);
    END IF;
    IF baseline OPERATOR(rollout.<) min_version OR baseline OPERATOR(rollout.>) max_version THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('baseline %s is outside [%s, %s] in the policy of component "%s"',
                             baseline, coalesce(min_version::text, ''), coalesce(max_version::text, ''), component_id);
    END IF;
    IF blocked @> baseline THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('baseline %s is blocked in the policy of component "%s"', baseline, component_id);
    END IF;
    IF action IS NULL OR action NOT IN ('report', 'remind', 'schedule', 'block') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid policy action "%s"', action),
            DETAIL = 'A policy action is report, remind, schedule or block.';
    END IF;
    IF grace_limit < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid grace limit %s in the policy of component "%s"', grace_limit, component_id);
    END IF;
    p.component_id := component_id;
    p.tenant_id := tenant_id;
    p.min_version := min_version;
    p.max_version := max_version;
    p.baseline := baseline;
    p.blocked := coalesce(blocked, '{}');
    p.action := action;
    p.grace_limit := grace_limit;
    p.reason := reason;
    p.set_by := rollout._actor();
    p.valid_from := now();
    RETURN p;
END
$$;
COMMENT ON FUNCTION rollout._policy_row(text, text, rollout.semver, rollout.semver, rollout.semver,
                                       rollout.semver_multirange, text, interval, text) IS
    'internal: validate a version policy and build its row without writing it';

CREATE FUNCTION rollout.set_version_policy(component_id text, tenant_id text DEFAULT NULL,
                                           min_version rollout.semver DEFAULT NULL,
                                           max_version rollout.semver DEFAULT NULL,
                                           baseline rollout.semver DEFAULT NULL,
                                           blocked rollout.semver_multirange DEFAULT '{}',
                                           action text DEFAULT 'report', grace_limit interval DEFAULT NULL,
                                           reason text DEFAULT NULL)
RETURNS rollout.version_policy
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.version_policy;
    old rollout.version_policy;
BEGIN
    PERFORM rollout._component_for_update(component_id);
    IF tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(tenant_id);
    END IF;
    p := rollout._policy_row(component_id, tenant_id, min_version, max_version, baseline, blocked, action,
                             grace_limit, reason);
    PERFORM rollout._require_reason(reason, 'change a version policy');
    UPDATE rollout.version_policy x SET valid_to = now()
     WHERE x.component_id = p.component_id AND x.tenant_id IS NOT DISTINCT FROM p.tenant_id AND x.valid_to IS NULL
    RETURNING * INTO old;
    p.policy_id := nextval('rollout.version_policy_seq');
    INSERT INTO rollout.version_policy SELECT p.*;
    PERFORM rollout._audit('policy.set', p.tenant_id, 'component', p.component_id, reason,
                           jsonb_build_object('policy_id', p.policy_id,
                                              'before', to_jsonb(old) - 'valid_from' - 'valid_to' - 'reason' - 'set_by',
                                              'after', to_jsonb(p) - 'valid_from' - 'valid_to' - 'reason' - 'set_by'));
    RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.set_version_policy(text, text, rollout.semver, rollout.semver, rollout.semver,
                                              rollout.semver_multirange, text, interval, text) IS
    'set the version policy of a component globally (tenant_id NULL) or at a tenant node (inherited by its subtree, nearest node wins); replaces the node''s current policy, keeping the old row for history; a reason is required; audited';

CREATE FUNCTION rollout.clear_version_policy(component_id text, tenant_id text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    old rollout.version_policy;
BEGIN
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_reason(reason, 'clear a version policy');
    UPDATE rollout.version_policy x SET valid_to = now()
     WHERE x.component_id = clear_version_policy.component_id
       AND x.tenant_id IS NOT DISTINCT FROM clear_version_policy.tenant_id AND x.valid_to IS NULL
    RETURNING * INTO old;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = CASE WHEN tenant_id IS NULL THEN format('component "%s" has no global version policy', component_id)
                           ELSE format('tenant "%s" has no version policy for component "%s"', tenant_id, component_id) END;
    END IF;
    PERFORM rollout._audit('policy.cleared', tenant_id, 'component', component_id, reason,
                           jsonb_build_object('policy_id', old.policy_id));
END
$$;
COMMENT ON FUNCTION rollout.clear_version_policy(text, text, text) IS
    'remove the version policy of a component at a node (or the global one); kept in history; audited';

CREATE FUNCTION rollout.version_policies(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS SETOF rollout.version_policy
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- a bound role sees the policies that can govern its subtrees: global
    -- ones, those on its tenants and those on their ancestors
    WITH vis AS MATERIALIZED (SELECT rollout._visible_tenants() AS v),
         seen AS MATERIALIZED (
            SELECT DISTINCT a.node FROM vis, unnest(vis.v) t(tenant_id), unnest(rollout.tenant_path(t.tenant_id)) a(node))
    SELECT p.* FROM unnest(rollout._policies_as_of($1)) p
     WHERE p.tenant_id IS NULL OR (SELECT vis.v IS NULL FROM vis) OR p.tenant_id IN (SELECT seen.node FROM seen)
     ORDER BY p.component_id, p.tenant_id NULLS FIRST
$$;
COMMENT ON FUNCTION rollout.version_policies(timestamptz) IS
    'the version policies in effect at an instant (default now); a role bound to subtrees sees the global ones and those on its tenants and their ancestors';

-- The policy of a component that governs one tenant now: the nearest node's, else the global one.
CREATE FUNCTION rollout._effective_policy(tenant_id text, component_id text)
RETURNS rollout.version_policy
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p FROM rollout.version_policy p
      LEFT JOIN unnest(rollout.tenant_path($1)) WITH ORDINALITY u(node, depth) ON u.node = p.tenant_id
     WHERE p.component_id = $2 AND p.valid_to IS NULL AND (p.tenant_id IS NULL OR u.node IS NOT NULL)
     ORDER BY u.depth DESC NULLS LAST
     LIMIT 1
$$;
COMMENT ON FUNCTION rollout._effective_policy(text, text) IS 'internal: the current version policy governing a tenant for a component';

-- Every listed component (NULL: all) for every tenant, in one pass over the
-- tree: the answers of rollout.resolve_versions(c) for each c, computed by the
-- same C resolution (src/resolve.c).
CREATE FUNCTION rollout.resolve_versions_all(component_ids text[] DEFAULT NULL)
RETURNS TABLE (component_id text, tenant_id text, version rollout.semver, source text, source_tenant_id text)
AS 'MODULE_PATHNAME', 'pgr_resolve_versions_all'
LANGUAGE C STABLE ROWS 1000000;
COMMENT ON FUNCTION rollout.resolve_versions_all(text[]) IS
    'the resolved version of each listed component (NULL: every component) for every tenant, in one ordered pass over the tree; the same answers as rollout.resolve_versions for each component';

-- ---------------------------------------------------------------------
-- Conflict rules between components
-- ---------------------------------------------------------------------

-- THE conflict rule: the roster, simulation, the conflict roster and
-- enforcement all ask this function.
CREATE FUNCTION rollout.conflict_broken(r rollout.conflict_rule, version rollout.semver,
                                        other_version rollout.semver, baseline rollout.semver)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(r.versions OPERATOR(pg_catalog.@>) version
                    AND CASE
                        WHEN r.kind OPERATOR(pg_catalog.=) 'requires'
                             THEN other_version IS NULL OR NOT r.other_versions OPERATOR(pg_catalog.@>) other_version
                        WHEN r.kind OPERATOR(pg_catalog.=) 'excludes'
                             THEN r.other_versions OPERATOR(pg_catalog.@>) other_version
                        WHEN r.kind OPERATOR(pg_catalog.=) 'max_skew'
                             THEN version OPERATOR(rollout.<) baseline
                                             AND (rollout.semver_major(version) OPERATOR(pg_catalog.<) rollout.semver_major(baseline)
                                                  OR rollout.semver_minor(baseline) OPERATOR(pg_catalog.-) rollout.semver_minor(version)
                                                     OPERATOR(pg_catalog.>) r.max_minors)
                        END, false)
$$;
COMMENT ON FUNCTION rollout.conflict_broken(rollout.conflict_rule, rollout.semver, rollout.semver, rollout.semver) IS
    'does a tenant running version of the rule''s component (other_version of its other component, baseline of its policy) break the rule? requires: other version missing or outside other_versions; excludes: other version inside other_versions; max_skew: more than max_minors minors (or a major) behind the baseline. The one rule used by the roster, simulation and enforcement';

-- The conflicts of (tenant, component, version, baseline) pairs with the
-- rules in force at an instant.  The other component's version is taken from
-- the known pairs when given there, else resolved now.
CREATE FUNCTION rollout._conflicts(at timestamptz, tenant_ids text[], component_ids text[], versions rollout.semver[],
                                   baselines rollout.semver[], known_tenants text[], known_components text[],
                                   known_versions rollout.semver[])
RETURNS TABLE (tenant_id text, component_id text, version rollout.semver, rule_id bigint, kind text, action text,
               other_component_id text, other_version rollout.semver, baseline rollout.semver)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_mergejoin = off
AS $$
WITH r AS MATERIALIZED (
        SELECT x FROM rollout.conflict_rule x
         WHERE x.valid_from <= $1 AND (x.valid_to IS NULL OR x.valid_to > $1)),
     p AS MATERIALIZED (
        SELECT u.t, u.c, u.v, u.b FROM unnest($2, $3, $4, $5) u(t, c, v, b)
         WHERE u.v IS NOT NULL AND u.c IN (SELECT (r.x).component_id FROM r)),
     k AS MATERIALIZED (
        SELECT u.t, u.c, u.v FROM unnest($6, $7, $8) u(t, c, v)
         WHERE u.c IN (SELECT (r.x).other_component_id FROM r)),
     pr AS (
        SELECT p.t, p.c, p.v, p.b, r.x
          FROM p JOIN r ON (r.x).component_id = p.c
         WHERE (r.x).tenant_id IS NULL OR (r.x).tenant_id = ANY (rollout.tenant_path(p.t))),
     -- the other component's version: a hash join with the known pairs
     pk AS (
        SELECT pr.*, k.v AS kv, k.t IS NOT NULL AS known
          FROM pr LEFT JOIN k ON k.t = pr.t AND k.c = (pr.x).other_component_id)
SELECT pk.t, pk.c, pk.v, (pk.x).rule_id, (pk.x).kind, (pk.x).action, (pk.x).other_component_id, o.v, pk.b
  FROM pk
  CROSS JOIN LATERAL (
        SELECT CASE WHEN (pk.x).other_component_id IS NULL THEN NULL
                    WHEN pk.known THEN pk.kv
                    ELSE rollout.resolve_version(pk.t, (pk.x).other_component_id) END AS v) o
 WHERE rollout.conflict_broken(pk.x, pk.v, o.v, pk.b)
$$;
COMMENT ON FUNCTION rollout._conflicts(timestamptz, text[], text[], rollout.semver[], rollout.semver[], text[], text[],
                                       rollout.semver[]) IS
    'internal: the conflict rules (in force at an instant) that (tenant, component, version, baseline) pairs break, decided by rollout.conflict_broken; the other component''s version from the known pairs, else resolved';

-- Validate and store a conflict rule.
CREATE FUNCTION rollout.add_conflict_rule(kind text, component_id text, versions rollout.semver_range DEFAULT '(,)',
                                          other_component_id text DEFAULT NULL,
                                          other_versions rollout.semver_range DEFAULT NULL,
                                          max_minors integer DEFAULT NULL, tenant_id text DEFAULT NULL,
                                          action text DEFAULT 'report', reason text DEFAULT NULL)
RETURNS rollout.conflict_rule
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.conflict_rule;
BEGIN
    IF kind IS NULL OR kind NOT IN ('requires', 'excludes', 'max_skew') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid conflict rule kind "%s"', kind),
            DETAIL = 'A conflict rule is requires, excludes or max_skew.';
    END IF;
    PERFORM rollout._component_for_update(component_id);
    IF versions IS NULL OR isempty(versions) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a conflict rule of component "%s" needs a non-empty version range', component_id);
    END IF;
    IF kind = 'max_skew' THEN
        IF other_component_id IS NOT NULL OR other_versions IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('a max_skew rule of component "%s" names no other component', component_id);
        END IF;
        IF max_minors IS NULL OR max_minors < 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid max_minors %s in a max_skew rule of component "%s"',
                                 coalesce(max_minors::text, 'NULL'), component_id),
                DETAIL = 'max_minors is a number of minor versions, 0 or more.';
        END IF;
    ELSE
        IF max_minors IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('max_minors belongs to max_skew rules, not to a %s rule', kind);
        END IF;
        IF other_component_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
                MESSAGE = format('a %s rule of component "%s" needs the other component', kind, component_id);
        END IF;
        IF other_component_id = component_id THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('a %s rule relates component "%s" to itself', kind, component_id);
        END IF;
        PERFORM rollout._component_for_update(other_component_id);
        IF other_versions IS NULL OR isempty(other_versions) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('a %s rule needs a non-empty version range of component "%s"', kind, other_component_id);
        END IF;
    END IF;
    IF tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(tenant_id);
    END IF;
    IF action IS NULL OR action NOT IN ('report', 'block') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid conflict rule action "%s"', action),
            DETAIL = 'A conflict rule action is report or block.';
    END IF;
    PERFORM rollout._require_reason(reason, 'add a conflict rule');
    INSERT INTO rollout.conflict_rule (kind, component_id, versions, other_component_id, other_versions, max_minors,
                                       tenant_id, action, reason, set_by)
    VALUES (kind, component_id, versions, other_component_id, other_versions, max_minors, tenant_id, action, reason,
            rollout._actor())
    RETURNING * INTO r;
    PERFORM rollout._audit('conflict_rule.added', tenant_id, 'component', component_id, reason,
                           jsonb_build_object('rule_id', r.rule_id, 'kind', kind, 'versions', versions::text,
                                              'other_component_id', other_component_id,
                                              'other_versions', other_versions::text, 'max_minors', max_minors,
                                              'action', action));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.add_conflict_rule(text, text, rollout.semver_range, text, rollout.semver_range, integer, text, text, text) IS
    'add a conflict rule: requires (component at versions needs other_component in other_versions), excludes (forbids other_component in other_versions) or max_skew (at most max_minors minors behind the baseline); globally or for a subtree; action report or block; a reason is required; audited';

CREATE FUNCTION rollout.remove_conflict_rule(rule_id bigint, reason text)
RETURNS rollout.conflict_rule
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.conflict_rule;
BEGIN
    PERFORM rollout._require_reason(reason, 'remove a conflict rule');
    UPDATE rollout.conflict_rule x SET valid_to = now(), removed_by = rollout._actor(), remove_reason = reason
     WHERE x.rule_id = remove_conflict_rule.rule_id AND x.valid_to IS NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('conflict rule %s does not exist or is already removed', coalesce(rule_id::text, 'NULL'));
    END IF;
    PERFORM rollout._audit('conflict_rule.removed', r.tenant_id, 'component', r.component_id, reason,
                           jsonb_build_object('rule_id', r.rule_id));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.remove_conflict_rule(bigint, text) IS
    'remove a conflict rule now (kept in history); a reason is required; audited';

-- ---------------------------------------------------------------------
-- The evaluation: every (tenant, component) with its resolved version (or a
-- proposed one), the policy that governs it, EOL and grace, exemption and
-- status.  The roster, the summaries, simulation and enforcement all call
-- rollout._evaluate: the whole tree goes through the bulk form in C
-- (rollout._evaluate_all, src/governance.c), lists of tenants and proposed
-- versions through rollout._evaluate_given; both take the governing policy
-- and status from rollout._policy_lookup and leave grace extensions and
-- exemptions to rollout._evaluate_given, so the rules are written once.
-- ---------------------------------------------------------------------

-- Every (anchor, component, version): the policy that governs the tenants
-- whose deepest policy node is the anchor ('' for none: the global policy),
-- EOL, grace without extensions and status (a few thousand rows).
CREATE FUNCTION rollout._policy_lookup(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                       anchors text[])
RETURNS TABLE (anchor text, component_id text, version rollout.semver, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, min_version rollout.semver, max_version rollout.semver,
               blocked rollout.semver_multirange, grace_limit interval, grace_period interval, eol_date date,
               violation text, forced_upgrade_on date)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_mergejoin = off
SET jit = off
AS $$
WITH pol AS MATERIALIZED (
        SELECT p.* FROM unnest($2) p),
     comps AS MATERIALIZED (
        SELECT c.component_id, c.grace_period FROM rollout.component c
         WHERE $3 IS NULL OR c.component_id = ANY ($3)),
     a AS MATERIALIZED (
        SELECT DISTINCT x.anchor
          FROM unnest(coalesce($4, ARRAY(SELECT DISTINCT p.tenant_id FROM pol p WHERE p.tenant_id IS NOT NULL) || ''::text)) x(anchor)
         WHERE x.anchor IS NOT NULL),
     -- the policy of each component that governs the tenants of an anchor:
     -- the nearest node's on the anchor's path, else the global one
     eff AS MATERIALIZED (
        SELECT DISTINCT ON (a.anchor, p.component_id) a.anchor, p.component_id, p.policy_id, p.tenant_id,
               p.min_version, p.max_version, p.baseline, p.blocked, p.action, p.grace_limit
          FROM a
          CROSS JOIN LATERAL (SELECT u.node, u.depth
                                FROM unnest(rollout.tenant_path(nullif(a.anchor, ''))) WITH ORDINALITY u(node, depth)
                              UNION ALL SELECT '', 0) n
          JOIN pol p ON coalesce(p.tenant_id, '') = n.node
         ORDER BY a.anchor, p.component_id, n.depth DESC)
SELECT a.anchor, c.component_id, v.version, f.policy_id, f.tenant_id, f.action,
       f.baseline, f.min_version, f.max_version, f.blocked, f.grace_limit, c.grace_period, v.eol_date,
       rollout._version_status(v.version, f.min_version, f.max_version, f.baseline, f.blocked, v.eol_date,
                               rollout._grace(c.grace_period, NULL, f.grace_limit), $1),
       (v.eol_date + rollout._grace(c.grace_period, NULL, f.grace_limit))::date
  FROM a
  CROSS JOIN comps c
  JOIN rollout.component_version v ON v.component_id = c.component_id
  LEFT JOIN eff f ON f.anchor = a.anchor AND f.component_id = c.component_id
$$;
COMMENT ON FUNCTION rollout._policy_lookup(timestamptz, rollout.version_policy[], text[], text[]) IS
    'internal: per policy node (anchor: the empty string for none; a NULL list: every node of the policies), component and version: the governing policy, EOL, grace without extensions and status';

-- The evaluation in SQL, of the listed tenants (resolved now), of a proposed
-- version, of given (tenant, component, version) pairs, or (all NULL) of
-- every tenant through rollout.resolve_versions_all.
CREATE FUNCTION rollout._evaluate_given(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                        tenant_ids text[], proposed rollout.semver,
                                        pair_tenants text[] DEFAULT NULL, pair_components text[] DEFAULT NULL,
                                        pair_versions rollout.semver[] DEFAULT NULL, pair_sources text[] DEFAULT NULL,
                                        pair_source_tenants text[] DEFAULT NULL)
RETURNS TABLE (tenant_id text, org_id text, team_id text, component_id text, version rollout.semver, source text,
               source_tenant_id text, status text, violation text, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
LANGUAGE sql STABLE
-- The planner cannot know that resolve_versions returns a row per tenant:
-- hash joins (small inner sides) instead of sorts of millions of rows, and
-- no JIT compilation for a plan whose cost it overestimates.
SET search_path = pg_catalog, pg_temp
SET enable_mergejoin = off
SET jit = off
AS $$
WITH pol AS MATERIALIZED (
        SELECT p.* FROM unnest($2) p),
     comps AS MATERIALIZED (
        SELECT c.component_id, c.grace_period FROM rollout.component c
         WHERE $3 IS NULL OR c.component_id = ANY ($3)),
     anchors AS MATERIALIZED (
        SELECT DISTINCT p.tenant_id FROM pol p WHERE p.tenant_id IS NOT NULL),
     extnodes AS MATERIALIZED (
        SELECT DISTINCT g.tenant_id FROM rollout.grace_extension g WHERE g.status = 'approved'),
     ids AS MATERIALIZED (
        SELECT CASE WHEN $6 IS NOT NULL THEN ARRAY(SELECT DISTINCT x FROM unnest($6) x) ELSE $4 END AS ids),
     tlist AS MATERIALIZED (
        SELECT t.tenant_id, t.path FROM rollout.tenant t
         WHERE (SELECT ids.ids FROM ids) IS NULL AND t.status <> 'decommissioned'
        UNION ALL
        SELECT t.tenant_id, t.path
          FROM (SELECT DISTINCT l.id FROM unnest((SELECT ids.ids FROM ids)) l(id)) l
          JOIN rollout.tenant t ON t.tenant_id = l.id
         WHERE t.status <> 'decommissioned'),
     -- the components with an exemption on a tenant's path (only those can be exempt)
     exct AS MATERIALIZED (
        SELECT t.tenant_id, array_agg(DISTINCT x.component_id) AS exc
          FROM tlist t CROSS JOIN LATERAL unnest(t.path) u(node)
          JOIN (SELECT DISTINCT y.tenant_id, y.component_id FROM rollout.exemption y) x ON x.tenant_id = u.node
         GROUP BY t.tenant_id),
     -- per tenant: the deepest policy node on its path (its anchor), the
     -- exemption candidates, whether it has grace extensions
     tinfo AS MATERIALIZED (
        SELECT t.tenant_id, t.path, t.path[1] AS org_id, t.path[2] AS team_id,
               coalesce((SELECT u.node FROM unnest(t.path) WITH ORDINALITY u(node, depth)
                          WHERE u.node IN (SELECT a.tenant_id FROM anchors a) ORDER BY u.depth DESC LIMIT 1), '') AS anchor,
               x.exc,
               t.tenant_id IN (SELECT g.tenant_id FROM extnodes g) AS ext
          FROM tlist t LEFT JOIN exct x ON x.tenant_id = t.tenant_id),
     lk AS MATERIALIZED (
        SELECT l.* FROM rollout._policy_lookup($1, $2, $3, ARRAY(SELECT DISTINCT ti.anchor FROM tinfo ti)) l),
     res AS (
        SELECT r.component_id, r.tenant_id, r.version, r.source, r.source_tenant_id
          FROM rollout.resolve_versions_all($3) r
         WHERE $4 IS NULL AND $5 IS NULL AND $6 IS NULL
        UNION ALL
        SELECT c.component_id, r.tenant_id, r.version, r.source, r.source_tenant_id
          FROM comps c CROSS JOIN LATERAL rollout.resolve_versions(c.component_id, $4) r
         WHERE $4 IS NOT NULL AND $5 IS NULL AND $6 IS NULL
        UNION ALL
        SELECT c.component_id, ti.tenant_id, $5, 'proposed', NULL
          FROM comps c CROSS JOIN tinfo ti
         WHERE $5 IS NOT NULL AND $6 IS NULL
        UNION ALL
        SELECT x.c, x.t, x.v, x.s, x.st
          FROM unnest($6, $7, $8, $9, $10) x(t, c, v, s, st)
         WHERE $6 IS NOT NULL AND x.c IN (SELECT comps.component_id FROM comps)),
     ev AS (
        SELECT r.tenant_id, ti.path, ti.org_id, ti.team_id, r.component_id, r.version, r.source, r.source_tenant_id,
               l.policy_id, l.policy_tenant_id, l.action, l.baseline, l.eol_date, l.min_version, l.max_version,
               l.blocked, l.grace_limit, l.grace_period, l.violation, l.forced_upgrade_on,
               CASE WHEN ti.ext AND l.eol_date IS NOT NULL THEN
                   (SELECT sum(g.extend_by) FROM rollout.grace_extension g
                     WHERE g.tenant_id = r.tenant_id AND g.component_id = r.component_id
                       AND g.version OPERATOR(rollout.=) r.version
                       AND g.status = 'approved' AND g.decided_at <= $1) END AS extend_by,
               r.component_id = ANY (ti.exc) AS candidate
          FROM res r
          JOIN tinfo ti ON ti.tenant_id = r.tenant_id
          LEFT JOIN lk l ON l.anchor = ti.anchor AND l.component_id = r.component_id
                        AND l.version OPERATOR(rollout.=) r.version),
     -- a tenant with approved grace extensions gets its own grace
     st AS (
        SELECT ev.tenant_id, ev.path, ev.org_id, ev.team_id, ev.component_id, ev.version, ev.source,
               ev.source_tenant_id, ev.policy_id, ev.policy_tenant_id, ev.action, ev.baseline, ev.eol_date,
               CASE WHEN ev.version IS NULL THEN 'not_deployed'
                    WHEN ev.extend_by IS NULL THEN ev.violation
                    ELSE rollout._version_status(ev.version, ev.min_version, ev.max_version, ev.baseline, ev.blocked,
                                                 ev.eol_date, rollout._grace(ev.grace_period, ev.extend_by, ev.grace_limit), $1)
               END AS violation,
               CASE WHEN ev.extend_by IS NULL THEN ev.forced_upgrade_on
                    ELSE (ev.eol_date + rollout._grace(ev.grace_period, ev.extend_by, ev.grace_limit))::date
               END AS forced_upgrade_on,
               ev.candidate
          FROM ev
        OFFSET 0),
     ex AS (
        SELECT st.*,
               CASE WHEN st.candidate AND st.violation NOT IN ('compliant', 'not_deployed')
                    THEN (SELECT e FROM rollout.exemption e
                           WHERE e.component_id = st.component_id AND e.tenant_id = ANY (st.path)
                             AND rollout.exemption_applies(e, st.path, st.component_id, st.version, $1)
                           ORDER BY e.expires_at DESC, e.exemption_id LIMIT 1) END AS e
          FROM st
        OFFSET 0)
SELECT ex.tenant_id, ex.org_id, ex.team_id, ex.component_id, ex.version, ex.source, ex.source_tenant_id,
       CASE WHEN (ex.e).exemption_id IS NOT NULL THEN 'exempt' ELSE ex.violation END,
       ex.violation, ex.policy_id, ex.policy_tenant_id, ex.action, ex.baseline, ex.eol_date, ex.forced_upgrade_on,
       ex.forced_upgrade_on - pg_catalog.timezone('UTC', $1)::date, (ex.e).exemption_id, (ex.e).expires_at, (ex.e).reason
  FROM ex
$$;
COMMENT ON FUNCTION rollout._evaluate_given(timestamptz, rollout.version_policy[], text[], text[], rollout.semver,
                                            text[], text[], rollout.semver[], text[], text[]) IS
    'internal: the evaluation in SQL: of the listed tenants, of a proposed version, of given (tenant, component, version, source, source tenant) pairs, or (all NULL) of every tenant; grace extensions and exemptions (rollout.exemption_applies) are decided here only';

-- The whole tree in one pass (src/governance.c): the same rows as
-- rollout._evaluate_given(at, policies, component_ids, NULL, NULL).
CREATE FUNCTION rollout._evaluate_all(at timestamptz, policies rollout.version_policy[], component_ids text[])
RETURNS TABLE (tenant_id text, org_id text, team_id text, component_id text, version rollout.semver, source text,
               source_tenant_id text, status text, violation text, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
AS 'MODULE_PATHNAME', 'pgr_evaluate_all'
LANGUAGE C STABLE ROWS 1000000;
COMMENT ON FUNCTION rollout._evaluate_all(timestamptz, rollout.version_policy[], text[]) IS
    'internal: the evaluation of every tenant in one pass over the tree (C): policy and status from rollout._policy_lookup, pairs with grace extensions or exemption candidates through rollout._evaluate_given';

-- No SET clause: the planner inlines this dispatch into its callers.
CREATE FUNCTION rollout._evaluate_base(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                  tenant_ids text[], proposed rollout.semver)
RETURNS TABLE (tenant_id text, org_id text, team_id text, component_id text, version rollout.semver, source text,
               source_tenant_id text, status text, violation text, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
LANGUAGE sql STABLE
AS $$
    SELECT a.* FROM rollout._evaluate_all($1, $2, $3) a WHERE $4 IS NULL AND $5 IS NULL
    UNION ALL
    SELECT g.* FROM rollout._evaluate_given($1, $2, $3, $4, $5) g WHERE $4 IS NOT NULL OR $5 IS NOT NULL
$$;
COMMENT ON FUNCTION rollout._evaluate_base(timestamptz, rollout.version_policy[], text[], text[], rollout.semver) IS
    'internal: the evaluation without conflict rules (every tenant: rollout._evaluate_all; otherwise rollout._evaluate_given)';

-- The evaluation with the conflict rules in force at the instant: a pair
-- that breaks one becomes conflicting (unless its status already says
-- blocked, past_grace, below_minimum or above_maximum).
CREATE FUNCTION rollout._evaluate_conflicts(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                            tenant_ids text[], proposed rollout.semver)
RETURNS TABLE (tenant_id text, org_id text, team_id text, component_id text, version rollout.semver, source text,
               source_tenant_id text, status text, violation text, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_mergejoin = off
SET jit = off
AS $$
WITH ev AS MATERIALIZED (
        SELECT b.* FROM rollout._evaluate_base($1, $2, $3, $4, $5) b),
     rc AS MATERIALIZED (
        SELECT DISTINCT x.component_id, x.other_component_id FROM rollout.conflict_rule x
         WHERE x.valid_from <= $1 AND (x.valid_to IS NULL OR x.valid_to > $1)),
     cand AS MATERIALIZED (
        SELECT ev.tenant_id, ev.component_id, ev.version, ev.baseline FROM ev
         WHERE ev.component_id IN (SELECT rc.component_id FROM rc) AND ev.version IS NOT NULL
           AND ev.status NOT IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum')),
     known AS MATERIALIZED (
        SELECT ev.tenant_id, ev.component_id, ev.version FROM ev
         WHERE ev.component_id IN (SELECT rc.other_component_id FROM rc)
           AND ev.tenant_id IN (SELECT cand.tenant_id FROM cand)),
     cf AS MATERIALIZED (
        SELECT DISTINCT c.tenant_id, c.component_id
          FROM rollout._conflicts($1, ARRAY(SELECT cand.tenant_id FROM cand), ARRAY(SELECT cand.component_id FROM cand),
                                  ARRAY(SELECT cand.version FROM cand), ARRAY(SELECT cand.baseline FROM cand),
                                  ARRAY(SELECT known.tenant_id FROM known), ARRAY(SELECT known.component_id FROM known),
                                  ARRAY(SELECT known.version FROM known)) c)
SELECT ev.tenant_id, ev.org_id, ev.team_id, ev.component_id, ev.version, ev.source, ev.source_tenant_id,
       CASE WHEN cf.tenant_id IS NOT NULL THEN 'conflicting' ELSE ev.status END, ev.violation, ev.policy_id,
       ev.policy_tenant_id, ev.action, ev.baseline, ev.eol_date, ev.forced_upgrade_on, ev.days_left, ev.exemption_id,
       ev.exempt_until, ev.exempt_reason
  FROM ev LEFT JOIN cf ON cf.tenant_id = ev.tenant_id AND cf.component_id = ev.component_id
$$;
COMMENT ON FUNCTION rollout._evaluate_conflicts(timestamptz, rollout.version_policy[], text[], text[], rollout.semver) IS
    'internal: rollout._evaluate_base with the conflict rules in force: a pair that breaks one (rollout._conflicts) is conflicting unless blocked, past_grace, below_minimum or above_maximum';

CREATE FUNCTION rollout._conflict_rules_exist(at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM rollout.conflict_rule x
                    WHERE x.valid_from <= $1 AND (x.valid_to IS NULL OR x.valid_to > $1))
$$;
COMMENT ON FUNCTION rollout._conflict_rules_exist(timestamptz) IS 'internal: is any conflict rule in force at the instant?';

-- No SET clause: the planner inlines this dispatch into its callers (with
-- no conflict rule in force, the conflict pass costs nothing).
CREATE FUNCTION rollout._evaluate(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                  tenant_ids text[], proposed rollout.semver)
RETURNS TABLE (tenant_id text, org_id text, team_id text, component_id text, version rollout.semver, source text,
               source_tenant_id text, status text, violation text, policy_id bigint, policy_tenant_id text,
               action text, baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
LANGUAGE sql STABLE
AS $$
    SELECT b.* FROM rollout._evaluate_base($1, $2, $3, $4, $5) b WHERE NOT rollout._conflict_rules_exist($1)
    UNION ALL
    SELECT c.* FROM rollout._evaluate_conflicts($1, $2, $3, $4, $5) c WHERE rollout._conflict_rules_exist($1)
$$;
COMMENT ON FUNCTION rollout._evaluate(timestamptz, rollout.version_policy[], text[], text[], rollout.semver) IS
    'internal: evaluate every (tenant, component) (or those listed) against the given policies and the conflict rules at an instant: the resolved version or a proposed one, the governing policy, EOL, grace, exemption and status (compliant, behind_baseline, below_minimum, above_maximum, blocked, eol_in_grace, past_grace, exempt, conflicting, not_deployed)';

-- ---------------------------------------------------------------------
-- Grace extensions
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._check_grace_limit(tenant_id text, component_id text, version rollout.semver,
                                           extend_by interval, exclude_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.version_policy := rollout._effective_policy(tenant_id, component_id);
    base interval;
    granted interval;
BEGIN
    SELECT c.grace_period INTO base FROM rollout.component c WHERE c.component_id = _check_grace_limit.component_id;
    IF p.grace_limit IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('grace extension for tenant "%s" on component "%s" is past the limit: no version policy allows extensions',
                             tenant_id, component_id),
            HINT = 'Set grace_limit in the version policy (rollout.set_version_policy).';
    END IF;
    SELECT coalesce(sum(g.extend_by), interval '0') INTO granted FROM rollout.grace_extension g
     WHERE g.tenant_id = _check_grace_limit.tenant_id AND g.component_id = _check_grace_limit.component_id
       AND g.version OPERATOR(rollout.=) _check_grace_limit.version AND g.status = 'approved'
       AND g.extension_id IS DISTINCT FROM exclude_id;
    IF base + granted + extend_by > p.grace_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('grace extension of %s for tenant "%s" on %s@%s is past the limit: %s grace + %s granted + %s asked > limit %s',
                             extend_by, tenant_id, component_id, version, base, granted, extend_by, p.grace_limit),
            DETAIL = format('The limit comes from version policy %s (%s).', p.policy_id, coalesce('tenant ' || p.tenant_id, 'global'));
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._check_grace_limit(text, text, rollout.semver, interval, bigint) IS
    'internal: refuse a grace extension that would take the tenant''s grace past its policy''s grace_limit';

CREATE FUNCTION rollout.request_grace_extension(tenant_id text, component_id text, version rollout.semver,
                                                extend_by interval, reason text, ticket text DEFAULT NULL)
RETURNS rollout.grace_extension
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v rollout.component_version;
    g rollout.grace_extension;
BEGIN
    PERFORM rollout._tenant_for_update(tenant_id);
    PERFORM rollout._require_visible(tenant_id);      -- a bound role asks only inside its subtrees
    v := rollout._version_for_update(component_id, version);
    PERFORM rollout._require_reason(reason, 'request a grace extension');
    IF v.eol_date IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('version %s of component "%s" has no EOL date: there is no grace period to extend', version, component_id);
    END IF;
    IF extend_by IS NULL OR extend_by <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid grace extension %s: it must be a positive interval', extend_by);
    END IF;
    PERFORM rollout._check_grace_limit(tenant_id, component_id, version, extend_by, NULL);
    INSERT INTO rollout.grace_extension (tenant_id, component_id, version, extend_by, reason, ticket, requested_by)
    VALUES (tenant_id, component_id, v.version, extend_by, reason, ticket, rollout._actor())
    RETURNING * INTO g;
    PERFORM rollout._audit('grace.extension_requested', tenant_id, 'version', component_id || '@' || v.version::text, reason,
                           jsonb_build_object('extension_id', g.extension_id, 'extend_by', extend_by, 'ticket', ticket));
    RETURN g;
END
$$;
COMMENT ON FUNCTION rollout.request_grace_extension(text, text, rollout.semver, interval, text, text) IS
    'ask for a longer grace period after a version''s EOL for one tenant; effective once approved by someone else; never past the policy''s grace_limit; audited';

CREATE FUNCTION rollout._decide_grace_extension(extension_id bigint, approve boolean, note text)
RETURNS rollout.grace_extension
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    g rollout.grace_extension;
    who text := rollout._actor();
BEGIN
    SELECT * INTO g FROM rollout.grace_extension x WHERE x.extension_id = _decide_grace_extension.extension_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('grace extension %s does not exist', coalesce(extension_id::text, 'NULL'));
    END IF;
    -- Lock every extension of the tenant, component and version, in id
    -- order (no deadlock between two deciders): the grace_limit check below
    -- counts the approved ones, so a concurrent approval must be waited for
    -- (READ COMMITTED: the next statements see it) or, when this
    -- transaction's snapshot predates it, fail (REPEATABLE READ:
    -- serialization error) instead of being counted out.
    PERFORM 1 FROM rollout.grace_extension x
      WHERE x.tenant_id OPERATOR(pg_catalog.=) g.tenant_id AND x.component_id OPERATOR(pg_catalog.=) g.component_id
        AND x.version OPERATOR(rollout.=) g.version
      ORDER BY x.extension_id FOR UPDATE;
    SELECT * INTO g FROM rollout.grace_extension x WHERE x.extension_id = _decide_grace_extension.extension_id;
    IF g.status <> 'requested' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('grace extension %s is already %s', extension_id, g.status);
    END IF;
    IF approve AND rollout._is_author(g.requested_by, g.requested_login) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('grace extension %s cannot be approved by its requester "%s"', extension_id,
                             CASE WHEN who = g.requested_by THEN who ELSE session_user END),
            DETAIL = format('It was requested by "%s" from login "%s"; an approval comes from another login (pg_rollout.actor does not change who approves).',
                            g.requested_by, g.requested_login);
    END IF;
    IF approve THEN
        PERFORM rollout._tenant_for_update(g.tenant_id);
        PERFORM rollout._check_grace_limit(g.tenant_id, g.component_id, g.version, g.extend_by, g.extension_id);
    END IF;
    UPDATE rollout.grace_extension x
       SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END,
           decided_by = who, decided_at = now(), decision_note = note
     WHERE x.extension_id = g.extension_id
    RETURNING * INTO g;
    PERFORM rollout._audit('grace.extension_' || g.status, g.tenant_id, 'version',
                           g.component_id || '@' || g.version::text, note,
                           jsonb_build_object('extension_id', g.extension_id, 'extend_by', g.extend_by,
                                              'requested_by', g.requested_by));
    RETURN g;
END
$$;
COMMENT ON FUNCTION rollout._decide_grace_extension(bigint, boolean, text) IS 'internal: approve or reject a grace extension';

CREATE FUNCTION rollout.approve_grace_extension(extension_id bigint, note text DEFAULT NULL)
RETURNS rollout.grace_extension
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._decide_grace_extension($1, true, $2) $$;
COMMENT ON FUNCTION rollout.approve_grace_extension(bigint, text) IS
    'approve a grace extension (not by its requester; re-checked against the grace_limit); audited';

CREATE FUNCTION rollout.reject_grace_extension(extension_id bigint, note text DEFAULT NULL)
RETURNS rollout.grace_extension
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._decide_grace_extension($1, false, $2) $$;
COMMENT ON FUNCTION rollout.reject_grace_extension(bigint, text) IS 'reject a grace extension; audited';

-- ---------------------------------------------------------------------
-- Exemptions
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.request_exemption(tenant_id text, component_id text, versions rollout.semver_range,
                                          category text, reason text, expires_at timestamptz,
                                          ticket text DEFAULT NULL, include_subtree boolean DEFAULT true)
RETURNS rollout.exemption
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t rollout.tenant;
    e rollout.exemption;
    other rollout.exemption;
BEGIN
    -- The overlap check below waits for a concurrent request (the component
    -- row's lock) and must then see its exemption: READ COMMITTED sees it,
    -- SERIALIZABLE fails to serialize; a REPEATABLE READ snapshot would miss it.
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
            MESSAGE = 'rollout.request_exemption requires READ COMMITTED or SERIALIZABLE isolation',
            DETAIL = 'The current transaction runs at REPEATABLE READ: its snapshot could miss an overlapping exemption requested concurrently.',
            HINT = 'Request the exemption in a READ COMMITTED transaction.';
    END IF;
    t := rollout._tenant_for_update(tenant_id);
    PERFORM rollout._require_visible(tenant_id);      -- a bound role asks only inside its subtrees
    PERFORM rollout._component_for_update(component_id);
    IF versions IS NULL OR isempty(versions) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('an exemption of tenant "%s" needs a non-empty version range', tenant_id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component_version cv
                    WHERE cv.component_id = request_exemption.component_id AND versions @> cv.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('no version of component "%s" is in %s', component_id, versions);
    END IF;
    IF category IS NULL OR category NOT IN ('waiver', 'mitigated') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid exemption category "%s"', category),
            DETAIL = 'An exemption category is waiver or mitigated.';
    END IF;
    PERFORM rollout._require_reason(reason, 'request an exemption');
    IF expires_at IS NULL OR expires_at <= now() THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the expiry of the exemption of tenant "%s" is not in the future', tenant_id),
            DETAIL = format('expires_at is %s.', coalesce(expires_at::text, 'NULL'));
    END IF;
    IF NOT pg_catalog.isfinite(expires_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the expiry of the exemption of tenant "%s" must be a date, not infinity', tenant_id),
            DETAIL = 'An exemption is granted until an expiry; a permanent one is a change of the version policy.';
    END IF;
    -- one exemption at a time covers a tenant, component and version
    SELECT * INTO other FROM rollout.exemption x
     WHERE x.component_id = request_exemption.component_id
       AND x.revoked_at IS NULL AND x.expires_at > now()
       AND x.versions && versions
       AND (x.tenant_id = t.tenant_id
            OR (x.include_subtree AND x.tenant_id = ANY (t.path))
            OR (coalesce(include_subtree, true) AND rollout.is_ancestor(t.tenant_id, x.tenant_id)))
     ORDER BY x.exemption_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'exclusion_violation',
            MESSAGE = format('exemption of tenant "%s" for %s %s overlaps exemption %s (tenant "%s", %s)',
                             tenant_id, component_id, versions, other.exemption_id, other.tenant_id, other.versions),
            DETAIL = format('Exemption %s is in force or pending until %s.', other.exemption_id, other.expires_at),
            HINT = 'Revoke the other exemption first, or narrow the versions.';
    END IF;
    INSERT INTO rollout.exemption (tenant_id, include_subtree, component_id, versions, category, reason, ticket,
                                   requested_by, expires_at)
    VALUES (tenant_id, coalesce(include_subtree, true), component_id, versions, category, reason, ticket,
            rollout._actor(), expires_at)
    RETURNING * INTO e;
    PERFORM rollout._audit('exemption.requested', tenant_id, 'component', component_id, reason,
                           jsonb_build_object('exemption_id', e.exemption_id, 'versions', versions::text,
                                              'category', category, 'ticket', ticket, 'expires_at', expires_at,
                                              'include_subtree', e.include_subtree));
    RETURN e;
END
$$;
COMMENT ON FUNCTION rollout.request_exemption(text, text, rollout.semver_range, text, text, timestamptz, text, boolean) IS
    'request an exemption (waiver or mitigated) of a tenant or subtree from version policy for a range of versions until an expiry; in force once approved by someone else; audited';

CREATE FUNCTION rollout.approve_exemption(exemption_id bigint, note text DEFAULT NULL)
RETURNS rollout.exemption
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    e rollout.exemption;
    who text := rollout._actor();
BEGIN
    SELECT * INTO e FROM rollout.exemption x WHERE x.exemption_id = approve_exemption.exemption_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('exemption %s does not exist', coalesce(exemption_id::text, 'NULL'));
    END IF;
    IF e.revoked_at IS NOT NULL OR e.approved_at IS NOT NULL OR e.expires_at <= now() THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('exemption %s is %s', exemption_id,
                             CASE WHEN e.revoked_at IS NOT NULL THEN 'revoked'
                                  WHEN e.approved_at IS NOT NULL THEN 'already approved' ELSE 'expired' END);
    END IF;
    IF rollout._is_author(e.requested_by, e.requested_login) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('exemption %s cannot be approved by its requester "%s"', exemption_id,
                             CASE WHEN who = e.requested_by THEN who ELSE session_user END),
            DETAIL = format('It was requested by "%s" from login "%s"; an approval comes from another login (pg_rollout.actor does not change who approves).',
                            e.requested_by, e.requested_login);
    END IF;
    UPDATE rollout.exemption x SET approved_by = who, approved_at = now()
     WHERE x.exemption_id = e.exemption_id RETURNING * INTO e;
    PERFORM rollout._audit('exemption.approved', e.tenant_id, 'component', e.component_id, note,
                           jsonb_build_object('exemption_id', e.exemption_id, 'requested_by', e.requested_by,
                                              'expires_at', e.expires_at));
    RETURN e;
END
$$;
COMMENT ON FUNCTION rollout.approve_exemption(bigint, text) IS 'approve an exemption (not by its requester): it covers from now until its expiry; audited';

CREATE FUNCTION rollout.revoke_exemption(exemption_id bigint, reason text)
RETURNS rollout.exemption
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    e rollout.exemption;
BEGIN
    PERFORM rollout._require_reason(reason, 'revoke an exemption');
    UPDATE rollout.exemption x SET revoked_by = rollout._actor(), revoked_at = now(), revoke_reason = reason
     WHERE x.exemption_id = revoke_exemption.exemption_id AND x.revoked_at IS NULL
    RETURNING * INTO e;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('exemption %s does not exist or is already revoked', coalesce(exemption_id::text, 'NULL'));
    END IF;
    PERFORM rollout._audit('exemption.revoked', e.tenant_id, 'component', e.component_id, reason,
                           jsonb_build_object('exemption_id', e.exemption_id));
    RETURN e;
END
$$;
COMMENT ON FUNCTION rollout.revoke_exemption(bigint, text) IS 'revoke an exemption now (a reason is required); audited';

-- ---------------------------------------------------------------------
-- Enforcement (policies with action block)
-- ---------------------------------------------------------------------

-- Refuse putting a version of a component on tenants when that breaks a
-- conflict rule with action block (either side of a requires or excludes
-- rule, or the skew of the tenant's baseline).  Fast path: no block rule
-- names the component.
CREATE FUNCTION rollout._blocking_conflict_rules(component_id text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL, not SQL: planned once per session (every stage start asks).
    RETURN EXISTS (SELECT 1 FROM rollout.conflict_rule r
                    WHERE r.valid_to IS NULL AND r.action = 'block'
                      AND (r.component_id = $1 OR r.other_component_id = $1));
END
$$;
COMMENT ON FUNCTION rollout._blocking_conflict_rules(text) IS
    'internal: does a conflict rule with action block name the component (on either side)?';

CREATE FUNCTION rollout._enforce_conflicts(component_id text, version rollout.semver, tenant_ids text[],
                                           subtree_of text, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    bad record;
    ev record;
BEGIN
    -- a channel release (no tenants, no subtree) is not checked: see docs/governance.md
    IF (tenant_ids IS NULL AND subtree_of IS NULL) OR NOT rollout._blocking_conflict_rules(component_id) THEN
        RETURN;
    END IF;
    IF tenant_ids IS NULL THEN
        tenant_ids := ARRAY(SELECT d.tenant_id FROM rollout.descendants(subtree_of, true) d);
    END IF;
    WITH e AS MATERIALIZED (
            SELECT x.tenant_id, x.baseline
              FROM rollout._evaluate_given(now(), rollout._policies_as_of(now()), ARRAY[component_id], tenant_ids,
                                           version) x),
         -- the component as the rule's own component
         a AS (SELECT c.* FROM rollout._conflicts(now(), ARRAY(SELECT e.tenant_id FROM e),
                                                  array_fill(component_id, ARRAY[(SELECT count(*) FROM e)::int]),
                                                  array_fill(version, ARRAY[(SELECT count(*) FROM e)::int]),
                                                  ARRAY(SELECT e.baseline FROM e), NULL, NULL, NULL) c),
         -- the component as the other component: the tenants' own versions of the rules' components
         own AS MATERIALIZED (
            SELECT e.tenant_id, r.component_id, rollout.resolve_version(e.tenant_id, r.component_id) AS v
              FROM e CROSS JOIN (SELECT DISTINCT x.component_id FROM rollout.conflict_rule x
                                  WHERE x.valid_to IS NULL AND x.action = 'block'
                                    AND x.other_component_id = _enforce_conflicts.component_id) r),
         b AS (SELECT c.* FROM rollout._conflicts(now(), ARRAY(SELECT own.tenant_id FROM own),
                                                  ARRAY(SELECT own.component_id FROM own), ARRAY(SELECT own.v FROM own),
                                                  array_fill(NULL::rollout.semver, ARRAY[(SELECT count(*) FROM own)::int]),
                                                  ARRAY(SELECT e.tenant_id FROM e),
                                                  array_fill(component_id, ARRAY[(SELECT count(*) FROM e)::int]),
                                                  array_fill(version, ARRAY[(SELECT count(*) FROM e)::int])) c
                WHERE c.other_component_id = _enforce_conflicts.component_id)
    SELECT x.* INTO bad FROM (SELECT * FROM a UNION ALL SELECT * FROM b) x
     WHERE x.action = 'block' ORDER BY x.tenant_id, x.rule_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s refused: version %s of component "%s" breaks conflict rule %s for tenant "%s"',
                             what, version, component_id, bad.rule_id, bad.tenant_id),
            DETAIL = CASE bad.kind
                WHEN 'max_skew' THEN format('%s@%s is too far behind the baseline %s.', bad.component_id, bad.version, bad.baseline)
                WHEN 'requires' THEN format('%s@%s requires %s in the rule''s range; the tenant has %s.', bad.component_id,
                                            bad.version, bad.other_component_id, coalesce(bad.other_version::text, 'none'))
                ELSE format('%s@%s excludes %s@%s.', bad.component_id, bad.version, bad.other_component_id, bad.other_version) END,
            HINT = 'Choose another version, or remove the rule (rollout.remove_conflict_rule).';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._enforce_conflicts(text, rollout.semver, text[], text, text) IS
    'internal: raise check_violation when putting a version of a component on the listed tenants (or a subtree) breaks a conflict rule with action block';

-- Refuse putting a version of a component on tenants when a block policy
-- forbids it there and no exemption covers them.  Fast path: one look at
-- the component's current block policies (nothing to do when none refuses
-- the version).  Otherwise the tenants are evaluated with rollout._evaluate
-- (the roster's rules): the listed tenants, or the root of the subtree
-- plus each node of a refusing policy inside it (NULL subtree: every root).
-- Nodes ('' = global) of the component's current block policies that refuse
-- the version for some tenant (grace without extensions): the fast path.
CREATE FUNCTION rollout._refusing_nodes(component_id text, version rollout.semver)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    nodes text[];
BEGIN
    -- plpgsql, not sql: its plan is kept for the session (a check costs microseconds)
    SELECT array_agg(coalesce(p.tenant_id, '')) INTO nodes
      FROM rollout.version_policy p
      JOIN rollout.component c ON c.component_id = p.component_id
      LEFT JOIN rollout.component_version cv ON cv.component_id = p.component_id AND cv.version OPERATOR(rollout.=) version
     WHERE p.component_id = _refusing_nodes.component_id AND p.valid_to IS NULL AND p.action = 'block'
       AND rollout._version_status(version, p.min_version, p.max_version, NULL, p.blocked, cv.eol_date,
                                   c.grace_period, now()) IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum');
    RETURN nodes;
END
$$;
COMMENT ON FUNCTION rollout._refusing_nodes(text, rollout.semver) IS
    'internal: nodes of the block policies of a component that may refuse a version (NULL: none, nothing to check)';

CREATE FUNCTION rollout._enforce_policy(component_id text, version rollout.semver, tenant_ids text[],
                                        subtree_of text, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    nodes text[];
    reps text[];
    bad record;
BEGIN
    PERFORM rollout._enforce_conflicts(component_id, version, tenant_ids, subtree_of, what);
    nodes := rollout._refusing_nodes(component_id, version);
    IF nodes IS NULL THEN
        RETURN;
    END IF;
    IF tenant_ids IS NOT NULL THEN
        reps := tenant_ids;
    ELSIF subtree_of IS NOT NULL THEN
        reps := ARRAY[subtree_of] || ARRAY(SELECT n FROM unnest(nodes) n WHERE n <> '' AND rollout.is_ancestor(subtree_of, n));
    ELSE
        reps := ARRAY(SELECT t.tenant_id FROM rollout.tenant t WHERE t.parent_id IS NULL AND t.status <> 'decommissioned')
                || ARRAY(SELECT n FROM unnest(nodes) n WHERE n <> '');
    END IF;
    SELECT e.* INTO bad
      FROM rollout._evaluate_base(now(), rollout._policies_as_of(now()), ARRAY[component_id], reps, version) e
     WHERE e.action = 'block' AND e.status IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum')
     ORDER BY e.tenant_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s refused: version %s of component "%s" is %s for tenant "%s" under the version policy %s',
                             what, version, component_id, replace(bad.status, '_', ' '), bad.tenant_id,
                             coalesce('of tenant "' || bad.policy_tenant_id || '"', '(global)')),
            DETAIL = format('Policy %s (action block)%s.', bad.policy_id,
                            CASE WHEN bad.status = 'past_grace'
                                 THEN format(': EOL %s, grace ended %s', bad.eol_date, bad.forced_upgrade_on) ELSE '' END),
            HINT = 'Choose an allowed version, or request an exemption (rollout.request_exemption) and have it approved.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._enforce_policy(text, rollout.semver, text[], text, text) IS
    'internal: raise check_violation when a block policy forbids the version for the tenants concerned and no exemption covers them, or a block conflict rule would be broken';

CREATE FUNCTION rollout._enforce_stage(rollout_id text, k integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _enforce_stage.rollout_id;
    PERFORM rollout._enforce_stage_row(r, k);
END
$$;
COMMENT ON FUNCTION rollout._enforce_stage(text, integer) IS
    'internal: refuse activating stage k of a rollout when a block policy or conflict rule forbids its to-version for a selected tenant';

-- The same on the rollout's row as the caller holds it (a stage start).
CREATE FUNCTION rollout._enforce_stage_row(r rollout.rollout, k integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    -- Most components have neither a current block policy nor a block
    -- conflict rule: one query says so (a tick starts stage after stage),
    -- before the two functions that decide it in detail are called.
    IF NOT (EXISTS (SELECT 1 FROM rollout.version_policy p
                     WHERE p.component_id = r.component_id AND p.valid_to IS NULL AND p.action = 'block')
            OR EXISTS (SELECT 1 FROM rollout.conflict_rule c
                        WHERE c.valid_to IS NULL AND c.action = 'block'
                          AND (c.component_id = r.component_id OR c.other_component_id = r.component_id))) THEN
        RETURN;
    END IF;
    -- the selection is computed only when a block policy or conflict rule may refuse the version
    IF rollout._refusing_nodes(r.component_id, r.to_version) IS NOT NULL
       OR rollout._blocking_conflict_rules(r.component_id) THEN
        PERFORM rollout._enforce_policy(r.component_id, r.to_version,
                                        ARRAY(SELECT s.tenant_id FROM rollout._selection(r.rollout_id, k) s
                                               WHERE NOT s.blacked_out),
                                        NULL, format('stage %s of rollout "%s"', k, r.rollout_id));
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._enforce_stage_row(rollout.rollout, integer) IS
    'internal: rollout._enforce_stage on the rollout''s row';

-- ---------------------------------------------------------------------
-- Reading: roster, summaries, distribution, ledger, simulation.  Each runs
-- rollout._evaluate and shows a role bound with rollout.bind_tenant() only
-- its subtrees.
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.drift_roster_at(at timestamptz DEFAULT pg_catalog.now(), component_id text DEFAULT NULL)
RETURNS TABLE (tenant_id text, component_id text, version rollout.semver, source text, source_tenant_id text,
               status text, violation text, policy_id bigint, policy_tenant_id text, action text,
               baseline rollout.semver, eol_date date, forced_upgrade_on date, days_left integer,
               exemption_id bigint, exempt_until timestamptz, exempt_reason text)
-- C (src/governance.c): the rows of rollout._evaluate(at, rollout._policies_as_of(at), component,
-- rollout._visible_tenants(), NULL), written straight into the result
AS 'MODULE_PATHNAME', 'pgr_drift_roster_at'
LANGUAGE C STABLE SECURITY DEFINER ROWS 1000000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION rollout.drift_roster_at(timestamptz, text) IS
    'every (tenant, component) (or one component) with the resolved version, its source, the governing policy, EOL and forced-upgrade date, exemption and status, evaluated at an instant';

CREATE FUNCTION rollout.conflicts_at(at timestamptz DEFAULT pg_catalog.now(), component_id text DEFAULT NULL)
RETURNS TABLE (tenant_id text, component_id text, version rollout.semver, rule_id bigint, kind text, action text,
               other_component_id text, other_version rollout.semver, baseline rollout.semver)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
WITH ev AS MATERIALIZED (
        SELECT e.tenant_id, e.component_id, e.version, e.baseline, e.status
          FROM rollout._evaluate_base($1, rollout._policies_as_of($1), NULL, rollout._visible_tenants(), NULL) e),
     cand AS MATERIALIZED (
        SELECT ev.* FROM ev
         WHERE ($2 IS NULL OR ev.component_id = $2) AND ev.version IS NOT NULL
           AND ev.status NOT IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum'))
SELECT c.* FROM rollout._conflicts($1, ARRAY(SELECT cand.tenant_id FROM cand), ARRAY(SELECT cand.component_id FROM cand),
                                   ARRAY(SELECT cand.version FROM cand), ARRAY(SELECT cand.baseline FROM cand),
                                   ARRAY(SELECT ev.tenant_id FROM ev), ARRAY(SELECT ev.component_id FROM ev),
                                   ARRAY(SELECT ev.version FROM ev)) c
 ORDER BY c.tenant_id, c.component_id, c.rule_id
$$;
COMMENT ON FUNCTION rollout.conflicts_at(timestamptz, text) IS
    'the conflict rules each (tenant, component) breaks at an instant (the pairs the roster shows as conflicting), with the other component''s version and the baseline';

-- An unknown (or, for a bound role, invisible) tenant, component or version
-- is an error, not an empty answer or a row saying "not refused".
CREATE FUNCTION rollout._check_version_args(tenant_id text, component_id text, version rollout.semver, at timestamptz)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tenant_id IS NULL OR component_id IS NULL OR at IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s of a version check must not be null',
                             CASE WHEN tenant_id IS NULL THEN 'the tenant id' WHEN component_id IS NULL THEN 'the component id'
                                  ELSE 'the instant' END);
    END IF;
    PERFORM rollout._require_visible(tenant_id);
    IF NOT EXISTS (SELECT 1 FROM rollout.component c WHERE c.component_id OPERATOR(pg_catalog.=) _check_version_args.component_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('component "%s" does not exist', component_id);
    END IF;
    IF version IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM rollout.component_version v
                        WHERE v.component_id OPERATOR(pg_catalog.=) _check_version_args.component_id
                          AND v.version OPERATOR(rollout.=) _check_version_args.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('version %s of component "%s" does not exist', version, component_id);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._check_version_args(text, text, rollout.semver, timestamptz) IS
    'internal (check_version): raise null_value_not_allowed or undefined_object for a missing or unknown tenant (or one the session user does not see), component or version';

CREATE FUNCTION rollout.check_version(tenant_id text, component_id text, version rollout.semver,
                                      at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (tenant_id text, component_id text, version rollout.semver, status text, violation text,
               policy_id bigint, policy_tenant_id text, action text, eol_date date, forced_upgrade_on date,
               days_left integer, exemption_id bigint, exempt_until timestamptz, refused boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollout._check_version_args($1, $2, $3, $4);
    SELECT e.tenant_id, e.component_id, e.version, e.status, e.violation, e.policy_id, e.policy_tenant_id, e.action,
           e.eol_date, e.forced_upgrade_on, e.days_left, e.exemption_id, e.exempt_until,
           coalesce(e.action = 'block' AND e.status IN ('blocked', 'past_grace', 'below_minimum', 'above_maximum'), false)
           OR (e.status = 'conflicting'
               AND EXISTS (SELECT 1 FROM rollout._conflicts($4, ARRAY[e.tenant_id], ARRAY[e.component_id], ARRAY[e.version],
                                                            ARRAY[e.baseline], NULL, NULL, NULL) c
                            WHERE c.action = 'block'))
      FROM rollout._evaluate($4, rollout._policies_as_of($4), ARRAY[$2], ARRAY[$1], $3) e
$$;
COMMENT ON FUNCTION rollout.check_version(text, text, rollout.semver, timestamptz) IS
    'how a version of a component would stand for a tenant at an instant (version NULL: the version it runs): status, policy, grace, exemption, and whether a pin or activation would be refused (by a block policy, or a block conflict rule of that component); an unknown or invisible tenant, an unknown component or version is an error';

CREATE FUNCTION rollout._summary_counts(at timestamptz, policies rollout.version_policy[], component_ids text[],
                                        tenant_ids text[])
RETURNS TABLE (org_id text, team_id text, component_id text, status text, n bigint)
-- C (src/governance.c): for every tenant with no conflict rule in force,
-- counted in the pass of rollout._evaluate_all without a row per pair;
-- otherwise the GROUP BY over rollout._evaluate in SQL
AS 'MODULE_PATHNAME', 'pgr_summary_counts'
LANGUAGE C STABLE ROWS 10000;
COMMENT ON FUNCTION rollout._summary_counts(timestamptz, rollout.version_policy[], text[], text[]) IS
    'internal: the pairs of rollout._evaluate(at, policies, component_ids, tenant_ids, NULL) counted per organisation, team, component and status';

CREATE FUNCTION rollout._summary(at timestamptz, policies rollout.version_policy[], component_ids text[])
RETURNS TABLE (node_id text, kind text, depth integer, component_id text, pairs bigint, compliant bigint,
               exempt bigint, eol_in_grace bigint, behind_baseline bigint, below_minimum bigint,
               above_maximum bigint, blocked bigint, past_grace bigint, not_deployed bigint,
               compliance_pct numeric, conflicting bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH vis AS MATERIALIZED (SELECT rollout._visible_tenants() AS v),
         -- one pass over the pairs: counts per organisation, team, component and status
         c AS MATERIALIZED (
            SELECT e.org_id, e.team_id, e.component_id, e.status, e.n
              FROM rollout._summary_counts($1, $2, $3, (SELECT vis.v FROM vis)) e),
         g AS (
            SELECT CASE WHEN grouping(c.team_id) = 0 THEN c.team_id ELSE c.org_id END AS node_id,
                   c.component_id, sum(c.n)::bigint AS pairs,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'compliant'), 0)::bigint AS compliant,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'exempt'), 0)::bigint AS exempt,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'eol_in_grace'), 0)::bigint AS eol_in_grace,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'behind_baseline'), 0)::bigint AS behind_baseline,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'below_minimum'), 0)::bigint AS below_minimum,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'above_maximum'), 0)::bigint AS above_maximum,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'blocked'), 0)::bigint AS blocked,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'past_grace'), 0)::bigint AS past_grace,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'not_deployed'), 0)::bigint AS not_deployed,
                   coalesce(sum(c.n) FILTER (WHERE c.status = 'conflicting'), 0)::bigint AS conflicting
              FROM c
             GROUP BY GROUPING SETS ((c.org_id, c.component_id), (c.org_id),
                                     (c.org_id, c.team_id, c.component_id), (c.org_id, c.team_id)))
    SELECT g.node_id, t.kind, cardinality(t.path) - 1, g.component_id, g.pairs, g.compliant, g.exempt,
           g.eol_in_grace, g.behind_baseline, g.below_minimum, g.above_maximum, g.blocked, g.past_grace,
           g.not_deployed,
           round(100.0 * (g.compliant + g.exempt + g.eol_in_grace) / nullif(g.pairs - g.not_deployed, 0), 2),
           g.conflicting
      FROM g JOIN rollout.tenant t ON t.tenant_id = g.node_id CROSS JOIN vis
     WHERE vis.v IS NULL OR g.node_id = ANY (vis.v)
     ORDER BY t.path, g.component_id NULLS FIRST
$$;
COMMENT ON FUNCTION rollout._summary(timestamptz, rollout.version_policy[], text[]) IS
    'internal: counts per status and compliance percentage per organisation (depth 0) and team (depth 1), per component and over all (component NULL)';

CREATE FUNCTION rollout.compliance_summary_at(at timestamptz DEFAULT pg_catalog.now(), component_id text DEFAULT NULL)
RETURNS TABLE (node_id text, kind text, depth integer, component_id text, pairs bigint, compliant bigint,
               exempt bigint, eol_in_grace bigint, behind_baseline bigint, below_minimum bigint,
               above_maximum bigint, blocked bigint, past_grace bigint, not_deployed bigint,
               compliance_pct numeric, conflicting bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.* FROM rollout._summary($1, rollout._policies_as_of($1), CASE WHEN $2 IS NOT NULL THEN ARRAY[$2] END) s
$$;
COMMENT ON FUNCTION rollout.compliance_summary_at(timestamptz, text) IS
    'compliance roll-up per organisation and team at an instant: counts per status and compliance_pct = 100 * (compliant + exempt + eol_in_grace) / (pairs - not_deployed) (conflicting pairs count as not compliant)';

CREATE FUNCTION rollout.version_distribution_at(at timestamptz DEFAULT pg_catalog.now(), component_id text DEFAULT NULL)
RETURNS TABLE (component_id text, version rollout.semver, version_status text, eol_date date, tenants bigint,
               share_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.component_id, d.version, cv.status, cv.eol_date, d.tenants,
           round(100.0 * d.tenants / sum(d.tenants) OVER (PARTITION BY d.component_id), 2)
      FROM (SELECT e.component_id, e.version, count(*) AS tenants
              FROM rollout._evaluate($1, '{}', CASE WHEN $2 IS NOT NULL THEN ARRAY[$2] END,
                                     rollout._visible_tenants(), NULL) e
             GROUP BY e.component_id, e.version) d
      LEFT JOIN rollout.component_version cv
             ON cv.component_id = d.component_id AND cv.version OPERATOR(rollout.=) d.version
     ORDER BY d.component_id, d.version NULLS FIRST
$$;
COMMENT ON FUNCTION rollout.version_distribution_at(timestamptz, text) IS
    'how many tenants run each version of each component (NULL version: nothing resolves), with the version''s status and EOL';

CREATE FUNCTION rollout.exemption_ledger_at(at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (exemption_id bigint, tenant_id text, include_subtree boolean, component_id text,
               versions rollout.semver_range, category text, state text, reason text, ticket text,
               requested_by text, approved_by text, approved_at timestamptz, expires_at timestamptz,
               revoked_by text, revoked_at timestamptz, revoke_reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.exemption_id, e.tenant_id, e.include_subtree, e.component_id, e.versions, e.category,
           CASE WHEN rollout._exemption_in_force(e, $1) THEN 'active'
                WHEN e.revoked_at <= $1 THEN 'revoked'
                WHEN e.expires_at <= $1 THEN 'expired'
                WHEN e.approved_at IS NULL OR e.approved_at > $1 THEN 'pending'
                ELSE 'inactive' END,
           e.reason, e.ticket, e.requested_by, e.approved_by, e.approved_at, e.expires_at, e.revoked_by,
           e.revoked_at, e.revoke_reason
      FROM rollout.exemption e
      CROSS JOIN (SELECT rollout._visible_tenants() AS v OFFSET 0) vis
     WHERE e.requested_at <= $1 AND (vis.v IS NULL OR e.tenant_id = ANY (vis.v))
     ORDER BY e.exemption_id
$$;
COMMENT ON FUNCTION rollout.exemption_ledger_at(timestamptz) IS
    'every exemption requested by an instant with its state then: active (in force, as rollout.exemption_applies decides), pending, expired or revoked';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._grace(interval, interval, interval),
    rollout._version_status(rollout.semver, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                            date, interval, timestamptz),
    rollout._exemption_in_force(rollout.exemption, timestamptz),
    rollout.exemption_applies(rollout.exemption, text[], text, rollout.semver, timestamptz),
    rollout._exemption_for_path(text[], text, rollout.semver, timestamptz),
    rollout.exemption_for(text, text, rollout.semver, timestamptz),
    rollout._visible_tenants(),
    rollout._policies_as_of(timestamptz),
    rollout._policy_row(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange, text,
                        interval, text),
    rollout.set_version_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                               text, interval, text),
    rollout.clear_version_policy(text, text, text),
    rollout.version_policies(timestamptz),
    rollout._effective_policy(text, text),
    rollout.resolve_versions_all(text[]),
    rollout._policy_lookup(timestamptz, rollout.version_policy[], text[], text[]),
    rollout._evaluate_given(timestamptz, rollout.version_policy[], text[], text[], rollout.semver,
                            text[], text[], rollout.semver[], text[], text[]),
    rollout._evaluate_all(timestamptz, rollout.version_policy[], text[]),
    rollout._evaluate_base(timestamptz, rollout.version_policy[], text[], text[], rollout.semver),
    rollout._evaluate_conflicts(timestamptz, rollout.version_policy[], text[], text[], rollout.semver),
    rollout._conflict_rules_exist(timestamptz),
    rollout._evaluate(timestamptz, rollout.version_policy[], text[], text[], rollout.semver),
    rollout.conflict_broken(rollout.conflict_rule, rollout.semver, rollout.semver, rollout.semver),
    rollout._conflicts(timestamptz, text[], text[], rollout.semver[], rollout.semver[], text[], text[], rollout.semver[]),
    rollout.add_conflict_rule(text, text, rollout.semver_range, text, rollout.semver_range, integer, text, text, text),
    rollout.remove_conflict_rule(bigint, text),
    rollout._blocking_conflict_rules(text),
    rollout._enforce_conflicts(text, rollout.semver, text[], text, text),
    rollout._check_grace_limit(text, text, rollout.semver, interval, bigint),
    rollout.request_grace_extension(text, text, rollout.semver, interval, text, text),
    rollout._decide_grace_extension(bigint, boolean, text),
    rollout.approve_grace_extension(bigint, text),
    rollout.reject_grace_extension(bigint, text),
    rollout.request_exemption(text, text, rollout.semver_range, text, text, timestamptz, text, boolean),
    rollout.approve_exemption(bigint, text),
    rollout.revoke_exemption(bigint, text),
    rollout._refusing_nodes(text, rollout.semver),
    rollout._enforce_policy(text, rollout.semver, text[], text, text),
    rollout._enforce_stage(text, integer),
    rollout._enforce_stage_row(rollout.rollout, integer),
    rollout.drift_roster_at(timestamptz, text),
    rollout.conflicts_at(timestamptz, text),
    rollout.check_version(text, text, rollout.semver, timestamptz),
    rollout._check_version_args(text, text, rollout.semver, timestamptz),
    rollout._summary_counts(timestamptz, rollout.version_policy[], text[], text[]),
    rollout._summary(timestamptz, rollout.version_policy[], text[]),
    rollout.compliance_summary_at(timestamptz, text),
    rollout.version_distribution_at(timestamptz, text),
    rollout.exemption_ledger_at(timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.conflict_broken(rollout.conflict_rule, rollout.semver, rollout.semver, rollout.semver),
    rollout.resolve_versions_all(text[]),
    rollout.exemption_applies(rollout.exemption, text[], text, rollout.semver, timestamptz),
    rollout._exemption_in_force(rollout.exemption, timestamptz),
    rollout.exemption_for(text, text, rollout.semver, timestamptz),
    rollout._exemption_for_path(text[], text, rollout.semver, timestamptz),
    rollout.version_policies(timestamptz),
    rollout._policies_as_of(timestamptz),
    rollout.drift_roster_at(timestamptz, text),
    rollout.conflicts_at(timestamptz, text),
    rollout.check_version(text, text, rollout.semver, timestamptz),
    rollout.compliance_summary_at(timestamptz, text),
    rollout.version_distribution_at(timestamptz, text),
    rollout.exemption_ledger_at(timestamptz)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.request_grace_extension(text, text, rollout.semver, interval, text, text),
    rollout.request_exemption(text, text, rollout.semver_range, text, text, timestamptz, text, boolean)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.set_version_policy(text, text, rollout.semver, rollout.semver, rollout.semver, rollout.semver_multirange,
                               text, interval, text),
    rollout.clear_version_policy(text, text, text),
    rollout.add_conflict_rule(text, text, rollout.semver_range, text, rollout.semver_range, integer, text, text, text),
    rollout.remove_conflict_rule(bigint, text),
    rollout.approve_grace_extension(bigint, text),
    rollout.reject_grace_extension(bigint, text),
    rollout.approve_exemption(bigint, text),
    rollout.revoke_exemption(bigint, text)
TO rollout_admin;
