# TAP: tenant isolation modes switched with ALTER SYSTEM + pg_reload_conf()
# reach an open session at its next statement (no restart), also for a
# prepared statement; pg_rollout sits next to pg_stat_statements and
# pg_cron; unprotected tables behave as without the extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('iso');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_stat_statements,pg_cron,pg_rollout'
cron.database_name = 'postgres'
compute_query_id = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_stat_statements;
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('acme'), rollout.create_tenant('globex');
	CREATE ROLE app LOGIN IN ROLE rollout_app;
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END FROM generate_series(1, 10) g;
	CREATE TABLE plain (id int);
	INSERT INTO plain SELECT generate_series(1, 3);
	GRANT SELECT, INSERT ON orders, plain TO app;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
});

# an application session that stays open across the mode changes
my $app = $node->background_psql('postgres', on_error_stop => 0);
$app->query_safe('SET ROLE app');
$app->query_safe("SET application_name = 'api'");
$app->query_safe('PREPARE q AS SELECT count(*) FROM orders');
is($app->query_safe('EXECUTE q'), '10', 'log_only (the default): every row, nothing blocked');
is($app->query_safe('SELECT count(*) FROM plain'), '3', 'an unprotected table is untouched');

$node->safe_psql('postgres', "ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce'; SELECT pg_reload_conf();");
sleep 1;
my ($out, $ret) = $app->query('EXECUTE q');
like($app->{stderr}, qr/tenant context required for table "public.orders"/,
	'after ALTER SYSTEM + reload the open session is refused at its next statement, even a prepared one');
$app->{stderr} = '';
is($app->query_safe("BEGIN; SELECT rollout.set_tenant('acme'); EXECUTE q; COMMIT;"), "acme\n5",
	'with tenant context: only the tenant\'s rows');

# COPY FROM into a protected table is refused by PostgreSQL itself
my ($cr, $co, $ce) = $node->psql('postgres',
	"SET ROLE app; BEGIN; SELECT rollout.set_tenant('globex'); COPY orders FROM STDIN;\n99\tacme\n\\.\n");
like($ce, qr/COPY FROM not supported with row-level security/, 'COPY FROM into a protected table is refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM orders WHERE id = 99'), '0', 'nothing was copied');

$node->safe_psql('postgres', "ALTER SYSTEM SET pg_rollout.enforcement_mode = 'log_only'; SELECT pg_reload_conf();");
sleep 1;
is($app->query_safe('EXECUTE q'), '10', 'instant roll back to log_only: no restart, no reconnect');
$app->quit;

my $viol = $node->safe_psql('postgres',
	q{SELECT string_agg(kind || '/' || command || '/' || enforced || '/' || count, ',' ORDER BY enforced) FROM rollout.violations WHERE tbl = 'orders'::regclass AND kind = 'missing_tenant_context'});
is($viol, 'missing_tenant_context/select/false/2,missing_tenant_context/select/true/1',
	'violations counted: two logged, one refused');
is($node->safe_psql('postgres', q{SELECT application_name FROM rollout.recent_violation_log WHERE refused}), 'api',
	'the recent-violation log names the application');
like($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%FROM orders%'}), qr/^[1-9]/,
	'pg_stat_statements still sees the statements');
like(slurp_file($node->logfile), qr/tenant isolation violation: kind=missing_tenant_context table=public.orders command=select severity=critical mode=log_only role=app application_name="api"/,
	'one structured log line per violation');

# ALTER ROLE ... SET: a role can be enforced while others are not
$node->safe_psql('postgres', q{ALTER ROLE app SET pg_rollout.enforcement_mode = 'enforce'});
my ($r2, $o2, $e2) = $node->psql('postgres', 'SELECT count(*) FROM orders', extra_params => ['-U', 'app']);
like($e2, qr/tenant context required/, 'ALTER ROLE ... SET enforces for that role');
is($node->safe_psql('postgres', 'SELECT count(*) FROM orders'), '10', 'a superuser is not filtered');

$node->stop;
done_testing();
