-- Event views.

CREATE VIEW rollout.pending_events AS
SELECT e.event_id, e.created_at, e.event, e.rollout_id, e.payload
  FROM rollout.event_outbox e
 WHERE e.acked_at IS NULL
 ORDER BY e.event_id;
COMMENT ON VIEW rollout.pending_events IS 'outbox events not yet acknowledged, oldest first';

-- Privileges of the objects above.
GRANT SELECT ON rollout.pending_events TO rollout_viewer;
