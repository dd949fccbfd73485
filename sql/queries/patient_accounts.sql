-- The accounts of the given Patients.
SELECT a->>'reference'
FROM fhir.resource, jsonb_array_elements(content->'meta'->'accounts') a
WHERE resource_type = 'Patient' AND id = ANY($1) AND NOT deleted
