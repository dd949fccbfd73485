-- The accounts of the given Patients of one project: a reference to another
-- project's Patient inherits nothing from it.
SELECT a->>'reference'
FROM fhir.resource, jsonb_array_elements(content->'meta'->'accounts') a
WHERE resource_type = 'Patient' AND id = ANY($1) AND project_id = $2 AND NOT deleted
