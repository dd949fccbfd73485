-- The tokens of every current resource of a type in a project.
SELECT tokens FROM fhir.resource WHERE project_id = $1 AND resource_type = $2 AND NOT deleted
