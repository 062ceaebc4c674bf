-- Version governance (issue 12): version policies attached globally or at a
-- node of the tenant tree (nearest node wins, as for pins), versioned so
-- they can be listed as of any past time; grace-period extensions approved
-- by someone other than the requester; exemptions.

-- Version ranges: [1.2.0,1.3.0) and lists of them ('{[1.2.0,1.2.0], [1.4.0,)}').
CREATE TYPE rollout.semver_range AS RANGE (subtype = rollout.semver);
COMMENT ON TYPE rollout.semver_range IS 'a range of semantic versions, e.g. [1.2.0,1.3.0)';
COMMENT ON TYPE rollout.semver_multirange IS 'a set of version ranges, e.g. {[1.2.0,1.2.0], [1.4.0,2.0.0)}';
COMMENT ON FUNCTION rollout.semver_range(rollout.semver, rollout.semver) IS 'version range [lower, upper)';
COMMENT ON FUNCTION rollout.semver_range(rollout.semver, rollout.semver, text) IS 'version range with explicit bounds, e.g. ''[]''';
COMMENT ON FUNCTION rollout.semver_multirange() IS 'empty set of version ranges';
COMMENT ON FUNCTION rollout.semver_multirange(rollout.semver_range) IS 'set of one version range';
COMMENT ON FUNCTION rollout.semver_multirange(VARIADIC rollout.semver_range[]) IS 'set of version ranges';

CREATE SEQUENCE rollout.version_policy_seq;
CREATE TABLE rollout.version_policy (
    policy_id    bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.version_policy_seq'),
    component_id text COLLATE "C" NOT NULL,
    tenant_id    text COLLATE "C",
    min_version  rollout.semver,
    max_version  rollout.semver,
    baseline     rollout.semver,
    blocked      rollout.semver_multirange NOT NULL DEFAULT '{}',
    action       text        NOT NULL DEFAULT 'report' CHECK (action IN ('report', 'remind', 'schedule', 'block')),
    grace_limit  interval    CHECK (grace_limit >= interval '0'),
    reason       text        NOT NULL,
    set_by       text        NOT NULL,
    valid_from   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    valid_to     timestamptz,
    CONSTRAINT version_policy_period CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT version_policy_bounds CHECK (min_version IS NULL OR max_version IS NULL
                                            OR min_version OPERATOR(rollout.<=) max_version)
);
-- One current policy per component and node ('' is the global one).
CREATE UNIQUE INDEX version_policy_current_idx ON rollout.version_policy (component_id, (coalesce(tenant_id, '')))
    WHERE valid_to IS NULL;
