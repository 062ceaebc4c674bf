# TAP: resolution under concurrent change never crashes the server, gives the
# answers a fresh resolution gives, and keeps the session's cache memory
# bounded (issue 17, problem 1).
#  - two sessions: a transaction block resolves, another session commits
#    set_flag / pin_version, the block resolves again;
#  - the same under REPEATABLE READ, bulk resolve_versions twice in one
#    transaction, and with ANALYZE (what autovacuum does) instead of a write;
#  - long single statements resolving every tenant while a writer commits
#    every millisecond or two, with the default cache and with
#    resolve_cache_size = 100 (200,000 calls over 2,000 tenants);
#  - memory: a cache that fills and starts over again and again does not
#    grow the backend; lowering resolve_cache_size (to 100, to 0) releases
#    the answers it held.
# Every crash shows in the server log as "terminated by signal"; each part
# checks the log written during it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('resolve');
$node->init;
# autovacuum off: the test sends its own ANALYZEs, at known points;
# restart_after_crash on: a crash in one part does not hide the others
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout'
autovacuum = off
restart_after_crash = on
});
$node->start;

# 2,000 tenants: organisations o1..o20, each with projects oN-p1..oN-p99.
# o1..o5 are churned by the writer (pins and flag overrides); o6..o10
# follow the default 1.0.0; o11..o20 are pinned on 2.0.0.
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenants(array_agg('o' || o ORDER BY o), array_agg(NULL::text ORDER BY o),
	                              array_agg('organisation'::text ORDER BY o))
	  FROM generate_series(1, 20) o;
	SELECT rollout.create_tenants(array_agg('o' || o || '-p' || p ORDER BY o, p), array_agg('o' || o ORDER BY o, p),
	                              array_agg('project'::text ORDER BY o, p))
	  FROM generate_series(1, 20) o, generate_series(1, 99) p;
	SELECT rollout.create_component('svc', 'product', 'Service');
	SELECT rollout.add_version('svc', ('1.0.' || v)::rollout.semver, 'published') FROM generate_series(0, 9) v;
	SELECT rollout.add_version('svc', '2.0.0', 'published');
	SELECT rollout.set_default_version('svc', '1.0.0');
	SELECT rollout.pin_version('o' || o, 'svc', '2.0.0', 'held') FROM generate_series(11, 20) o;
	SELECT rollout.create_flag('beta', false);
	CREATE TABLE public.ctl (stop boolean NOT NULL);
	INSERT INTO public.ctl VALUES (false);
	CREATE TABLE public.expected (tenant_id text PRIMARY KEY, version text NOT NULL);
	INSERT INTO public.expected
	SELECT t.tenant_id, CASE WHEN o BETWEEN 11 AND 20 THEN '2.0.0' ELSE '1.0.0' END
	  FROM rollout.tenant t, LATERAL (SELECT split_part(substr(t.tenant_id, 2), '-', 1)::int AS o) x
	 WHERE o BETWEEN 6 AND 20;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM rollout.tenant'), '2000', '2,000 tenants');

# Run one part: the code, then a check that the server log written meanwhile
# has no crash; after a crash, wait for the server to be back.
sub part
{
	my ($name, $code) = @_;
	my $offset = -s $node->logfile;
	eval { $code->(); 1 } or fail("$name: $@");
	$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
	my $log = slurp_file($node->logfile, $offset);
	unlike($log, qr/terminated by signal/, "$name: no backend crashed");
	return;
}

# Every tenant's cached answer (version and flag) that differs from a fresh
# resolution (explain_* never uses the cache), as one text row per mismatch.
my $diff_fresh = q{
	SELECT string_agg(t.tenant_id, ' ')
	  FROM rollout.tenant t
	 WHERE rollout.resolve_version(t.tenant_id, 'svc')::text IS DISTINCT FROM
	           (SELECT e.version::text FROM rollout.explain_version(t.tenant_id, 'svc') e WHERE e.decided)
	    OR rollout.flag_enabled(t.tenant_id, 'beta') IS DISTINCT FROM
	           (SELECT e.enabled FROM rollout.explain_flag(t.tenant_id, 'beta') e WHERE e.decided)
};

# --- two sessions ------------------------------------------------------------
part('flag_enabled across another session\'s set_flag', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN');
	is($a->query_safe("SELECT rollout.flag_enabled('o1-p1', 'beta')"), 'f', 'flag off before');
	$node->safe_psql('postgres', "SELECT rollout.set_flag('beta', 'o1-p2', true, 'x')");
	is($a->query_safe("SELECT rollout.flag_enabled('o1-p2', 'beta')"), 't',
		'the same transaction sees the committed override on its next miss');
	is($a->query_safe($diff_fresh), '', 'every cached answer equals a fresh resolution');
	$a->query_safe('COMMIT');
	$a->quit;
});

