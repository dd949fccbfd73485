-- The current ProjectMemberships of a project, and of every super-admin
-- project (their members reach all projects).
SELECT m.id FROM fhir.resource m
WHERE m.resource_type = 'ProjectMembership' AND NOT m.deleted
  AND (m.project_id = $1
       OR m.project_id IN (SELECT p.id FROM fhir.resource p
                           WHERE p.resource_type = 'Project' AND NOT p.deleted AND p.content->'superAdmin' = 'true'))
ORDER BY m.id
