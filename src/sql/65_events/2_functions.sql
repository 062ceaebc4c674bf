-- Event functions: emit (audit + NOTIFY + outbox) and acknowledge.

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
    -- Any role may LISTEN: the notification carries only the event's id and
    -- kind.  Consumers read tenants, actor, reason and details from the
    -- outbox (rollout.pending_events), which needs rollout_viewer.
    msg := jsonb_build_object('event_id', id, 'event', event)::text;
    PERFORM pg_notify('pg_rollout_events', msg);
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout._event(text, text, text, jsonb, text, text, text) IS
    'internal: record a rollout event in the audit log and the outbox, and NOTIFY pg_rollout_events';

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

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._event(text, text, text, jsonb, text, text, text),
    rollout.ack_events(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.ack_events(bigint)
TO rollout_operator;