part('resolve_version across another session\'s pin_version', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN');
	is($a->query_safe("SELECT rollout.resolve_version('o2-p1', 'svc')"), '1.0.0', 'default before');
	$node->safe_psql('postgres', "SELECT rollout.pin_version('o2', 'svc', '1.0.7', 'x')");
	is($a->query_safe("SELECT rollout.resolve_version('o2-p2', 'svc')"), '1.0.7', 'pin seen on the next miss');
	is($a->query_safe("SELECT rollout.resolve_version('o2-p1', 'svc')"), '1.0.7',
		'the answer cached before the commit was dropped with the cache');
	is($a->query_safe($diff_fresh), '', 'every cached answer equals a fresh resolution');
	$a->query_safe('COMMIT');
	$a->quit;
});

part('REPEATABLE READ', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$a->query_safe("SELECT rollout.resolve_version('o3-p1', 'svc'), rollout.flag_enabled('o3-p1', 'beta')");
	$node->safe_psql('postgres', "SELECT rollout.pin_version('o3', 'svc', '1.0.3', 'x')");
	$node->safe_psql('postgres', "SELECT rollout.set_flag('beta', 'o3', true, 'x')");
	is($a->query_safe("SELECT rollout.resolve_version('o3-p2', 'svc')"), '1.0.3', 'latest committed pin');
	is($a->query_safe("SELECT rollout.flag_enabled('o3-p2', 'beta')"), 't', 'latest committed flag override');
	is($a->query_safe($diff_fresh), '', 'every cached answer equals a fresh resolution');
	$a->query_safe('COMMIT');
	$a->quit;
});

part('resolve_versions twice in a transaction', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN');
	is($a->query_safe("SELECT count(*) FROM rollout.resolve_versions('svc') WHERE version::text = '1.0.4'"), '0', 'bulk before');
	$node->safe_psql('postgres', "SELECT rollout.pin_version('o4', 'svc', '1.0.4', 'x')");
	is($a->query_safe("SELECT count(*) FROM rollout.resolve_versions('svc') WHERE version::text = '1.0.4'"), '100',
		'bulk again: the organisation and its 99 projects');
	is($a->query_safe("SELECT string_agg(version::text, ',') FROM rollout.resolve_versions('svc', ARRAY['o4-p1', 'o11-p1'])"),
		'1.0.4,2.0.0', 'list form');
	$node->safe_psql('postgres', "SELECT rollout.unpin_version('o4', 'svc', 'x')");
	is($a->query_safe("SELECT string_agg(version::text, ',') FROM rollout.resolve_versions('svc', ARRAY['o4-p2', 'o4-p1'])"),
		'1.0.0,1.0.0', 'list form after another commit');
	is($a->query_safe($diff_fresh), '', 'every cached answer equals a fresh resolution');
	$a->query_safe('COMMIT');
	$a->quit;
});

part('ANALYZE in another session (autovacuum)', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN');
	$a->query_safe("SELECT rollout.resolve_version('o6-p1', 'svc'), rollout.flag_enabled('o6-p1', 'beta')");
	$node->safe_psql('postgres', 'ANALYZE rollout.tenant');
	is($a->query_safe("SELECT rollout.resolve_version('o6-p2', 'svc')"), '1.0.0', 'resolution after ANALYZE');
	is($a->query_safe("SELECT rollout.flag_enabled('o6-p2', 'beta')"), 'f', 'flag after ANALYZE');
	$a->query_safe("SELECT count(*) FROM rollout.resolve_versions('svc')");
	$node->safe_psql('postgres', 'ANALYZE rollout.pin');
	is($a->query_safe("SELECT count(*) FROM rollout.resolve_versions('svc')"), '2000', 'bulk after ANALYZE');
	$a->query_safe('COMMIT');
	$a->quit;
});

# --- long statements while a writer commits ------------------------------------
# The writer churns o1..o5: a pin and a flag override per commit, an ANALYZE
# every 20 commits, until ctl.stop.
sub start_writer
{
	$node->safe_psql('postgres', 'UPDATE public.ctl SET stop = false');
	my $w = $node->background_psql('postgres', on_error_stop => 0);
	$w->query_until(qr/writing/, q{
\echo writing
DO $$
DECLARE k int := 0;
BEGIN
	LOOP
		EXIT WHEN (SELECT stop FROM public.ctl);
		k := k + 1;
		PERFORM rollout.pin_version('o' || (1 + k % 5), 'svc', ('1.0.' || (k % 10))::rollout.semver, 'churn');
		PERFORM rollout.set_flag('beta', 'o' || (1 + k % 5), k % 2 = 0, 'churn');
		IF k % 20 = 0 THEN
			ANALYZE rollout.tenant;
		END IF;
		COMMIT;
		PERFORM pg_sleep(0.001);
	END LOOP;
	RAISE NOTICE 'writer commits: %', k;
END $$;
});
	return $w;
}

sub stop_writer
{
	my ($w) = @_;
	$node->safe_psql('postgres', 'UPDATE public.ctl SET stop = true');
	my ($out, $err) = $w->query('SELECT 1');
	like($w->{stderr}, qr/writer commits: [1-9]/, 'the writer committed while the readers ran');
	$w->quit;
	return;
}

