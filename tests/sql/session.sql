-- Sessions: who may act as which membership, and how long it lasts.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS s_app, s_gateway, s_wide, s_stranger, s_two;
CREATE ROLE s_app;
CREATE ROLE s_gateway;
CREATE ROLE s_wide;
CREATE ROLE s_stranger;
CREATE ROLE s_two;
SELECT fhir.grant_client('s_app');
SELECT fhir.grant_client('s_gateway', gateway => true);
SELECT fhir.grant_client('s_wide', gateway => true, session_scope => true);
SELECT fhir.grant_client('s_two');
GRANT USAGE ON SCHEMA fhir TO s_stranger;

SELECT fhir.create('{"resourceType": "Project", "id": "p1", "name": "One"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pat1", "meta": {"project": "p1"}}');
SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.org"}')->>'id' AS m1 \gset
SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "Bob", "lastName": "Ray", "email": "bob@example.org"}')->>'id' AS m2 \gset
SELECT fhir.bind_role('s_app', 'ProjectMembership/' || :'m1');
SELECT fhir.bind_role('s_two', :'m1');
SELECT fhir.bind_role('s_two', :'m2');

-- Without a membership: nothing visible, every write refused.
SET ROLE s_two;
SELECT t.is(fhir.current_membership(), NULL, 'a role with several bound memberships has none until it chooses');
SELECT t.is((SELECT count(*) FROM fhir.resources), 0::bigint, 'no membership: the view shows no rows');
SELECT t.throws($$ SELECT fhir.read('Patient', 'pat1') $$, '42501', 'no membership: read is refused');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient"}') $$, '42501', 'no membership: create is refused');
SELECT t.throws($$ INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Patient"}') $$, '42501', 'no membership: INSERT into the view is refused');
RESET ROLE;

SET ROLE s_stranger;
SELECT t.throws($$ SELECT * FROM fhir.resources $$, '42501', 'a role that is not a client cannot read the view');
SELECT t.throws($$ SELECT fhir.read('Patient', 'pat1') $$, '42501', 'a role that is not a client cannot call the functions', '%not a fhir_access client%');
SELECT t.throws(format($$ SELECT fhir.set_membership('%s') $$, :'m1'), '42501', 'a role that is not a client cannot set a membership');
RESET ROLE;

-- A plain SET never selects or changes the membership.
SET ROLE s_two;
SELECT t.throws(format($$ SET fhir.membership = '%s' $$, :'m1'), '42501', 'a client cannot SET fhir.membership');
SELECT t.throws(format($$ SET LOCAL fhir.membership = '%s' $$, :'m1'), '42501', 'a client cannot SET LOCAL fhir.membership');
SELECT t.throws(format($$ SELECT set_config('fhir.membership', '%s', false) $$, :'m1'), '42501', 'a client cannot set_config fhir.membership');
SELECT t.throws(format($$ ALTER ROLE s_two SET fhir.membership = '%s' $$, :'m1'), '42501', 'a client cannot make fhir.membership a role default');
SELECT t.is(fhir.current_membership(), NULL, 'after the refused attempts there is still no membership');
RESET ROLE;

-- Bound memberships.
SET ROLE s_app;
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'m1', 'a role with exactly one bound membership gets it without asking');
SELECT t.is(fhir.read('Patient', 'pat1')->>'id', 'pat1', 'the bound membership reads');
SELECT t.throws(format($$ SELECT fhir.set_membership('%s') $$, :'m2'), '42501', 'a non-gateway client cannot set a membership not bound to it');
SELECT t.ok(fhir.set_membership(:'m1') ? 'resource', 'set_membership returns the effective policy');
RESET ROLE;

SET ROLE s_two;
SELECT t.lives(format($$ SELECT fhir.set_membership('ProjectMembership/%s') $$, :'m2'), 'a client chooses one of its bound memberships');
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'m2', 'the chosen membership is current');
SELECT fhir.clear_membership();
SELECT t.is(fhir.current_membership(), NULL, 'clear_membership drops it');
RESET ROLE;

