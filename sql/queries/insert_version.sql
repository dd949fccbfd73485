-- The first version of a resource: its current row and its history row.
WITH cur AS (
    INSERT INTO fhir.resource (resource_type, id, project_id, version_id, last_updated, deleted, tokens, content)
    VALUES ($1, $2, $3, $4, $5::timestamptz, $6, $7, $8)
    RETURNING resource_type, id, version_id, project_id, last_updated, deleted, content
)
INSERT INTO fhir.resource_history (resource_type, id, version_id, project_id, last_updated, deleted, content)
SELECT resource_type, id, version_id, project_id, last_updated, deleted, content FROM cur
