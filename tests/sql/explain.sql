-- fhir.explain_access: why, without revealing what the session cannot see.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS ex_gateway;
CREATE ROLE ex_gateway;
SELECT fhir.grant_client('ex_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "ca", "birthDate": "1970-01-01", "address": [{"state": "CA"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "ny", "address": [{"state": "NY"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ap", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["birthDate"], "readonlyFields": ["address"],
     "writeConstraint": [{"expression": "active.exists()", "description": "active is set"}]},
    {"resourceType": "Patient", "interaction": ["read"], "criteria": "Patient?address-state=TX"}]}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "m", "project": {"reference": "Project/p"}, "user": {"reference": "User/u"},
                     "profile": {"reference": "Patient/ca"}, "accessPolicy": {"reference": "AccessPolicy/ap"}, "meta": {"project": "p"}}');

SELECT t.is(fhir.explain_access('Patient', 'ny', 'read')->>'reason', 'The system (a superuser or BYPASSRLS role) bypasses access policies.', 'the system is explained');
SET ROLE ex_gateway;
SELECT fhir.set_membership('m') IS NOT NULL AS m;
SELECT fhir.explain_access('Patient', 'ca', 'update') AS e \gset
SELECT t.is(:'e'::jsonb->'allowed', 'true'::jsonb, 'allowed: the decision');
SELECT t.is(:'e'::jsonb->'applies', '0'::jsonb, 'allowed: the entry that applies');
SELECT t.is(:'e'::jsonb->'entries'->0->>'criteria', 'Patient?address-state=CA', 'the entries with their criteria');
SELECT t.is(:'e'::jsonb->'entries'->1->>'reason', 'does not grant update', 'why an entry does not apply');
SELECT t.is(:'e'::jsonb->'hiddenFields', '["birthDate"]'::jsonb, 'the hidden fields that apply');
SELECT t.is(:'e'::jsonb->'readonlyFields', '["address"]'::jsonb, 'the read-only fields that apply');
SELECT t.is(:'e'::jsonb->'writeConstraints'->0->>'description', 'active is set', 'the write constraints that apply');
SELECT t.is(:'e'::jsonb->'predicate'->'indexKeys', '[]'::jsonb, 'the predicate: a string criteria is checked row by row');
SELECT t.is(:'e'::jsonb->'predicate'->'rowByRow', 'true'::jsonb, 'the predicate says so');
SELECT t.ok(:'e'::text NOT LIKE '%1970%', 'no hidden value appears');
SELECT fhir.explain_access('Patient', 'ny', 'read') AS invisible \gset
SELECT fhir.explain_access('Patient', 'no-such-patient', 'read') AS missing \gset
SELECT t.is(:'invisible'::jsonb - 'id', :'missing'::jsonb - 'id', 'an invisible resource is explained exactly like a missing one');
SELECT t.ok(:'invisible'::jsonb->>'reason' LIKE '404%', 'not visible: 404');
SELECT t.ok(fhir.explain_access('Observation', 'x', 'read')->>'reason' LIKE '403%', 'a type not granted: 403');
SELECT t.throws($$ SELECT fhir.explain_access('Patient', 'ca', 'frobnicate') $$, '22023', 'an unknown interaction is invalid');
RESET ROLE;

-- Criteria on a field hidden from the session: explain_access never tells
-- whether they hold (the read shows the same for both resources).
SELECT fhir.create('{"resourceType": "Patient", "id": "f1", "gender": "female", "meta": {"project": "p"}}') IS NOT NULL AS f1 \gset
SELECT fhir.create('{"resourceType": "Patient", "id": "f2", "gender": "male", "meta": {"project": "p"}}') IS NOT NULL AS f2 \gset
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "hg", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?gender=female", "hiddenFields": ["gender"]},
    {"resourceType": "Patient", "hiddenFields": ["gender"]}]}') IS NOT NULL AS hg \gset
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "mh", "project": {"reference": "Project/p"}, "user": {"reference": "User/h"},
                     "profile": {"reference": "Practitioner/h"}, "accessPolicy": {"reference": "AccessPolicy/hg"}, "meta": {"project": "p"}}') IS NOT NULL AS mh \gset
SET ROLE ex_gateway;
SELECT fhir.set_membership('mh') IS NOT NULL AS mh;
SELECT fhir.explain_access('Patient', 'f1', 'read') AS female \gset
SELECT fhir.explain_access('Patient', 'f2', 'read') AS male \gset
SELECT t.is(:'female'::jsonb - 'id', :'male'::jsonb - 'id', 'a criterion on a hidden field is explained alike whether it holds or not');
SELECT t.is(:'female'::jsonb->'entries'->0->'matches', 'null'::jsonb, 'its entry''s match is not shown');
SELECT t.is(:'female'::jsonb->'applies', 'null'::jsonb, 'nor which entry applies');
SELECT t.is(:'female'::jsonb->'allowed', 'true'::jsonb, 'the decision, which a read shows anyway, is');
RESET ROLE;
