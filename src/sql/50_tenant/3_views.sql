-- Tenant views.

CREATE VIEW rollout.tenant_tree AS
SELECT t.tenant_id,
       t.parent_id,
       t.kind,
       t.display_name,
       pg_catalog.repeat('  ', pg_catalog.cardinality(t.path) - 1) OPERATOR(pg_catalog.||) t.display_name AS label,
       pg_catalog.cardinality(t.path) - 1 AS depth,
       pg_catalog.array_to_string(t.path, '/') AS path,
       t.status,
       t.channel_id,
       t.test_tenant,
       t.attributes
  FROM rollout.tenant t
 ORDER BY t.path;
COMMENT ON VIEW rollout.tenant_tree IS 'tenants in tree order (depth first), with depth, an indented label and the path as text';

-- Privileges of the objects above.
GRANT SELECT ON rollout.tenant_tree TO rollout_viewer;
