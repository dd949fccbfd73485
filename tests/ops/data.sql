-- A small clinic for the backup and restore test: versions, a deletion,
-- policies with criteria, compartments and hidden fields, and the three kinds
-- of client (a gateway, a bound nurse, a bound patient).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION fhir_access;
SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Clinic"}') IS NOT NULL AS project \g /dev/null
SELECT fhir.create(format('{"resourceType": "Patient", "id": "p%s", "gender": "%s", "birthDate": "19%s-01-01",
                            "name": [{"family": "F%s", "given": ["G%s"]}], "address": [{"state": "%s"}], "meta": {"project": "clinic"}}',
                          n, CASE WHEN n % 2 = 0 THEN 'female' ELSE 'male' END, 50 + n, n, n, CASE WHEN n <= 4 THEN 'CA' ELSE 'NY' END)::jsonb)
FROM generate_series(1, 8) n \g /dev/null
SELECT fhir.create(format('{"resourceType": "Observation", "id": "o%s", "status": "final", "code": {"text": "c%s"},
                            "subject": {"reference": "Patient/p%s"}, "valueQuantity": {"value": %s, "unit": "mg"}, "meta": {"project": "clinic"}}',
                          n, n, 1 + n % 8, n)::jsonb)
FROM generate_series(1, 12) n \g /dev/null
SELECT fhir.update(fhir.read('Patient', 'p1') || '{"active": true}') \g /dev/null
SELECT fhir.patch('Patient', 'p2', '[{"op": "add", "path": "/active", "value": false}]') \g /dev/null
SELECT fhir.delete('Observation', 'o12');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "nurse", "meta": {"project": "clinic"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["birthDate"]},
    {"resourceType": "Observation", "hiddenFields": ["value[x]"]}]}') \g /dev/null
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "patient", "meta": {"project": "clinic"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?_id=%patient.id"},
    {"resourceType": "Observation", "criteria": "Observation?subject=%patient"}]}') \g /dev/null
SELECT fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Dee", "email": "doctor@example.org"}') \g /dev/null
SELECT fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Nia", "email": "nurse@example.org",
                              "membership": {"accessPolicy": {"reference": "AccessPolicy/nurse"}}}') \g /dev/null
SELECT fhir.create('{"resourceType": "ProjectMembership", "meta": {"project": "clinic"}, "project": {"reference": "Project/clinic"},
                     "user": {"reference": "User/u-pat", "display": "patient@example.org"}, "profile": {"reference": "Patient/p3"},
                     "accessPolicy": {"reference": "AccessPolicy/patient"}}') \g /dev/null
SELECT fhir.grant_client('ops_gateway', gateway => true);
SELECT fhir.grant_client('ops_nurse');
SELECT fhir.grant_client('ops_patient');
SELECT fhir.bind_role('ops_nurse', id) FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND content->'user'->>'display' = 'nurse@example.org';
SELECT fhir.bind_role('ops_patient', id) FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND content->'user'->>'display' = 'patient@example.org';
