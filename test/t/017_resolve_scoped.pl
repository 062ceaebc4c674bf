# TAP: per-component invalidation (issue 11, second pass).  A change to one
# component's rows (pin, channel release, activation, component) drops only
# that component's cached answers in other sessions; what is dropped must be
# everything that changed:
#  - 60 rounds: another session commits a random pin, unpin or release of
#    one of 8 components; the reader, whose cache holds every answer of
#    every component, must then answer every (tenant, component) pair as a
#    fresh resolution does, and components not touched stay cached (hits);
#  - a rollout of one component activating tenants at its next stage
#    leaves the answers of the others cached, and its own are computed
#    again (starting it changes its status: every cache is emptied);
#  - a prepared transaction (its COMMIT PREPARED runs in another session and
#    bumps no epoch) empties every cache when it commits;
#  - ANALYZE of rollout.activation, a TRUNCATE of rollout.pin: full resets.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('scoped');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout'
autovacuum = off
max_prepared_transactions = 2
pg_rollout.actor = 'tap'
});
$node->start;

# 4 organisations with 24 projects each; components c1..c8 (default 1.0.0)
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenants(array_agg('o' || o ORDER BY o), array_agg(NULL::text ORDER BY o))
	  FROM generate_series(1, 4) o;
	SELECT rollout.create_tenants(array_agg('o' || o || '-p' || p ORDER BY o, p), array_agg('o' || o ORDER BY o, p))
	  FROM generate_series(1, 4) o, generate_series(1, 24) p;
	SELECT rollout.create_component('c' || c, 'product', 'c' || c) FROM generate_series(1, 8) c;
	SELECT rollout.add_version('c' || c, v::rollout.semver, 'published')
	  FROM generate_series(1, 8) c, unnest(ARRAY['1.0.0', '1.1.0', '2.0.0', '3.0.0']) v;
	SELECT rollout.set_default_version('c' || c, '1.0.0') FROM generate_series(1, 8) c;
});

# every pair through the cache, and the pairs whose cached answer differs
# from a fresh resolution (explain_version is always computed afresh)
my $all = q{SELECT count(rollout.resolve_version(t.tenant_id, 'c' || c))
              FROM rollout.tenant t, generate_series(1, 8) c};
my $diff = q{SELECT string_agg(t.tenant_id || '/c' || c, ' ')
               FROM rollout.tenant t, generate_series(1, 8) c
              WHERE rollout.resolve_version(t.tenant_id, 'c' || c)::text IS DISTINCT FROM
                    (SELECT e.version::text FROM rollout.explain_version(t.tenant_id, 'c' || c) e WHERE e.decided)};
my $stats = q{SELECT hits || ' ' || misses FROM rollout.resolve_cache_stats()};

my $r = $node->background_psql('postgres', on_error_stop => 0);
is($r->query_safe($all), '800', '100 tenants x 8 components');
is($r->query_safe($diff), '', 'all answers fresh at the start');

# --- random changes to one component at a time ---------------------------------
srand(20261201);
my $bad = 0;
my $kept = 0;
for my $round (1 .. 60)
{
	my $c = 1 + int(rand(8));
	my $o = 1 + int(rand(4));
	my $p = 1 + int(rand(24));
	my $v = ('1.1.0', '2.0.0', '3.0.0')[ int(rand(3)) ];
	my $kind = int(rand(3));
	my $sql =
	    $kind == 0 ? "SELECT rollout.pin_version('o$o', 'c$c', '$v', 'r$round')"
	  : $kind == 1 ? "SELECT rollout.pin_version('o$o-p$p', 'c$c', '$v', 'r$round')"
	  :              "SELECT rollout.set_channel_release('c$c', 'stable', '$v')";
	$node->safe_psql('postgres', $sql);
	if ($round % 4 == 0)
	{
		# unpin everything of the component again (a DELETE of several rows)
		$node->safe_psql('postgres', "DELETE FROM rollout.pin WHERE component_id = 'c$c'");
	}
	my ($h0, $m0) = split / /, $r->query_safe($stats);
	$r->query_safe($all);
	my ($h1, $m1) = split / /, $r->query_safe($stats);
	# the changed component's 100 answers are computed again, at most (the
	# other 7 components' answers stay cached)
	$kept++ if $h1 - $h0 >= 700 && $m1 - $m0 <= 100;
	my $d = $r->query_safe($diff);
	if ($d ne '')
	{
		$bad++;
		diag("round $round ($sql): stale answers: $d");
	}
}
is($bad, 0, 'after each of 60 changes, every cached answer equals a fresh resolution');
is($kept, 60, 'after each change, the answers of the 7 other components stayed cached');

