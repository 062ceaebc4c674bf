-- Tenants: a tree of any depth (up to @PGR_MAX_DEPTH@ levels) with a materialized path.
CREATE TABLE rollout.tenant (
    tenant_id         text COLLATE "C" PRIMARY KEY
                      CHECK (tenant_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(tenant_id) <= @PGR_NAME_MAX_LEN@),
    parent_id         text COLLATE "C",   -- no foreign key: see src/sql/85_integrity
    kind              text        NOT NULL DEFAULT 'tenant'
                      CHECK (kind ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(kind) <= @PGR_NAME_MAX_LEN@),
    display_name      text        NOT NULL,
    attributes        jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    status            text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'suspended', 'decommissioned')),
    channel_id        text COLLATE "C",
    test_tenant       boolean     NOT NULL DEFAULT false,
    path              text[] COLLATE "C" NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    suspended_at      timestamptz,
    decommissioned_at timestamptz,
    CONSTRAINT tenant_path_ends_with_self CHECK (path[pg_catalog.cardinality(path)] = tenant_id),
    CONSTRAINT tenant_path_matches_parent CHECK ((parent_id IS NULL) = (pg_catalog.cardinality(path) = 1)
                                                 AND (parent_id IS NULL OR path[pg_catalog.cardinality(path) - 1] = parent_id)),
    CONSTRAINT tenant_depth_limit CHECK (pg_catalog.cardinality(path) <= @PGR_MAX_DEPTH@)
);
-- Pre-order index: a subtree is one contiguous range of paths.
CREATE UNIQUE INDEX tenant_path_idx ON rollout.tenant (path);
CREATE INDEX tenant_parent_idx ON rollout.tenant (parent_id);
-- What a resolution miss reads of a tenant row (src/resolve.c, "The tenant
-- rows"), read index-only: a miss walks from the tenant up to its nearest
-- cached ancestor without touching the table's wide rows.
CREATE INDEX tenant_resolve_idx ON rollout.tenant (tenant_id) INCLUDE (parent_id, status, channel_id, test_tenant);
SELECT pg_catalog.pg_extension_config_dump('rollout.tenant', '');

COMMENT ON TABLE rollout.tenant IS 'tenants: a tree (organisation, team, project, ...) with attributes, lifecycle status and channel';
COMMENT ON COLUMN rollout.tenant.tenant_id IS 'stable slug identifying the tenant forever';
COMMENT ON COLUMN rollout.tenant.parent_id IS 'parent tenant, NULL for a root';
COMMENT ON COLUMN rollout.tenant.kind IS 'label of the level: organisation, team, project, ...';
COMMENT ON COLUMN rollout.tenant.attributes IS 'JSON object of attributes; numeric ones (e.g. scan_volume) serve as weights';
COMMENT ON COLUMN rollout.tenant.status IS 'active, suspended or decommissioned (kept for audit, never changed again)';
COMMENT ON COLUMN rollout.tenant.channel_id IS 'channel the tenant follows; NULL inherits from the nearest ancestor';
COMMENT ON COLUMN rollout.tenant.test_tenant IS 'a dev/test tenant (also true for its descendants), eligible for test-only channels';
COMMENT ON COLUMN rollout.tenant.path IS 'tenant ids from the root down to this tenant; maintained by pg_rollout';

-- Privileges of the objects above.
GRANT SELECT ON rollout.tenant TO rollout_viewer;
