-- The first version of a resource: its current row and its history row.
-- Counts the rows written: 0 when the id was taken meanwhile (a concurrent
-- create of the same id that committed first).
WITH cur AS (
    INSERT INTO fhir.resource (resource_type, id, project_id, version_id, last_updated, deleted, tokens, content)
    VALUES ($1, $2, $3, $4, $5::timestamptz, $6, $7, $8)
    ON CONFLICT DO NOTHING
    RETURNING resource_type, id, version_id, project_id, last_updated, deleted, content
), hist AS (
    INSERT INTO fhir.resource_history (resource_type, id, version_id, project_id, last_updated, deleted, content)
    SELECT resource_type, id, version_id, project_id, last_updated, deleted, content FROM cur
    RETURNING 1
)
SELECT count(*) FROM hist