CREATE INDEX version_policy_history_idx ON rollout.version_policy (component_id, tenant_id, valid_from);
SELECT pg_catalog.pg_extension_config_dump('rollout.version_policy', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.version_policy_seq', '');
COMMENT ON SEQUENCE rollout.version_policy_seq IS 'ids of rollout.version_policy';
COMMENT ON TABLE rollout.version_policy IS
    'version policies of components, global (tenant_id NULL) or attached at a tenant node and inherited by its subtree (nearest node wins); a change closes the current row (valid_to) and adds a new one';
COMMENT ON COLUMN rollout.version_policy.tenant_id IS 'node the policy is attached to; NULL for the global policy of the component';
COMMENT ON COLUMN rollout.version_policy.min_version IS 'minimum required version (security, compatibility)';
COMMENT ON COLUMN rollout.version_policy.max_version IS 'maximum allowed version';
COMMENT ON COLUMN rollout.version_policy.baseline IS 'the version tenants should be on: older is behind_baseline';
COMMENT ON COLUMN rollout.version_policy.blocked IS 'blocked versions and ranges (e.g. a known-bad release)';
COMMENT ON COLUMN rollout.version_policy.action IS 'report, remind, schedule or block (refuse pins, channel releases, rollouts and activations that violate it)';
COMMENT ON COLUMN rollout.version_policy.grace_limit IS 'hard limit on a tenant''s grace period after EOL, extensions included; NULL: no extension';
COMMENT ON COLUMN rollout.version_policy.valid_from IS 'when this version of the policy took effect';
COMMENT ON COLUMN rollout.version_policy.valid_to IS 'when it was replaced or cleared; NULL while current';

CREATE SEQUENCE rollout.grace_extension_seq;
CREATE TABLE rollout.grace_extension (
    extension_id  bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.grace_extension_seq'),
    tenant_id     text COLLATE "C" NOT NULL,
    component_id  text COLLATE "C" NOT NULL,
    version       rollout.semver NOT NULL,
    extend_by     interval    NOT NULL CHECK (extend_by > interval '0'),
    reason        text        NOT NULL,
    ticket        text,
    status        text        NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected')),
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_by    text,
    decided_at    timestamptz,
    decision_note text,
    requested_login text      NOT NULL DEFAULT session_user,
    CONSTRAINT grace_extension_decided CHECK ((status = 'requested') = (decided_at IS NULL))
);
CREATE INDEX grace_extension_tenant_idx ON rollout.grace_extension (component_id, tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.grace_extension', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.grace_extension_seq', '');
COMMENT ON SEQUENCE rollout.grace_extension_seq IS 'ids of rollout.grace_extension';
COMMENT ON TABLE rollout.grace_extension IS
    'requests to extend a tenant''s grace period after a version''s EOL; effective once approved by someone other than the requester, never past the policy''s grace_limit';

CREATE SEQUENCE rollout.exemption_seq;
CREATE TABLE rollout.exemption (
    exemption_id    bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.exemption_seq'),
    tenant_id       text COLLATE "C" NOT NULL,
    include_subtree boolean     NOT NULL DEFAULT true,
    component_id    text COLLATE "C" NOT NULL,
    versions        rollout.semver_range NOT NULL CHECK (NOT pg_catalog.isempty(versions)),
    category        text        NOT NULL CHECK (category IN ('waiver', 'mitigated')),
    reason          text        NOT NULL,
    ticket          text,
    requested_by    text        NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    approved_by     text,
    approved_at     timestamptz,
    expires_at      timestamptz NOT NULL,
    revoked_by      text,
    revoked_at      timestamptz,
    revoke_reason   text,
    requested_login text      NOT NULL DEFAULT session_user,
    CONSTRAINT exemption_approval CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT exemption_revocation CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
CREATE INDEX exemption_lookup_idx ON rollout.exemption (component_id, tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.exemption', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.exemption_seq', '');
COMMENT ON SEQUENCE rollout.exemption_seq IS 'ids of rollout.exemption';
COMMENT ON TABLE rollout.exemption IS
    'exemptions from version policy: a tenant (or its subtree) may run a range of versions of a component until expires_at; in force once approved by someone other than the requester; rollout.exemption_applies() alone decides';
COMMENT ON COLUMN rollout.exemption.category IS 'waiver (risk accepted) or mitigated (risk handled otherwise)';
COMMENT ON COLUMN rollout.exemption.include_subtree IS 'the exemption also covers the descendants of tenant_id';
COMMENT ON COLUMN rollout.exemption.versions IS 'the versions the exemption covers';
COMMENT ON COLUMN rollout.exemption.expires_at IS 'the exemption stops covering at this instant';
COMMENT ON COLUMN rollout.exemption.requested_login IS
    'login (session_user) that requested the exemption: an approval must come from another login, whatever pg_rollout.actor says';
COMMENT ON COLUMN rollout.grace_extension.requested_login IS
    'login (session_user) that requested the extension: an approval must come from another login, whatever pg_rollout.actor says';

-- Privileges of the objects above.
GRANT SELECT ON rollout.version_policy, rollout.grace_extension, rollout.exemption TO rollout_viewer;

-- Conflict rules between components (issue 12, item 4): component A at
-- versions X requires component B in versions Y, or excludes B in Y; or a
-- tenant's version of A may be at most N minor versions behind its baseline.
CREATE SEQUENCE rollout.conflict_rule_seq;
CREATE TABLE rollout.conflict_rule (
    rule_id            bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.conflict_rule_seq'),
    kind               text        NOT NULL CHECK (kind IN ('requires', 'excludes', 'max_skew')),
    component_id       text COLLATE "C" NOT NULL,
    versions           rollout.semver_range NOT NULL DEFAULT '(,)' CHECK (NOT pg_catalog.isempty(versions)),
    other_component_id text COLLATE "C",
    other_versions     rollout.semver_range CHECK (NOT pg_catalog.isempty(other_versions)),
    max_minors         integer     CHECK (max_minors >= 0),
    tenant_id          text COLLATE "C",
    action             text        NOT NULL DEFAULT 'report' CHECK (action IN ('report', 'block')),
    reason             text        NOT NULL,
    set_by             text        NOT NULL,
    valid_from         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    valid_to           timestamptz,
    removed_by         text,
    remove_reason      text,
    CONSTRAINT conflict_rule_shape CHECK (CASE WHEN kind = 'max_skew'
                                              THEN other_component_id IS NULL AND other_versions IS NULL AND max_minors IS NOT NULL
                                              ELSE other_component_id IS NOT NULL AND other_versions IS NOT NULL AND max_minors IS NULL
                                                   AND other_component_id <> component_id END),
    CONSTRAINT conflict_rule_period CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT conflict_rule_removal CHECK ((valid_to IS NULL) = (removed_by IS NULL))
);
CREATE INDEX conflict_rule_component_idx ON rollout.conflict_rule (component_id);
CREATE INDEX conflict_rule_other_idx ON rollout.conflict_rule (other_component_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.conflict_rule', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.conflict_rule_seq', '');
COMMENT ON SEQUENCE rollout.conflict_rule_seq IS 'ids of rollout.conflict_rule';
COMMENT ON TABLE rollout.conflict_rule IS
    'conflict rules between components: requires (A in versions needs B in other_versions), excludes (A in versions forbids B in other_versions), max_skew (A at most max_minors minor versions behind the baseline of its policy); global (tenant_id NULL) or for a subtree; removed rules keep their row (valid_to); rollout.conflict_broken() alone decides';
COMMENT ON COLUMN rollout.conflict_rule.versions IS 'the versions of component_id the rule applies to';
COMMENT ON COLUMN rollout.conflict_rule.other_versions IS 'requires: the versions of other_component_id needed; excludes: the versions refused';
COMMENT ON COLUMN rollout.conflict_rule.max_minors IS 'max_skew: how many minor versions behind the baseline a tenant may be (another major behind is always too far)';
COMMENT ON COLUMN rollout.conflict_rule.tenant_id IS 'the rule holds in this subtree; NULL: everywhere';
COMMENT ON COLUMN rollout.conflict_rule.action IS 'report (roster and simulation) or block (also refuse pins, channel releases, rollouts and activations that would break it)';
COMMENT ON COLUMN rollout.conflict_rule.valid_to IS 'when the rule was removed; NULL while in force';

-- Privileges of the objects above.
GRANT SELECT ON rollout.conflict_rule TO rollout_viewer;
