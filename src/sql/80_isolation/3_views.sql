-- Tenant isolation views: violations, recent violation log, bypasses, protected tables.

CREATE VIEW rollout.violations AS
SELECT v.tbl, v.kind, v.command, v.severity, v.enforced, v.count, v.last_at FROM rollout.violation_counts() v;
COMMENT ON VIEW rollout.violations IS
    'tenant-isolation events by table, kind (missing_tenant_context, row_security_disabled, privileged_access, bypass), command and severity';

CREATE VIEW rollout.recent_violation_log AS
SELECT r.at, r.tbl, r.kind, r.command, r.refused, r.role_name, r.application_name, r.query_id,
       -- query texts hold other roles' literals: shown, as pg_stat_statements
       -- does, only to those allowed to read every role's statements
       CASE WHEN pg_catalog.pg_has_role('rollout_admin', 'MEMBER')
                 OR pg_catalog.pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN r.query ELSE '<insufficient privilege>' END AS query
  FROM rollout.recent_violations() r;
COMMENT ON VIEW rollout.recent_violation_log IS
    'the latest tenant-isolation violations, with role, application and query (the query text only for rollout_admin and pg_read_all_stats)';

CREATE VIEW rollout.bypasses AS
SELECT b.role_name, b.reason, b.count, b.last_at FROM rollout.bypass_counts() b;
COMMENT ON VIEW rollout.bypasses IS 'bypasses of tenant isolation by role and reason (each is also in the audit log)';

CREATE VIEW rollout.protected_tables AS
SELECT p.tbl, p.tenant_column, p.severity, p.include_descendants, p.force_rls,
       c.relrowsecurity AS row_security, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_catalog.pg_inherits i WHERE i.inhparent = p.tbl) AS children,
       p.protected_by, p.protected_at
  FROM rollout.protected_table p
  JOIN pg_catalog.pg_class c ON c.oid = p.tbl;
COMMENT ON VIEW rollout.protected_tables IS 'protected tables, their tenant column and settings, and the state of row security';

-- Privileges of the objects above.
GRANT SELECT ON rollout.violations, rollout.recent_violation_log, rollout.bypasses, rollout.protected_tables TO rollout_viewer;
