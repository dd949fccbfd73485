-- Every version of a resource, newest first.
SELECT deleted, content
FROM fhir.resource_history
WHERE resource_type = $1 AND id = $2
ORDER BY last_updated DESC
