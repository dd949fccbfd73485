-- An analyst's psql session over fhir.resources, in plain SQL. The role
-- "analyst" is bound to one membership, whose AccessPolicy reads Patients
-- without their name and telecom, reads Observations, and writes nothing: the
-- session sets nothing, the binding applies.
--
--   psql -X -h HOST -U analyst -d DATABASE -f session.sql
\set VERBOSITY verbose
\pset pager off

\echo '== The policy this role acts under'
SELECT e->>'resourceType' AS type, e->'hiddenFields' AS hidden, e->'interaction' AS interactions
FROM jsonb_array_elements(fhir.effective_policy()->'resource') e;

\echo '== Resources by type: the clinic only, though the database holds another tenant'
SELECT resource_type, count(*) FROM fhir.resources GROUP BY 1 ORDER BY 1;

\echo '== Patients, de-identified: no name, no telecom'
SELECT id, content->>'gender' AS gender, content->>'birthDate' AS born, content ? 'name' AS has_name
FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;

\echo '== A jsonb path query: heart rates above 70'
SELECT id, jsonb_path_query_first(content, '$.valueQuantity.value') AS bpm
FROM fhir.resources WHERE resource_type = 'Observation' AND content @@ '$.valueQuantity.value > 70' ORDER BY id;

\echo '== Observations joined to their Patients'
SELECT o.id, p.id AS patient, p.content->>'gender' AS gender, o.content #>> '{valueQuantity,value}' AS bpm
FROM fhir.resources o
JOIN fhir.resources p ON p.resource_type = 'Patient' AND p.project_id = o.project_id
                     AND 'Patient/' || p.id = o.content->'subject'->>'reference'
WHERE o.resource_type = 'Observation' AND o.project_id = 'clinic'
ORDER BY o.id;

\echo '== A hidden field finds nothing, in SQL or in a search'
SELECT count(*) AS named_ortiz FROM fhir.resources WHERE content @> '{"name": [{"family": "Ortiz"}]}';
SELECT count(*) AS searched_ortiz FROM fhir.search('Patient', 'name=Ortiz');

\echo '== A write is refused (42501, an OperationOutcome as DETAIL)'
UPDATE fhir.resources SET content = content || '{"active": false}' WHERE resource_type = 'Patient' AND id = 'p1';

\echo '== Plans (COSTS OFF: EXPLAIN ANALYZE and estimates are refused to clients)'
\echo '-- by type and id'
EXPLAIN (COSTS OFF) SELECT content FROM fhir.resources WHERE resource_type = 'Observation' AND id = 'o1';
\echo '-- by type alone'
EXPLAIN (COSTS OFF) SELECT count(*) FROM fhir.resources WHERE resource_type = 'Observation';
\echo '-- by project and type'
EXPLAIN (COSTS OFF) SELECT count(*) FROM fhir.resources WHERE project_id = 'clinic' AND resource_type = 'Observation';
\echo '-- by content @>'
EXPLAIN (COSTS OFF) SELECT id FROM fhir.resources WHERE content @> '{"subject": {"reference": "Patient/p1"}}';
\echo '-- by content->>, with project and type'
EXPLAIN (COSTS OFF) SELECT id FROM fhir.resources
WHERE project_id = 'clinic' AND resource_type = 'Observation' AND content->'subject'->>'reference' = 'Patient/p1';
\echo '-- the join above'
EXPLAIN (COSTS OFF) SELECT o.id, p.id FROM fhir.resources o
JOIN fhir.resources p ON p.resource_type = 'Patient' AND p.project_id = o.project_id
                     AND 'Patient/' || p.id = o.content->'subject'->>'reference'
WHERE o.resource_type = 'Observation' AND o.project_id = 'clinic';
\echo '-- a search'
EXPLAIN (COSTS OFF) SELECT * FROM fhir.search('Observation', 'subject=Patient/p1');
