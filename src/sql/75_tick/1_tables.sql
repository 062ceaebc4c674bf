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
