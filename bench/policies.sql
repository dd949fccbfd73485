-- The memberships the measured queries act as, and the client role they use.
-- Loaded once with the population (it is part of the cached data); the 1,000
-- other AccessPolicies come later, from bench/others.sql, so that the
-- compartment read is measured both without and with them.
--
-- Memberships are written as ProjectMemberships by the system with fixed ids
-- (profile = an existing bench resource), not through fhir.invite, so that the
-- patient membership's profile is a Patient that has Observations.
\set ON_ERROR_STOP 1
\set QUIET 1

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_gateway') THEN
        CREATE ROLE bench_gateway;
    END IF;
END
$$;
SELECT fhir.grant_client('bench_gateway', gateway => true, session_scope => true) \g /dev/null

-- The bench patient, the organization the practitioners work for, and a name
-- prefix that matches some of that organization's patients (Patient/p1's family).
SELECT 'p' || greatest(npat / 2, 1) AS patient_id FROM bench.config \gset
CREATE TABLE bench.subject AS
SELECT :'patient_id'::text AS patient_id, 'o1'::text AS org_id, left(bench.patient(1)->'name'->0->>'family', 3) AS name_prefix;

CREATE FUNCTION bench.membership(id text, profile text, body jsonb) RETURNS jsonb LANGUAGE sql
RETURN fhir.create(jsonb_build_object('resourceType', 'User', 'id', 'u-' || id, 'meta', jsonb_build_object('project', 'bench'),
                                      'email', id || '@bench.example.org', 'firstName', 'Bench', 'lastName', id))
       || fhir.create(jsonb_build_object('resourceType', 'ProjectMembership', 'id', id, 'meta', jsonb_build_object('project', 'bench'),
                                         'project', jsonb_build_object('reference', 'Project/bench'),
                                         'user', jsonb_build_object('reference', 'User/u-' || id),
                                         'profile', jsonb_build_object('reference', profile)) || body);

SELECT fhir.create(policy) FROM (VALUES
  -- 1. A patient: its own compartment's Observations, and itself.
  ('{"resourceType": "AccessPolicy", "id": "bench-patient", "meta": {"project": "bench"}, "name": "Bench patient", "resource": [
      {"resourceType": "Patient", "criteria": "Patient?_id=%patient"},
      {"resourceType": "Observation", "criteria": "Observation?_compartment=%patient"}]}'::jsonb),
  -- 2. A practitioner who sees the patients of one organization.
  ('{"resourceType": "AccessPolicy", "id": "bench-org", "meta": {"project": "bench"}, "name": "Patients of an organization", "resource": [
      {"resourceType": "Patient", "criteria": "Patient?organization=%org"}]}'),
  -- 3. A practitioner who sees every Observation and Patient.
  ('{"resourceType": "AccessPolicy", "id": "bench-all", "meta": {"project": "bench"}, "name": "All clinical", "resource": [
      {"resourceType": "Observation"}, {"resourceType": "Patient"}]}'),
  -- 4. The same as 3 with a hidden field, for the redaction cost.
  ('{"resourceType": "AccessPolicy", "id": "bench-hidden", "meta": {"project": "bench"}, "name": "Observations without values", "resource": [
      {"resourceType": "Observation", "hiddenFields": ["valueQuantity", "subject.display"]}, {"resourceType": "Patient"}]}'),
  -- 5. A writer with two write constraints.
  ('{"resourceType": "AccessPolicy", "id": "bench-writer", "meta": {"project": "bench"}, "name": "Observation writer", "resource": [
      {"resourceType": "Patient"},
      {"resourceType": "Observation", "writeConstraint": [
          {"language": "text/fhirpath", "expression": "status.exists()"},
          {"language": "text/fhirpath", "expression": "%before.exists() implies %before.status != ''final''"}]}]}')
) AS p(policy) \g /dev/null

SELECT bench.membership('m-patient', 'Patient/' || patient_id, '{"accessPolicy": {"reference": "AccessPolicy/bench-patient"}}')
FROM bench.subject \g /dev/null
SELECT bench.membership('m-org', 'Practitioner/pr1', jsonb_build_object('access', jsonb_build_array(jsonb_build_object(
    'policy', jsonb_build_object('reference', 'AccessPolicy/bench-org'),
    'parameter', jsonb_build_array(jsonb_build_object('name', 'org', 'valueReference', jsonb_build_object('reference', 'Organization/' || org_id)))))))
FROM bench.subject \g /dev/null
SELECT bench.membership('m-all', 'Practitioner/pr2', '{"accessPolicy": {"reference": "AccessPolicy/bench-all"}}') \g /dev/null
SELECT bench.membership('m-hidden', 'Practitioner/pr3', '{"accessPolicy": {"reference": "AccessPolicy/bench-hidden"}}') \g /dev/null
SELECT bench.membership('m-writer', 'Practitioner/pr4', '{"accessPolicy": {"reference": "AccessPolicy/bench-writer"}}') \g /dev/null
-- One policy, 1,000 parameter instances: one access[] entry per organization.
SELECT bench.membership('m-orgs', 'Practitioner/pr5', jsonb_build_object('access', (
    SELECT jsonb_agg(jsonb_build_object(
        'policy', jsonb_build_object('reference', 'AccessPolicy/bench-org'),
        'parameter', jsonb_build_array(jsonb_build_object('name', 'org', 'valueReference', jsonb_build_object('reference', 'Organization/o' || n))))
        ORDER BY n)
    FROM generate_series(1, 1000) n))) \g /dev/null
