-- A new version of an existing resource: replace its current row, add a
-- history row. Counts the rows written.
WITH cur AS (
    UPDATE fhir.resource
    SET project_id = $3, version_id = $4, last_updated = $5::timestamptz, deleted = $6, tokens = $7, content = $8
    WHERE resource_type = $1 AND id = $2
    RETURNING resource_type, id, version_id, project_id, last_updated, deleted, content
), hist AS (
    INSERT INTO fhir.resource_history (resource_type, id, version_id, project_id, last_updated, deleted, content)
    SELECT resource_type, id, version_id, project_id, last_updated, deleted, content FROM cur
    RETURNING 1
)
SELECT count(*) FROM hist
