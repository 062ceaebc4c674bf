-- pg_rollout 0.1.0 -> 0.2.0.  Every change to the schema since the 0.1.0
-- release, in the order the pieces under src/sql/ define them; privileges
-- and comments next to each new or replaced object.  test/t/004_upgrade.pl
-- checks that an updated 0.1.0 database equals a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit
