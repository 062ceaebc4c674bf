# TAP: a real Prometheus (Debian's prometheus) scrapes Debian's
# prometheus-postgres-exporter, configured with monitoring/postgres_exporter.yaml,
# for a short bounded time, and evaluates the shipped PgRolloutTickStalled
# rule with a shorter threshold and "for" (a test-only copy derived from
# monitoring/alerts.yml: the same expression, 3 s instead of 300 s, 3 s
# instead of 1 m).  Its HTTP API shows the alert firing while a rollout is
# due and tick() does not run, and clearing once tick() runs again.  Every
# expression of the Grafana dashboard also evaluates without error against
# this Prometheus.
use strict;
use warnings;
use File::Basename qw(dirname);
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use YAML::XS qw(LoadFile DumpFile);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
my $prometheus = '/usr/bin/prometheus';
plan skip_all => "$exporter or $prometheus is not installed (tools/test.sh installs them)"
  unless -x $exporter && -x $prometheus;

my $root = dirname(dirname(dirname(__FILE__)));
$root = '.' unless -f "$root/monitoring/postgres_exporter.yaml";
my $started = time();

# the test-only rule, derived from the shipped one
my $shipped = LoadFile("$root/monitoring/alerts.yml");
my ($rule) = grep { ($_->{alert} // '') eq 'PgRolloutTickStalled' } map { @{ $_->{rules} } } @{ $shipped->{groups} };
ok($rule, 'alerts.yml ships PgRolloutTickStalled');
my $expr = $rule->{expr};
ok($expr =~ s/^(pg_rollout_tick_oldest_due_seconds\s*>\s*)\d+$/${1}3/, "its expression is a threshold on the oldest due rollout: $rule->{expr}");
my %test_rule = (%$rule, expr => $expr, for => '3s');
my $tmp = PostgreSQL::Test::Utils::tempdir();
DumpFile("$tmp/rules.yml", { groups => [ { name => 'pg_rollout_test', interval => '1s', rules => [ \%test_rule ] } ] });

# a cluster with a running rollout that is due at once (its canary has no
# minimum duration) and no scheduler
my $node = PostgreSQL::Test::Cluster->new('prometheus');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SET pg_rollout.actor = 'author';
	SELECT rollout.create_tenant('org');
	SELECT rollout.create_tenants(ARRAY['p1', 'p2'], ARRAY['org', 'org']);
	SELECT rollout.create_component('svc');
	SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest(ARRAY['1.0.0', '2.0.0']) v;
	SELECT rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['p1'], auto_proceed => true,
	                         pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'rest', 'all', min_duration => '1 hour', pass_without_metrics => true);
	SET pg_rollout.actor = 'approver';
	SELECT rollout.approve_rollout('r1');
	SELECT rollout.start_rollout('r1');
	CREATE ROLE scraper LOGIN IN ROLE pg_monitor;
});

my @pids;
END { kill 'TERM', @pids if @pids; }
sub spawn
{
	my ($log, $env, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		%ENV = (%ENV, %$env);
		open(STDOUT, '>', $log) or die;
		open(STDERR, '>&', \*STDOUT) or die;
		exec(@cmd) or die "exec: $!";
	}
	push @pids, $pid;
	return $pid;
}

my $eport = PostgreSQL::Test::Cluster::get_free_port();
spawn("$tmp/exporter.log",
	{ DATA_SOURCE_NAME => sprintf('host=%s port=%d user=scraper dbname=postgres sslmode=disable', $node->host, $node->port) },
	$exporter, "--extend.query-path=$root/monitoring/postgres_exporter.yaml", '--disable-default-metrics',
	'--disable-settings-metrics', "--web.listen-address=127.0.0.1:$eport");

my $pport = PostgreSQL::Test::Cluster::get_free_port();
open(my $cf, '>', "$tmp/prometheus.yml") or die;
print $cf <<"EOF";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $tmp/rules.yml
scrape_configs:
  - job_name: pg_rollout
    static_configs:
      - targets: ['127.0.0.1:$eport']
EOF
close $cf;
spawn("$tmp/prometheus.log", {}, $prometheus, "--config.file=$tmp/prometheus.yml", "--storage.tsdb.path=$tmp/tsdb",
	"--web.listen-address=127.0.0.1:$pport", '--storage.tsdb.retention.time=1h', '--log.level=warn');

