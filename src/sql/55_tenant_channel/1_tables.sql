-- Which channel a tenant follows, opt-in / opt-out, and eligibility.
CREATE TABLE rollout.channel_choice (
    tenant_id  text COLLATE "C" NOT NULL,
    channel_id text COLLATE "C" NOT NULL,
    choice     text        NOT NULL CHECK (choice IN ('opt_in', 'opt_out')),
    reason     text,
    decided_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_by text        NOT NULL,
    PRIMARY KEY (tenant_id, channel_id)
);
CREATE INDEX channel_choice_channel_idx ON rollout.channel_choice (channel_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.channel_choice', '');
COMMENT ON TABLE rollout.channel_choice IS
    'opt-in / opt-out decisions of tenants per channel; inherited by descendants unless they decide otherwise';
COMMENT ON COLUMN rollout.channel_choice.choice IS 'opt_in or opt_out';
COMMENT ON COLUMN rollout.channel_choice.decided_by IS 'actor (pg_rollout.actor) or session user that recorded the choice';

-- Privileges of the objects above.
GRANT SELECT ON rollout.channel_choice TO rollout_viewer;
