-- Components (what rolls out) and their semantically ordered versions.
CREATE TABLE rollout.component (
    component_id    text COLLATE "C" PRIMARY KEY
                    CHECK (component_id ~ '^[a-z0-9]([a-z0-9._:-]*[a-z0-9])?$' AND length(component_id) <= @PGR_NAME_MAX_LEN@),
    kind            text        NOT NULL DEFAULT 'product'
                    CHECK (kind IN ('policy_set', 'plugin', 'product', 'flag', 'config', 'other')),
    display_name    text        NOT NULL,
    description     text,
    attributes      jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    default_version rollout.semver,
    grace_period    interval    NOT NULL DEFAULT '30 days' CHECK (grace_period >= interval '0'),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.component', '');
COMMENT ON TABLE rollout.component IS 'things that roll out: policy sets, plugins, products, flags, configs';
COMMENT ON COLUMN rollout.component.kind IS 'policy_set, plugin, product, flag, config or other';
COMMENT ON COLUMN rollout.component.default_version IS 'platform default: the version a tenant runs when nothing more specific decides';
COMMENT ON COLUMN rollout.component.grace_period IS 'time after a version''s EOL date before tenants on it are out of compliance';

CREATE TABLE rollout.component_version (
    component_id text COLLATE "C" NOT NULL,
    version      rollout.semver NOT NULL,
    status       text        NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'published', 'deprecated', 'eol')),
    released_at  timestamptz,
    eol_date     date,
    notes        text,
    attributes   jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, version)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.component_version', '');
COMMENT ON TABLE rollout.component_version IS 'versions of a component, ordered by semantic-version precedence';
COMMENT ON COLUMN rollout.component_version.status IS 'draft, published, deprecated or eol';
COMMENT ON COLUMN rollout.component_version.released_at IS 'when the version was first published';
COMMENT ON COLUMN rollout.component_version.eol_date IS 'end-of-life date; the component''s grace period runs from it';

-- Privileges of the objects above.
GRANT SELECT ON rollout.component, rollout.component_version TO rollout_viewer;
