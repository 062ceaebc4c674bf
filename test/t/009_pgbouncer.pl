# TAP: tenant isolation behind a real PgBouncer in transaction mode (issue 8,
# item 8).  A server connection serves many clients one transaction at a
# time, so whatever a client leaves on it reaches the next client:
#  - a session-level context (set_tenant(..., local => false)) would give
#    the next client that tenant's rows: the documented recipe sets
#    pg_rollout.session_tenant = refuse for the pooled login, and
#    set_tenant refuses it;
#  - a WITH HOLD cursor opened under one tenant could be fetched by the next
#    client: refused on protected tables where they are enforced;
#  - concurrent clients on random tenants, some making the local => false
#    mistake, some never setting a tenant: zero foreign rows.
# PgBouncer runs as a process of this test (Debian package pgbouncer, in
# tools/deps.sh), on a free port, with its configuration in a temp dir.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pgbouncer;
for my $candidate ('/usr/sbin/pgbouncer', '/usr/bin/pgbouncer')
{
	$pgbouncer = $candidate if -x $candidate;
}
plan skip_all => 'pgbouncer is not installed (Debian package pgbouncer, see tools/deps.sh)'
  unless defined $pgbouncer;

my @tenants = map { "t$_" } 1 .. 6;

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
pg_rollout.enforcement_mode = 'enforce'
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('t' || g) FROM generate_series(1, 6) g;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int);
	INSERT INTO orders SELECT g, 't' || (g % 6 + 1), g FROM generate_series(1, 120) g;
	CREATE INDEX ON orders (tenant_id);
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	-- the pooled application login, and one set up without the recipe
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE ROLE legacy LOGIN IN ROLE rollout_app;
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app, legacy;
});
# the recipe (docs/isolation.md, "Connection poolers")
my ($rret, $rout, $rerr) = $node->psql('postgres', q{ALTER ROLE app SET pg_rollout.session_tenant = 'refuse'});
is($rret, 0, 'the recipe: pg_rollout.session_tenant = refuse for the pooled login') or diag($rerr);

# --- PgBouncer ---------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my ($host, $port) = ($node->host, $node->port);
open(my $users, '>', "$dir/users.txt") or die "$dir/users.txt: $!";
print $users qq{"app" ""\n"legacy" ""\n};
close $users;
open(my $conf, '>', "$dir/pgbouncer.ini") or die "$dir/pgbouncer.ini: $!";
print $conf qq{[databases]
pooled = host=$host port=$port dbname=postgres pool_size=2
single = host=$host port=$port dbname=postgres pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 2
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
};
close $conf;
my ($bout, $berr) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ], '>', \$bout, '2>', \$berr);

# Run a script through PgBouncer; returns (stdout, stderr).
sub via_bouncer
{
	my ($db, $user, $sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', $bport, '-U', $user, '-d', $db,
			'-v', 'ON_ERROR_STOP=0' ], '<', \$sql, '>', \$out, '2>', \$err);
	chomp $out;
	return ($out, $err);
}