# Wrong answers of one statement over every tenant: the unchurned ones must
# give their fixed version, the churned ones a version the writer sets.
my $long_statement = q{
	SELECT count(*) FILTER (WHERE e.version IS NOT NULL AND v::text IS DISTINCT FROM e.version)
	     + count(*) FILTER (WHERE e.version IS NULL AND v::text NOT LIKE '1.0._')
	     + count(*) FILTER (WHERE f IS NULL)
	  FROM (SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS v, rollout.flag_enabled(t.tenant_id, 'beta') AS f
	          FROM rollout.tenant t) r
	  LEFT JOIN public.expected e USING (tenant_id)
};

part('long statements with the default cache while a writer commits', sub {
	my $w = start_writer();
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	for my $i (1 .. 5)
	{
		is($a->query_safe($long_statement), '0', "statement $i over 2,000 tenants: every answer right");
		is($a->query_safe("SELECT count(*) FROM rollout.resolve_versions('svc') r JOIN public.expected e USING (tenant_id)
		                    WHERE r.version::text <> e.version"), '0', "bulk $i: every answer right");
	}
	$a->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	is($a->query_safe($long_statement), '0', 'the same inside REPEATABLE READ');
	is($a->query_safe($long_statement), '0', 'and again in the same transaction');
	$a->query_safe('COMMIT');
	stop_writer($w);
	is($a->query_safe($diff_fresh), '', 'after the writer stopped: every cached answer equals a fresh resolution');
	$a->quit;
});

part('resolve_cache_size = 100: 200,000 calls over 2,000 tenants while a writer commits', sub {
	my $w = start_writer();
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('SET pg_rollout.resolve_cache_size = 100');
	is($a->query_safe(q{
		SELECT count(*) FILTER (WHERE v IS NULL)
		  FROM (SELECT rollout.resolve_version('o' || (1 + i % 20) || '-p' || (1 + (i / 20) % 99), 'svc') AS v
		          FROM generate_series(0, 199999) i) x}), '0', '200,000 answers');
	ok($a->query_safe('SELECT entries FROM rollout.resolve_cache_stats()') <= 100, 'at most 100 answers held');
	stop_writer($w);
	is($a->query_safe($diff_fresh), '', 'every cached answer equals a fresh resolution');
	$a->quit;
});

# --- memory --------------------------------------------------------------------
# All memory of the backend, in bytes.
my $backend_bytes = 'SELECT sum(total_bytes) FROM pg_backend_memory_contexts';

part('a cache that fills again and again stays bounded', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('SET pg_rollout.resolve_cache_size = 1000');
	# 1,980 projects in turn, twice each (version and flag): 3,960 keys
	# through 1,000 places, every call a miss
	my $round = q{SELECT count(rollout.resolve_version(n, 'svc')) + count(rollout.flag_enabled(n, 'beta'))
	                FROM (SELECT 'o' || (1 + i % 20) || '-p' || (1 + (i / 20) % 99) AS n
	                        FROM generate_series(0, 19799) i) x};
	$a->query_safe($round);
	my $before = $a->query_safe($backend_bytes);
	$a->query_safe($round) for 1 .. 2;
	my $after = $a->query_safe($backend_bytes);
	my $misses = $a->query_safe('SELECT misses FROM rollout.resolve_cache_stats()');
	cmp_ok($misses, '>=', 3 * 39600, "every call missed: the cache started over again and again ($misses misses)");
	cmp_ok($after - $before, '<', 256 * 1024,
		"79,200 more answers grew the backend by less than 256 kB ($before -> $after bytes)");
	$a->quit;
});

part('lowering resolve_cache_size releases memory', sub {
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe(q{SELECT count(rollout.resolve_version(t.tenant_id, 'svc')) + count(rollout.flag_enabled(t.tenant_id, 'beta'))
	                   FROM rollout.tenant t});
	is($a->query_safe('SELECT entries FROM rollout.resolve_cache_stats()'), '4000', '4,000 answers cached');
	my $full = $a->query_safe($backend_bytes);
	$a->query_safe('SET pg_rollout.resolve_cache_size = 100');
	ok($a->query_safe('SELECT entries FROM rollout.resolve_cache_stats()') <= 100, 'at most 100 answers after lowering to 100');
	my $small = $a->query_safe($backend_bytes);
	cmp_ok($full - $small, '>', 512 * 1024, "lowering to 100 released memory ($full -> $small)");
	$a->query_safe('RESET pg_rollout.resolve_cache_size');
	$a->query_safe(q{SELECT count(rollout.resolve_version(t.tenant_id, 'svc')) FROM rollout.tenant t});
	$full = $a->query_safe($backend_bytes);
	$a->query_safe('SET pg_rollout.resolve_cache_size = 0');
	is($a->query_safe('SELECT entries FROM rollout.resolve_cache_stats()'), '0', 'no answer held at 0');
	my $none = $a->query_safe($backend_bytes);
	cmp_ok($full - $none, '>', 256 * 1024, "0 released the answers ($full -> $none)");
	is($a->query_safe("SELECT rollout.resolve_version('o11-p1', 'svc')"), '2.0.0', 'resolution still works at 0');
	is($a->query_safe('SELECT entries FROM rollout.resolve_cache_stats()'), '0', 'and keeps nothing');
	$a->quit;
});

done_testing();
