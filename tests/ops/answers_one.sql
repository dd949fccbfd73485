-- One membership's answers (answers.sql sets :membership).
BEGIN;
SELECT fhir.set_membership(:'membership', local => true) IS NOT NULL AS set \g /dev/null
SELECT 'as ' || fhir.current_membership();
SELECT 'effective ' || fhir.effective_policy()::text;
SELECT 'view ' || resource_type || '/' || id || ' ' || version_id || ' ' || content::text FROM fhir.resources ORDER BY resource_type, id;
SELECT 'search ' || x::text FROM fhir.search('Patient', 'gender=female&_sort=-birthdate') x;
SELECT 'search ' || x::text FROM fhir.search('Observation', 'subject=Patient/p3') x;
SELECT 'history ' || h::text FROM fhir.history('Patient', 'p3') h;
SELECT 'read ' || fhir.read('Patient', 'p3')::text;
SELECT 'explain ' || (fhir.explain_access('Patient', 'p3', 'read') - 'predicate')::text;
COMMIT;