-- Gateways may act as any membership, one transaction at a time: behind a
-- transaction pooler a session-long membership would answer other clients.
SET ROLE s_gateway;
SELECT t.throws(format($$ SELECT fhir.set_membership('%s') $$, :'m2'), '42501', 'a gateway cannot set a session-long membership', '%local => true%');
SELECT t.is(fhir.current_membership(), NULL, 'the refused session-long membership was not set');
BEGIN;
SELECT t.lives(format($$ SELECT fhir.set_membership('%s', local => true) $$, :'m2'), 'a gateway sets any membership for its transaction');
SELECT t.is(fhir.read('Patient', 'pat1')->>'id', 'pat1', 'the gateway reads as that membership');
SELECT t.throws($$ SELECT fhir.set_membership('no-such-membership', local => true) $$, 'P0002', 'a missing membership is refused');
COMMIT;
RESET ROLE;
SET ROLE s_wide;
SELECT t.lives(format($$ SELECT fhir.set_membership('%s') $$, :'m2'), 'a gateway granted session scope sets a session-long membership');
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'m2', 'the session-long membership is current');

-- local => true lasts until the end of the transaction, committed or rolled back.
SELECT fhir.clear_membership();
BEGIN;
SELECT fhir.set_membership(:'m1', local => true) IS NOT NULL AS set_locally;
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'m1', 'a local membership applies inside its transaction');
COMMIT;
SELECT t.is(fhir.current_membership(), NULL, 'a local membership ends with COMMIT');
BEGIN;
SELECT fhir.set_membership(:'m1', local => true) IS NOT NULL AS set_locally;
ROLLBACK;
SELECT t.is(fhir.current_membership(), NULL, 'a local membership ends with ROLLBACK');
BEGIN;
SELECT fhir.set_membership(:'m1') IS NOT NULL AS set_in_session;
ROLLBACK;
SELECT t.is(fhir.current_membership(), NULL, 'a session membership set in a rolled-back transaction is undone');

-- DISCARD ALL and RESET ALL drop the membership.
SELECT fhir.set_membership(:'m1') IS NOT NULL AS set_in_session;
RESET ALL;
SELECT t.is(fhir.current_membership(), NULL, 'RESET ALL drops the membership');
SELECT fhir.set_membership(:'m1') IS NOT NULL AS set_in_session;
RESET ROLE;
DISCARD ALL;
SET client_min_messages = warning;
SET ROLE s_wide;
SELECT t.is(fhir.current_membership(), NULL, 'DISCARD ALL drops the membership');
RESET ROLE;

-- Inactive memberships are refused, and access changes apply at the next statement.
SET ROLE s_wide;
SELECT fhir.set_membership(:'m2') IS NOT NULL AS set_in_session;
SELECT t.is(fhir.read('Patient', 'pat1')->>'id', 'pat1', 'before deactivation the membership reads');
RESET ROLE;
SELECT fhir.patch('ProjectMembership', :'m2', '[{"op": "add", "path": "/active", "value": false}]') IS NOT NULL AS deactivated;
SET ROLE s_wide;
SELECT t.throws($$ SELECT fhir.read('Patient', 'pat1') $$, '42501', 'a deactivated membership is refused from the next statement', '%not active%');
SELECT t.is((SELECT count(*) FROM fhir.resources), 0::bigint, 'a deactivated membership sees no rows');
SELECT t.throws(format($$ SELECT fhir.set_membership('%s') $$, :'m2'), '42501', 'an inactive membership cannot be set');
RESET ROLE;

-- Unbinding applies at once.
SELECT fhir.unbind_role('s_app', :'m1');
SET ROLE s_app;
SELECT t.is(fhir.current_membership(), NULL, 'an unbound role loses the membership');
RESET ROLE;

-- Only the system manages clients.
SET ROLE s_app;
SELECT t.throws($$ SELECT fhir.grant_client('s_stranger') $$, '42501', 'a client cannot grant client access');
SELECT t.throws(format($$ SELECT fhir.bind_role('s_app', '%s') $$, :'m2'), '42501', 'a client cannot bind memberships');
RESET ROLE;
SELECT t.throws($$ SELECT fhir.bind_role('s_app', 'no-such-membership') $$, 'P0002', 'binding a missing membership is refused');
