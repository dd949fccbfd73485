SELECT deleted, content
FROM fhir.resource_history
WHERE resource_type = $1 AND id = $2 AND version_id = $3
