-- Feature flags and kill switches, resolved through the tenant tree.
CREATE TABLE rollout.flag (
    flag_id         text COLLATE "C" PRIMARY KEY
                    CHECK (flag_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(flag_id) <= @PGR_NAME_MAX_LEN@),
    description     text,
    default_enabled boolean     NOT NULL DEFAULT false,
    killed          boolean     NOT NULL DEFAULT false,
    kill_reason     text,
    killed_at       timestamptz,
    killed_by       text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.flag', '');
COMMENT ON TABLE rollout.flag IS 'feature flags: a default, per-tenant overrides inherited down the tree, and a kill switch';
COMMENT ON COLUMN rollout.flag.default_enabled IS 'value for tenants with no override on themselves or an ancestor';
COMMENT ON COLUMN rollout.flag.killed IS 'global kill switch: when true the flag is off for every tenant, whatever else says';

CREATE TABLE rollout.flag_setting (
    flag_id   text COLLATE "C" NOT NULL,
    tenant_id text COLLATE "C" NOT NULL,
    enabled   boolean,
    killed    boolean     NOT NULL DEFAULT false,
    reason    text,
    set_by    text        NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (flag_id, tenant_id),
    CONSTRAINT flag_setting_not_empty CHECK (enabled IS NOT NULL OR killed)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.flag_setting', '');
COMMENT ON TABLE rollout.flag_setting IS
    'per-tenant flag overrides (enabled true / false) and subtree kill switches; the nearest override on the path decides';
COMMENT ON COLUMN rollout.flag_setting.enabled IS 'override for the tenant and its subtree; NULL when the row is only a kill switch';
COMMENT ON COLUMN rollout.flag_setting.killed IS 'kill switch for the tenant and its subtree: beats every override';

-- Privileges of the objects above.
GRANT SELECT ON rollout.flag, rollout.flag_setting TO rollout_viewer;
