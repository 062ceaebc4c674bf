# TAP: a plan that carries the tenant as a constant never runs for another
# tenant, through the extended protocol's named portals (red team, second
# pass).  Bind makes a custom plan (the tenant folded into it) and, for a
# statement that is not a plain SELECT (UPDATE, INSERT, DELETE, with or
# without RETURNING), leaves the executor to start at Execute.  A client
# may run other statements between the two, set_tenant among them: the
# ExecutorStart hook then refuses the portal with
#   55000 statement was planned for another tenant context
# (src/isolation.c, check_plan_tenant), the only way to reach that error:
# every other plan carrying the tenant either starts at once or is kept by
# the plan cache, which the tenant switch invalidates.  A SELECT portal
# starts its executor at Bind: it reads the tenant it was bound for.
#
# psql 15 has no \bind and libpq no named portals: a small client of the
# version 3 protocol over the Unix socket, below.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::UNIX;

my $node = PostgreSQL::Test::Cluster->new('constportals');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_rollout'
pg_rollout.enforcement_mode = 'enforce'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('acme'), rollout.create_tenant('globex');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
	INSERT INTO orders VALUES (1, 'acme', 10), (2, 'globex', 20), (3, 'acme', 30), (4, 'globex', 40);
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
});

# ---- a minimal protocol 3 client ---------------------------------------
sub pg_connect
{
	my ($user) = @_;
	my $sock = IO::Socket::UNIX->new(
		Type => SOCK_STREAM(),
		Peer => $node->host . '/.s.PGSQL.' . $node->port) or die "connect: $!";
	my $body = pack('N', 196608) . "user\0$user\0database\0postgres\0\0";
	print $sock pack('N', 4 + length $body) . $body;
	my $res = pg_read($sock);
	die 'startup failed: ' . join(' ', @{ $res->{errors} }) if @{ $res->{errors} };
	return $sock;
}

sub pg_msg
{
	my ($type, $body) = @_;
	return $type . pack('N', 4 + length $body) . $body;
}

# Read messages up to ReadyForQuery: errors ("SQLSTATE message"), data rows
# (columns joined with ","), command tags.
sub pg_read
{
	my ($sock) = @_;
	my %res = (errors => [], rows => [], tags => []);
	while (1)
	{
		my $hdr;
		read($sock, $hdr, 5) == 5 or die 'connection closed';
		my ($type, $len) = unpack('a N', $hdr);
		my $body = '';
		read($sock, $body, $len - 4) if $len > 4;
		if ($type eq 'E')
		{
			my %f = map { substr($_, 0, 1) => substr($_, 1) } grep { length } split /\0/, $body;
			push @{ $res{errors} }, "$f{C} $f{M}";
		}
		elsif ($type eq 'D')
		{
			my $n = unpack('n', $body);
			my $pos = 2;
			my @cols;
			for (1 .. $n)
			{
				my $l = unpack('l>', substr($body, $pos, 4));
				$pos += 4;
				if ($l < 0) { push @cols, 'NULL'; next; }
				push @cols, substr($body, $pos, $l);
				$pos += $l;
			}
			push @{ $res{rows} }, join(',', @cols);
		}
		elsif ($type eq 'C')
		{
			(my $tag = $body) =~ s/\0$//;
			push @{ $res{tags} }, $tag;
		}
		elsif ($type eq 'Z')
		{
			$res{status} = $body;
			return \%res;
		}
	}
}

sub parse_msg
{
	my ($stmt, $sql) = @_;
	return pg_msg('P', "$stmt\0$sql\0" . pack('n', 0));
}

sub bind_msg
{
	my ($portal, $stmt, @params) = @_;
	my $body = "$portal\0$stmt\0" . pack('n', 0) . pack('n', scalar @params);
	$body .= pack('N', length $_) . $_ foreach @params;
	return pg_msg('B', $body . pack('n', 0));
}

sub execute_msg { my ($portal) = @_; return pg_msg('E', "$portal\0" . pack('N', 0)); }
sub sync_msg { return pg_msg('S', ''); }
sub query_msg { my ($sql) = @_; return pg_msg('Q', "$sql\0"); }

# Send messages, read up to ReadyForQuery.
sub pg_run
{
	my ($sock, @msgs) = @_;
	print $sock join('', @msgs);
	return pg_read($sock);
}

my $sock = pg_connect('app');
my $res;

