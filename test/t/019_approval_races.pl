# TAP: approvals cannot be doubled up by racing transactions.  A release
# transition needs its roles approved by different logins, and each role
# once (docs/releases.md §3).  approve_release() checks both before it
# inserts, but a REPEATABLE READ (or SERIALIZABLE) transaction whose
# snapshot was taken before a concurrent approval committed does not see
# that approval: without a constraint, one login could approve a
# transition as dev_lead in one session and as qa in another, and pass the
# two-person gate alone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('approval_races');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE rel_author LOGIN IN ROLE rollout_admin;
	CREATE ROLE carol LOGIN IN ROLE rollout_release_dev_lead, rollout_release_qa;   -- holds two approver roles
	CREATE ROLE dave LOGIN IN ROLE rollout_release_dev_lead;
	CREATE ROLE erin LOGIN IN ROLE rollout_release_dev_lead;
	SELECT rollout.create_component('web');
	SELECT rollout.add_version('web', '1.0.0', 'published');
	SELECT rollout.add_version('web', '1.1.0', 'published');
	SET SESSION AUTHORIZATION rel_author;
	SELECT rollout.create_release('r1', 'web', '1.0.0', class => 'ui_only');
	SELECT rollout.create_release('r2', 'web', '1.1.0', class => 'ui_only');
});

# approve as a login in its own session, in a transaction of the given level
sub session_as
{
	my ($login, $level) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("SET SESSION AUTHORIZATION $login");
	$s->query_safe("BEGIN ISOLATION LEVEL $level");
	$s->query_safe('SELECT count(*) FROM rollout.release_approval');    # the snapshot
	return $s;
}

foreach my $level ('REPEATABLE READ', 'SERIALIZABLE')
{
	$node->safe_psql('postgres', 'DELETE FROM rollout.release_approval');

	# one login, two roles of the same transition, two sessions
	my $s = session_as('carol', $level);
	$node->safe_psql('postgres', q{SET SESSION AUTHORIZATION carol;
		SELECT rollout.approve_release('r1', 'candidate', 'dev_lead')});
	my ($out, $ret) = $s->query(q{SELECT rollout.approve_release('r1', 'candidate', 'qa')});
	isnt($ret, 0, "$level: the same login's second role for the transition is refused");
	like($s->{stderr}, qr/approval refused: "carol" already approved this transition|could not serialize/,
		"$level: ... as the same person (or a serialization failure)");
	$s->query('ROLLBACK');
	$s->quit;

	# one role, two logins, two sessions
	$s = session_as('dave', $level);
	$node->safe_psql('postgres', q{SET SESSION AUTHORIZATION erin;
		SELECT rollout.approve_release('r2', 'candidate', 'dev_lead')});
	($out, $ret) = $s->query(q{SELECT rollout.approve_release('r2', 'candidate', 'dev_lead')});
	isnt($ret, 0, "$level: a role approved twice for one transition is refused");
	like($s->{stderr}, qr/role dev_lead has already approved release "r2"|could not serialize/,
		"$level: ... as a duplicate (or a serialization failure)");
	$s->query('ROLLBACK');
	$s->quit;

	is($node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s', release_id, role, approver), ', ' ORDER BY release_id, role)
		  FROM rollout.release_approval}),
		'r1 dev_lead carol, r2 dev_lead erin', "$level: only the first approvals stay");
	is($node->safe_psql('postgres', q{
		SELECT string_agg(check_id || ' ' || passed, ', ' ORDER BY check_id)
		  FROM rollout.readiness('r1', 'candidate') WHERE check_id LIKE 'approval.%'}),
		'approval.dev_lead true, approval.qa false', "$level: the two-person gate still wants a second person");
}

# the constraint behind it, for the record
is($node->safe_psql('postgres', q{
	SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY indexrelid::regclass::text)
	  FROM pg_index WHERE indrelid = 'rollout.release_approval'::regclass AND indisunique AND NOT indisprimary}),
	'rollout.release_approval_approver_key, rollout.release_approval_role_key',
	'one role per login and one approval per role of a transition are unique indexes');

done_testing();
