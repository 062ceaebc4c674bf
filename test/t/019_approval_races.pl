# TAP: approvals cannot be doubled up by racing transactions.  A release
# transition needs its roles approved by different logins, and each role
# once (docs/releases.md §3).  approve_release() checks both before it
# inserts, but a REPEATABLE READ (or SERIALIZABLE) transaction whose
# snapshot was taken before a concurrent approval committed does not see
# that approval: without a constraint, one login could approve a
# transition as dev_lead in one session and as qa in another, and pass the
# two-person gate alone.  The same for grace extensions: two approvals for
# one tenant and version, each within the policy's grace_limit alone, must
# not both pass.
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

# Grace extensions: each approval checks the policy's grace_limit against
# the extensions already approved.  Two approvals of two requests for the
# same tenant and version, each within the limit alone, must not both pass
# when a REPEATABLE READ snapshot predates the other approval.
$node->safe_psql('postgres', q{
	CREATE ROLE gx_requester LOGIN IN ROLE rollout_operator;
	CREATE ROLE gx_approver_a LOGIN IN ROLE rollout_admin;
	CREATE ROLE gx_approver_b LOGIN IN ROLE rollout_admin;
	SELECT rollout.create_tenant('acme', kind => 'organisation');
	SELECT rollout.create_component('agent', 'plugin', grace_period => '30 days');
	SELECT rollout.add_version('agent', '1.0.0', 'published', eol_date => current_date - 1);
	SELECT rollout.set_version_policy('agent', action => 'remind', grace_limit => '40 days', reason => 'at most 10 more days');
	SET SESSION AUTHORIZATION gx_requester;
	SELECT rollout.request_grace_extension('acme', 'agent', '1.0.0', '8 days', 'first');
	SELECT rollout.request_grace_extension('acme', 'agent', '1.0.0', '8 days', 'second');
});
foreach my $level ('REPEATABLE READ', 'SERIALIZABLE')
{
	$node->safe_psql('postgres', q{UPDATE rollout.grace_extension SET status = 'requested', decided_by = NULL,
	                                      decided_at = NULL, decision_note = NULL});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('SET SESSION AUTHORIZATION gx_approver_a');
	$s->query_safe("BEGIN ISOLATION LEVEL $level");
	$s->query_safe('SELECT count(*) FROM rollout.grace_extension');    # the snapshot
	$node->safe_psql('postgres', q{SET SESSION AUTHORIZATION gx_approver_b;
		SELECT rollout.approve_grace_extension(2, 'second one')});
	my ($out, $ret) = $s->query(q{SELECT rollout.approve_grace_extension(1, 'first one')});
	isnt($ret, 0, "$level: the second approval, whose snapshot predates the first, fails");
	like($s->{stderr}, qr/could not serialize|past the limit/, "$level: ... as a serialization failure (retry: then past the limit)");
	$s->query('ROLLBACK');
	$s->quit;
	is($node->safe_psql('postgres', q{
		SELECT string_agg(extension_id || ' ' || status, ', ' ORDER BY extension_id) FROM rollout.grace_extension}),
		'1 requested, 2 approved', "$level: one extension approved, the grace stays within the limit");
	# retried, it sees the other approval and is refused by the limit
	my ($o2, $r2) = (undef, undef);
	$r2 = $node->psql('postgres', q{SET SESSION AUTHORIZATION gx_approver_a;
		SELECT rollout.approve_grace_extension(1, 'first one')}, stderr => \$o2);
	like($o2, qr/is past the limit: 30 days grace \+ 8 days granted \+ 8 days asked > limit 40 days/,
		"$level: retried, the approval is refused by the limit");
}

# the constraint behind it, for the record
is($node->safe_psql('postgres', q{
	SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY indexrelid::regclass::text)
	  FROM pg_index WHERE indrelid = 'rollout.release_approval'::regclass AND indisunique AND NOT indisprimary}),
	'rollout.release_approval_approver_key, rollout.release_approval_role_key',
	'one role per login and one approval per role of a transition are unique indexes');

done_testing();
