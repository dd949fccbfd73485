-- The User with this email: global (project '') or scoped to one project.
SELECT id FROM fhir.resource
WHERE resource_type = 'User' AND NOT deleted AND project_id = $2 AND lower(content->>'email') = lower($1)
ORDER BY last_updated
LIMIT 1
