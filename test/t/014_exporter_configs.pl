# TAP: the three exporter configurations and what refers to their metrics.
#
# 1. monitoring/postgres_exporter.yaml, sql_exporter.collector.yml and
#    pg_exporter.yml define the same metrics (name, type, labels), each read
#    with its own exporter's naming rule, from the same queries; the two
#    generated files are what monitoring/build_collectors.pl writes now;
#    the names follow Prometheus conventions.
# 2. Against a cluster where every metric has a series (a running rollout,
#    activations, a tick, violations, a bypass, a kill switch, a verified
#    audit log, refreshed compliance), each query of the sql_exporter and
#    pg_exporter files runs as a pg_monitor role and returns the columns
#    its file maps (those two exporters are not packaged in Debian, so their
#    queries are run here directly); Debian's prometheus-postgres-exporter
#    serves every metric of the configurations.
# 3. Every expression of the Grafana dashboard and of the alert rules parses
#    (promtool) and refers only to metrics that exporter served.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Compare qw(compare);
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use YAML::XS qw(LoadFile);

my $root = dirname(dirname(dirname(__FILE__)));
$root = '.' unless -f "$root/monitoring/postgres_exporter.yaml";
my $mon = "$root/monitoring";

# ---- 1. the three files define the same metrics
my $pe = LoadFile("$mon/postgres_exporter.yaml");
my $sx = LoadFile("$mon/sql_exporter.collector.yml");
my $px = LoadFile("$mon/pg_exporter.yml");

