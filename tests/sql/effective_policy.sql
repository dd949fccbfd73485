-- The effective policy: sources unioned in order, parameters substituted as values.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS ep_gateway;
CREATE ROLE ep_gateway;
SELECT fhir.grant_client('ep_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "p1", "name": "One"}');
SELECT fhir.create('{"resourceType": "Organization", "id": "org-a", "meta": {"project": "p1"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "org-b", "meta": {"project": "p1"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "gp", "meta": {"project": "p1"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?general-practitioner=%profile"},
    {"resourceType": "Observation", "criteria": "Observation?subject=%patient"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "org", "meta": {"project": "p1"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?organization=%provider_organization&address-state=%state"},
    {"resourceType": "Organization", "criteria": "Organization?_id=%provider_organization"},
    {"resourceType": "Questionnaire", "criteria": "Questionnaire?_compartment=Organization/%provider_organization"}]}');

SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "G", "lastName": "P", "email": "gp@example.org",
    "membership": {"accessPolicy": {"reference": "AccessPolicy/gp"}, "access": [
        {"policy": {"reference": "AccessPolicy/org"}, "parameter": [
            {"name": "provider_organization", "valueReference": {"reference": "Organization/org-a"}}, {"name": "state", "valueString": "CA"}]},
        {"policy": {"reference": "AccessPolicy/org"}, "parameter": [
            {"name": "provider_organization", "valueReference": {"reference": "Organization/org-b"}}, {"name": "state", "valueString": "NY"}]}]}}') AS m \gset
SELECT :'m'::jsonb->>'id' AS mid, :'m'::jsonb->'profile'->>'reference' AS profile \gset

SET ROLE ep_gateway;
SELECT fhir.set_membership(:'mid') AS policy \gset
SELECT t.is(fhir.effective_policy(), :'policy'::jsonb, 'effective_policy() shows what set_membership returned');
SELECT t.is(fhir.effective_policy()->'basedOn', '[{"reference": "AccessPolicy/gp"}, {"reference": "AccessPolicy/org"}, {"reference": "AccessPolicy/org"}]'::jsonb,
            'basedOn lists the accessPolicy, then each access entry, in order');
SELECT t.is(fhir.effective_policy()->'resource'->0->>'criteria', 'Patient?general-practitioner=' || :'profile', '%profile becomes the membership profile');
SELECT t.is(fhir.effective_policy()->'resource'->1->>'criteria', 'Observation?subject=' || :'profile', '%patient defaults to the profile');
SELECT t.is((SELECT jsonb_agg(e->>'criteria') FROM jsonb_array_elements(fhir.effective_policy()->'resource') e WHERE e->>'resourceType' = 'Patient' AND e->>'criteria' LIKE '%organization%'),
            '["Patient?organization=Organization/org-a&address-state=CA", "Patient?organization=Organization/org-b&address-state=NY"]'::jsonb,
            'the same policy twice keeps each instance''s parameters together');
SELECT t.is((SELECT jsonb_agg(e->>'criteria') FROM jsonb_array_elements(fhir.effective_policy()->'resource') e WHERE e->>'resourceType' = 'Organization'),
            '["Organization?_id=org-a", "Organization?_id=org-b"]'::jsonb, 'a reference parameter in _id means its id');
SELECT t.is((SELECT jsonb_agg(e->>'criteria') FROM jsonb_array_elements(fhir.effective_policy()->'resource') e WHERE e->>'resourceType' = 'Questionnaire'),
            '["Questionnaire?_compartment=Organization/org-a", "Questionnaire?_compartment=Organization/org-b"]'::jsonb,
            'Type/%param with a reference parameter means that reference');
SELECT t.ok((SELECT bool_or(e->>'resourceType' = 'StructureDefinition') FROM jsonb_array_elements(fhir.effective_policy()->'resource') e),
            'StructureDefinition is readable by default');
RESET ROLE;

-- No policy at all: full access to non-admin types.
SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "N", "lastName": "P", "email": "np@example.org"}')->>'id' AS open \gset
SET ROLE ep_gateway;
SELECT fhir.set_membership(:'open') IS NOT NULL AS acting;
SELECT t.is(fhir.effective_policy()->'resource'->0->>'resourceType', '*', 'no policy means a * entry');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') $$, 'no policy: clinical writes are allowed');
SELECT t.throws($$ SELECT fhir.read('Project', 'p1') $$, '42501', 'no policy still excludes admin types');
RESET ROLE;

-- Writing an AccessPolicy validates it (axp-3), and a broken stored one denies.
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p1"}, "resource": [{"resourceType": "Patient", "criteria": "identifier=123"}]}') $$,
                '22023', 'criteria without Type? is refused on write', '%axp-3%');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p1"}, "resource": [{"resourceType": "Practitioner", "criteria": "Patient?name=x"}]}') $$,
                '22023', 'criteria of another type is refused on write', '%axp-3%');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p1"}, "resource": [{"resourceType": "Observation", "criteria": "Observation?patient.name=x"}]}') $$,
                '22023', 'chained criteria are refused on write');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p1"}, "resource": [{"resourceType": "Patient", "criteria": "Patient?_has:Observation:subject:code=x"}]}') $$,
                '22023', '_has criteria are refused on write');
SELECT t.throws($$ SELECT fhir.patch('AccessPolicy', 'gp', '[{"op": "replace", "path": "/resource/0/criteria", "value": "Patient"}]') $$,
                '22023', 'a patch that breaks a policy is refused');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p1"}, "resource": [{"resourceType": "Device", "criteria": "Device?identifier=foo"}]}') $$,
               'Device?identifier=foo is accepted');
UPDATE fhir.resource SET content = jsonb_set(content, '{resource,0,criteria}', '"general-practitioner=%profile"') WHERE resource_type = 'AccessPolicy' AND id = 'gp';
SELECT fhir._bump_access_version();
SET ROLE ep_gateway;
SELECT t.throws(format($$ SELECT fhir.set_membership('%s') $$, :'mid'), '22023', 'an invalid stored policy is refused, never open');
RESET ROLE;
