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

-- an append takes the next number without a lock (rollout.audit_log_seq):
-- numbers increase, and a rolled-back append (savepoint or transaction)
-- leaves its number unused
SELECT max(seq) AS before_seq FROM rollout.audit_log \gset
BEGIN;
SELECT (rollout.create_tenant('initech-a', parent_id => 'initech')).tenant_id;
SAVEPOINT s1;
SELECT (rollout.create_tenant('initech-b', parent_id => 'initech')).tenant_id;
ROLLBACK TO SAVEPOINT s1;
SELECT (rollout.create_tenant('initech-c', parent_id => 'initech')).tenant_id;
COMMIT;
BEGIN;
SELECT (rollout.create_tenant('initech-d', parent_id => 'initech')).tenant_id;
ROLLBACK;
SELECT seq - :before_seq AS n, tenant_id, action FROM rollout.audit_log WHERE seq > :before_seq ORDER BY seq;
SELECT count(*) < max(seq) AS has_gaps, min(seq) = 1 AS starts_at_1 FROM rollout.audit_log;
-- each row carries its own hash; it is chained through its block, not to
-- the previous row (prev_hash is 32 zero bytes)
SELECT bool_and(octet_length(row_hash) = 32) AS hashed,
       bool_and(prev_hash = '\x'::bytea || decode(repeat('00', 32), 'hex')) AS zero_prev
  FROM rollout.audit_log;
-- nothing sealed yet: verify_audit() checks every row against its own hash
SELECT * FROM rollout.audit_head();
SELECT intact, rows_checked = (SELECT count(*) FROM rollout.audit_log) AS every_row,
       rows_unsealed = rows_checked AS all_unsealed, problem FROM rollout.verify_audit();

-- seal: one block with every committed row, exactly its numbers
SELECT rollout.seal_audit() = (SELECT count(*) FROM rollout.audit_log) AS sealed_every_row;
SELECT block, row_count = (SELECT count(*) FROM rollout.audit_log) AS every_row,
       seqs = (SELECT range_agg(int8range(seq, seq + 1)) FROM rollout.audit_log) AS exact_numbers,
       prev_hash = '\x'::bytea || decode(repeat('00', 32), 'hex') AS genesis, octet_length(block_hash) AS hash_len
  FROM rollout.audit_seal;
SELECT rollout.seal_audit() AS nothing_new;
-- a later row goes into a second block, linked to the first
SELECT (rollout.create_tenant('initech-e', parent_id => 'initech')).tenant_id;
SELECT rollout.seal_audit() AS sealed;
SELECT b.block, b.prev_hash = a.block_hash AS linked, b.seqs = int8multirange(int8range(max(l.seq), max(l.seq) + 1)) AS newest_row
  FROM rollout.audit_seal a JOIN rollout.audit_seal b ON b.block = a.block + 1, rollout.audit_log l
 GROUP BY 1, 2, b.seqs;
SELECT (rollout.audit_head()).block = max(block) AS head_is_last FROM rollout.audit_seal;
-- and one that is not sealed yet
SELECT (rollout.create_tenant('initech-f', parent_id => 'initech')).tenant_id;
SELECT intact, rows_unsealed, first_broken_seq, problem FROM rollout.verify_audit();
SELECT block AS head_block, block_hash AS head_hash FROM rollout.audit_head() \gset
SELECT intact, problem FROM rollout.verify_audit(:head_block, :'head_hash');
-- a head needs both parts, and a hash is 32 bytes
SELECT intact FROM rollout.verify_audit(:head_block, NULL);
SELECT intact FROM rollout.verify_audit(:head_block, '\x00');
SELECT rollout.seal_audit(max_rows => 0);

-- append-only: UPDATE, DELETE and TRUNCATE are refused, even for a superuser
UPDATE rollout.audit_log SET reason = 'edited' WHERE seq = 1;
DELETE FROM rollout.audit_log WHERE seq = 1;
TRUNCATE rollout.audit_log;
UPDATE rollout.audit_seal SET row_count = 0;
DELETE FROM rollout.audit_seal;
TRUNCATE rollout.audit_seal;
-- the internal append function refuses an empty action
SELECT rollout._audit(NULL, NULL, NULL, NULL, NULL);
SELECT rollout._audit('', NULL, NULL, NULL, NULL);

