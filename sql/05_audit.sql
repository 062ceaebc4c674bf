-- The audit log: actor attribution, append-only guard, hash chain, and
-- detection of edits made by a superuser who disabled the guard.
\set VERBOSITY terse

SELECT intact, rows_checked > 0 AS has_rows, first_broken_seq, problem FROM rollout.verify_audit();

-- actor: the session user always, the application's actor when set
SET pg_rollout.actor = 'alice@acme.example';
SELECT (rollout.create_tenant('initech', kind => 'organisation', reason => 'new customer')).tenant_id;
RESET pg_rollout.actor;
SELECT (rollout.create_tenant('initech-ops', parent_id => 'initech')).tenant_id;
SELECT actor, db_user = session_user AS db_user_is_session_user, tenant_id, subject_kind, subject_id, action, reason,
       details->>'kind' AS kind
  FROM rollout.audit_log WHERE tenant_id LIKE 'initech%' ORDER BY seq;
BEGIN;
SET LOCAL pg_rollout.actor = 'deploy-bot';
SELECT (rollout.update_tenant('initech', attributes => '{"scan_volume": 42}')).attributes;
COMMIT;
SELECT actor, action, details FROM rollout.audit_log ORDER BY seq DESC LIMIT 1;

-- the GUC prefix is reserved
SET pg_rollout.no_such_setting = 'x';

-- one transaction writes consecutive rows, linked to each other
SELECT max(seq) AS before_seq FROM rollout.audit_log \gset
BEGIN;
SELECT (rollout.create_tenant('initech-a', parent_id => 'initech')).tenant_id;
SAVEPOINT s1;
SELECT (rollout.create_tenant('initech-b', parent_id => 'initech')).tenant_id;
ROLLBACK TO SAVEPOINT s1;
SELECT (rollout.create_tenant('initech-c', parent_id => 'initech')).tenant_id;
COMMIT;
-- a rolled-back transaction gives its sequence numbers back
BEGIN;
SELECT (rollout.create_tenant('initech-d', parent_id => 'initech')).tenant_id;
ROLLBACK;
SELECT seq - :before_seq AS n, tenant_id, action FROM rollout.audit_log WHERE seq > :before_seq ORDER BY seq;
SELECT count(*) = max(seq) AS no_gaps, min(seq) = 1 AS starts_at_1 FROM rollout.audit_log;
SELECT bool_and(a.prev_hash = b.row_hash) AS linked
  FROM rollout.audit_log a JOIN rollout.audit_log b ON b.seq = a.seq - 1;
SELECT octet_length(prev_hash) AS prev_len, octet_length(row_hash) AS hash_len, prev_hash = '\x'::bytea || decode(repeat('00', 32), 'hex') AS genesis
  FROM rollout.audit_log WHERE seq = 1;
SELECT (rollout.audit_head()).seq = max(seq) AS head_is_last FROM rollout.audit_log;
SELECT intact, first_broken_seq, problem FROM rollout.verify_audit();

-- append-only: UPDATE, DELETE and TRUNCATE are refused, even for a superuser
UPDATE rollout.audit_log SET reason = 'edited' WHERE seq = 1;
DELETE FROM rollout.audit_log WHERE seq = 1;
TRUNCATE rollout.audit_log;
-- the internal append function refuses an empty action
SELECT rollout._audit(NULL, NULL, NULL, NULL, NULL);
SELECT rollout._audit('', NULL, NULL, NULL, NULL);

-- a superuser who disables the guard can edit, but verify_audit() sees it
SELECT seq AS victim FROM rollout.audit_log WHERE tenant_id = 'initech' AND action = 'tenant.created' \gset
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'forged reason' WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET details = details || '{"kind": "forged"}' WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim FROM rollout.verify_audit();
ROLLBACK;
-- deleting a row in the middle breaks the sequence
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
-- rewriting a row's hash along with it is detected too
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'forged', row_hash = sha256(row_hash) WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim FROM rollout.verify_audit();
ROLLBACK;
-- renumbering rows to hide a deletion breaks the links too
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE seq = :victim;
UPDATE rollout.audit_log SET seq = seq - 1 WHERE seq > :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, problem LIKE '%does not link%' AS link_broken FROM rollout.verify_audit();
ROLLBACK;
-- after the rollbacks, the chain is intact again
SELECT intact, first_broken_seq, problem FROM rollout.verify_audit();
