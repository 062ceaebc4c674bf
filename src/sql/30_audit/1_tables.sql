-- The audit log: append-only, hash-chained (src/audit.c).
CREATE TABLE rollout.audit_log (
    seq          bigint      PRIMARY KEY,
    logged_at    timestamptz NOT NULL,
    txid         xid8        NOT NULL,
    db_user      text        NOT NULL,
    actor        text,
    tenant_id    text,
    subject_kind text,
    subject_id   text,
    action       text        NOT NULL,
    reason       text,
    details      jsonb       NOT NULL DEFAULT '{}',
    prev_hash    bytea       NOT NULL,
    row_hash     bytea       NOT NULL
);
CREATE INDEX audit_log_tenant_idx ON rollout.audit_log (tenant_id, seq);
CREATE INDEX audit_log_subject_idx ON rollout.audit_log (subject_kind, subject_id, seq);
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log', '');

COMMENT ON TABLE rollout.audit_log IS
    'append-only audit log: every state change, with actor, tenant, subject and reason; each row is SHA-256 chained to the previous one';
COMMENT ON COLUMN rollout.audit_log.seq IS 'position in the chain, 1, 2, 3, ... without gaps';
COMMENT ON COLUMN rollout.audit_log.logged_at IS 'clock time of the append';
COMMENT ON COLUMN rollout.audit_log.txid IS 'top-level transaction that wrote the row';
COMMENT ON COLUMN rollout.audit_log.db_user IS 'session user of the database connection';
COMMENT ON COLUMN rollout.audit_log.actor IS 'application-supplied actor (GUC pg_rollout.actor), NULL when not set';
COMMENT ON COLUMN rollout.audit_log.tenant_id IS 'tenant concerned, if any';
COMMENT ON COLUMN rollout.audit_log.subject_kind IS 'kind of object acted on: tenant, channel, component, version, ...';
COMMENT ON COLUMN rollout.audit_log.subject_id IS 'id of the object acted on';
COMMENT ON COLUMN rollout.audit_log.action IS 'what happened, e.g. tenant.created';
COMMENT ON COLUMN rollout.audit_log.reason IS 'reason given by the caller';
COMMENT ON COLUMN rollout.audit_log.details IS 'structured details (before/after values, archived rows)';
COMMENT ON COLUMN rollout.audit_log.prev_hash IS 'row_hash of the previous row (32 zero bytes for row 1)';
COMMENT ON COLUMN rollout.audit_log.row_hash IS 'SHA-256 over this row''s fields and prev_hash';

CREATE FUNCTION rollout._audit_log_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'rollout.audit_log is append-only',
        DETAIL = format('%s on the audit log is refused.', TG_OP),
        HINT = 'Audit rows are written by pg_rollout functions and never changed; rollout.verify_audit() detects edits.';
END
$$;
COMMENT ON FUNCTION rollout._audit_log_guard() IS
    'internal: trigger refusing UPDATE, DELETE and TRUNCATE on rollout.audit_log';

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON rollout.audit_log
    FOR EACH ROW EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON rollout.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._audit_log_guard();

-- Privileges of the objects above.
GRANT SELECT ON rollout.audit_log TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._audit_log_guard()
FROM PUBLIC;