-- a superuser who disables the guard can edit, but verify_audit() sees it:
-- a sealed row ...
SELECT seq AS victim FROM rollout.audit_log WHERE tenant_id = 'initech' AND action = 'tenant.created' \gset
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'forged reason' WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, first_broken_block, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET details = details || '{"kind": "forged"}' WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim FROM rollout.verify_audit();
ROLLBACK;
-- deleting a sealed row leaves a hole in its block
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, first_broken_block, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
-- rewriting a row's hash along with it is detected too
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'forged', row_hash = sha256(row_hash) WHERE seq = :victim;
SELECT intact, first_broken_seq = :victim AS at_victim FROM rollout.verify_audit();
ROLLBACK;
-- renumbering rows to hide a deletion changes what their hashes cover
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE seq = :victim;
UPDATE rollout.audit_log SET seq = seq - 1 WHERE seq > :victim;
SELECT intact, first_broken_seq = :victim AS at_victim, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
-- a row added afterwards under a number left unused by a rollback
SELECT min(s) AS unused FROM generate_series(1, (SELECT max(seq) FROM rollout.audit_log)) s
 WHERE s NOT IN (SELECT seq FROM rollout.audit_log) \gset
BEGIN;
INSERT INTO rollout.audit_log
SELECT :unused, logged_at, txid, db_user, actor, tenant_id, subject_kind, subject_id, action, reason, details, prev_hash, row_hash
  FROM rollout.audit_log WHERE seq = :victim;
SELECT intact, first_broken_seq = :unused AS at_unused, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
-- a row not sealed yet is checked against its own hash
SELECT seq AS fresh FROM rollout.audit_log WHERE tenant_id = 'initech-f' \gset
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'forged' WHERE seq = :fresh;
SELECT intact, first_broken_seq = :fresh AS at_fresh, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.verify_audit();
ROLLBACK;
-- ... but its deletion before the seal is the documented window: nothing
-- records it yet (docs/reference.md, "Audit log")
BEGIN;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE seq = :fresh;
SELECT intact, rows_unsealed FROM rollout.verify_audit();
ROLLBACK;
-- a block removed from the middle of the chain, or edited
BEGIN;
ALTER TABLE rollout.audit_seal DISABLE TRIGGER audit_seal_append_only;
DELETE FROM rollout.audit_seal WHERE block = 1;
SELECT intact, first_broken_block, problem FROM rollout.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE rollout.audit_seal DISABLE TRIGGER audit_seal_append_only;
UPDATE rollout.audit_seal SET pending = '{}', sealed_upto = 0 WHERE block = 1;
SELECT intact, first_broken_block, problem FROM rollout.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE rollout.audit_seal DISABLE TRIGGER audit_seal_append_only;
UPDATE rollout.audit_seal SET prev_hash = sha256(prev_hash) WHERE block = 2;
SELECT intact, first_broken_block, problem FROM rollout.verify_audit();
ROLLBACK;
-- truncation: the newest block removed with its rows looks like a shorter
-- chain, but not against the head recorded before
BEGIN;
ALTER TABLE rollout.audit_seal DISABLE TRIGGER audit_seal_append_only;
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM rollout.audit_log WHERE tenant_id = 'initech-e';
DELETE FROM rollout.audit_seal WHERE block = :head_block;
SELECT intact FROM rollout.verify_audit();
SELECT intact, first_broken_block = :head_block AS at_head, regexp_replace(problem, '\d+', 'N', 'g') AS problem
  FROM rollout.verify_audit(:head_block, :'head_hash');
ROLLBACK;
-- the newest block sealed again (a rewrite) does not match the recorded head
BEGIN;
ALTER TABLE rollout.audit_seal DISABLE TRIGGER audit_seal_append_only;
DELETE FROM rollout.audit_seal WHERE block = :head_block;
SELECT rollout.seal_audit() > 0 AS resealed;
SELECT intact FROM rollout.verify_audit();
SELECT intact, first_broken_block = :head_block AS at_head, regexp_replace(problem, '\d+', 'N', 'g') AS problem
  FROM rollout.verify_audit(:head_block, :'head_hash');
ROLLBACK;
-- after the rollbacks, the chain is intact again
SELECT intact, first_broken_seq, problem FROM rollout.verify_audit(:head_block, :'head_hash');
