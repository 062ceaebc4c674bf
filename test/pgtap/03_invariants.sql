-- pgTAP: invariants of the tenant tree under many random moves, and the
-- ordering laws of the semver type.
BEGIN;
SET LOCAL search_path = public, rollout;
SELECT plan(16);

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

-- Staged selection over the random forest: for five random salts, stages
-- at 10 %, 20 %, ..., 100 % (unweighted and weighted by a random attribute).
SELECT count(*) FROM (
    SELECT rollout.update_tenant(t.tenant_id, attributes => jsonb_build_object('w', floor(random() * 100)))
      FROM rollout.tenant t WHERE t.tenant_id LIKE 'inv-%') x;
SELECT rollout.create_component('inv-comp', 'product', 'invariants');
SELECT rollout.add_version('inv-comp', '1.0.0', 'published');
SELECT rollout.add_version('inv-comp', '2.0.0', 'published');
DO $$
DECLARE
    k int;
    p int;
BEGIN
    FOR k IN 1..5 LOOP
        PERFORM rollout.create_rollout('inv-u' || k, 'inv-comp', '1.0.0', '2.0.0');
        PERFORM rollout.create_rollout('inv-w' || k, 'inv-comp', '1.0.0', '2.0.0');
        FOR p IN 1..10 LOOP
            PERFORM rollout.add_stage('inv-u' || k, 's' || p, 'percentage', percent => p * 10);
            PERFORM rollout.add_stage('inv-w' || k, 's' || p, 'percentage', percent => p * 10, weight_by => 'w');
        END LOOP;
    END LOOP;
END $$;
CREATE TEMP TABLE inv_preview AS
SELECT r.rollout_id, p.stage_no, p.tenant_id, p.bucket, p.weight
  FROM rollout.rollout r CROSS JOIN LATERAL rollout.preview(r.rollout_id) p
 WHERE r.rollout_id LIKE 'inv-%';
CREATE TEMP TABLE inv_leaves AS
SELECT t.tenant_id, (t.attributes ->> 'w')::float8 AS w FROM rollout.tenant t
 WHERE t.tenant_id LIKE 'inv-%' AND NOT EXISTS (SELECT 1 FROM rollout.tenant c WHERE c.parent_id = t.tenant_id);

SELECT is_empty($$SELECT 1 FROM inv_preview WHERE rollout_id LIKE 'inv-u%' AND bucket >= stage_no * 100000$$,
                'an unweighted p % stage selects only buckets below p * 10000');
SELECT is_empty($$SELECT 1 FROM inv_preview v, generate_series(1, 10) p
                   WHERE v.rollout_id LIKE 'inv-u%' AND v.bucket < p * 100000 AND v.stage_no > p
                     AND v.tenant_id IN (SELECT tenant_id FROM inv_leaves)$$,
                'every leaf with a bucket below p * 10000 is selected by the p % stage or earlier');
SELECT is_empty($$SELECT 1 FROM (SELECT rollout_id, count(*) AS n FROM inv_preview GROUP BY 1) x
                   WHERE x.n <> (SELECT count(*) FROM inv_leaves)$$,
                'at 100 % every leaf is selected, once');
-- weighted: the cumulative weight through stage p reaches p % of the total,
-- and stays under it but for the one tenant that crosses the line
SELECT is_empty($$SELECT 1 FROM (SELECT rollout_id FROM inv_preview WHERE rollout_id LIKE 'inv-w%' GROUP BY 1) r,
                                generate_series(1, 9) p,
                                LATERAL (SELECT sum(v.weight) AS w, max(v.weight) AS top FROM inv_preview v
                                          WHERE v.rollout_id = r.rollout_id AND v.stage_no <= p) s,
                                LATERAL (SELECT sum(w) AS total FROM inv_leaves) t
                   WHERE s.w < p / 10.0 * t.total OR s.w >= p / 10.0 * t.total + s.top$$,
                'a weighted p % stage covers at least p % of the weight, and at most one tenant more');
SELECT is(count(DISTINCT rollout.bucket(r.salt, 'inv-5')), 10::bigint, 'each rollout has its own salt')
  FROM rollout.rollout r WHERE r.rollout_id LIKE 'inv-%';
SELECT throws_ok($$UPDATE rollout.rollout SET salt = '\x0000000000000000' WHERE rollout_id = 'inv-u1'$$,
                 '2F003', NULL, 'the salt cannot change');

SELECT * FROM finish();
ROLLBACK;
