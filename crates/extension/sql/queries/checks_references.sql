-- Whether a project sets checkReferencesOnWrite.
SELECT COALESCE((content->'checkReferencesOnWrite') = 'true'::jsonb, false)
FROM fhir.resource
WHERE resource_type = 'Project' AND id = $1 AND NOT deleted
