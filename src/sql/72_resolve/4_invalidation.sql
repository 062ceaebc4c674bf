-- Cache invalidation: every table the resolver reads carries the
-- invalidate_resolution trigger; src/resolve.c watches the same tables.

CREATE FUNCTION rollout._invalidate_resolution()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgr_invalidate_resolution';
COMMENT ON FUNCTION rollout._invalidate_resolution() IS
    'internal: statement trigger that invalidates every session''s resolution cache when the transaction commits';

DO $trg$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant', 'channel', 'channel_choice', 'component', 'pin', 'channel_release',
                             'activation', 'deferral', 'flag', 'flag_setting'] LOOP
        EXECUTE format('CREATE TRIGGER invalidate_resolution AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
    END LOOP;
END
$trg$;
-- Rollouts matter to resolution only through feature_flag bindings: only a
-- change of status (or a new or deleted rollout) invalidates.
CREATE TRIGGER invalidate_resolution AFTER INSERT OR DELETE OR TRUNCATE ON rollout.rollout
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution();
CREATE TRIGGER invalidate_resolution_status AFTER UPDATE OF status ON rollout.rollout
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION rollout._invalidate_resolution();

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._invalidate_resolution()
FROM PUBLIC;
