-- The audit log: append-only, hash-chained (src/audit.c).  Since 0.2.0 an
-- append takes its number from rollout.audit_log_seq and holds no lock; the
-- rows are chained afterwards, in blocks, by rollout.seal_audit()
-- (rollout.audit_seal).
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
    'append-only audit log: every state change, with actor, tenant, subject and reason; each row carries its SHA-256, and rollout.seal_audit() chains the committed rows in blocks (rollout.audit_seal)';
COMMENT ON COLUMN rollout.audit_log.seq IS 'number of the append, increasing (from rollout.audit_log_seq); a rolled-back append leaves its number unused';
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
COMMENT ON COLUMN rollout.audit_log.prev_hash IS 'rows written before 0.2.0: row_hash of the previous row (32 zero bytes for row 1); since 0.2.0: 32 zero bytes, the row is chained through its block in rollout.audit_seal';
COMMENT ON COLUMN rollout.audit_log.row_hash IS 'SHA-256 over this row''s fields and prev_hash';

-- Numbers of appends: taken without a lock, never given back.
CREATE SEQUENCE rollout.audit_log_seq AS bigint;
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log_seq', '');
COMMENT ON SEQUENCE rollout.audit_log_seq IS
    'numbers of audit-log appends (rollout.audit_log.seq): taken without a lock, so concurrent writers never wait for each other; a rolled-back append leaves a gap';

-- The hash chain: blocks of committed audit rows, sealed in commit order by
-- rollout.seal_audit() (src/audit.c explains the state columns).
CREATE TABLE rollout.audit_seal (
    block        bigint         PRIMARY KEY,
    sealed_at    timestamptz    NOT NULL,
    txid         xid8           NOT NULL,
    row_count    bigint         NOT NULL,
    seqs         int8multirange NOT NULL,
    sealed_upto  bigint         NOT NULL,
    pending      int8multirange NOT NULL,
    horizon_seq  bigint,
    horizon_xid  xid8,
    prev_hash    bytea          NOT NULL,
    block_hash   bytea          NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_seal', '');

COMMENT ON TABLE rollout.audit_seal IS
    'the audit hash chain: each block covers the audit rows committed since the previous one and is SHA-256 chained to it; written by rollout.seal_audit()';
COMMENT ON COLUMN rollout.audit_seal.block IS 'position in the chain, 1, 2, 3, ... without gaps';
COMMENT ON COLUMN rollout.audit_seal.sealed_at IS 'clock time of the seal';
COMMENT ON COLUMN rollout.audit_seal.txid IS 'transaction that sealed the block';
COMMENT ON COLUMN rollout.audit_seal.row_count IS 'number of audit rows in the block';
COMMENT ON COLUMN rollout.audit_seal.seqs IS 'exactly the audit-log seq numbers the block covers';
COMMENT ON COLUMN rollout.audit_seal.sealed_upto IS 'after this block, every seq up to this one is sealed or was never committed';
COMMENT ON COLUMN rollout.audit_seal.pending IS 'after this block, the seq numbers above sealed_upto that are already sealed';
COMMENT ON COLUMN rollout.audit_seal.horizon_seq IS 'every seq up to this one was taken by a transaction older than horizon_xid: once those have ended, sealed_upto may pass it';
COMMENT ON COLUMN rollout.audit_seal.horizon_xid IS 'the next transaction id when horizon_seq was read';
COMMENT ON COLUMN rollout.audit_seal.prev_hash IS 'block_hash of the previous block (32 zero bytes for block 1)';
COMMENT ON COLUMN rollout.audit_seal.block_hash IS 'SHA-256 over this block''s columns, prev_hash and the seq and row_hash of each of its rows in seq order';

CREATE FUNCTION rollout._audit_log_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('rollout.%s is append-only', TG_TABLE_NAME),
        DETAIL = format('%s on the audit log is refused.', TG_OP),
        HINT = 'Audit rows are written by pg_rollout functions and never changed; rollout.verify_audit() detects edits.';
END
$$;
COMMENT ON FUNCTION rollout._audit_log_guard() IS
    'internal: trigger refusing UPDATE, DELETE and TRUNCATE on rollout.audit_log and rollout.audit_seal';

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON rollout.audit_log
    FOR EACH ROW EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON rollout.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_seal_append_only
    BEFORE UPDATE OR DELETE ON rollout.audit_seal
    FOR EACH ROW EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON rollout.audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._audit_log_guard();

-- Privileges of the objects above.
GRANT SELECT ON rollout.audit_log, rollout.audit_seal TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._audit_log_guard()
FROM PUBLIC;
