-- What the demo shows, as the system role.
\echo '-- Every resource through the fhir.resources view:'
SELECT resource_type, id, version_id, project_id FROM fhir.resources ORDER BY resource_type, id;

\echo '-- Heart rates per patient, in plain SQL over the view:'
SELECT content->'subject'->>'reference' AS patient, content->'valueQuantity'->>'value' AS bpm
FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY 1, 2;

\echo '-- An update makes a new version; history lists them newest first:'
SELECT fhir.patch('Patient', 'ann', '[{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "555-0100"}]}]')->'meta'->>'versionId' AS new_version;
SELECT h->'meta'->>'versionId' AS version, h->'telecom' AS telecom FROM fhir.history('Patient', 'ann') h;

\echo '-- Bad input is refused with SQLSTATE 22023 and an OperationOutcome:'
\set ON_ERROR_STOP 0
\set VERBOSITY verbose
SELECT fhir.create('{"resourceType": "Patientt"}');
