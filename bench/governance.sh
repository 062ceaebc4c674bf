#!/usr/bin/env bash
# bench/governance.sh — version governance (issue 12): the drift roster and the
# compliance roll-ups over 100,000 tenants x 20 components (2,000,000 pairs)
# with policies at four levels (global, 20 organisations, 100 teams, 200
# projects), EOL dates and grace, grace extensions and 1 % exemptions, against
# a straightforward plain-SQL implementation over plain copies of the same data
# (recursive CTE over (tenant_id, parent_id) for the tree, nearest-ancestor
# joins for pins, activations and policies, joins for EOL, grace, exemptions).
# Checks that both give the same roster and the same roll-ups, then times
#   (a) the roster:   SELECT count(*) FROM rollout.drift_roster
#   (b) the roll-ups: SELECT count(*) FROM rollout.compliance_summary
#   (c) a single enforcement check (rollout.check_version, and the fast path of
#       a pin) and start_rollout of a 100,000-tenant stage with and without
#       block policies of the component
#   (d) a compliance snapshot of every tenant (rollout.snapshot_compliance),
#       and the roster with two conflict rules in force
# and prints them side by side.
#
#   bash bench/governance.sh
#   PGR_BENCH_PROJECTS=9000 PGR_BENCH_TEAMS=100 PGR_BENCH_ORGS=20 bash bench/governance.sh    # quick run
#
# Environment:
#   PGR_BENCH_ORGS       organisations                    (default 100)
#   PGR_BENCH_TEAMS      teams                            (default 1000)
#   PGR_BENCH_PROJECTS   projects                         (default 98900)
#   PGR_BENCH_COMPONENTS components                       (default 20)
#   PGR_BENCH_RUNS       timed runs of each side          (default 3)
#   PGR_BENCH_NO_BUILD   1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

ORGS=${PGR_BENCH_ORGS:-100}
TEAMS=${PGR_BENCH_TEAMS:-1000}
PROJECTS=${PGR_BENCH_PROJECTS:-98900}
COMPS=${PGR_BENCH_COMPONENTS:-20}
RUNS=${PGR_BENCH_RUNS:-3}
die() { echo "governance.sh: $*" >&2; exit 1; }
for v in ORGS TEAMS PROJECTS COMPS RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$ORGS" -ge 20 ] && [ "$TEAMS" -ge 100 ] && [ "$PROJECTS" -ge 200 ] && [ "$COMPS" -ge 7 ] \
    || die "at least 20 organisations, 100 teams, 200 projects and 7 components"

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = '1GB'" "work_mem = '64MB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"
trap pgtmp_stop EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -v orgs="$ORGS" -v teams="$TEAMS" -v projects="$PROJECTS" -v comps="$COMPS")

echo "==> data: $ORGS organisations, $TEAMS teams, $PROJECTS projects, $COMPS components"
"${PSQL[@]}" -c "CREATE EXTENSION pg_rollout" >/dev/null
"${PSQL[@]}" >/dev/null <<'SQL'
SET pg_rollout.actor = 'bench';
SET search_path = "$user", public, rollout;   -- the semver operators, as a user of plain tables would
SELECT rollout.create_tenants(array_agg('org-' || i ORDER BY i), array_fill(NULL::text, ARRAY[:orgs]),
                              array_fill('organisation'::text, ARRAY[:orgs]))
  FROM generate_series(1, :orgs) i;
SELECT rollout.create_tenants(array_agg('team-' || i ORDER BY i), array_agg('org-' || (1 + (i - 1) % :orgs) ORDER BY i),
                              array_fill('team'::text, ARRAY[:teams]))
  FROM generate_series(1, :teams) i;
SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg('team-' || (1 + (i - 1) % :teams) ORDER BY i),
                              array_fill('project'::text, ARRAY[:projects]))
  FROM generate_series(1, :projects) i;
