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
COMMENT ON COLUMN rollout.event_outbox.payload IS 'the JSON payload, as sent with NOTIFY on channel pg_rollout_events';
COMMENT ON COLUMN rollout.event_outbox.acked_at IS 'when a notifier acknowledged the event; NULL while pending';
COMMENT ON SEQUENCE rollout.event_seq IS 'event ids of rollout.event_outbox';

CREATE FUNCTION rollout._event(event text, rollout_id text, reason text, details jsonb DEFAULT '{}',
                               tenant_id text DEFAULT NULL, subject_kind text DEFAULT 'rollout',
                               subject_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seq bigint;
    id bigint;
    payload jsonb;
    msg text;
BEGIN
    seq := rollout._audit(event, tenant_id, subject_kind, coalesce(subject_id, rollout_id), reason, coalesce(details, '{}'));
    id := nextval('rollout.event_seq');
    payload := jsonb_build_object('event_id', id, 'event', event, 'rollout_id', rollout_id,
                                  'at', now(), 'actor',
                                  coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text),
                                  'reason', reason, 'audit_seq', seq)
               || jsonb_build_object('details', coalesce(details, '{}'));
    INSERT INTO rollout.event_outbox (event_id, event, rollout_id, audit_seq, payload)
    VALUES (id, event, rollout_id, seq, payload);
    msg := payload::text;
    -- NOTIFY payloads are limited to 8000 bytes: a long one is cut down to
    -- its header; the outbox row keeps everything.
    IF octet_length(msg) > 7900 THEN
        msg := (payload - 'details' - 'reason' || jsonb_build_object('truncated', true))::text;
    END IF;
    PERFORM pg_notify('pg_rollout_events', msg);
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout._event(text, text, text, jsonb, text, text, text) IS
    'internal: record a rollout event in the audit log and the outbox, and NOTIFY pg_rollout_events';

CREATE VIEW rollout.pending_events AS
SELECT e.event_id, e.created_at, e.event, e.rollout_id, e.payload
  FROM rollout.event_outbox e
 WHERE e.acked_at IS NULL
 ORDER BY e.event_id;
COMMENT ON VIEW rollout.pending_events IS 'outbox events not yet acknowledged, oldest first';

CREATE FUNCTION rollout.ack_events(up_to_event_id bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF up_to_event_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'up_to_event_id must not be null';
    END IF;
    UPDATE rollout.event_outbox e
       SET acked_at = now(),
           acked_by = coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text)
     WHERE e.acked_at IS NULL AND e.event_id <= up_to_event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.ack_events(bigint) IS
    'acknowledge every pending outbox event up to and including an event id; returns how many';
