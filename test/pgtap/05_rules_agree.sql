-- pgTAP: rules decided both in C and in SQL give the same answers on random
-- data.  Effective channel: rollout.effective_channel() (PL/pgSQL, one
-- tenant) and rollout.effective_channels() (C, one pass over the tree).
-- Metric names: the JSON plan parser (src/plan.c, max_<metric> criteria)
-- and add_stage's metric_bounds (SQL).
BEGIN;
SET LOCAL search_path = public, rollout;
SELECT plan(4);

SELECT setseed(0.17);
SELECT rollout.create_tenants(
    array_agg('agr-' || i ORDER BY i),
    array_agg(CASE WHEN i <= 3 THEN NULL ELSE 'agr-' || (1 + floor(random() * (i - 1)))::int END ORDER BY i))
  FROM generate_series(1, 300) i;
SELECT rollout.create_channel('agr-beta', 25, 'opt_in', allow_opt_in => true, allow_opt_out => true);

-- random channel settings, opt-ins, opt-outs and test tenants; the ones the
-- rules refuse are skipped
DO $$
DECLARE
    k int;
    t text;
    c text;
    channels text[] := ARRAY['dev', 'experimental', 'candidate', 'stable', 'agr-beta'];
BEGIN
    FOR k IN 1..400 LOOP
        t := 'agr-' || (1 + floor(random() * 300))::int;
        c := channels[1 + floor(random() * 5)::int];
        BEGIN
            CASE floor(random() * 5)::int
                WHEN 0 THEN PERFORM rollout.set_tenant_channel(t, c);
                WHEN 1 THEN PERFORM rollout.opt_in(t, c, 'random');
                WHEN 2 THEN PERFORM rollout.opt_out(t, c, 'random');
                WHEN 3 THEN PERFORM rollout.update_tenant(t, test_tenant => random() < 0.5);
                ELSE PERFORM rollout.clear_channel_choice(t, c);
            END CASE;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
END
$$;

SELECT cmp_ok((SELECT count(*) FROM rollout.channel_choice c WHERE c.tenant_id LIKE 'agr-%'), '>', 50::bigint,
              'the random settings made channel choices');
SELECT is_empty($$SELECT t.tenant_id FROM rollout.tenant t
                   LEFT JOIN rollout.effective_channels() e USING (tenant_id)
                  WHERE t.tenant_id LIKE 'agr-%'
                    AND rollout.effective_channel(t.tenant_id) IS DISTINCT FROM e.channel_id$$,
                'effective_channel (SQL) and effective_channels (C) agree on every tenant of a random forest');

-- metric names: accepted by the JSON plan exactly when add_stage accepts them
SELECT rollout.create_component('agr-svc', 'product');
SELECT rollout.add_version('agr-svc', '1.0.0', 'published');
SELECT rollout.add_version('agr-svc', '2.0.0', 'published');
CREATE TEMP TABLE agr_metric (name text, via_sql boolean, via_json boolean);
DO $$
DECLARE
    k int;
    n text;
    alphabet text := 'abcxyz019_.AZ-';
    ok_sql boolean;
    ok_json boolean;
BEGIN
    FOR k IN 1..200 LOOP
        n := (SELECT string_agg(substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1), '')
                FROM generate_series(1, CASE WHEN random() < 0.2 THEN 58 + floor(random() * 10)::int
                                             ELSE 1 + floor(random() * 8)::int END));
        BEGIN
            PERFORM rollout.create_rollout('agr-sql', 'agr-svc', '1.0.0', '2.0.0');
            PERFORM rollout.add_stage('agr-sql', 'all', 'all', metric_bounds => jsonb_build_object(n, 1));
            ok_sql := true;
            RAISE EXCEPTION 'undo' USING ERRCODE = 'P0099';
        EXCEPTION WHEN SQLSTATE 'P0099' THEN
            NULL;
        WHEN others THEN
            ok_sql := false;
        END;
        BEGIN
            PERFORM rollout.create_rollout_from_plan(jsonb_build_object(
                'rollout_id', 'agr-json', 'policy_set', 'agr-svc', 'from_version', '1.0.0', 'to_version', '2.0.0',
                'stages', jsonb_build_array(jsonb_build_object(
                    'name', 'all', 'selection', jsonb_build_object('method', 'all'),
                    'success_criteria', jsonb_build_object('max_' || n, 1))))::text);
            ok_json := true;
            RAISE EXCEPTION 'undo' USING ERRCODE = 'P0099';
        EXCEPTION WHEN SQLSTATE 'P0099' THEN
            NULL;
        WHEN others THEN
            ok_json := false;
        END;
        INSERT INTO agr_metric VALUES (n, ok_sql, ok_json);
    END LOOP;
END
$$;
SELECT ok((SELECT bool_or(via_sql) AND bool_or(NOT via_sql) FROM agr_metric),
          'the random metric names include valid and invalid ones');
SELECT is_empty($$SELECT name, via_sql, via_json FROM agr_metric WHERE via_sql IS DISTINCT FROM via_json$$,
                'the JSON plan and add_stage accept the same metric names');

SELECT * FROM finish();
ROLLBACK;
