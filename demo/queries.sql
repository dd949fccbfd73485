-- The same queries, answered for three memberships of one project.
\set QUIET on
SET ROLE demo_app;

\echo '== The doctor (no policy: every clinical resource of the project)'
SELECT fhir.set_membership('doctor') IS NOT NULL AS acting_as_doctor \gset
SELECT id, content->'address'->0->>'state' AS state, content->'telecom'->0->>'value' AS phone FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;
SELECT content->'subject'->>'reference' AS patient, content->'valueQuantity'->>'value' AS bpm FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY 1, 2;

\echo '== The nurse (Patient?address-state=CA, telecom hidden, no Observations)'
SELECT fhir.set_membership('ca-nurse') IS NOT NULL AS acting_as_nurse \gset
SELECT id, content->'address'->0->>'state' AS state, content->'telecom'->0->>'value' AS phone FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;
SELECT x->>'id' AS search_name_k FROM fhir.search('Patient', 'name=k') x;
\set ON_ERROR_STOP 0
\set VERBOSITY default
SELECT fhir.read('Patient', 'bob');
SELECT content FROM fhir.resources WHERE resource_type = 'Observation';
SELECT fhir.read('Observation', 'hr-ann-72');

\echo '== Ann, through the patient portal (her own compartment)'
SELECT fhir.set_membership('ann-portal') IS NOT NULL AS acting_as_ann \gset
SELECT id, content->'address'->0->>'state' AS state, content->'telecom'->0->>'value' AS phone FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;
SELECT content->'subject'->>'reference' AS patient, content->'valueQuantity'->>'value' AS bpm FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY 1, 2;
\echo '-- why Ann may not write her observations:'
SELECT jsonb_pretty(fhir.explain_access('Observation', 'hr-ann-72', 'update') - 'entries');
RESET ROLE;

\echo '== Bad input is refused with SQLSTATE 22023 and an OperationOutcome:'
\set VERBOSITY verbose
SELECT fhir.create('{"resourceType": "Patientt"}');
