-- Events: every rollout transition is audited, announced with NOTIFY and
-- left in an outbox that a notifier reads and acknowledges.
CREATE SEQUENCE rollout.event_seq;
CREATE TABLE rollout.event_outbox (
    event_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.event_seq'),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    event      text        NOT NULL,
    rollout_id text,
    audit_seq  bigint      NOT NULL,
    payload    jsonb       NOT NULL,
    acked_at   timestamptz,
    acked_by   text
);
CREATE INDEX event_outbox_pending_idx ON rollout.event_outbox (event_id) WHERE acked_at IS NULL;
CREATE INDEX event_outbox_rollout_idx ON rollout.event_outbox (rollout_id, event_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.event_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.event_seq', '');
COMMENT ON TABLE rollout.event_outbox IS
    'rollout events for notifiers: one row per event, pending until acknowledged with rollout.ack_events()';
COMMENT ON COLUMN rollout.event_outbox.event IS 'event name, e.g. rollout.stage.started';
COMMENT ON COLUMN rollout.event_outbox.audit_seq IS 'the audit-log row that records the same event';
COMMENT ON COLUMN rollout.event_outbox.payload IS
    'the event as JSON: id, kind, rollout, time, actor, reason, audit row, details (NOTIFY on pg_rollout_events carries only event_id and event)';
COMMENT ON COLUMN rollout.event_outbox.acked_at IS 'when a notifier acknowledged the event; NULL while pending';
COMMENT ON SEQUENCE rollout.event_seq IS 'event ids of rollout.event_outbox';

-- Privileges of the objects above.
GRANT SELECT ON rollout.event_outbox TO rollout_viewer;
