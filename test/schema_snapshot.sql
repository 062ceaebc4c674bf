-- test/schema_snapshot.sql — one line per fact about the installed
-- pg_rollout: every member object with its definition, owner-independent
-- privileges and comment, and the tables and sequences registered for
-- pg_dump.  Two databases have the same extension schema exactly when their
-- snapshots are equal (test/t/004_upgrade.pl compares an updated 0.1.0
-- database with a fresh install).  Run with psql -XAt.
WITH ext AS (
    SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_rollout'
), members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), acl AS (   -- privileges as sorted (grantee, privilege, grantable) sets; NULL means the default
    SELECT m.classid, m.objid,
           (SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s:%s',
                        CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                        a.privilege_type, a.is_grantable), ',' ORDER BY 1)
              FROM pg_catalog.aclexplode(coalesce(x.acl, pg_catalog.acldefault(x.kind, x.owner))) a
             WHERE a.grantee <> x.owner) AS privs
      FROM members m
      JOIN LATERAL (
          SELECT p.proacl AS acl, 'f'::"char" AS kind, p.proowner AS owner FROM pg_catalog.pg_proc p
           WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = m.objid
          UNION ALL
          SELECT c.relacl, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner FROM pg_catalog.pg_class c
           WHERE m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
          UNION ALL
          SELECT t.typacl, 'T'::"char", t.typowner FROM pg_catalog.pg_type t
           WHERE m.classid = 'pg_catalog.pg_type'::regclass AND t.oid = m.objid
          UNION ALL
          SELECT n.nspacl, 'n'::"char", n.nspowner FROM pg_catalog.pg_namespace n
           WHERE m.classid = 'pg_catalog.pg_namespace'::regclass AND n.oid = m.objid
      ) x ON true
)
SELECT line FROM (
    -- every member object, its comment and its privileges
    SELECT pg_catalog.format('object %s | comment %s | privileges %s',
               pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid),
               coalesce(pg_catalog.obj_description(m.objid, (SELECT relname FROM pg_catalog.pg_class WHERE oid = m.classid)), '-'),
               coalesce(a.privs, '-')) AS line
      FROM members m LEFT JOIN acl a USING (classid, objid)
    UNION ALL
    -- function definitions (body, volatility, security, settings)
    SELECT 'function ' || pg_catalog.pg_get_functiondef(p.oid)
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND p.prokind IN ('f', 'p')
    UNION ALL
    -- columns of tables and views, with type, default, nullability, collation and comment
    SELECT pg_catalog.format('column %s.%s %s %s default %s collate %s | comment %s',
               c.oid::regclass, att.attname, pg_catalog.format_type(att.atttypid, att.atttypmod),
               CASE WHEN att.attnotnull THEN 'not null' ELSE 'null' END,
               coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '-'),
               coalesce(co.collname, '-'),
               coalesce(pg_catalog.col_description(c.oid, att.attnum), '-'))
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
      JOIN pg_catalog.pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = att.attnum
      LEFT JOIN pg_catalog.pg_collation co ON co.oid = att.attcollation AND att.attcollation <> 100
    UNION ALL
    SELECT pg_catalog.format('view %s %s', c.oid::regclass, pg_catalog.pg_get_viewdef(c.oid))
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
     WHERE c.relkind = 'v'
    UNION ALL
    SELECT pg_catalog.format('constraint %s %s %s', con.conrelid::regclass, con.conname, pg_catalog.pg_get_constraintdef(con.oid))
      FROM members m JOIN pg_catalog.pg_constraint con ON con.conrelid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
      FROM members m JOIN pg_catalog.pg_index i ON i.indrelid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
      FROM members m JOIN pg_catalog.pg_trigger t ON t.tgrelid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT pg_catalog.format('policy %s %s %s', pol.polrelid::regclass, pol.polname, pg_catalog.pg_get_expr(pol.polqual, pol.polrelid))
      FROM members m JOIN pg_catalog.pg_policy pol ON pol.polrelid = m.objid AND m.classid = 'pg_catalog.pg_class'::regclass
    UNION ALL
    -- the schema itself (created by CREATE EXTENSION, not a member)
    SELECT pg_catalog.format('schema %s | comment %s | privileges %s', n.nspname,
               coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '-'),
               (SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s:%s',
                           CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                           a.privilege_type, a.is_grantable), ',' ORDER BY 1)
                  FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                 WHERE a.grantee <> n.nspowner))
      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rollout'
    UNION ALL
    -- event triggers: when they fire and what they run
    SELECT pg_catalog.format('event_trigger %s | on %s | tags %s | function %s | enabled %s',
               e.evtname, e.evtevent, coalesce(e.evttags::text, '-'), e.evtfoid::regprocedure, e.evtenabled)
      FROM pg_catalog.pg_event_trigger e JOIN members m
        ON m.classid = 'pg_catalog.pg_event_trigger'::regclass AND m.objid = e.oid
    UNION ALL
    -- what pg_dump keeps: the registered configuration tables and sequences
    SELECT pg_catalog.format('config_dump %s %s', cfg.rel::regclass, coalesce(cfg.cond, '-'))
      FROM pg_catalog.pg_extension e,
           LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS cfg(rel, cond)
     WHERE e.extname = 'pg_rollout'
) s
ORDER BY line COLLATE "C";
