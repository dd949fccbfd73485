-- The examples' clinic, loaded by a superuser into an empty database of a
-- cluster with fhir_access preloaded. It creates two login roles (roles are
-- cluster-wide): "gateway", the app servers' role, and "analyst", a BI user.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION fhir_access;

-- The system (this superuser) writes the project, its patients and their
-- observations, choosing the ids so that the examples' output is stable.
SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Riverside"}') \g /dev/null
SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'id', id, 'gender', gender, 'birthDate', born,
    'name', jsonb_build_array(jsonb_build_object('family', family, 'given', jsonb_build_array(given))),
    'telecom', jsonb_build_array(jsonb_build_object('system', 'phone', 'value', phone)),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('p1', 'Ortiz', 'Ana', 'female', '1984-02-03', '555-0101'),
             ('p2', 'Fox', 'Ben', 'male', '1975-07-19', '555-0102'),
             ('p3', 'Lin', 'Cy', 'other', '1990-11-30', '555-0103')) AS p(id, family, given, gender, born, phone) \g /dev/null
SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Observation', 'id', id, 'status', 'final',
    'code', '{"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]}'::jsonb,
    'subject', jsonb_build_object('reference', 'Patient/' || patient),
    'valueQuantity', jsonb_build_object('value', bpm, 'unit', '/min'),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('o1', 'p1', 72), ('o2', 'p1', 75), ('o3', 'p2', 64), ('o4', 'p3', 81), ('o5', 'p2', 66)) AS o(id, patient, bpm) \g /dev/null
SELECT fhir.delete('Observation', 'o5') \g /dev/null

-- Policies: the nurse sees every patient but not their birth dates, and
-- reads observations but may not write them; Ana's portal shows her own
-- record and observations, read-only; the analyst reads both types,
-- de-identified, and writes nothing.
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "nurse", "meta": {"project": "clinic"}, "resource": [
    {"resourceType": "Patient", "hiddenFields": ["birthDate"]},
    {"resourceType": "Observation", "readonly": true}]}') \g /dev/null
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "portal", "meta": {"project": "clinic"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?_id=%patient.id", "readonly": true},
    {"resourceType": "Observation", "criteria": "Observation?subject=%patient", "readonly": true}]}') \g /dev/null
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "analyst", "meta": {"project": "clinic"}, "resource": [
    {"resourceType": "Patient", "readonly": true, "hiddenFields": ["name", "telecom"]},
    {"resourceType": "Observation", "readonly": true}]}') \g /dev/null

-- The app's own table: which membership each of its logins acts as.
CREATE TABLE gateway_login (login text PRIMARY KEY, membership text NOT NULL);
INSERT INTO gateway_login VALUES
  ('doctor', fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Dee", "email": "doctor@example.org"}')->>'id'),
  ('nurse', fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Nia", "email": "nurse@example.org",
                                   "membership": {"accessPolicy": {"reference": "AccessPolicy/nurse"}}}')->>'id');
-- Ana's record exists already, so her portal membership names it as its
-- profile (an invite would create a new Patient).
SELECT fhir.create('{"resourceType": "User", "id": "ana", "email": "ana@example.org", "project": {"reference": "Project/clinic"},
                     "meta": {"project": "clinic"}}') \g /dev/null
INSERT INTO gateway_login VALUES
  ('ana', fhir.create('{"resourceType": "ProjectMembership", "meta": {"project": "clinic"}, "project": {"reference": "Project/clinic"},
                        "user": {"reference": "User/ana"}, "profile": {"reference": "Patient/p1"},
                        "accessPolicy": {"reference": "AccessPolicy/portal"}}')->>'id');

-- The app servers' role acts as any membership, one transaction at a time.
CREATE ROLE gateway LOGIN;
SELECT fhir.grant_client('gateway', gateway => true) \g /dev/null
GRANT SELECT ON gateway_login TO gateway;

-- The analyst's role is bound to its one membership: it needs no setting.
CREATE ROLE analyst LOGIN;
SELECT fhir.grant_client('analyst') \g /dev/null
SELECT fhir.bind_role('analyst', fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Al", "email": "analyst@example.org",
                                                        "membership": {"accessPolicy": {"reference": "AccessPolicy/analyst"}}}')->>'id') \g /dev/null

-- Another tenant, larger than the clinic, so that the plans in bi-psql show
-- what narrows a scan when most rows are somebody else's.
SELECT fhir.create('{"resourceType": "Project", "id": "lakeside", "name": "Lakeside"}') \g /dev/null
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'l' || n, 'birthDate', (1940 + n % 60) || '-01-01',
                                      'meta', '{"project": "lakeside"}'::jsonb)) FROM generate_series(1, 1000) n \g /dev/null
SELECT fhir.create(jsonb_build_object('resourceType', 'Observation', 'id', 'lo' || n, 'status', 'final',
                                      'subject', jsonb_build_object('reference', 'Patient/l' || (1 + n % 1000)),
                                      'valueQuantity', jsonb_build_object('value', 60 + n % 40, 'unit', '/min'),
                                      'meta', '{"project": "lakeside"}'::jsonb)) FROM generate_series(1, 3000) n \g /dev/null
-- Statistics now, so that the plans are those of these rows, whenever autovacuum runs.
ANALYZE fhir.resource;
