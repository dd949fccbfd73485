-- Sample data for the demo: one project with a few patients and
-- observations, two AccessPolicies and three members. One line per step.
\set QUIET on
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo '  [1/5] CREATE EXTENSION fhir_access'
CREATE EXTENSION fhir_access;

\echo '  [2/5] the project "Riverside Clinic" and three Patients: ann (CA), bob (NY), cat (CA)'
SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Riverside Clinic"}') \g /dev/null

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'id', p.id, 'active', true,
    'name', jsonb_build_array(jsonb_build_object('family', p.family, 'given', jsonb_build_array(p.given))),
    'address', jsonb_build_array(jsonb_build_object('state', p.state)),
    'telecom', jsonb_build_array(jsonb_build_object('system', 'phone', 'value', p.phone)),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 'Lee', 'Ann', 'CA', '555-0101'), ('bob', 'Diaz', 'Bob', 'NY', '555-0102'), ('cat', 'Kim', 'Cat', 'CA', '555-0103'))
     AS p(id, family, given, state, phone) \g /dev/null

\echo '  [3/5] four heart-rate Observations'

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Observation', 'id', 'hr-' || o.patient || '-' || o.value, 'status', 'final',
    'code', '{"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]}'::jsonb,
    'subject', jsonb_build_object('reference', 'Patient/' || o.patient),
    'valueQuantity', jsonb_build_object('value', o.value, 'unit', '/min'),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 72), ('ann', 75), ('bob', 64), ('cat', 81)) AS o(patient, value) \g /dev/null

\echo '  [4/5] two AccessPolicies (california, portal) and three memberships (doctor, ca-nurse, ann-portal)'
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "california", "name": "Californian patients", "meta": {"project": "clinic"},
                     "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["telecom"]}]}') \g /dev/null
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "portal", "name": "Patient portal", "meta": {"project": "clinic"},
                     "resource": [{"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"},
                                  {"resourceType": "Observation", "criteria": "Observation?_compartment=%patient", "interaction": ["read", "search"]}]}') \g /dev/null
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "doctor", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/doctor"},
                     "profile": {"reference": "Practitioner/doctor"}, "meta": {"project": "clinic"}}') \g /dev/null
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "ca-nurse", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/nurse"},
                     "profile": {"reference": "Practitioner/nurse"}, "accessPolicy": {"reference": "AccessPolicy/california"}, "meta": {"project": "clinic"}}') \g /dev/null
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "ann-portal", "project": {"reference": "Project/clinic"}, "user": {"reference": "User/ann"},
                     "profile": {"reference": "Patient/ann"}, "accessPolicy": {"reference": "AccessPolicy/portal"}, "meta": {"project": "clinic"}}') \g /dev/null

\echo '  [5/5] demo_app, an app server\'s role: a gateway that acts as one membership per transaction'
DROP ROLE IF EXISTS demo_app;
CREATE ROLE demo_app LOGIN;
SELECT fhir.grant_client('demo_app', gateway => true) \g /dev/null
