# TAP: a login bound to one subtree cannot set a tenant outside it by
# switching to a role without bindings (SET ROLE, SET LOCAL ROLE, a
# SECURITY DEFINER wrapper) and switching back (issue 8, item 2); and
# set_tenant tells a bound role nothing about tenants outside its subtrees:
# an unknown tenant, a foreign one and a foreign suspended one give the same
# error (issue 8, item 9, set_tenant part).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bind');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_tenant('acme'), rollout.create_tenant('acme-eu', parent_id => 'acme'),
	       rollout.create_tenant('globex'), rollout.create_tenant('initech');
	SELECT rollout.create_tenant('acme-old', parent_id => 'acme');
	SELECT rollout.suspend_tenant('initech', 'unpaid'), rollout.suspend_tenant('acme-old', 'unpaid');
	CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END FROM generate_series(1, 10) g;
	SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
	ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce';
	SELECT pg_reload_conf();

	-- mallory: an application login bound to acme's subtree
	CREATE ROLE mallory LOGIN IN ROLE rollout_app;
	GRANT SELECT ON orders TO rollout_app;
	SELECT rollout.bind_tenant('mallory', 'acme');
	-- a SECURITY DEFINER wrapper owned by an unbound role
	CREATE ROLE wrapper_owner NOLOGIN IN ROLE rollout_app;
	CREATE FUNCTION public.enter_tenant(t text) RETURNS text LANGUAGE sql SECURITY DEFINER
	    SET search_path = pg_catalog, pg_temp AS $$ SELECT rollout.set_tenant(t, local => false) $$;
	ALTER FUNCTION public.enter_tenant(text) OWNER TO wrapper_owner;
	GRANT EXECUTE ON FUNCTION public.enter_tenant(text) TO mallory;
	-- drifter: an unbound login; acme_gate: a SECURITY DEFINER entry point
	-- owned by a role bound to acme
	CREATE ROLE drifter LOGIN IN ROLE rollout_app;
	CREATE ROLE acme_role NOLOGIN IN ROLE rollout_app;
	SELECT rollout.bind_tenant('acme_role', 'acme');
	CREATE FUNCTION public.acme_gate(t text) RETURNS text LANGUAGE sql SECURITY DEFINER
	    SET search_path = pg_catalog, pg_temp AS $$ SELECT rollout.set_tenant(t, local => false) $$;
	ALTER FUNCTION public.acme_gate(text) OWNER TO acme_role;
	GRANT EXECUTE ON FUNCTION public.acme_gate(text) TO drifter;
});

# Run a script as a login; returns (exit code, stdout, stderr).
sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

my ($ret, $out, $err);

# what mallory may do
($ret, $out, $err) = as_role('mallory', q{BEGIN; SELECT rollout.set_tenant('acme-eu'); SELECT rollout.set_tenant('acme');
	SELECT count(*) FROM orders; COMMIT;});
is($out, "acme-eu\nacme\n5", 'a bound login sets tenants of its subtree and reads their rows');
($ret, $out, $err) = as_role('mallory', q{SET ROLE rollout_app; BEGIN; SELECT rollout.set_tenant('acme'); SELECT count(*) FROM orders; COMMIT;});
is($out, "acme\n5", 'also after SET ROLE to an unbound role, inside its subtree');

# the escape through SET ROLE
($ret, $out, $err) = as_role('mallory', q{
	SET ROLE rollout_app;
	SELECT rollout.set_tenant('globex', local => false);
	RESET ROLE;
	SELECT 'rows:' || count(*) FROM orders;
});
like($err, qr/42501: role "mallory" may not act for tenant "globex"/, 'SET ROLE to an unbound role: set_tenant refused for the session user');
unlike($out, qr/rows:[1-9]/, 'SET ROLE then RESET ROLE: no foreign row read');

($ret, $out, $err) = as_role('mallory', q{
	BEGIN;
	SET LOCAL ROLE rollout_app;
	SELECT rollout.set_tenant('globex');
	SELECT 'rows:' || count(*) FROM orders;
	COMMIT;
});
like($err, qr/42501: role "mallory" may not act for tenant "globex"/, 'SET LOCAL ROLE: refused');
unlike($out, qr/rows:[1-9]/, 'SET LOCAL ROLE: no foreign row read');

