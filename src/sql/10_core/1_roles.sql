-- Roles: created when missing (roles are cluster-wide and outlive the
-- extension).  rollout_admin includes rollout_operator, which includes
-- rollout_viewer.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_viewer') THEN
        CREATE ROLE rollout_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_operator') THEN
        CREATE ROLE rollout_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_admin') THEN
        CREATE ROLE rollout_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_operator', 'rollout_viewer', 'MEMBER') THEN
        GRANT rollout_viewer TO rollout_operator;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_admin', 'rollout_operator', 'MEMBER') THEN
        GRANT rollout_operator TO rollout_admin;
    END IF;
END
$roles$;

-- Privileges: nothing to PUBLIC but the semver type's functions and the two
-- row-security qual functions; every object's grants follow its definition.
-- rollout_viewer reads, rollout_operator runs daily operations,
-- rollout_admin changes structure.
GRANT USAGE ON SCHEMA rollout TO rollout_viewer, rollout_operator, rollout_admin;