SELECT count(*) FROM (SELECT rollout.create_component('c' || i, 'plugin') FROM generate_series(1, :comps) i) x;
-- six versions each; 1.0.0 past grace, 1.1.0 in grace, 1.2.0 EOL in 20 days
SELECT count(*) FROM (SELECT rollout.add_version('c' || i, v::rollout.semver, 'published',
                                                 eol_date => CASE v WHEN '1.0.0' THEN current_date - 40
                                                                    WHEN '1.1.0' THEN current_date - 10
                                                                    WHEN '1.2.0' THEN current_date + 20 END)
                        FROM generate_series(1, :comps) i, unnest(ARRAY['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0', '3.0.0']) v) x;
-- resolution: platform defaults, stable-channel releases, team pins, a real rollout (50 % of c1)
SELECT count(*) FROM (SELECT rollout.set_default_version('c' || i, (ARRAY['1.0.0', '1.1.0', '1.2.0'])[1 + i % 3]::rollout.semver)
                        FROM generate_series(1, :comps) i) x;
SELECT count(*) FROM (SELECT rollout.set_channel_release('c' || i, 'stable', '2.0.0', 'release')
                        FROM generate_series(1, :comps) i WHERE i % 4 = 0) x;
SELECT count(*) FROM (SELECT rollout.pin_version('team-' || t, 'c' || i, '1.1.0', 'hold')
                        FROM generate_series(1, :comps) i, generate_series(1, :teams, 10) t WHERE i % 2 = 1) x;
DO $$
BEGIN
    FOR i IN 1..3 LOOP
        PERFORM rollout.create_rollout('r' || i, 'c' || i, '1.1.0', '2.1.0', salt => '\x0102030405060708');
        PERFORM rollout.add_stage('r' || i, 'half', 'percentage', percent => 50, pass_without_metrics => true);
    END LOOP;
END $$;
SET pg_rollout.actor = 'approver';
SELECT count(*) FROM (SELECT rollout.approve_rollout('r' || i, 'ok') FROM generate_series(1, 3) i) x;
SELECT rollout.start_rollout('r1') IS NOT NULL;
SET pg_rollout.actor = 'bench';
-- policies: global for every component, 20 organisations x 5 components,
-- 100 teams x 3 components, 200 projects x 1 component
SELECT count(*) FROM (SELECT rollout.set_version_policy('c' || i, min_version => '1.0.0', baseline => '2.0.0',
                                                        blocked => '{[2.1.0,2.1.0]}', action => 'report',
                                                        grace_limit => '60 days', reason => 'global')
                        FROM generate_series(1, :comps) i) x;
SELECT count(*) FROM (SELECT rollout.set_version_policy('c' || i, 'org-' || o, min_version => '1.1.0', baseline => '2.0.0',
                                                        max_version => '2.1.0', action => 'remind', reason => 'org')
                        FROM generate_series(1, 5) i, generate_series(1, :orgs, :orgs / 20) o) x;
SELECT count(*) FROM (SELECT rollout.set_version_policy('c' || i, 'team-' || t, baseline => '1.2.0', reason => 'team')
                        FROM generate_series(2, 4) i, generate_series(3, :teams, :teams / 100) t) x;
SELECT count(*) FROM (SELECT rollout.set_version_policy('c7', 'p-' || p, min_version => '2.0.0', reason => 'project')
                        FROM generate_series(7, :projects, :projects / 200) p) x;
-- 100 approved grace extensions and 1 % exemptions (a tenant's subtree, a
-- range of versions), written in bulk as the extension owner
INSERT INTO rollout.grace_extension (tenant_id, component_id, version, extend_by, reason, status, requested_by,
                                     decided_by, decided_at)
SELECT 'p-' || p, 'c' || (1 + p % :comps), '1.0.0', '15 days', 'bench', 'approved', 'a', 'b', now()
  FROM generate_series(11, :projects, :projects / 100) p;
INSERT INTO rollout.exemption (tenant_id, component_id, versions, category, reason, requested_by, approved_by,
                               approved_at, expires_at)
SELECT DISTINCT ON (1, 2) 'p-' || (1 + (k * 7919) % :projects), 'c' || (1 + k % :comps), '[1.0.0,2.0.0)'::rollout.semver_range,
       'waiver', 'bench', 'a', 'b', now(), now() + interval '30 days'
  FROM generate_series(1, (:projects + :teams + :orgs) * :comps / 100) k;

