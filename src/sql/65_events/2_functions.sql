-- Event functions: emit (audit + NOTIFY + outbox) and acknowledge.

-- In C (src/events.c): the audit row, the outbox row (payload: event_id,
-- event, rollout_id, at, actor, reason, audit_seq and details) and the
-- NOTIFY, without the cost of a PL/pgSQL call per event.
CREATE FUNCTION rollout._event(event text, rollout_id text, reason text, details jsonb DEFAULT '{}',
                               tenant_id text DEFAULT NULL, subject_kind text DEFAULT 'rollout',
                               subject_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_event';
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