# --- a rollout of c1 ----------------------------------------------------------------
$node->safe_psql('postgres', q{DELETE FROM rollout.pin; SELECT rollout.clear_channel_release('c' || c, 'stable')
                                 FROM generate_series(1, 8) c
                                WHERE EXISTS (SELECT FROM rollout.channel_release r
                                               WHERE r.component_id = 'c' || c AND r.channel_id = 'stable')});
$node->safe_psql('postgres', q{
	SET pg_rollout.actor = 'alice';
	SELECT rollout.create_rollout('r1', 'c1', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'o1', 'tenants', tenants => ARRAY['o1'], pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'o2', 'tenants', tenants => ARRAY['o2'], pass_without_metrics => true);
	SET pg_rollout.actor = 'bob';
	SELECT rollout.approve_rollout('r1');
	SET pg_rollout.actor = 'alice';
	SELECT rollout.start_rollout('r1');
});
# starting it changed the rollout's status (every cache emptied); the next
# stage only writes activations of c1
$r->query_safe($all);
$node->safe_psql('postgres', q{SET pg_rollout.actor = 'alice'; SELECT rollout.advance_rollout('r1')});
my ($h0, $m0) = split / /, $r->query_safe($stats);
is($r->query_safe(q{SELECT rollout.resolve_version('o2-p3', 'c1') || ' ' || rollout.resolve_version('o2-p3', 'c2')}),
	'2.0.0 1.0.0', 'the rollout\'s activation of o2 at its second stage is seen at once');
my ($h1, $m1) = split / /, $r->query_safe($stats);
is(($h1 - $h0) . ' ' . ($m1 - $m0), '1 1', 'c1 computed again, c2 still cached');
is($r->query_safe($diff), '', 'all answers fresh after the rollout started');

# --- a prepared transaction -----------------------------------------------------------
$r->query_safe($all);
my $w = $node->background_psql('postgres', on_error_stop => 0);
$w->query_safe(q{BEGIN; SELECT rollout.pin_version('o2', 'c3', '3.0.0', 'prepared')});
$w->query_safe(q{PREPARE TRANSACTION 'p1'});
is($r->query_safe(q{SELECT rollout.resolve_version('o2-p1', 'c3')}), '1.0.0', 'prepared, not committed: not seen');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
is($r->query_safe(q{SELECT rollout.resolve_version('o2-p1', 'c3')}), '3.0.0', 'seen once COMMIT PREPARED ran elsewhere');
is($r->query_safe($diff), '', 'all answers fresh after the prepared commit');
$w->quit;

# --- full resets -------------------------------------------------------------------------
$r->query_safe($all);
my $inv0 = $r->query_safe(q{SELECT invalidations FROM rollout.resolve_cache_stats()});
$node->safe_psql('postgres', 'ANALYZE rollout.activation');
$r->query_safe($all);
my $inv1 = $r->query_safe(q{SELECT invalidations FROM rollout.resolve_cache_stats()});
ok($inv1 > $inv0, 'ANALYZE of rollout.activation empties the cache');
$node->safe_psql('postgres', 'TRUNCATE rollout.pin');
($h0, $m0) = split / /, $r->query_safe($stats);
$r->query_safe($all);
($h1, $m1) = split / /, $r->query_safe($stats);
is($m1 - $m0, 800, 'TRUNCATE of rollout.pin: every answer computed again');
is($r->query_safe($diff), '', 'all answers fresh at the end');

$r->quit;
$node->stop;
done_testing();