sub norm { my ($q) = @_; $q =~ s/\s+/ /g; $q =~ s/^ | $//g; return $q; }

# name => "type {sorted labels}", for the query-column formats
sub from_columns
{
	my ($conf, $name_of) = @_;
	my (%m, %q);
	for my $key (keys %$conf)
	{
		my $e = $conf->{$key};
		my @cols = map { my ($c) = keys %$_; [ $c, $_->{$c} ] } @{ $e->{metrics} };
		my @labels = sort map { $_->[0] } grep { uc($_->[1]{usage}) eq 'LABEL' } @cols;
		for my $c (grep { uc($_->[1]{usage}) =~ /^(GAUGE|COUNTER)$/ } @cols)
		{
			my $name = $name_of->($key, $e) . "_$c->[0]";
			die "$name defined twice" if $m{$name};
			$m{$name} = lc($c->[1]{usage}) . ' {' . join(',', @labels) . '}';
			$q{$name} = norm($e->{query});
		}
	}
	return (\%m, \%q);
}
my ($pe_m, $pe_q) = from_columns($pe, sub { $_[0] });
my ($px_m, $px_q) = from_columns($px, sub { $_[1]{name} // $_[0] });

my (%sx_m, %sx_q);
my %sx_queries = map { $_->{query_name} => $_->{query} } @{ $sx->{queries} };
is($sx->{collector_name}, 'pg_rollout', 'sql_exporter: one collector named pg_rollout');
for my $m (@{ $sx->{metrics} })
{
	ok(defined $sx_queries{ $m->{query_ref} }, "sql_exporter: $m->{metric_name} refers to a defined query");
	is(scalar @{ $m->{values} }, 1, "sql_exporter: $m->{metric_name} has one value column");
	ok($m->{help}, "sql_exporter: $m->{metric_name} has a help text");
	$sx_m{ $m->{metric_name} } = lc($m->{type}) . ' {' . join(',', sort @{ $m->{key_labels} // [] }) . '}';
	$sx_q{ $m->{metric_name} } = norm($sx_queries{ $m->{query_ref} } // '');
}

cmp_ok(scalar keys %$pe_m, '>=', 35, 'postgres_exporter defines the pg_rollout metrics (' . scalar(keys %$pe_m) . ')');
is_deeply(\%sx_m, $pe_m, 'sql_exporter defines the same metrics, types and labels as postgres_exporter');
is_deeply($px_m, $pe_m, 'pg_exporter defines the same metrics, types and labels as postgres_exporter');
is_deeply(\%sx_q, $pe_q, 'sql_exporter reads each metric with the same query');
is_deeply($px_q, $pe_q, 'pg_exporter reads each metric with the same query');

for my $name (sort keys %$pe_m)
{
	my ($type) = split / /, $pe_m->{$name};
	ok($name =~ /^pg_rollout_[a-z0-9_]+$/ && ($type eq 'counter') == ($name =~ /_total$/),
		"$name: prefix pg_rollout_, _total exactly on counters");
}
for my $key (keys %$px)
{
	ok(grep({ $_ eq 'extension:pg_rollout' } @{ $px->{$key}{tags} }), "pg_exporter: $key runs only where the extension is");
}

my $gen = PostgreSQL::Test::Utils::tempdir();
system('perl', "$mon/build_collectors.pl", $gen) == 0 or die 'build_collectors.pl failed';
is(compare("$gen/sql_exporter.collector.yml", "$mon/sql_exporter.collector.yml"), 0,
	'sql_exporter.collector.yml is what build_collectors.pl writes from postgres_exporter.yaml');
is(compare("$gen/pg_exporter.yml", "$mon/pg_exporter.yml"), 0,
	'pg_exporter.yml is what build_collectors.pl writes from postgres_exporter.yaml');

# ---- 2. a cluster where every metric has a series
my $node = PostgreSQL::Test::Cluster->new('exporters');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
$node->safe_psql('postgres', q{
	SET pg_rollout.actor = 'author';
	SELECT rollout.create_tenant('acme', kind => 'organisation');
	SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3'], ARRAY['acme', 'acme', 'acme']);
	SELECT rollout.create_tenant('globex', kind => 'organisation');
	SELECT rollout.create_tenants(ARRAY['g1', 'g2'], ARRAY['globex', 'globex']);
	SELECT rollout.create_component('svc');
	SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest(ARRAY['1.0.0', '2.0.0']) v;
	SELECT rollout.set_default_version('svc', '1.0.0');
	SELECT rollout.set_version_policy('svc', baseline => '2.0.0', action => 'block', reason => 'baseline');
	SELECT rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
	SELECT rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['p1'], auto_proceed => true,
	                         pass_without_metrics => true);
	SELECT rollout.add_stage('r1', 'rest', 'all', min_duration => '1 hour', pass_without_metrics => true);
	SET pg_rollout.actor = 'approver';
	SELECT rollout.approve_rollout('r1');
	SELECT rollout.start_rollout('r1');
	SELECT rollout.tick();
	SELECT rollout.create_flag('new-ui');
	SELECT rollout.kill_flag('new-ui', 'incident');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE ROLE ops LOGIN IN ROLE rollout_app, rollout_bypass;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders VALUES (1, 'p1'), (2, 'p2');
	GRANT SELECT ON orders TO app, ops;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	SELECT rollout.refresh_metrics();
	SELECT rollout.verify_audit();
	CREATE ROLE scraper LOGIN IN ROLE pg_monitor;
});
$node->safe_psql('postgres', 'SET ROLE app; SELECT count(*) FROM orders;');
$node->safe_psql('postgres', q{SET ROLE ops; BEGIN; SELECT rollout.bypass('ticket 7'); SELECT count(*) FROM orders; COMMIT;});

# the queries of the two exporters not packaged in Debian, run as they would
# run them (a pg_monitor role): each returns the columns its file maps
sub columns_of
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE scraper;\n$sql;");
	return (undef, $err) if $ret != 0;
	($ret, $out, $err) = $node->psql('postgres', "SET ROLE scraper;\n$sql \\gdesc");
	return (undef, $err) if $ret != 0;
	return ({ map { (split /\|/)[0] => 1 } split /\n/, $out }, '');
}
for my $q (@{ $sx->{queries} })
{
	my ($cols, $err) = columns_of($q->{query});
	ok($cols, "sql_exporter query $q->{query_name} runs as a pg_monitor role") or diag($err);
	my @need = map { (@{ $_->{key_labels} // [] }, @{ $_->{values} }) } grep { $_->{query_ref} eq $q->{query_name} } @{ $sx->{metrics} };
	my @missing = grep { !$cols->{$_} } @need;
	is("@missing", '', "sql_exporter query $q->{query_name} returns every column its metrics map");
}
for my $key (sort keys %$px)
{
	my ($cols, $err) = columns_of($px->{$key}{query});
	ok($cols, "pg_exporter query $key runs as a pg_monitor role") or diag($err);
	my @missing = grep { !$cols->{$_} } map { keys %$_ } @{ $px->{$key}{metrics} };
	is("@missing", '', "pg_exporter query $key returns every column it maps");
}

my $exporter = '/usr/bin/prometheus-postgres-exporter';
my %served;
SKIP:
{
	skip "$exporter is not installed (tools/test.sh installs it)", 1 unless -x $exporter;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = PostgreSQL::Test::Utils::tempdir() . '/exporter.log';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		$ENV{DATA_SOURCE_NAME} = sprintf('host=%s port=%d user=scraper dbname=postgres sslmode=disable', $node->host, $node->port);
		open(STDOUT, '>', $log) or die;
		open(STDERR, '>&', \*STDOUT) or die;
		exec($exporter, "--extend.query-path=$mon/postgres_exporter.yaml", '--disable-default-metrics',
			'--disable-settings-metrics', "--web.listen-address=127.0.0.1:$port") or die "exec: $!";
	}
	my $http = HTTP::Tiny->new(timeout => 10);
	my $body = '';
	for (1 .. 50)
	{
		my $res = $http->get("http://127.0.0.1:$port/metrics");
		if ($res->{success} && $res->{content} =~ /^pg_rollout_compliance_org_ratio\{/m)
		{
			$body = $res->{content};
			last;
		}
		select(undef, undef, undef, 0.2);
	}
	kill 'TERM', $pid;
	waitpid($pid, 0);
	ok($body ne '', 'the exporter serves pg_rollout metrics') or diag(slurp_file($log));
	%served = map { /^(pg_rollout_[a-z0-9_]+)[{ ]/ ? ($1 => 1) : () } split /\n/, $body;
	my @unserved = grep { !$served{$_} } sort keys %$pe_m;
	is("@unserved", '', 'every metric of the configurations has a series (' . scalar(keys %served) . ' served)');
	my %types = map { /^# TYPE (pg_rollout_\S+) (\S+)/ ? ($1 => $2) : () } split /\n/, $body;
	my @wrong = grep { $types{$_} && $types{$_} ne (split / /, $pe_m->{$_})[0] } sort keys %$pe_m;
	is("@wrong", '', 'the exporter serves each metric with its configured type');
}

# ---- 3. the dashboard and the rules refer only to served metrics
my $dash = decode_json(slurp_file("$mon/grafana-dashboard.json"));
my @exprs;
for my $p (@{ $dash->{panels} })
{
	push @exprs, map { $_->{expr} } grep { $_->{expr} } @{ $p->{targets} // [] };
	for my $inner (@{ $p->{panels} // [] })
	{
		push @exprs, map { $_->{expr} } grep { $_->{expr} } @{ $inner->{targets} // [] };
	}
}
my @var_queries = map { $_->{definition} // () } @{ $dash->{templating}{list} };
cmp_ok(scalar @exprs, '>=', 20, 'the dashboard has its panels\' expressions (' . scalar(@exprs) . ')');
my %titles = map { $_->{title} => 1 } @{ $dash->{panels} };
for my $t ('Progress per rollout', 'Tenants per version over time', 'Since the last tick', 'Violations by table and mode',
	'Bypasses by role', 'Compliance per organisation')
{
	ok($titles{$t}, "the dashboard has the panel \"$t\"");
}
my $rules = LoadFile("$mon/alerts.yml");
my @rule_exprs = map { map { $_->{expr} } @{ $_->{rules} } } @{ $rules->{groups} };

SKIP:
{
	skip 'no exporter scrape to compare with', 1 unless %served;
	my %used;
	for my $e (@exprs, @var_queries, @rule_exprs)
	{
		$used{$_} = 1 for $e =~ /\b(pg_rollout_[a-z0-9_]+)\b/g;
	}
	my @unknown = grep { !$served{$_} } sort keys %used;
	is("@unknown", '', 'every metric the dashboard and the alert rules use is served by the exporter (' . scalar(keys %used) . ' used)');
	my @never = grep { !$used{$_} } sort keys %$pe_m;
	note("metrics no panel or rule shows: @never") if @never;
}

# every dashboard expression is valid PromQL: promtool parses them as rules,
# with Grafana's variables replaced by values
SKIP:
{
	skip 'promtool is not installed', 1 unless -x '/usr/bin/promtool';
	my $file = PostgreSQL::Test::Utils::tempdir() . '/dashboard_rules.yml';
	open(my $fh, '>', $file) or die;
	print $fh "groups:\n  - name: dashboard\n    rules:\n";
	my $i = 0;
	for my $e (@exprs)
	{
		(my $q = $e) =~ s/\$__rate_interval/5m/g;
		$q =~ s/\$instance/.*/g;
		$q =~ s/'/''/g;
		printf $fh "      - record: dashboard:expr_%d\n        expr: '%s'\n", $i++, $q;
	}
	close $fh;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ '/usr/bin/promtool', 'check', 'rules', $file ], '>', \$out, '2>', \$err);
	ok($ok, 'promtool parses every dashboard expression') or diag("$out$err");
}

$node->stop;
done_testing();
