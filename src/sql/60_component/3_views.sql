-- Component views.

CREATE VIEW rollout.component_versions AS
SELECT v.component_id, c.kind, v.version, v.status,
       (c.default_version IS NOT NULL AND v.version OPERATOR(rollout.=) c.default_version) AS is_default,
       v.released_at, v.eol_date,
       CASE WHEN v.eol_date IS NOT NULL THEN v.eol_date + c.grace_period END AS grace_ends,
       v.notes
  FROM rollout.component_version v
  JOIN rollout.component c USING (component_id)
 ORDER BY v.component_id, v.version;
COMMENT ON VIEW rollout.component_versions IS
    'every version of every component in precedence order, with its status, whether it is the platform default, and EOL / grace end';

-- Privileges of the objects above.
GRANT SELECT ON rollout.component_versions TO rollout_viewer;
