-- Several instances of one parameterized policy never over-grant: a
-- membership holding (org A, CA) and (org B, NY) does not see org A in NY.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS in_gateway;
CREATE ROLE in_gateway;
SELECT fhir.grant_client('in_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Organization", "id": "A", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "B", "meta": {"project": "p"}}');
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', o || '-' || s, 'managingOrganization', jsonb_build_object('reference', 'Organization/' || o),
                                      'address', jsonb_build_array(jsonb_build_object('state', s)), 'meta', '{"project": "p"}'::jsonb))
FROM unnest(ARRAY['A', 'B']) o, unnest(ARRAY['CA', 'NY']) s;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "org-state", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?organization=%org&address-state=%state"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "two@example.org", "membership": {"access": [
    {"policy": {"reference": "AccessPolicy/org-state"}, "parameter": [{"name": "org", "valueReference": {"reference": "Organization/A"}}, {"name": "state", "valueString": "CA"}]},
    {"policy": {"reference": "AccessPolicy/org-state"}, "parameter": [{"name": "org", "valueReference": {"reference": "Organization/B"}}, {"name": "state", "valueString": "NY"}]}]}}')->>'id' AS m \gset

SET ROLE in_gateway;
SELECT fhir.set_membership(:'m') IS NOT NULL AS acting;
SELECT t.is((SELECT array_agg(id ORDER BY id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['A-CA', 'B-NY'], 'the view shows A in CA and B in NY only');
SELECT t.is((SELECT array_agg(x->>'id' ORDER BY x->>'id') FROM fhir.search('Patient') x), ARRAY['A-CA', 'B-NY'], 'search shows A in CA and B in NY only');
SELECT t.throws($$ SELECT fhir.read('Patient', 'A-NY') $$, 'P0002', 'org A in NY is not granted');
SELECT t.throws($$ SELECT fhir.read('Patient', 'B-CA') $$, 'P0002', 'org B in CA is not granted');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient", "managingOrganization": {"reference": "Organization/A"}, "address": [{"state": "NY"}]}') $$,
                '42501', 'creating a patient of org A in NY is forbidden');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Patient", "managingOrganization": {"reference": "Organization/B"}, "address": [{"state": "NY"}]}') $$,
               'creating a patient of org B in NY is allowed');
RESET ROLE;
