-- Release readiness, red-team review findings: (1) the login that made the
-- current revision of a release (classified it, edited its manifest, set
-- its exposure plan) may not approve that revision, like the release's
-- creator; (3) rollout.health() warns while the superuser release clock
-- override is set.  (2), the memo author, is documented in docs/releases.md:
-- seed 004 §9 has the approvers sign the memo, so nothing is checked.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_rr_author, regress_rr_editor, regress_rr_other, regress_rr_lead, regress_rr_monitor;
RESET client_min_messages;
CREATE ROLE regress_rr_author IN ROLE rollout_admin;
-- an operator who is also a dev lead: may edit, and may approve others' revisions
CREATE ROLE regress_rr_editor IN ROLE rollout_operator, rollout_release_dev_lead, rollout_release_system_owner;
CREATE ROLE regress_rr_other IN ROLE rollout_operator;
CREATE ROLE regress_rr_lead IN ROLE rollout_release_dev_lead;
CREATE ROLE regress_rr_monitor IN ROLE pg_monitor;
SELECT (rollout.create_component('rr-app', 'product')).component_id;
SELECT (rollout.add_version('rr-app', '1.0.0', 'published')).version::text;
SELECT (rollout.create_tenant('rr-dev', test_tenant => true)).tenant_id;

-- (1) revision 1 by the creator, revision 2 by the editor (classification)
SET SESSION AUTHORIZATION regress_rr_author;
SELECT release_id, revision, created_by, revised_by FROM rollout.create_release('rr-1', 'rr-app', '1.0.0');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rr_editor;
SELECT revision, revised_by FROM rollout.classify_release('rr-1', 'ui_only', 'a label change');
-- the editor approves the revision it wrote: refused, nothing written
SELECT rollout.approve_release('rr-1', 'experimental', 'dev_lead');
RESET SESSION AUTHORIZATION;
SELECT count(*) AS approvals FROM rollout.release_approval WHERE release_id = 'rr-1';
-- another login's dev lead approves revision 2
SET SESSION AUTHORIZATION regress_rr_lead;
SELECT role, approver, revision FROM rollout.approve_release('rr-1', 'experimental', 'dev_lead');
RESET SESSION AUTHORIZATION;
-- revision 3 by another operator (manifest): the editor may approve it now
SET SESSION AUTHORIZATION regress_rr_other;
SELECT revision, revised_by FROM rollout.update_release_manifest('rr-1', '{"description": "labels"}', 'describe it');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rr_editor;
SELECT role, approver, revision FROM rollout.approve_release('rr-1', 'experimental', 'dev_lead');
-- revision 4 by the editor (exposure plan): its approval of revision 3 is
-- void, and it may not approve revision 4
SELECT tenants FROM rollout.set_exposure_plan('rr-1', ARRAY['rr-dev'], 'internal', '7 days', ARRAY['no errors'], 'the editor');
SELECT revision, revised_by FROM rollout.release WHERE release_id = 'rr-1';
SELECT rollout.approve_release('rr-1', 'experimental', 'dev_lead');
-- the same for every transition and role (here the System Owner, into stable)
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rr_editor;
SELECT rollout.approve_release('rr-1', 'stable', 'system_owner');
RESET SESSION AUTHORIZATION;
-- an edit that changes nothing keeps the revision and its author
SET SESSION AUTHORIZATION regress_rr_other;
SELECT revision, revised_by FROM rollout.update_release_manifest('rr-1', '{"description": "labels"}', 'no change');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rr_lead;
SELECT role, approver, revision FROM rollout.approve_release('rr-1', 'experimental', 'dev_lead');
RESET SESSION AUTHORIZATION;
-- the approvals recorded
SELECT revision, approver FROM rollout.release_approval WHERE release_id = 'rr-1' ORDER BY approval_id;

-- (3) health() and the release clock override
-- (and the metric the exporters serve as pg_rollout_release_clock_overridden)
SELECT status, detail, hint FROM rollout.health() WHERE check_name = 'release clock';
SELECT clock_overridden FROM rollout.metrics_release;
SELECT rollout.set_release_clock('2025-01-10 09:00+00');
SELECT status, detail, hint FROM rollout.health() WHERE check_name = 'release clock';
SELECT clock_overridden FROM rollout.metrics_release;
-- a pg_monitor login sees both (health() and the view run with the extension owner's rights)
SET SESSION AUTHORIZATION regress_rr_monitor;
SELECT status FROM rollout.health() WHERE check_name = 'release clock';
SELECT clock_overridden FROM rollout.metrics_release;
RESET SESSION AUTHORIZATION;
SELECT rollout.set_release_clock(NULL);
SELECT status, detail, hint FROM rollout.health() WHERE check_name = 'release clock';
SELECT clock_overridden FROM rollout.metrics_release;

SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
DROP ROLE regress_rr_author, regress_rr_editor, regress_rr_other, regress_rr_lead, regress_rr_monitor;
