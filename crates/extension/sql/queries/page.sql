-- One page of current rows (of one type, or all), in key order after ($2, $3).
SELECT resource_type, id, project_id, version_id, deleted, tokens, content
FROM fhir.resource
WHERE ($1::text IS NULL OR resource_type = $1) AND (resource_type, id) > ($2, $3)
ORDER BY resource_type, id
LIMIT 500