-- the plain copies: what a user would keep without the extension
CREATE SCHEMA plain;
CREATE TABLE plain.tenant AS SELECT tenant_id, parent_id, status FROM rollout.tenant;
ALTER TABLE plain.tenant ADD PRIMARY KEY (tenant_id);
CREATE INDEX ON plain.tenant (parent_id);
CREATE TABLE plain.component AS SELECT component_id, default_version, grace_period FROM rollout.component;
CREATE TABLE plain.component_version AS SELECT component_id, version, eol_date FROM rollout.component_version;
CREATE TABLE plain.pin AS SELECT component_id, tenant_id, version FROM rollout.pin;
CREATE TABLE plain.activation AS SELECT component_id, tenant_id, version FROM rollout.activation;
CREATE TABLE plain.channel_release AS
SELECT r.component_id, r.version, c.ordinal FROM rollout.channel_release r JOIN rollout.channel c USING (channel_id);
CREATE TABLE plain.default_channel AS SELECT ordinal FROM rollout.channel WHERE is_default;
CREATE TABLE plain.policy AS
SELECT component_id, tenant_id, min_version, max_version, baseline, blocked, grace_limit
  FROM rollout.version_policy WHERE valid_to IS NULL;
CREATE TABLE plain.grace_extension AS
SELECT tenant_id, component_id, version, extend_by FROM rollout.grace_extension WHERE status = 'approved';
CREATE TABLE plain.exemption AS
SELECT tenant_id, include_subtree, component_id, versions, approved_at, expires_at, revoked_at FROM rollout.exemption;
CREATE INDEX ON plain.exemption (component_id, tenant_id);
ANALYZE;

-- the plain roster: the same rules, written out
CREATE VIEW plain.roster AS
WITH RECURSIVE tree AS (
        SELECT t.tenant_id, t.status, ARRAY[t.tenant_id] AS path FROM plain.tenant t WHERE t.parent_id IS NULL
        UNION ALL
        SELECT c.tenant_id, c.status, p.path || c.tenant_id FROM plain.tenant c JOIN tree p ON c.parent_id = p.tenant_id),
     anc AS (SELECT t.tenant_id, u.node, u.depth FROM tree t, unnest(t.path) WITH ORDINALITY u(node, depth)),
     pins AS (SELECT DISTINCT ON (a.tenant_id, p.component_id) a.tenant_id, p.component_id, p.version
                FROM anc a JOIN plain.pin p ON p.tenant_id = a.node ORDER BY a.tenant_id, p.component_id, a.depth DESC),
     acts AS (SELECT DISTINCT ON (a.tenant_id, x.component_id) a.tenant_id, x.component_id, x.version
                FROM anc a JOIN plain.activation x ON x.tenant_id = a.node ORDER BY a.tenant_id, x.component_id, a.depth DESC),
     rel AS (SELECT DISTINCT ON (r.component_id) r.component_id, r.version FROM plain.channel_release r
              WHERE r.ordinal >= (SELECT d.ordinal FROM plain.default_channel d) ORDER BY r.component_id, r.ordinal),
     pols AS (SELECT DISTINCT ON (x.tenant_id, x.component_id) x.*
                FROM (SELECT a.tenant_id, a.depth, p.component_id, p.min_version, p.max_version, p.baseline, p.blocked,
                             p.grace_limit
                        FROM anc a JOIN plain.policy p ON p.tenant_id = a.node
                      UNION ALL
                      SELECT t.tenant_id, 0, p.component_id, p.min_version, p.max_version, p.baseline, p.blocked,
                             p.grace_limit
                        FROM tree t CROSS JOIN plain.policy p WHERE p.tenant_id IS NULL) x
               ORDER BY x.tenant_id, x.component_id, x.depth DESC),
     res AS (SELECT t.tenant_id, t.path, c.component_id, c.grace_period,
                    coalesce(pn.version, CASE WHEN t.status = 'active' THEN ac.version END, rl.version, c.default_version) AS version
               FROM tree t CROSS JOIN plain.component c
               LEFT JOIN pins pn ON pn.tenant_id = t.tenant_id AND pn.component_id = c.component_id
               LEFT JOIN acts ac ON ac.tenant_id = t.tenant_id AND ac.component_id = c.component_id
               LEFT JOIN rel rl ON rl.component_id = c.component_id
              WHERE t.status <> 'decommissioned'),
     ev AS (SELECT r.tenant_id, r.path, r.component_id, r.version, v.eol_date, p.min_version, p.max_version, p.baseline,
                   p.blocked,
                   r.grace_period + least(coalesce(g.extend_by, '0'),
                                          greatest(coalesce(p.grace_limit, r.grace_period) - r.grace_period, '0')) AS grace
              FROM res r
              LEFT JOIN pols p ON p.tenant_id = r.tenant_id AND p.component_id = r.component_id
              LEFT JOIN plain.component_version v ON v.component_id = r.component_id AND v.version = r.version
              LEFT JOIN (SELECT tenant_id, component_id, version, sum(extend_by) AS extend_by
                           FROM plain.grace_extension GROUP BY 1, 2, 3) g
                     ON g.tenant_id = r.tenant_id AND g.component_id = r.component_id AND g.version = r.version),
     st AS (SELECT ev.*,
                   CASE WHEN version IS NULL THEN 'not_deployed'
                        WHEN blocked @> version THEN 'blocked'
                        WHEN eol_date IS NOT NULL AND current_date >= (eol_date + grace)::date THEN 'past_grace'
                        WHEN version < min_version THEN 'below_minimum'
                        WHEN version > max_version THEN 'above_maximum'
                        WHEN eol_date IS NOT NULL AND current_date >= eol_date THEN 'eol_in_grace'
                        WHEN version < baseline THEN 'behind_baseline'
                        ELSE 'compliant' END AS violation
              FROM ev)
