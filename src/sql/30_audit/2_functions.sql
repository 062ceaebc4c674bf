-- Audit log functions: append (C, hash-chained), verify, head.

CREATE FUNCTION rollout._audit(action text, tenant_id text, subject_kind text,
                               subject_id text, reason text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_audit';
COMMENT ON FUNCTION rollout._audit(text, text, text, text, text, jsonb) IS
    'internal: append one row to the audit log in the current transaction';

CREATE FUNCTION rollout._audit_each(action text, tenant_ids text[], subject_kind text,
                                    reason text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_audit_each';
COMMENT ON FUNCTION rollout._audit_each(text, text[], text, text, jsonb) IS
    'internal: append one audit row per tenant id (bulk operations)';

CREATE FUNCTION rollout.verify_audit(OUT intact boolean, OUT rows_checked bigint,
                                     OUT first_broken_seq bigint, OUT problem text)
RETURNS record
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'pgr_verify_audit';
COMMENT ON FUNCTION rollout.verify_audit() IS
    'walk the audit hash chain: intact or not, rows checked, the first broken row and why';

CREATE FUNCTION rollout.audit_head(OUT seq bigint, OUT row_hash bytea, OUT logged_at timestamptz)
RETURNS record
LANGUAGE sql STABLE
AS $$
    SELECT a.seq, a.row_hash, a.logged_at FROM rollout.audit_log a ORDER BY a.seq DESC LIMIT 1
$$;
COMMENT ON FUNCTION rollout.audit_head() IS
    'last row of the audit chain: record it elsewhere to detect a later truncation of the tail';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._audit(text, text, text, text, text, jsonb),
    rollout._audit_each(text, text[], text, text, jsonb),
    rollout.verify_audit(),
    rollout.audit_head()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.verify_audit(),
    rollout.audit_head()
TO rollout_viewer;