# ---- an UPDATE bound for acme, the tenant switched, then executed --------
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
is(scalar @{ $res->{errors} }, 0, 'acme set in a transaction');
$res = pg_run($sock,
	parse_msg('', 'UPDATE orders SET amount = amount + 1 WHERE id = $1 OR id = $2'),
	bind_msg('upd', '', '1', '2'),
	parse_msg('sw', q{SELECT rollout.set_tenant('globex')}),
	bind_msg('', 'sw'),
	execute_msg(''),
	execute_msg('upd'),
	sync_msg());
is_deeply($res->{rows}, ['globex'], 'the tenant switched to globex between Bind and Execute');
is_deeply($res->{errors}, ['55000 statement was planned for another tenant context'],
	'the UPDATE portal bound for acme is refused when executed for globex');
is($res->{status}, 'E', 'the transaction is aborted');
pg_run($sock, query_msg('ROLLBACK'));

# ---- the same with RETURNING (a portal that fills a store) ---------------
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
$res = pg_run($sock,
	parse_msg('', 'DELETE FROM orders WHERE id = $1 OR id = $2 RETURNING id, tenant_id'),
	bind_msg('del', '', '3', '4'),
	parse_msg('', q{SELECT rollout.set_tenant('globex')}),
	bind_msg('', ''),
	execute_msg(''),
	execute_msg('del'),
	sync_msg());
is_deeply($res->{errors}, ['55000 statement was planned for another tenant context'],
	'a DELETE ... RETURNING portal bound for acme is refused for globex');
pg_run($sock, query_msg('ROLLBACK'));

# ---- an INSERT bound for acme (WITH CHECK carries the tenant) ------------
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
$res = pg_run($sock,
	parse_msg('', 'INSERT INTO orders VALUES ($1, $2, 1)'),
	bind_msg('ins', '', '5', 'acme'),
	parse_msg('', q{SELECT rollout.set_tenant('globex')}),
	bind_msg('', ''),
	execute_msg(''),
	execute_msg('ins'),
	sync_msg());
is_deeply($res->{errors}, ['55000 statement was planned for another tenant context'],
	'an INSERT portal bound for acme is refused for globex');
pg_run($sock, query_msg('ROLLBACK'));

# ---- the tenant switched back: the plan still is not run ------------------
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
$res = pg_run($sock,
	parse_msg('', 'UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING tenant_id'),
	bind_msg('upd', '', '1'),
	parse_msg('', q{SELECT rollout.set_tenant('globex'), rollout.set_tenant('acme')}),
	bind_msg('', ''),
	execute_msg(''),
	execute_msg('upd'),
	sync_msg());
is_deeply($res->{errors}, ['55000 statement was planned for another tenant context'],
	'switched away and back: refused as well (the context changed in between)');
pg_run($sock, query_msg('ROLLBACK'));

# ---- without a switch the bound portal runs, for its tenant only ----------
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
$res = pg_run($sock,
	parse_msg('', 'UPDATE orders SET amount = amount + 1 WHERE id = $1 OR id = $2 RETURNING id, tenant_id'),
	bind_msg('upd', '', '1', '2'),
	parse_msg('', q{SELECT rollout.current_tenant()}),
	bind_msg('', ''),
	execute_msg(''),
	execute_msg('upd'),
	sync_msg());
is_deeply($res->{errors}, [], 'no switch: the bound UPDATE runs');
is_deeply($res->{rows}, [ 'acme', '1,acme' ], "and touches acme's row only");
pg_run($sock, query_msg('ROLLBACK'));

# ---- a SELECT portal starts at Bind: it reads the tenant it was bound for -
$res = pg_run($sock, query_msg(q{BEGIN; SELECT rollout.set_tenant('acme')}));
$res = pg_run($sock,
	parse_msg('', 'SELECT id, tenant_id FROM orders WHERE id > $1 ORDER BY id'),
	bind_msg('sel', '', '0'),
	parse_msg('', q{SELECT rollout.set_tenant('globex')}),
	bind_msg('', ''),
	execute_msg(''),
	execute_msg('sel'),
	sync_msg());
is_deeply($res->{errors}, [], 'a SELECT portal bound for acme runs after the switch');
is_deeply($res->{rows}, [ 'globex', '1,acme', '3,acme' ], "with acme's rows, the tenant it was bound (and started) for");
pg_run($sock, query_msg('ROLLBACK'));

# ---- nothing written by the refused portals ------------------------------
is($node->safe_psql('postgres', 'SELECT string_agg(id || tenant_id || amount, \',\' ORDER BY id) FROM orders'),
	'1acme10,2globex20,3acme30,4globex40', 'no refused portal wrote anything');

print $sock pg_msg('X', '');
close $sock;
done_testing();
