-- One request of the demo, as :membership (described by :who).
\echo
\echo '== As' :who
BEGIN;
SELECT fhir.set_membership(:'membership', local => true) IS NOT NULL AS acting \gset
\echo '-- SELECT ... FROM fhir.resources WHERE resource_type = ''Patient'''
SELECT id, content->'address'->0->>'state' AS state, content->'telecom'->0->>'value' AS phone
FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;
\echo '-- SELECT ... FROM fhir.resources WHERE resource_type = ''Observation'''
SELECT content->'subject'->>'reference' AS patient, content->'valueQuantity'->>'value' AS bpm
FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY 1, 2;
\echo '-- fhir.search(''Patient'', ''address-state=CA'')'
SELECT x->>'id' AS id FROM fhir.search('Patient', 'address-state=CA') x ORDER BY 1;
COMMIT;
