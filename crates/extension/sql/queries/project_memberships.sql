-- The current ProjectMemberships of a project.
SELECT id FROM fhir.resource
WHERE resource_type = 'ProjectMembership' AND project_id = $1 AND NOT deleted
ORDER BY id
