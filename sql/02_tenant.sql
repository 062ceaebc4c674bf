-- Tenants: creation, tree queries, updates, moves, lifecycle, and every error.
\set VERBOSITY terse

-- seed 000's acme-corp tree
SELECT tenant_id, parent_id, kind, path FROM rollout.create_tenant('acme-corp', 'ACME Corp', kind => 'organisation');
SELECT count(*) FROM (
    SELECT rollout.create_tenant(id, name, parent, kind, attrs)
      FROM (VALUES
        ('platform-eng', 'Platform Engineering', 'acme-corp', 'team', '{}'::jsonb),
        ('platform-eng-core-services', 'core-services', 'platform-eng', 'project', '{"scan_volume": 1200}'),
        ('platform-eng-infrastructure', 'infrastructure', 'platform-eng', 'project', '{"scan_volume": 300}'),
        ('product-dev', 'Product Development', 'acme-corp', 'team', '{}'),
        ('product-dev-web-app', 'web-app', 'product-dev', 'project', '{"scan_volume": 5000}'),
        ('product-dev-mobile-api', 'mobile-api', 'product-dev', 'project', '{"scan_volume": 2500}'),
        ('product-dev-data-pipeline', 'data-pipeline', 'product-dev', 'project', '{"scan_volume": 800}'),
        ('security', 'Security', 'acme-corp', 'team', '{}'),
        ('security-tools', 'security-tools', 'security', 'project', '{"scan_volume": 150}')
      ) AS v(id, name, parent, kind, attrs)
     ORDER BY parent NULLS FIRST, id) s;
SELECT label, kind, depth, path, attributes FROM rollout.tenant_tree;

-- ancestors: nearest first; descendants: depth-first order
SELECT * FROM rollout.ancestors('product-dev-web-app');
SELECT tenant_id, depth, distance FROM rollout.ancestors('product-dev-web-app', include_self => true);
SELECT count(*) FROM rollout.ancestors('acme-corp');
SELECT tenant_id, depth, distance FROM rollout.descendants('acme-corp');
SELECT tenant_id, distance FROM rollout.descendants('acme-corp', max_depth => 1);
SELECT tenant_id FROM rollout.descendants('product-dev', include_self => true);
SELECT count(*) FROM rollout.descendants('security-tools');
SELECT rollout.tenant_path('security-tools');
SELECT rollout.is_ancestor('acme-corp', 'security-tools'), rollout.is_ancestor('security-tools', 'acme-corp'),
       rollout.is_ancestor('product-dev', 'security-tools'), rollout.is_ancestor('security', 'security');
-- the subtree range uses the path index
EXPLAIN (COSTS OFF) SELECT tenant_id FROM rollout.tenant d
 WHERE d.path >= '{acme-corp,product-dev}' AND d.path < rollout._path_upper('{acme-corp,product-dev}');

-- a tenant whose id extends a sibling's id is not mistaken for its descendant
SELECT (rollout.create_tenant('security-tools2', parent_id => 'security')).path;
SELECT tenant_id FROM rollout.descendants('security-tools');

-- errors on creation, and nothing half-written
SELECT rollout.create_tenant('Bad Id');
SELECT rollout.create_tenant('-leading-dash');
SELECT rollout.create_tenant('trailing.');
SELECT rollout.create_tenant(repeat('a', 64));
SELECT rollout.create_tenant(NULL);
SELECT rollout.create_tenant('new-one', parent_id => 'no-such-parent');
SELECT rollout.create_tenant('acme-corp');
SELECT rollout.create_tenant('new-one', kind => 'Not A Kind');
SELECT rollout.create_tenant('new-one', attributes => '[1, 2]');
SELECT rollout.create_tenant('new-one', channel_id => 'no-such-channel');
SELECT rollout.ancestors('no-such-tenant');
SELECT rollout.descendants('no-such-tenant');
SELECT rollout.tenant_path('no-such-tenant');
-- a NULL id has no path and no relatives
SELECT rollout.tenant_path(NULL) IS NULL AS no_path, (SELECT count(*) FROM rollout.ancestors(NULL)) AS ancestors,
       (SELECT count(*) FROM rollout.descendants(NULL)) AS descendants;
SELECT count(*) AS tenants, (SELECT count(*) FROM rollout.tenant WHERE tenant_id = 'new-one') AS new_one
  FROM rollout.tenant;

-- depth limit: 32 levels
DO $$
DECLARE i int;
BEGIN
    PERFORM rollout.create_tenant('deep-1');
    FOR i IN 2..32 LOOP
        PERFORM rollout.create_tenant('deep-' || i, parent_id => 'deep-' || (i - 1));
    END LOOP;
END $$;
SELECT max(depth) FROM rollout.tenant_tree;
SELECT rollout.create_tenant('deep-33', parent_id => 'deep-32');
SELECT rollout.move_tenant('security', 'deep-31');

-- bulk creation: parents alongside children, all or nothing
SELECT rollout.create_tenants(ARRAY['bulk-team', 'bulk-p1', 'bulk-p2'], ARRAY['bulk-org', 'bulk-team', 'bulk-team']);
SELECT rollout.create_tenants(ARRAY['bulk-p1', 'bulk-org', 'bulk-team'], ARRAY['bulk-team', NULL, 'bulk-org'],
                              kinds => ARRAY['project', 'organisation', 'team'],
                              attributes => ARRAY['{"scan_volume": 10}', NULL, NULL]::jsonb[]);
