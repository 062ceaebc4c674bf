# TAP: resolution on a hot standby.  Read replicas serve the application's
# "which version does tenant T run" as well as the primary; a session on the
# standby keeps its resolution cache across the changes it replays.  The
# per-component invalidation (src/resolve.c, "Per-component invalidation")
# drops a component's cached answers when its shared epoch moved, and the
# epochs move at commit on the primary only: a standby replays the
# invalidation of the changed table's primary key but never sees an epoch
# move.  Each change below is made on the primary while a standby session
# holds every answer cached; after replay, the standby session must answer
# as a fresh resolution does (explain_version is never cached).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout'
autovacuum = off
pg_rollout.actor = 'tap'
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenants(ARRAY['o1', 'o2'], ARRAY[NULL, NULL]::text[]);
	SELECT rollout.create_tenants(array_agg('o' || o || '-p' || p ORDER BY o, p), array_agg('o' || o ORDER BY o, p))
	  FROM generate_series(1, 2) o, generate_series(1, 10) p;
	SELECT rollout.create_component(c, 'product', c) FROM unnest(ARRAY['api', 'web']) c;
	SELECT rollout.add_version(c, v::rollout.semver, 'published')
	  FROM unnest(ARRAY['api', 'web']) c, unnest(ARRAY['1.0.0', '1.1.0', '2.0.0']) v;
	SELECT rollout.set_default_version(c, '1.0.0') FROM unnest(ARRAY['api', 'web']) c;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $all = q{SELECT count(rollout.resolve_version(t.tenant_id, c))
              FROM rollout.tenant t, unnest(ARRAY['api', 'web']) c};
my $diff = q{SELECT coalesce(string_agg(t.tenant_id || '/' || c || '=' ||
                      coalesce(rollout.resolve_version(t.tenant_id, c)::text, 'null'), ' '), '')
               FROM rollout.tenant t, unnest(ARRAY['api', 'web']) c
              WHERE rollout.resolve_version(t.tenant_id, c)::text IS DISTINCT FROM
                    (SELECT e.version::text FROM rollout.explain_version(t.tenant_id, c) e WHERE e.decided)};

my $r = $standby->background_psql('postgres', on_error_stop => 0);
is($r->query_safe('SELECT pg_is_in_recovery()'), 't', 'the session is on the standby');
is($r->query_safe($all), '44', '22 tenants x 2 components resolved on the standby');
is($r->query_safe($diff), '', 'every answer fresh at the start');
is($r->query_safe(q{SELECT rollout.resolve_version('o1-p1', 'api')}), '1.0.0', 'the default to start with');

# one change at a time on the primary; the standby session answers after replay
my @changes = (
	[ 'a pin', q{SELECT rollout.pin_version('o1-p1', 'api', '2.0.0', 'hot standby test')}, 'o1-p1', 'api', '2.0.0' ],
	[ 'an unpin', q{SELECT rollout.unpin_version('o1-p1', 'api')}, 'o1-p1', 'api', '1.0.0' ],
	[ 'a channel release', q{SELECT rollout.set_channel_release('web', 'stable', '1.1.0')}, 'o2-p3', 'web', '1.1.0' ],
	[ 'a new default version', q{SELECT rollout.set_default_version('api', '1.1.0')}, 'o2-p9', 'api', '1.1.0' ],
);
for my $c (@changes)
{
	my ($what, $sql, $tenant, $component, $want) = @$c;
	is($r->query_safe($all), '44', "all answers cached before $what");
	$primary->safe_psql('postgres', $sql);
	$primary->wait_for_catchup($standby);
	is($r->query_safe(qq{SELECT rollout.resolve_version('$tenant', '$component')}), $want,
		"$what made on the primary is seen by a standby session with a warm cache");
	is($r->query_safe($diff), '', "after $what every answer on the standby is fresh");
}

# a rollout: starting it, then its next stage activating more tenants
$primary->safe_psql('postgres', q{
	SELECT rollout.create_rollout('r1', 'web', '1.1.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'first', 'tenants', tenants => ARRAY['o1-p1']);
	SELECT rollout.add_stage('r1', 'rest', 'all');
	SET pg_rollout.actor = 'approver';
	SELECT rollout.approve_rollout('r1');
	SELECT rollout.start_rollout('r1');
});
$primary->wait_for_catchup($standby);
is($r->query_safe(q{SELECT rollout.resolve_version('o1-p1', 'web')}), '2.0.0', 'the first stage seen on the standby');
is($r->query_safe($all), '44', 'all answers cached after the first stage');
$primary->safe_psql('postgres', q{SELECT rollout.advance_rollout('r1')});
$primary->wait_for_catchup($standby);
is($r->query_safe(q{SELECT rollout.resolve_version('o2-p5', 'web')}), '2.0.0',
	'the next stage (activations only) seen by the standby session');
is($r->query_safe($diff), '', 'after the next stage every answer on the standby is fresh');

# a session opened after all of it agrees
is($standby->safe_psql('postgres', $diff), '', 'a new standby session agrees');

# tenant isolation holds on the standby: a bound role reads its tenant's rows only
$primary->safe_psql('postgres', q{
	CREATE TABLE public.orders (tenant_id text NOT NULL, n int);
	INSERT INTO public.orders SELECT 'o' || (n % 2 + 1), n FROM generate_series(1, 10) n;
	SELECT rollout.protect_table('public.orders', 'tenant_id');
	CREATE ROLE app LOGIN;
	GRANT rollout_app TO app;
	GRANT SELECT ON public.orders TO app;
	SELECT rollout.bind_tenant('app', 'o1');
	ALTER ROLE app SET pg_rollout.enforcement_mode = 'enforce';
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{BEGIN; SELECT rollout.set_tenant('o1'); SELECT count(*) FROM public.orders; COMMIT;},
		extra_params => [ '-U', 'app', '-At' ]), "o1\n5", 'the bound role reads its tenant\'s rows on the standby');
my ($ret, $out, $err) = $standby->psql('postgres', q{BEGIN; SELECT rollout.set_tenant('o2'); SELECT count(*) FROM public.orders;},
	extra_params => [ '-U', 'app' ]);
note($err);
like($err, qr/role "app" may not act for tenant "o2"/, 'the bound role cannot take another tenant on the standby');
unlike($out, qr/^5$/m, '... and reads nothing of it');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT count(*) FROM public.orders}, extra_params => [ '-U', 'app' ]);
note($err);
like($err, qr/tenant context required for table "public.orders"/, 'without a tenant the enforced read is refused on the standby');

# log_only on the standby: the read goes through, the violation is counted
$primary->safe_psql('postgres', q{ALTER ROLE app SET pg_rollout.enforcement_mode = 'log_only'});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM public.orders}, extra_params => [ '-U', 'app' ]), '10',
	'log_only on the standby: a read without a tenant goes through');
like($standby->safe_psql('postgres', q{SELECT string_agg(kind || ':' || count, ',') FROM rollout.violation_counts() WHERE tbl = 'public.orders'::regclass}),
	qr/:[1-9]/, '... and is counted there');

$r->quit;
$standby->stop;
$primary->stop;
done_testing();
