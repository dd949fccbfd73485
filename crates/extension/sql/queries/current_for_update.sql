-- The current version of a resource, locked until the writing transaction ends.
SELECT project_id, version_id, (extract(epoch FROM last_updated) * 1000000)::int8 - 946684800000000, deleted, tokens, content
FROM fhir.resource
WHERE resource_type = $1 AND id = $2
FOR UPDATE
