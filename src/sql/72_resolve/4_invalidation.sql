-- Cache invalidation: every table the resolver reads carries the
-- invalidate_resolution trigger; src/resolve.c watches the same tables.

CREATE FUNCTION rollout._invalidate_resolution()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgr_invalidate_resolution';
COMMENT ON FUNCTION rollout._invalidate_resolution() IS
    'internal: statement trigger that invalidates the resolution caches of every session when the transaction commits (of the changed components only, for tables with transition tables)';

DO $trg$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant', 'channel', 'channel_choice', 'flag', 'flag_setting'] LOOP
        EXECUTE format('CREATE TRIGGER invalidate_resolution AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
    END LOOP;
    -- Tables of one component's rows: the trigger reads the changed rows'
    -- component_id (a deferral's: its rollout's) from the transition
    -- tables, so that a change to one component leaves the cached answers
    -- of the others alone (src/resolve.c, "Per-component invalidation").  A transition table needs a trigger per
    -- event; TRUNCATE has none and empties every session's cache.
    FOREACH t IN ARRAY ARRAY['component', 'pin', 'channel_release', 'activation', 'deferral'] LOOP
        EXECUTE format('CREATE TRIGGER invalidate_resolution AFTER TRUNCATE ON rollout.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_ins AFTER INSERT ON rollout.%I '
                       'REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_upd AFTER UPDATE ON rollout.%I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
        EXECUTE format('CREATE TRIGGER invalidate_resolution_del AFTER DELETE ON rollout.%I '
                       'REFERENCING OLD TABLE AS old_rows '
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
