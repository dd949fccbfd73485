-- Compartments: the Patient compartment computed on every write, accounts
-- normalized into compartments, and a policy's compartment tagging creates.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS cp_gateway;
CREATE ROLE cp_gateway;
SELECT fhir.grant_client('cp_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p1", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p2", "meta": {"project": "p", "accounts": [{"reference": "Organization/acme"}]}}');

SELECT t.is(fhir.read('Patient', 'p1')->'meta'->'compartment', '[{"reference": "Project/p"}, {"reference": "Patient/p1"}]'::jsonb, 'a Patient is in its own compartment');
SELECT t.is(fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"}, "performer": [{"reference": "Patient/p2"}], "meta": {"project": "p"}}')
            ->'meta'->'compartment', '[{"reference": "Project/p"}, {"reference": "Patient/p1"}, {"reference": "Patient/p2"}]'::jsonb,
            'an Observation is in the compartments of its subject and performer');
SELECT t.is(fhir.create('{"resourceType": "Task", "status": "ready", "intent": "order", "focus": {"reference": "Patient/p1"}, "meta": {"project": "p"}}')
            ->'meta'->'compartment'->1, '{"reference": "Patient/p1"}'::jsonb, 'a Task is in the compartment of its focus');
SELECT t.is(fhir.create('{"resourceType": "Condition", "subject": {"reference": "Group/g1"}, "meta": {"project": "p"}}')->'meta'->'compartment',
            '[{"reference": "Project/p"}]'::jsonb, 'a Group subject puts nothing in a Patient compartment');
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "meta": {"project": "p", "account": {"reference": "Organization/b"}, "accounts": [{"reference": "Organization/a"}]}}') AS acc \gset
SELECT t.is(:'acc'::jsonb->'meta'->'accounts', '[{"reference": "Organization/b"}, {"reference": "Organization/a"}]'::jsonb, 'meta.account and meta.accounts merge, account first');
SELECT t.is(:'acc'::jsonb->'meta'->'account', '{"reference": "Organization/b"}'::jsonb, 'meta.account is the first account');
SELECT t.is(:'acc'::jsonb->'meta'->'compartment', '[{"reference": "Project/p"}, {"reference": "Organization/b"}, {"reference": "Organization/a"}]'::jsonb, 'accounts become compartments');

-- A policy's compartment tags what its members create; non-admins cannot set accounts.
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "partner", "meta": {"project": "p"}, "compartment": {"reference": "Organization/partner"},
                     "resource": [{"resourceType": "Patient"}, {"resourceType": "Observation"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "w@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/partner"}}}')->>'id' AS writer \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "a@example.org", "membership": {"admin": true, "accessPolicy": {"reference": "AccessPolicy/partner"}}}')->>'id' AS admin \gset
SET ROLE cp_gateway;
SELECT fhir.set_membership(:'writer') IS NOT NULL AS writer;
SELECT fhir.create('{"resourceType": "Patient", "meta": {"accounts": [{"reference": "Organization/elsewhere"}]}}') AS tagged \gset
SELECT t.is(:'tagged'::jsonb->'meta'->'accounts', '[{"reference": "Organization/partner"}]'::jsonb, 'a created resource is tagged with the policy compartment, not the accounts sent');
SELECT t.is(fhir.update(jsonb_set(:'tagged'::jsonb, '{meta,accounts}', '[{"reference": "Organization/other"}]'))->'meta'->'accounts',
            '[{"reference": "Organization/partner"}]'::jsonb, 'a non-admin cannot change accounts on update');
SELECT t.is(fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p2"}}')->'meta'->'accounts',
            '[{"reference": "Organization/partner"}, {"reference": "Organization/acme"}]'::jsonb, 'a resource about a patient inherits the patient''s accounts');
SELECT t.is(fhir.update(fhir.read('Patient', 'p2') || '{"active": true}')->'meta'->'accounts', '[{"reference": "Organization/acme"}]'::jsonb,
            'the policy compartment does not override an existing account on update');
SELECT fhir.set_membership(:'admin') IS NOT NULL AS admin;
SELECT t.is(fhir.create('{"resourceType": "Patient", "meta": {"accounts": [{"reference": "Organization/chosen"}]}}')->'meta'->'accounts',
            '[{"reference": "Organization/chosen"}]'::jsonb, 'an admin sets accounts');
RESET ROLE;
