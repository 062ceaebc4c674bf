-- Resolution: which version of a component does a tenant run?
-- tenant pin -> nearest ancestor's pin -> feature-flag override -> rollout
-- activation (own or inherited) -> channel release -> platform default.

CREATE TABLE rollout.pin (
    component_id text COLLATE "C" NOT NULL,
    tenant_id    text COLLATE "C" NOT NULL,
    version      rollout.semver NOT NULL,
    reason       text        NOT NULL,
    pinned_by    text        NOT NULL,
    pinned_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, tenant_id)
);
CREATE INDEX pin_tenant_idx ON rollout.pin (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.pin', '');
COMMENT ON TABLE rollout.pin IS 'version pins: a tenant and its subtree run this version of the component, whatever rollouts do';

CREATE TABLE rollout.channel_release (
    component_id text COLLATE "C" NOT NULL,
    channel_id   text COLLATE "C" NOT NULL,
    version      rollout.semver NOT NULL,
    reason       text,
    released_by  text        NOT NULL,
    released_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, channel_id)
);
CREATE INDEX channel_release_channel_idx ON rollout.channel_release (channel_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.channel_release', '');
COMMENT ON TABLE rollout.channel_release IS
    'the version of a component each channel currently delivers; tenants get the release of their effective channel (or the next more stable one)';

-- Privileges of the objects above.
GRANT SELECT ON rollout.pin, rollout.channel_release TO rollout_viewer;
