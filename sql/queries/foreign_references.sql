-- Of the given references, those to stored resources of another project.
-- Global resources (Users not scoped to a project) have no project.
SELECT r.resource_type || '/' || r.id
FROM unnest($1::text[], $2::text[]) AS ref(resource_type, id)
JOIN fhir.resource r USING (resource_type, id)
WHERE r.project_id <> $3 AND r.project_id <> ''
ORDER BY 1