my $up = 0;
for (1 .. 100)
{
	my ($out) = via_bouncer('pooled', 'app', 'SELECT 1');
	if ($out eq '1') { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'PgBouncer is up in transaction mode') or diag("pgbouncer: $berr " . slurp_file("$dir/pgbouncer.log"));

my ($out, $err);

# --- the mistake, one server connection, deterministic ------------------------
# Without the recipe: what the recipe prevents.
($out, $err) = via_bouncer('single', 'legacy', q{SELECT rollout.set_tenant('t1', local => false);});
($out, $err) = via_bouncer('single', 'legacy', q{SELECT string_agg(DISTINCT tenant_id, ',') FROM orders;});
is($out, 't1', "without the recipe, a client's session-level context reaches the next client of the server connection");
via_bouncer('single', 'legacy', q{SELECT rollout.reset_tenant();});

# With the recipe: refused, and the next client has no context.
($out, $err) = via_bouncer('single', 'app', q{SELECT rollout.set_tenant('t1', local => false);});
like($err, qr/session-level tenant context is not allowed/, 'with the recipe, set_tenant(local => false) is refused');
($out, $err) = via_bouncer('single', 'app', q{SELECT 'rows:' || count(*) FROM orders;});
is($out, '', 'the next client on the same server connection reads nothing');
like($err, qr/tenant context required for table "public.orders"/, '... it is refused for lack of tenant context');
# The transaction form works through the pooler.
($out, $err) = via_bouncer('single', 'app',
	q{BEGIN; SELECT rollout.set_tenant('t2'); SELECT string_agg(DISTINCT tenant_id, ',') FROM orders; COMMIT;});
is($out, "t2\nt2", 'set_tenant in a transaction: its own rows, through the pooler');
($out, $err) = via_bouncer('single', 'app', q{SELECT rollout.current_tenant() IS NULL;});
is($out, 't', '... and the context ended with the transaction');

# --- WITH HOLD cursors ----------------------------------------------------------
for my $role ('app', 'legacy')
{
	($out, $err) = via_bouncer('single', $role, q{BEGIN; SELECT rollout.set_tenant('t3');
		DECLARE held CURSOR WITH HOLD FOR SELECT tenant_id FROM orders; COMMIT;});
	like($err, qr/cannot declare a WITH HOLD cursor on protected table "public.orders"/,
		"$role: a WITH HOLD cursor on a protected table is refused");
	($out, $err) = via_bouncer('single', $role, q{FETCH ALL FROM held;});
	is($out, '', "$role: the next client fetches nothing from it");
	like($err, qr/cursor "held" does not exist/, "$role: ... the cursor does not exist");
}
($out, $err) = via_bouncer('single', 'app', q{BEGIN; SELECT rollout.set_tenant('t3');
	DECLARE c CURSOR FOR SELECT DISTINCT tenant_id FROM orders; FETCH ALL FROM c; COMMIT;});
is($out, "t3\nt3", 'a cursor without hold, in the transaction that set the tenant, works');

# --- concurrent clients on random tenants --------------------------------------
# good: BEGIN; set_tenant(T); read; COMMIT.  mistake: set_tenant(T, local =>
# false), then read in another transaction (maybe another server
# connection).  innocent: never sets a tenant.  Every row printed as
# R|<tenant asked for>|<row's tenant>.
srand(8);
my @clients;
my %kinds = (good => 5, mistake => 2, innocent => 1);
for my $kind (sort keys %kinds)
{
	for my $n (1 .. $kinds{$kind})
	{
		my $sql = '';
		for (1 .. 60)
		{
			my $t = $tenants[ int(rand(@tenants)) ];
			if ($kind eq 'good')
			{
				$sql .= "BEGIN;\nSELECT 'S|' || rollout.set_tenant('$t');\nSELECT pg_sleep(0.002);\n"
				  . "SELECT 'R|$t|' || tenant_id FROM orders WHERE amount % 7 <> 0;\n"
				  . "UPDATE orders SET amount = amount WHERE tenant_id <> '$t' RETURNING 'R|$t|' || tenant_id;\nCOMMIT;\n";
			}
			elsif ($kind eq 'mistake')
			{
				$sql .= "SELECT 'S|' || rollout.set_tenant('$t', local => false);\nSELECT pg_sleep(0.001);\n"
				  . "SELECT 'R|$t|' || tenant_id FROM orders;\n";
			}
			else
			{
				$sql .= "SELECT pg_sleep(0.001);\nSELECT 'R|-|' || tenant_id FROM orders;\n";
			}
		}
		# a script file, not stdin: IPC::Run feeds stdin only while it pumps,
		# which would run the clients one after the other
		my $file = "$dir/client_${kind}_$n.sql";
		open(my $fh, '>', $file) or die "$file: $!";
		print $fh $sql;
		close $fh;
		my %c = (kind => $kind, out => '', err => '');
		$c{h} = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', $bport, '-U', 'app',
				'-d', 'pooled', '-v', 'ON_ERROR_STOP=0', '-f', $file ], '<', \undef, '>', \$c{out}, '2>', \$c{err});
		push @clients, \%c;
	}
}
$_->{h}->finish for @clients;

my ($own, $foreign, $refused_session, $refused_context) = (0, 0, 0, 0);
for my $c (@clients)
{
	for my $line (split /\n/, $c->{out})
	{
		next unless $line =~ /^R\|([^|]*)\|(.*)$/;
		if ($1 eq $2) { $own++; } else { $foreign++; }
	}
	note(sprintf('%s client: %d rows, %d errors', $c->{kind}, scalar(() = $c->{out} =~ /^R\|/mg),
		scalar(() = $c->{err} =~ /ERROR/g)));
	$refused_session++ while $c->{err} =~ /session-level tenant context is not allowed/g;
	$refused_context++ while $c->{err} =~ /tenant context required/g;
}
is($foreign, 0, 'concurrent clients through the pooler: zero foreign rows');
if ($foreign)
{
	my @lines = map { my $k = $_->{kind}; map { "$k client: $_" } grep { /^R\|([^|]*)\|(.*)$/ && $1 ne $2 } split /\n/, $_->{out} } @clients;
	diag("$foreign foreign rows, e.g.\n" . join("\n", @lines[ 0 .. ($#lines < 9 ? $#lines : 9) ]));
}
cmp_ok($own, '>', 1500, "... while the good clients read their own rows ($own)");
is($refused_session, 120, 'every local => false of the mistaken clients was refused');
cmp_ok($refused_context, '>=', 180, '... and their reads, like the innocent client\'s, were refused for lack of context');

my $pooled_conns = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND datname = 'postgres'});
cmp_ok($pooled_conns, '<=', 3, "the clients shared PgBouncer's server connections ($pooled_conns)");

$bouncer->kill_kill;
$node->stop;
done_testing();