($ret, $out, $err) = as_role('mallory', q{
	SELECT public.enter_tenant('globex');
	SELECT 'rows:' || count(*) FROM orders;
});
like($err, qr/42501: role "mallory" may not act for tenant "globex"/, 'SECURITY DEFINER wrapper owned by an unbound role: refused');
unlike($out, qr/rows:[1-9]/, 'SECURITY DEFINER wrapper: no foreign row read');
($ret, $out, $err) = as_role('mallory', q{SELECT public.enter_tenant('acme-eu');});
is($out, 'acme-eu', 'the wrapper still works inside the subtree');

# an unbound login, narrowed by a bound SECURITY DEFINER entry point
($ret, $out, $err) = as_role('drifter', q{SELECT rollout.set_tenant('globex');});
is($out, 'globex', 'an unbound login may set any tenant (require_tenant_binding off)');
($ret, $out, $err) = as_role('drifter', q{SELECT public.acme_gate('globex');});
like($err, qr/42501: role "acme_role" may not act for tenant "globex"/,
	'a SECURITY DEFINER function owned by a bound role narrows an unbound login');
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_rollout.require_tenant_binding = on; SELECT pg_reload_conf();");
sleep 1;
($ret, $out, $err) = as_role('drifter', q{SELECT rollout.set_tenant('acme');});
like($err, qr/42501: role "drifter" is bound to no tenant/, 'require_tenant_binding: an unbound login is refused');
($ret, $out, $err) = as_role('drifter', q{BEGIN; SELECT public.acme_gate('acme-eu'); SELECT count(*) FROM orders; COMMIT;});
is($out, "acme-eu\n0", 'require_tenant_binding: through the bound entry point, inside its subtree')
  or diag($err);
($ret, $out, $err) = as_role('mallory', q{SET ROLE rollout_app; SELECT rollout.set_tenant('acme-eu');});
is($out, 'acme-eu', 'require_tenant_binding: a bound login, after SET ROLE to an unbound role');
$node->safe_psql('postgres', "ALTER SYSTEM RESET pg_rollout.require_tenant_binding; SELECT pg_reload_conf();");
sleep 1;

# one error for "does not exist", "not yours" and "not yours and suspended"
my %errors;
for my $t ('globex', 'no-such-tenant', 'initech')
{
	($ret, $out, $err) = as_role('mallory', "SELECT rollout.set_tenant('$t');");
	(my $e = $err) =~ s/\Q$t\E/<tenant>/g;
	$e =~ s/^psql:<stdin>:\d+: //mg;
	$errors{$t} = $e;
}
like($errors{globex}, qr/ERROR:  42501: role "mallory" may not act for tenant "<tenant>"/, 'a foreign tenant: 42501');
is($errors{'no-such-tenant'}, $errors{globex}, 'an unknown tenant gives a bound role the same error as a foreign one');
is($errors{initech}, $errors{globex}, 'a foreign suspended tenant gives the same error too');
# inside its own subtree a bound role is told the truth
($ret, $out, $err) = as_role('mallory', q{SELECT rollout.set_tenant('acme-old');});
like($err, qr/55000: tenant "acme-old" is suspended/, 'a suspended tenant of its own subtree: 55000');
# an unbound role is told what is wrong
($ret, $out, $err) = as_role('drifter', q{SELECT rollout.set_tenant('no-such-tenant');});
like($err, qr/42704: tenant "no-such-tenant" does not exist/, 'an unbound role: 42704 for an unknown tenant');

# a dropped role's binding does not break set_tenant for everyone
$node->safe_psql('postgres', q{
	CREATE ROLE gone NOLOGIN;
	SELECT rollout.bind_tenant('gone', 'globex');
	DROP ROLE gone;
});
($ret, $out, $err) = as_role('mallory', q{SELECT rollout.set_tenant('acme');});
is($out, 'acme', 'a binding of a dropped role is ignored');
is($node->safe_psql('postgres', q{SELECT rollout.set_tenant('globex')}), 'globex', 'also for a superuser');

$node->stop;
done_testing();