SELECT st.tenant_id, st.path[1] AS org_id, st.path[2] AS team_id, st.component_id, st.version,
       CASE WHEN st.violation NOT IN ('compliant', 'not_deployed')
                 AND EXISTS (SELECT 1 FROM plain.exemption e
                              WHERE e.component_id = st.component_id AND e.tenant_id = ANY (st.path)
                                AND (e.include_subtree OR e.tenant_id = st.tenant_id)
                                AND e.approved_at <= now() AND now() < e.expires_at
                                AND (e.revoked_at IS NULL OR now() < e.revoked_at)
                                AND e.versions @> st.version)
            THEN 'exempt' ELSE st.violation END AS status
  FROM st;

CREATE VIEW plain.summary AS
WITH c AS (SELECT org_id, team_id, component_id, status, count(*) AS n FROM plain.roster GROUP BY 1, 2, 3, 4),
     g AS (SELECT CASE WHEN grouping(team_id) = 0 THEN team_id ELSE org_id END AS node_id, component_id,
                  sum(n)::bigint AS pairs,
                  coalesce(sum(n) FILTER (WHERE status IN ('compliant', 'exempt', 'eol_in_grace')), 0) AS ok,
                  coalesce(sum(n) FILTER (WHERE status = 'not_deployed'), 0) AS nd
             FROM c GROUP BY GROUPING SETS ((org_id, component_id), (org_id), (org_id, team_id, component_id), (org_id, team_id)))
SELECT node_id, component_id, pairs, round(100.0 * ok / nullif(pairs - nd, 0), 2) AS compliance_pct
  FROM g WHERE node_id IS NOT NULL;
SQL
"${PSQL[@]}" -c "VACUUM ANALYZE" >/dev/null

