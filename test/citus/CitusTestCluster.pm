# CitusTestCluster: the throwaway Citus cluster test/citus/*.pl run against —
# a coordinator and two workers on localhost, every node with
# shared_preload_libraries = 'citus,pg_rollout' (Citus first: docs/citus.md
# §1), Citus created on each and the workers added to the coordinator.
# Skips the whole test file when Citus is not installed.
#
# start_citus_cluster(certs => 1): the nodes authenticate to each other with
# a client certificate (docs/citus.md §1): a throwaway CA, a node
# certificate (CN citus-node) every node presents through
# citus.node_conninfo and names in pg_rollout.citus_node_cert_cn, SSL on
# every node with ssl_ca_file = the CA; plus, for the tests, a certificate
# of the same CA with another CN (CN app) and one with the node's CN from
# another CA (rogue).  cluster_certs() returns their paths.
package CitusTestCluster;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(skip_without_citus start_citus_cluster cluster_certs);

our $CONF = q{
listen_addresses = 'localhost'
shared_preload_libraries = 'citus,pg_rollout'
max_prepared_transactions = 100
citus.shard_count = 4
pg_rollout.enforcement_mode = 'enforce'
# shard moves by logical replication (citus_move_shard_placement)
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
};

our $NODE_CN = 'citus-node';

my %certs;

# plan skip_all unless citus.so is in this PostgreSQL's library directory
sub skip_without_citus
{
	my $pkglibdir = `pg_config --pkglibdir`;
	chomp $pkglibdir;
	plan skip_all => "skipped: Citus not installed ($pkglibdir/citus.so missing; bash ../shared/vendor/build-citus.sh)"
	  unless -f "$pkglibdir/citus.so";
}

sub openssl
{
	my @cmd = ('openssl', @_);
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
	die "openssl @_ failed: $stderr" unless $ok;
}

# A key and a certificate for CN $cn signed by $ca (a self-signed CA when
# $ca is undef), in $dir/$name.key and $dir/$name.crt.
sub make_cert
{
	my ($dir, $name, $cn, $ca) = @_;
	my ($key, $crt) = ("$dir/$name.key", "$dir/$name.crt");
	if (!defined $ca)
	{
		openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', $key, '-out', $crt, '-days', '2', '-subj', "/CN=$cn",
			'-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
	}
	else
	{
		openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', $key, '-out', "$dir/$name.csr", '-subj', "/CN=$cn");
		openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt", '-CAkey', "$dir/$ca.key",
			'-CAcreateserial', '-out', $crt, '-days', '2');
	}
	chmod 0600, $key;
	return ($crt, $key);
}

# The throwaway certificates, made once per test file.
sub cluster_certs
{
	return \%certs if %certs;
	my $dir = PostgreSQL::Test::Utils::tempdir('citus_certs');
	make_cert($dir, 'ca', 'pg_rollout test CA');
	make_cert($dir, 'node', $NODE_CN, 'ca');
	make_cert($dir, 'app', 'app', 'ca');
	make_cert($dir, 'rogue_ca', 'rogue CA');
	make_cert($dir, 'rogue', $NODE_CN, 'rogue_ca');
	%certs = (dir => $dir, cn => $NODE_CN);
	for my $n ('ca', 'node', 'app', 'rogue')
	{
		$certs{$n} = { crt => "$dir/$n.crt", key => "$dir/$n.key" };
	}
	return \%certs;
}

# ($coordinator, $worker1, $worker2), started, Citus created, workers added
sub start_citus_cluster
{
	my %opts = @_;
	my $conf = $CONF;
	if ($opts{certs})
	{
		my $c = cluster_certs();
		$conf .= qq{
ssl = on
ssl_cert_file = '$c->{node}{crt}'
ssl_key_file = '$c->{node}{key}'
ssl_ca_file = '$c->{ca}{crt}'
citus.node_conninfo = 'sslmode=verify-ca sslrootcert=$c->{ca}{crt} sslcert=$c->{node}{crt} sslkey=$c->{node}{key}'
pg_rollout.citus_node_cert_cn = '$c->{cn}'
};
	}
	else
	{
		$conf .= "citus.node_conninfo = 'sslmode=disable'\n";
	}
	my @nodes;
	for my $name ('coordinator', 'worker1', 'worker2')
	{
		my $node = PostgreSQL::Test::Cluster->new($name);
		$node->init;
		$node->append_conf('postgresql.conf', $conf);
		$node->start;
		push @nodes, $node;
	}
	my ($coord, $w1, $w2) = @nodes;
	$_->safe_psql('postgres', 'CREATE EXTENSION citus') for @nodes;
	$coord->safe_psql('postgres', sprintf(q{
		SELECT citus_set_coordinator_host('localhost', %d);
		SELECT citus_add_node('localhost', %d);
		SELECT citus_add_node('localhost', %d);
	}, $coord->port, $w1->port, $w2->port));
	return @nodes;
}

1;
