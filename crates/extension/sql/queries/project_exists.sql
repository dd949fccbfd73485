SELECT EXISTS (SELECT 1 FROM fhir.resource WHERE resource_type = 'Project' AND id = $1 AND NOT deleted)