my $http = HTTP::Tiny->new(timeout => 5);
sub api
{
	my ($path, %q) = @_;
	my $url = "http://127.0.0.1:$pport/api/v1/$path";
	$url .= '?' . $http->www_form_urlencode(\%q) if %q;
	my $res = $http->get($url);
	return undef unless $res->{success};
	my $doc = eval { decode_json($res->{content}) };
	return $doc && $doc->{status} eq 'success' ? $doc->{data} : undef;
}
# the state of PgRolloutTickStalled in the alerts API ('' when absent)
sub alert_state
{
	my $data = api('alerts') or return undef;
	my ($a) = grep { $_->{labels}{alertname} eq 'PgRolloutTickStalled' } @{ $data->{alerts} };
	return $a ? $a->{state} : '';
}
# wait (bounded) until $cond returns true; returns its last value
sub wait_for
{
	my ($seconds, $cond) = @_;
	my $deadline = time() + $seconds;
	my $v;
	while (time() < $deadline)
	{
		$v = $cond->();
		return $v if $v;
		sleep(0.5);
	}
	return $v;
}

# Prometheus is up, scrapes the exporter and loaded the test rule
my $up = wait_for(30, sub {
	my $d = api('query', query => 'up{job="pg_rollout"}');
	return $d && @{ $d->{result} } && $d->{result}[0]{value}[1] eq '1';
});
ok($up, 'Prometheus scrapes the exporter') or diag(slurp_file("$tmp/prometheus.log") . slurp_file("$tmp/exporter.log"));
my $rules = api('rules');
my ($loaded) = grep { $_->{name} eq 'PgRolloutTickStalled' } map { @{ $_->{rules} } } @{ $rules->{groups} // [] };
ok($loaded && $loaded->{health} ne 'err', 'Prometheus loaded the test-only PgRolloutTickStalled rule')
  or diag(explain($rules));

# tick() does not run: the due rollout waits, the alert goes pending, then firing
my %seen;
my $firing = wait_for(30, sub { my $s = alert_state() // ''; $seen{$s} = 1; return $s eq 'firing'; });
ok($firing, 'PgRolloutTickStalled fires while a rollout is due and tick() does not run');
ok($seen{pending}, 'it was pending first (its "for")');
my $d = api('alerts');
my ($a) = grep { $_->{labels}{alertname} eq 'PgRolloutTickStalled' } @{ $d->{alerts} // [] };
is($a->{labels}{severity}, 'critical', 'with the shipped labels (severity critical)');
like($a->{annotations}{summary} // '', qr/^rollout\.tick\(\) has not run for .* while rollouts are due$/,
	'and the shipped summary');
my $due = api('query', query => 'pg_rollout_tick_rollouts_due');
is($due->{result}[0]{value}[1], '1', 'Prometheus has pg_rollout_tick_rollouts_due = 1');

# the scheduler resumes: tick() advances r1 to a stage an hour long, nothing
# is due any more, the alert clears
$node->safe_psql('postgres', 'SELECT rollout.tick()');
my $cleared = wait_for(30, sub { my $s = alert_state(); return defined $s && $s eq ''; });
ok($cleared, 'PgRolloutTickStalled clears once tick() runs again');
my $stage = api('query', query => 'pg_rollout_rollout_stage_no{rollout_id="r1"}');
is($stage->{result}[0]{metric}{stage}, 'rest', 'Prometheus sees r1 in its second stage');

# every dashboard expression evaluates against this Prometheus
my $dash = decode_json(slurp_file("$root/monitoring/grafana-dashboard.json"));
my @exprs = map { map { $_->{expr} // () } @{ $_->{targets} // [] } } @{ $dash->{panels} };
my @bad;
for my $e (@exprs)
{
	(my $q = $e) =~ s/\$__rate_interval/1m/g;
	$q =~ s/\$instance/.*/g;
	push @bad, $e unless api('query', query => $q);
}
is("@bad", '', 'Prometheus evaluates every dashboard expression (' . scalar(@exprs) . ')');

my $elapsed = time() - $started;
cmp_ok($elapsed, '<', 90, sprintf('the test stays within its bound (%.0f s)', $elapsed));

kill 'TERM', @pids;
waitpid($_, 0) for @pids;
@pids = ();
$node->stop;
done_testing();