SELECT tenant_id, parent_id, kind, path, attributes FROM rollout.tenant WHERE tenant_id LIKE 'bulk-%' ORDER BY path;
SELECT rollout.create_tenants(ARRAY['a1', 'a2'], ARRAY['bulk-org']);
SELECT rollout.create_tenants(ARRAY['a1', 'a1'], ARRAY['bulk-org', 'bulk-org']);
SELECT rollout.create_tenants(ARRAY['a1', 'bulk-p1'], ARRAY['bulk-org', 'bulk-org']);
SELECT rollout.create_tenants(ARRAY['a1', 'A2'], ARRAY['bulk-org', 'bulk-org']);
SELECT rollout.create_tenants(ARRAY['c1', 'c2'], ARRAY['c2', 'c1']);
SELECT rollout.create_tenants(ARRAY['a1'], ARRAY['bulk-org'], kinds => ARRAY['Bad Kind']);
SELECT rollout.create_tenants(ARRAY['a1'], ARRAY['bulk-org'], attributes => ARRAY['3']::jsonb[]);
SELECT rollout.create_tenants('{}', '{}');
SELECT rollout.create_tenants(ARRAY['deep-33', 'deep-34'], ARRAY['deep-32', 'deep-33']);
SELECT count(*) FROM rollout.tenant WHERE tenant_id IN ('a1', 'a2', 'A2', 'c1', 'c2');

-- updates: merge-patch attributes, kind, display name, test flag
SELECT display_name, kind, attributes, test_tenant
  FROM rollout.update_tenant('security-tools', display_name => 'Security Tools',
                             attributes => '{"scan_volume": 175, "tier": "gold"}', test_tenant => true);
SELECT attributes FROM rollout.update_tenant('security-tools', attributes => '{"tier": null, "region": "eu"}');
SELECT rollout.update_tenant('security-tools', attributes => '"x"');
SELECT rollout.update_tenant('security-tools', kind => 'BAD');
SELECT rollout.update_tenant('no-such-tenant', display_name => 'x');

-- moves: the whole subtree follows; cycles refused
SELECT (rollout.move_tenant('product-dev-mobile-api', 'platform-eng', reason => 're-org')).path;
SELECT tenant_id, path FROM rollout.tenant WHERE tenant_id LIKE 'product-dev%' OR tenant_id LIKE 'platform-eng%' ORDER BY path;
SELECT (rollout.move_tenant('product-dev', 'security')).path;
SELECT tenant_id, path FROM rollout.descendants('security', include_self => true) JOIN rollout.tenant USING (tenant_id) ORDER BY path;
SELECT (rollout.move_tenant('product-dev', 'acme-corp')).path;
SELECT (rollout.move_tenant('bulk-team', NULL)).path;
SELECT tenant_id, parent_id, path FROM rollout.tenant WHERE tenant_id LIKE 'bulk-%' ORDER BY path;
SELECT (rollout.move_tenant('bulk-team', 'bulk-org')).path;
SELECT rollout.move_tenant('acme-corp', 'product-dev-web-app');
SELECT rollout.move_tenant('acme-corp', 'acme-corp');
SELECT rollout.move_tenant('product-dev', 'no-such-parent');
SELECT rollout.move_tenant('no-such-tenant', 'acme-corp');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT rollout.move_tenant('security', 'product-dev');
ROLLBACK;
-- unchanged by the refused moves
SELECT tenant_id, path FROM rollout.tenant WHERE tenant_id IN ('acme-corp', 'product-dev') ORDER BY 1;

-- lifecycle
SELECT status, suspended_at IS NOT NULL AS suspended_at_set
  FROM rollout.suspend_tenant('product-dev-data-pipeline', reason => 'unpaid invoice');
SELECT rollout.suspend_tenant('product-dev-data-pipeline', reason => 'again');
SELECT rollout.suspend_tenant('product-dev-web-app', reason => NULL);
SELECT rollout.suspend_tenant('product-dev-web-app', reason => '  ');
SELECT status FROM rollout.reactivate_tenant('product-dev-data-pipeline', reason => 'paid');
SELECT rollout.reactivate_tenant('product-dev-data-pipeline', reason => 'again');
SELECT rollout.decommission_tenant('security', reason => 'team disbanded');
SELECT rollout.decommission_tenant('security', reason => NULL);
SELECT tenant_id, status FROM rollout.decommission_tenant('security', reason => 'team disbanded', cascade => true) ORDER BY 1;
SELECT tenant_id, status, decommissioned_at IS NOT NULL AS archived FROM rollout.tenant
 WHERE tenant_id LIKE 'security%' ORDER BY path;
-- a decommissioned tenant is never changed again, nor gets children
SELECT rollout.update_tenant('security', display_name => 'x');
SELECT rollout.suspend_tenant('security-tools', reason => 'x');
SELECT rollout.reactivate_tenant('security-tools', reason => 'x');
SELECT rollout.move_tenant('security', 'acme-corp');
SELECT rollout.move_tenant('product-dev', 'security');
SELECT rollout.decommission_tenant('security', reason => 'x');
SELECT rollout.create_tenant('security-new', parent_id => 'security');
SELECT rollout.create_tenants(ARRAY['security-new'], ARRAY['security']);
SELECT rollout.create_tenant('security');
-- the archive is in the audit log
SELECT action, reason, details->'archived'->>'status' AS status, details->>'cascade_from' AS cascade_from
  FROM rollout.audit_log WHERE tenant_id = 'security-tools' ORDER BY seq;

-- direct writes are not how tenants change: the path must stay consistent
INSERT INTO rollout.tenant (tenant_id, parent_id, display_name, path) VALUES ('x', 'acme-corp', 'x', '{x}');
