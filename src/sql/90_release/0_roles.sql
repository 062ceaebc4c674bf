-- Release readiness (seed 004): classified releases promoted through the
-- channels in order, with soak, hard stops, approvals per transition,
-- incidents, kill-switch tests and the GO/NO-GO memo (docs/releases.md).
--
-- Approvers are PostgreSQL roles: a person approves a transition in the
-- name of one of these roles when their login (session_user) is a member.
-- The identity of an approval is the login, never pg_rollout.actor (an
-- application may set that to anything).
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_release_dev_lead') THEN
        CREATE ROLE rollout_release_dev_lead NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_release_qa') THEN
        CREATE ROLE rollout_release_qa NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_release_system_owner') THEN
        CREATE ROLE rollout_release_system_owner NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_release_dev_lead', 'rollout_viewer', 'MEMBER') THEN
        GRANT rollout_viewer TO rollout_release_dev_lead;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_release_qa', 'rollout_viewer', 'MEMBER') THEN
        GRANT rollout_viewer TO rollout_release_qa;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_release_system_owner', 'rollout_viewer', 'MEMBER') THEN
        GRANT rollout_viewer TO rollout_release_system_owner;
    END IF;
END
$roles$;
