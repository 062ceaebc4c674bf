-- pg_rollout install script, assembled from src/sql/ (area folders, in name order) by the Makefile.
\echo Use "CREATE EXTENSION pg_rollout" to load this file. \quit

COMMENT ON SCHEMA rollout IS 'pg_rollout: tenants, components, versions, channels, rollouts and the audit log';
