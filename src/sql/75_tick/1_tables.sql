-- Metric gates and the scheduler: metric samples per stage, evaluation
-- of success criteria and rollback triggers, and rollout.tick().

CREATE SEQUENCE rollout.metric_sample_seq;
CREATE TABLE rollout.metric_sample (
    sample_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.metric_sample_seq'),
    rollout_id  text COLLATE "C" NOT NULL,
    stage_no    integer     NOT NULL CHECK (stage_no >= 0),
    tenant_id   text COLLATE "C",
    metric      text        NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.]*$' AND length(metric) <= @PGR_NAME_MAX_LEN@),
    value       double precision NOT NULL CHECK (value <> 'NaN' AND value <> 'Infinity' AND value <> '-Infinity'),
    sampled_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reported_by text        NOT NULL
);
CREATE INDEX metric_sample_stage_idx ON rollout.metric_sample (rollout_id, stage_no, metric);
SELECT pg_catalog.pg_extension_config_dump('rollout.metric_sample', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.metric_sample_seq', '');
COMMENT ON TABLE rollout.metric_sample IS
    'metric samples of a rollout: stage 0 is the pre-rollout baseline, stage k the samples taken while stage k was current';
COMMENT ON COLUMN rollout.metric_sample.metric IS
    'metric name; names ending in _rate or _ratio are averaged, all others summed, when a stage is evaluated';
COMMENT ON SEQUENCE rollout.metric_sample_seq IS 'ids of rollout.metric_sample';

-- Privileges of the objects above.
GRANT SELECT ON rollout.metric_sample TO rollout_viewer;

-- The tick ledger: one row per tick() call that returned (a call that fails
-- as a whole leaves none), so "is the scheduler alive" is a query whatever
-- runs the tick.  tick() deletes rows older than 7 days as it goes.
CREATE SEQUENCE rollout.tick_log_seq;
CREATE TABLE rollout.tick_log (
    tick_id      bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.tick_log_seq'),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    max_rollouts integer     NOT NULL,
    rollouts     integer     NOT NULL,
    actions      integer     NOT NULL,
    errors       integer     NOT NULL,
    ran_by       text        NOT NULL
);
CREATE INDEX tick_log_started_idx ON rollout.tick_log (started_at);
SELECT pg_catalog.pg_extension_config_dump('rollout.tick_log', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.tick_log_seq', '');
COMMENT ON TABLE rollout.tick_log IS
    'one row per completed rollout.tick() call: when, how long, rollouts handled, actions and errors (kept 7 days)';
COMMENT ON COLUMN rollout.tick_log.rollouts IS 'due rollouts the call handled';
COMMENT ON COLUMN rollout.tick_log.actions IS 'rows the call returned (stages advanced, extended, rolled back, ...)';
COMMENT ON COLUMN rollout.tick_log.errors IS 'rollouts whose step failed (paused or left for the next tick)';
COMMENT ON SEQUENCE rollout.tick_log_seq IS 'ids of rollout.tick_log';
GRANT SELECT ON rollout.tick_log TO rollout_viewer;
