-- explain_access with a candidate AccessPolicy or ProjectMembership: what it
-- would grant, before it is saved, and on how many resources of the type.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS wi_gateway;
CREATE ROLE wi_gateway;
SELECT fhir.grant_client('wi_gateway', gateway => true);
SELECT fhir.create('{"resourceType": "Project", "id": "wi", "name": "WI"}') IS NOT NULL AS project \gset
SELECT fhir.create('{"resourceType": "Project", "id": "wo", "name": "WO"}') IS NOT NULL AS other \gset
SELECT count(fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'p' || n, 'birthDate', '1970-01-01',
                                            'address', jsonb_build_array(jsonb_build_object('state', CASE WHEN n <= 3 THEN 'CA' ELSE 'NY' END)),
                                            'meta', '{"project": "wi"}'::jsonb))) AS patients
FROM generate_series(1, 5) n \gset
SELECT fhir.create('{"resourceType": "Patient", "id": "foreign", "address": [{"state": "CA"}], "meta": {"project": "wo"}}') IS NOT NULL AS f \gset
SELECT fhir.invite('wi', '{"resourceType": "Practitioner", "firstName": "Ada", "email": "ada@example.org", "membership": {"admin": true}}')->>'id' AS admin \gset
SELECT fhir.invite('wi', '{"resourceType": "Practitioner", "firstName": "Bo", "email": "bo@example.org"}')->>'id' AS plain \gset
SELECT count(*) AS policies_before FROM fhir.resource WHERE resource_type = 'AccessPolicy' \gset

\set ca '{"resourceType": "AccessPolicy", "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["birthDate"]}]}'
SELECT fhir.explain_access('Patient', 'p2', 'read', :'ca') AS ca2 \gset
SELECT t.is((:'ca2'::jsonb)->>'allowed', 'true', 'a candidate policy that would admit the resource allows the read');
SELECT t.is((:'ca2'::jsonb)->'hiddenFields', '["birthDate"]'::jsonb, 'and names the fields it would hide');
SELECT t.is((:'ca2'::jsonb)->'admits', '{"resources": 3, "of": 5}'::jsonb, 'and counts the resources of the type it would admit');
SELECT t.is((:'ca2'::jsonb)->>'candidate', 'true', 'the answer says it is about a candidate');
SELECT t.is(fhir.explain_access('Patient', 'p5', 'read', :'ca')->>'allowed', 'false', 'a resource outside its criteria is not allowed');
SELECT t.is(fhir.explain_access('Patient', 'p2', 'update', '{"resourceType": "AccessPolicy", "resource": [{"resourceType": "Patient", "readonly": true}]}')->'admits',
            '{"resources": 0, "of": 5}'::jsonb, 'a read-only candidate admits no update');
SELECT t.throws($$ SELECT fhir.explain_access('Patient', 'p1', 'read',
                   '{"resourceType": "ProjectMembership", "project": {"reference": "Project/wi"}, "accessPolicy": {"reference": "AccessPolicy/none"}}') $$,
                '42501', 'a candidate membership whose policy does not exist grants nothing: refused as such a membership is');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "portal", "meta": {"project": "wi"},
                     "resource": [{"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"}]}') IS NOT NULL AS portal \gset
SELECT t.is(fhir.explain_access('Patient', 'p1', 'read',
              '{"resourceType": "ProjectMembership", "project": {"reference": "Project/wi"}, "profile": {"reference": "Patient/p1"},
                "accessPolicy": {"reference": "AccessPolicy/portal"}}')->'admits',
            '{"resources": 1, "of": 5}'::jsonb, 'a candidate membership is compiled with its profile and saved policies');
SELECT t.throws($$ SELECT fhir.explain_access('Patient', 'p1', 'read', '{"resourceType": "AccessPolicy", "resource": [{"resourceType": "Patient", "criteria": "Observation?x=1"}]}') $$,
                '22023', 'an invalid candidate policy is refused as its write would be');
SELECT t.throws($$ SELECT fhir.explain_access('Patient', 'p1', 'read', '{"resourceType": "ProjectMembership", "project": {"reference": "Project/wi"}, "active": false}') $$,
                '42501', 'an inactive candidate membership is refused, as a saved one is');
SELECT t.throws($$ SELECT fhir.explain_access('Patient', 'p1', 'read', '{"resourceType": "Patient"}') $$,
                '22023', 'a candidate is an AccessPolicy or a ProjectMembership');
SELECT t.is((SELECT count(*) FROM fhir.resource WHERE resource_type = 'AccessPolicy'), :'policies_before'::bigint + 1,
            'candidates are never saved');

-- Who may ask: the system and the project's admins.
SET ROLE wi_gateway;
BEGIN;
SELECT fhir.set_membership(:'admin', local => true) IS NOT NULL AS acting \gset
SELECT t.is(fhir.explain_access('Patient', 'p2', 'read', :'ca')->'admits', '{"resources": 3, "of": 5}'::jsonb, 'a project admin may ask');
SELECT t.is(fhir.explain_access('Patient', 'foreign', 'read', :'ca')->>'visible', 'false',
            'to an admin, another project''s resource is invisible, as a missing one');
SELECT t.is(fhir.explain_access('Patient', 'foreign', 'read', :'ca')->'admits', fhir.explain_access('Patient', 'missing', 'read', :'ca')->'admits',
            'and its counts are the admin''s own project''s either way');
COMMIT;
BEGIN;
SELECT fhir.set_membership(:'plain', local => true) IS NOT NULL AS acting \gset
SELECT t.throws(format($$ SELECT fhir.explain_access('Patient', 'p2', 'read', %L) $$, :'ca'), '42501', 'a member who is not an admin may not ask');
SELECT t.is(fhir.explain_access('Patient', 'p2', 'read')->>'allowed', 'true', 'but explain_access without a candidate still answers');
COMMIT;
RESET ROLE;
