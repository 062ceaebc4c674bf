-- pgTAP: invariants of the tenant tree under many random moves, and the
-- ordering laws of the semver type.
BEGIN;
SET LOCAL search_path = public, rollout;
SELECT plan(10);

SELECT setseed(0.42);
-- a random forest of 400 tenants
SELECT rollout.create_tenants(
    array_agg('inv-' || i ORDER BY i),
    array_agg(CASE WHEN i <= 4 THEN NULL ELSE 'inv-' || (1 + floor(random() * (i - 1)))::int END ORDER BY i))
  FROM generate_series(1, 400) i;

-- 200 random moves; those that would make a cycle are refused and skipped
DO $$
DECLARE
    k int;
    a text;
    b text;
BEGIN
    FOR k IN 1..200 LOOP
        a := 'inv-' || (1 + floor(random() * 400))::int;
        b := CASE WHEN random() < 0.05 THEN NULL ELSE 'inv-' || (1 + floor(random() * 400))::int END;
        BEGIN
            PERFORM rollout.move_tenant(a, b);
        EXCEPTION WHEN invalid_parameter_value OR program_limit_exceeded THEN
            NULL;
        END;
    END LOOP;
END $$;

SELECT is((SELECT count(*)::int FROM rollout.tenant WHERE tenant_id LIKE 'inv-%'), 400, 'no tenant lost');
SELECT is_empty($$SELECT c.tenant_id FROM rollout.tenant c JOIN rollout.tenant p ON p.tenant_id = c.parent_id
                   WHERE c.path <> p.path || c.tenant_id$$, 'every path is its parent''s path plus its id');
SELECT is_empty($$SELECT tenant_id FROM rollout.tenant WHERE parent_id IS NULL AND path <> ARRAY[tenant_id]$$,
                'roots have a one-element path');
SELECT is_empty($$SELECT tenant_id FROM rollout.tenant t WHERE tenant_id = ANY (t.path[1:cardinality(t.path) - 1])$$,
                'no tenant is its own ancestor');
-- descendants() by path range agrees with a recursive walk of parent_id, for every tenant
SELECT is_empty($$
    WITH RECURSIVE walk(root, id) AS (
        SELECT tenant_id, tenant_id FROM rollout.tenant WHERE tenant_id LIKE 'inv-%'
        UNION ALL
        SELECT w.root, c.tenant_id FROM walk w JOIN rollout.tenant c ON c.parent_id = w.id)
    (SELECT root, id FROM walk WHERE root <> id
     EXCEPT
     SELECT t.tenant_id, d.tenant_id FROM rollout.tenant t, rollout.descendants(t.tenant_id) d WHERE t.tenant_id LIKE 'inv-%')
    UNION ALL
    (SELECT t.tenant_id, d.tenant_id FROM rollout.tenant t, rollout.descendants(t.tenant_id) d WHERE t.tenant_id LIKE 'inv-%'
     EXCEPT
     SELECT root, id FROM walk WHERE root <> id)$$,
    'descendants() equals the recursive walk for every tenant');
SELECT is_empty($$
    SELECT t.tenant_id FROM rollout.tenant t
     WHERE t.tenant_id LIKE 'inv-%'
       AND (SELECT array_agg(a.tenant_id ORDER BY a.distance DESC) FROM rollout.ancestors(t.tenant_id) a)
           IS DISTINCT FROM (CASE WHEN cardinality(t.path) > 1 THEN t.path[1:cardinality(t.path) - 1] END)$$,
    'ancestors() lists the path above each tenant');
SELECT is((SELECT intact FROM rollout.verify_audit()), true, 'the audit chain is intact after the moves');

-- semver: a random sample sorts the same through the btree and through cmp
CREATE TEMP TABLE sv AS
SELECT format('%s.%s.%s%s', (random() * 3)::int, (random() * 12)::int, (random() * 12)::int,
              CASE (random() * 4)::int WHEN 0 THEN '' WHEN 1 THEN '-alpha.' || (random() * 11)::int
                                       WHEN 2 THEN '-rc.' || (random() * 3)::int ELSE '-beta' END)::rollout.semver AS v
  FROM generate_series(1, 2000);
SELECT is_empty($$SELECT 1 FROM sv a, sv b WHERE rollout.semver_cmp(a.v, b.v) <> -rollout.semver_cmp(b.v, a.v) LIMIT 1$$,
                'semver_cmp is antisymmetric');
SELECT is_empty($$SELECT 1 FROM sv a, sv b WHERE (a.v = b.v) AND rollout.semver_hash(a.v) <> rollout.semver_hash(b.v) LIMIT 1$$,
                'equal versions hash equally');
SELECT is_empty($$SELECT 1 FROM (SELECT v, lead(v) OVER (ORDER BY v) AS nxt FROM sv) s WHERE rollout.semver_cmp(v, nxt) > 0 LIMIT 1$$,
                'ORDER BY agrees with semver_cmp');

SELECT * FROM finish();
ROLLBACK;
