# TAP: monitoring through a real exporter.  Debian's
# prometheus-postgres-exporter, started with monitoring/postgres_exporter.yaml
# against a cluster with a due rollout, a protected table and violations,
# serves the pg_rollout_* series with the right values; after tick() they
# change as they should.  Every metric the alert rules use is served, and
# promtool checks and unit-tests the rules.
use strict;
use warnings;
use File::Basename qw(dirname);
use HTTP::Tiny;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter is not installed (tools/test.sh installs it)" unless -x $exporter;

my $root = dirname(dirname(dirname(__FILE__)));
$root = '.' unless -f "$root/monitoring/postgres_exporter.yaml";

my $node = PostgreSQL::Test::Cluster->new('monitoring');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
$node->safe_psql('postgres', q{
	SET pg_rollout.actor = 'author';
	SELECT rollout.create_tenant('org');
	SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3'], ARRAY['org', 'org', 'org']);
	SELECT rollout.create_component('svc');
	SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest(ARRAY['1.0.0', '2.0.0']) v;
	SELECT rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['p1'], auto_proceed => true,
	                         pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'rest', 'all', min_duration => '1 hour', pass_without_metrics => true);
	SET pg_rollout.actor = 'approver';
	SELECT rollout.approve_rollout('r1');
	SELECT rollout.start_rollout('r1');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders VALUES (1, 'p1'), (2, 'p2');
	GRANT SELECT ON orders TO app;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	CREATE ROLE scraper LOGIN IN ROLE pg_monitor;
	-- the tallies (compliance per organisation, tenants per version)
	SELECT rollout.set_default_version('svc', '1.0.0');
	SELECT rollout.refresh_metrics();
});
# two reads without tenant context, counted in log_only
$node->safe_psql('postgres', 'SET ROLE app; SELECT count(*) FROM orders; SELECT count(*) FROM orders;');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=scraper dbname=postgres sslmode=disable', $node->host, $node->port);
my $log = PostgreSQL::Test::Utils::tempdir() . '/exporter.log';
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	$ENV{DATA_SOURCE_NAME} = $dsn;
	open(STDOUT, '>', $log) or die;
	open(STDERR, '>&', \*STDOUT) or die;
	exec($exporter, "--extend.query-path=$root/monitoring/postgres_exporter.yaml",
		'--disable-default-metrics', '--disable-settings-metrics',
		"--web.listen-address=127.0.0.1:$port") or die "exec: $!";
}
END { kill 'TERM', $pid if $pid; }

my $http = HTTP::Tiny->new(timeout => 10);
sub scrape
{
	my $body;
	for (1 .. 50)
	{
		my $res = $http->get("http://127.0.0.1:$port/metrics");
		if ($res->{success} && $res->{content} =~ /^pg_rollout_rollouts\{/m)
		{
			$body = $res->{content};
			last;
		}
		select(undef, undef, undef, 0.2);
	}
	return $body // '';
}
# the value of the first series of a metric whose labels include all given pairs
sub value
{
	my ($body, $name, %labels) = @_;
	for my $line (split /\n/, $body)
	{
		next unless $line =~ /^\Q$name\E(?:\{(.*)\})? (\S+)$/;
		my ($l, $v) = ($1 // '', $2);
		next if grep { $l !~ /(?:^|,)\Q$_\E="\Q$labels{$_}\E"/ } keys %labels;
		return $v;
	}
	return undef;
}

my $m = scrape();
ok($m ne '', 'the exporter serves pg_rollout metrics') or diag(slurp_file($log));
is(value($m, 'pg_rollout_rollouts', status => 'running'), 1, 'one rollout running');
is(value($m, 'pg_rollout_rollouts', status => 'draft'), 0, 'statuses without rollouts are 0');
is(value($m, 'pg_rollout_rollout_stage_no', rollout_id => 'r1', stage => 'canary'), 1, 'r1 is at stage 1 (canary)');
is(value($m, 'pg_rollout_rollout_tenants_activated', rollout_id => 'r1'), 1, 'r1 activated one tenant');
is(value($m, 'pg_rollout_rollout_progress_ratio', rollout_id => 'r1'), 0, 'no stage done yet');
is(value($m, 'pg_rollout_tick_rollouts_due'), 1, 'r1 is due (its canary has no minimum duration)');
is(value($m, 'pg_rollout_tick_last_start_timestamp_seconds'), 0, 'no tick has run');
is(value($m, 'pg_rollout_violations_total', table_name => 'orders', kind => 'missing_tenant_context',
		enforced => 'false', mode => 'log_only'), 2, 'two reads without tenant context, counted in log_only');
cmp_ok(value($m, 'pg_rollout_events_pending'), '>=', 3, 'events wait in the outbox');
cmp_ok(value($m, 'pg_rollout_audit_rows_total'), '>', 5, 'audit rows are counted');
is(value($m, 'pg_rollout_tenants_active'), 4, 'four active tenants');

$node->safe_psql('postgres', 'SELECT rollout.tick()');
$m = scrape();
is(value($m, 'pg_rollout_tick_rollouts_due'), 0, 'after tick(): nothing due');
cmp_ok(value($m, 'pg_rollout_tick_last_start_timestamp_seconds'), '>', 1.7e9, 'after tick(): the last tick is recorded');
is(value($m, 'pg_rollout_rollout_stage_no', rollout_id => 'r1', stage => 'rest'), 2, 'after tick(): r1 is at stage 2');
is(value($m, 'pg_rollout_rollout_progress_ratio', rollout_id => 'r1'), 0.5, 'after tick(): half the stages done');

# every metric the alert rules refer to is one the exporter serves
my %served = map { /^([a-z_:]+)/ ? ($1 => 1) : () } grep { /^pg_rollout_/ } split /\n/, $m;
my $rules = slurp_file("$root/monitoring/alerts.yml");
my %used = map { $_ => 1 } ($rules =~ /\b(pg_rollout_[a-z_]+)\b/g);
ok(scalar(keys %used) >= 5, 'the rules use pg_rollout metrics');
for my $name (sort keys %used)
{
	ok($served{$name}, "alert rules use $name, which the exporter serves");
}

SKIP:
{
	skip 'promtool is not installed', 2 unless -x '/usr/bin/promtool';
	my ($out, $err);
	my $ok = IPC::Run::run([ '/usr/bin/promtool', 'check', 'rules', "$root/monitoring/alerts.yml" ], '>', \$out, '2>', \$err);
	ok($ok, 'promtool check rules') or diag("$out$err");
	$ok = IPC::Run::run([ '/usr/bin/promtool', 'test', 'rules', "$root/monitoring/alerts_test.yml" ], '>', \$out, '2>', \$err);
	ok($ok, 'promtool test rules: every alert fires and clears as its unit tests say') or diag("$out$err");
}

kill 'TERM', $pid;
waitpid($pid, 0);
$pid = 0;
$node->stop;
done_testing();