echo "==> same answers"
diff_roster=$("${PSQL[@]}" -At -c "
    SELECT count(*) FROM ((SELECT tenant_id, component_id, version, status FROM rollout.drift_roster
                           EXCEPT ALL SELECT tenant_id, component_id, version, status FROM plain.roster)
                          UNION ALL
                          (SELECT tenant_id, component_id, version, status FROM plain.roster
                           EXCEPT ALL SELECT tenant_id, component_id, version, status FROM rollout.drift_roster)) d")
diff_summary=$("${PSQL[@]}" -At -c "
    SELECT count(*) FROM ((SELECT node_id, component_id, pairs, compliance_pct FROM rollout.compliance_summary
                           EXCEPT ALL SELECT node_id, component_id, pairs, compliance_pct FROM plain.summary)
                          UNION ALL
                          (SELECT node_id, component_id, pairs, compliance_pct FROM plain.summary
                           EXCEPT ALL SELECT node_id, component_id, pairs, compliance_pct FROM rollout.compliance_summary)) d")
pairs=$("${PSQL[@]}" -At -c "SELECT count(*) FROM rollout.drift_roster")
statuses=$("${PSQL[@]}" -At -F ' ' -c "SELECT string_agg(status || '=' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM rollout.drift_roster GROUP BY 1) s")
echo "pairs: $pairs ($statuses)"
echo "roster rows that differ: $diff_roster; roll-up rows that differ: $diff_summary"
[ "$diff_roster" = 0 ] && [ "$diff_summary" = 0 ] || die "pg_rollout and the plain SQL disagree"

# median of RUNS timings (ms) of one statement
time_ms() {
    local q=$1 i out t all=()
    for ((i = 0; i < RUNS; i++)); do
        out=$("${PSQL[@]}" -c '\timing on' -c "$q" 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
        all+=("$out")
    done
    local m
    m=$(printf '%s\n' "${all[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
    echo "    ${q:0:70}: $m ms" >&2    # as it goes: a stopped run keeps what it measured
    echo "$m"
}

echo "==> timing ($RUNS runs each, median)"
# every pair's status and version is computed on both sides (a bare count(*)
# would let the planner skip the status of the plain view)
r_ours=$(time_ms "SELECT status, count(*), count(version) FROM rollout.drift_roster GROUP BY status")
r_plain=$(time_ms "SELECT status, count(*), count(version) FROM plain.roster GROUP BY status")
s_ours=$(time_ms "SELECT count(*), sum(compliance_pct) FROM rollout.compliance_summary")
s_plain=$(time_ms "SELECT count(*), sum(compliance_pct) FROM plain.summary")
sim=$(time_ms "SELECT count(*) FROM rollout.simulate_policy('c1', min_version => '2.0.0', action => 'block')")

# enforcement: one check, a pin on the fast path, and a 100,000-tenant stage
check_us=$("${PSQL[@]}" -At -c "
    DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
        FOR i IN 1..1000 LOOP PERFORM rollout._refusing_nodes('c2', '2.0.0'); END LOOP;
        RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0) * 1000000 / 1000, 1); END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')
pin_us=$("${PSQL[@]}" -At -c "
    DO \$\$ DECLARE t0 timestamptz; t1 interval; BEGIN
        PERFORM set_config('pg_rollout.actor', 'bench', true);
        t0 := clock_timestamp();
        FOR i IN 1..200 LOOP PERFORM rollout.pin_version('p-5', 'c2', '2.0.0', 'bench'); END LOOP;
        RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0) * 1000000 / 200, 1); END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')
start_ms() {  # start_ms ROLLOUT: start it, take the time, cancel it
    "${PSQL[@]}" -c '\timing on' -c "SET pg_rollout.actor = 'bench'" -c "SELECT rollout.start_rollout('$1') IS NOT NULL" 2>&1 \
        | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
    "${PSQL[@]}" -c "SET pg_rollout.actor = 'bench'" -c "SELECT rollout.cancel_rollout('$1', 'bench') IS NOT NULL" >/dev/null
}
"${PSQL[@]}" -c "SET pg_rollout.actor = 'bench'" -c "SELECT rollout.cancel_rollout('r1', 'bench') IS NOT NULL" >/dev/null
st_nopol=$(start_ms r2)   # c2: report/remind policies only (no block policy)
"${PSQL[@]}" -c "SET pg_rollout.actor = 'bench'" \
    -c "SELECT rollout.set_version_policy('c3', min_version => '1.0.0', baseline => '2.0.0', blocked => '{[3.0.0,3.0.0]}', action => 'block', grace_limit => '60 days', reason => 'bench: block, 2.1.0 allowed')" >/dev/null
st_block=$(start_ms r3)   # c3: a block policy that allows 2.1.0 (fast path)

# a compliance snapshot of every tenant (the report's input), then the roster
# with two conflict rules in force (a requires rule and a skew rule)
snap=$(time_ms "SET pg_rollout.actor = 'bench'; SELECT (rollout.snapshot_compliance()).pairs")
"${PSQL[@]}" -c "SET pg_rollout.actor = 'bench'" \
    -c "SELECT rollout.add_conflict_rule('requires', 'c4', '[2.0.0,)', 'c5', '[2.0.0,)', reason => 'bench')" \
    -c "SELECT rollout.add_conflict_rule('max_skew', 'c6', max_minors => 0, reason => 'bench')" >/dev/null
r_conf=$(time_ms "SELECT status, count(*), count(version) FROM rollout.drift_roster GROUP BY status")
conflicting=$("${PSQL[@]}" -At -c "SELECT count(*) FROM rollout.drift_roster WHERE status = 'conflicting'")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo
printf '%-58s %14s %14s %10s\n' "$((ORGS + TEAMS + PROJECTS)) tenants x $COMPS components" "pg_rollout" "plain SQL" "speed-up"
printf '%-58s %11s ms %11s ms %10s\n' "(a) drift roster, every pair" "$r_ours" "$r_plain" "$(ratio "$r_plain" "$r_ours")"
printf '%-58s %11s ms %11s ms %10s\n' "(b) compliance roll-ups (organisations, teams)" "$s_ours" "$s_plain" "$(ratio "$s_plain" "$s_ours")"
printf '%-58s %11s ms\n' "(c) simulate_policy, one component" "$sim"
printf '%-58s %11s us\n' "(d) policy check of a version (fast path)" "$check_us"
printf '%-58s %11s us\n' "(e) pin_version with the check" "$pin_us"
printf '%-58s %11s ms\n' "(f) start_rollout, 50 % stage, no block policy" "$st_nopol"
printf '%-58s %11s ms\n' "(g) start_rollout, 50 % stage, block policy (allowed)" "$st_block"
printf '%-58s %11s ms\n' "(h) snapshot_compliance(), every tenant" "$snap"
printf '%-58s %11s ms\n' "(i) drift roster with two conflict rules ($conflicting conflicting)" "$r_conf"

echo
echo "---- summary (markdown) ----"
echo "\`bash bench/governance.sh\` ($((ORGS + TEAMS + PROJECTS)) tenants: $ORGS organisations, $TEAMS teams, $PROJECTS projects; $COMPS components, $pairs pairs; $(psql -X -At -c 'SHOW server_version'); $(nproc) cores; median of $RUNS runs). Both sides give the same roster and the same roll-ups ($statuses)."
echo
echo "| query | pg_rollout | plain SQL (recursive CTE + joins) | speed-up |"
echo "| --- | --- | --- | --- |"
echo "| drift roster, every pair | $r_ours ms | $r_plain ms | $(ratio "$r_plain" "$r_ours") |"
echo "| compliance roll-ups | $s_ours ms | $s_plain ms | $(ratio "$s_plain" "$s_ours") |"
echo
echo "| enforcement and simulation | time |"
echo "| --- | --- |"
echo "| simulate_policy, one component | $sim ms |"
echo "| policy check of a version (fast path) | $check_us µs |"
echo "| pin_version including the check | $pin_us µs |"
echo "| start_rollout, 50 % stage, component without block policy | $st_nopol ms |"
echo "| start_rollout, 50 % stage, block policy that allows the version | $st_block ms |"
echo "| snapshot_compliance(), every tenant (digest into the audit chain) | $snap ms |"
echo "| drift roster with two conflict rules in force ($conflicting pairs conflicting) | $r_conf ms |"
echo "---- end of summary ----"
