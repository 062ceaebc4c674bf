-- Audit log functions: append (C, no lock), seal into the chain, verify, head.

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

CREATE FUNCTION rollout.verify_audit(head_block bigint DEFAULT NULL, head_hash bytea DEFAULT NULL,
                                     OUT intact boolean, OUT rows_checked bigint,
                                     OUT first_broken_seq bigint, OUT problem text,
                                     OUT rows_unsealed bigint, OUT first_broken_block bigint)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_verify_audit';
COMMENT ON FUNCTION rollout.verify_audit(bigint, bytea) IS
    'check the whole audit log: every block of the chain and every row in it, every row not sealed yet, no row outside both; with a head recorded from rollout.audit_head(), also that the chain still reaches it unchanged; the run is recorded in rollout.audit_verification (except in a read-only transaction, or for a session user that is neither a superuser nor a member of rollout_operator)';

CREATE FUNCTION rollout.audit_head(OUT block bigint, OUT block_hash bytea, OUT sealed_at timestamptz)
RETURNS record
LANGUAGE sql STABLE
AS $$
    SELECT s.block, s.block_hash, s.sealed_at FROM rollout.audit_seal s ORDER BY s.block DESC LIMIT 1
$$;
COMMENT ON FUNCTION rollout.audit_head() IS
    'last block of the audit chain: record it elsewhere, and pass it to rollout.verify_audit() later to detect a truncation or a rewrite';

CREATE FUNCTION rollout.seal_audit(wait boolean DEFAULT true, max_rows integer DEFAULT 1000000)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgr_seal_audit';
COMMENT ON FUNCTION rollout.seal_audit(boolean, integer) IS
    'chain the audit rows committed since the last seal into a new block (at most max_rows, lowest numbers first); returns the rows sealed, NULL when wait is false and another seal is running; tick() calls it';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._audit(text, text, text, text, text, jsonb),
    rollout._audit_each(text, text[], text, text, jsonb),
    rollout.verify_audit(bigint, bytea),
    rollout.audit_head(),
    rollout.seal_audit(boolean, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.verify_audit(bigint, bytea),
    rollout.audit_head()
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.seal_audit(boolean, integer)
TO rollout_operator;
