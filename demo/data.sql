-- Sample data for the demo: one project with a few patients and observations.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Riverside Clinic"}');

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'id', p.id, 'active', true,
    'name', jsonb_build_array(jsonb_build_object('family', p.family, 'given', jsonb_build_array(p.given))),
    'address', jsonb_build_array(jsonb_build_object('state', p.state)),
    'telecom', jsonb_build_array(jsonb_build_object('system', 'phone', 'value', p.phone)),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 'Lee', 'Ann', 'CA', '555-0101'), ('bob', 'Diaz', 'Bob', 'NY', '555-0102'), ('cat', 'Kim', 'Cat', 'CA', '555-0103'))
     AS p(id, family, given, state, phone);

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Observation', 'id', 'hr-' || o.patient || '-' || o.value, 'status', 'final',
    'code', '{"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]}'::jsonb,
    'subject', jsonb_build_object('reference', 'Patient/' || o.patient),
    'valueQuantity', jsonb_build_object('value', o.value, 'unit', '/min'),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 72), ('ann', 75), ('bob', 64), ('cat', 81)) AS o(patient, value);

-- Two policies and three members.
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "california", "name": "Californian patients", "meta": {"project": "clinic"},
                     "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["telecom"]}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "portal", "name": "Patient portal", "meta": {"project": "clinic"},
                     "resource": [{"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"},
                                  {"resourceType": "Observation", "criteria": "Observation?_compartment=%patient", "interaction": ["read", "search"]}]}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "doctor", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/doctor"},
                     "profile": {"reference": "Practitioner/doctor"}, "meta": {"project": "clinic"}}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "ca-nurse", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/nurse"},
                     "profile": {"reference": "Practitioner/nurse"}, "accessPolicy": {"reference": "AccessPolicy/california"}, "meta": {"project": "clinic"}}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "ann-portal", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/ann"},
                     "profile": {"reference": "Patient/ann"}, "accessPolicy": {"reference": "AccessPolicy/portal"}, "meta": {"project": "clinic"}}');

-- An app server's role: a gateway may act as any membership.
DROP ROLE IF EXISTS demo_app;
CREATE ROLE demo_app LOGIN;
SELECT fhir.grant_client('demo_app', gateway => true, session_scope => true);
