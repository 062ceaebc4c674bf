# CitusTestCluster: the throwaway Citus cluster test/citus/*.pl run against —
# a coordinator and two workers on localhost, every node with
# shared_preload_libraries = 'citus,pg_rollout' (Citus first: docs/citus.md
# §1), Citus created on each and the workers added to the coordinator.
# Skips the whole test file when Citus is not installed.
package CitusTestCluster;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(skip_without_citus start_citus_cluster);

our $CONF = q{
listen_addresses = 'localhost'
shared_preload_libraries = 'citus,pg_rollout'
max_prepared_transactions = 100
citus.shard_count = 4
citus.node_conninfo = 'sslmode=disable'
pg_rollout.enforcement_mode = 'enforce'
};

# plan skip_all unless citus.so is in this PostgreSQL's library directory
sub skip_without_citus
{
	my $pkglibdir = `pg_config --pkglibdir`;
	chomp $pkglibdir;
	plan skip_all => "skipped: Citus not installed ($pkglibdir/citus.so missing; bash ../shared/vendor/build-citus.sh)"
	  unless -f "$pkglibdir/citus.so";
}

# ($coordinator, $worker1, $worker2), started, Citus created, workers added
sub start_citus_cluster
{
	my @nodes;
	for my $name ('coordinator', 'worker1', 'worker2')
	{
		my $node = PostgreSQL::Test::Cluster->new($name);
		$node->init;
		$node->append_conf('postgresql.conf', $CONF);
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
