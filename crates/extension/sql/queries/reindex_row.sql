-- Re-derived tokens and compartments of one version, in place: the current
-- row (if it is still that version and no writer holds it) and its history row.
WITH cur AS (
    UPDATE fhir.resource
    SET tokens = $4, content = jsonb_set(content, '{meta,compartment}', $5)
    WHERE resource_type = $1 AND id = $2 AND version_id = $3
      AND ctid = (SELECT ctid FROM fhir.resource WHERE resource_type = $1 AND id = $2 FOR UPDATE SKIP LOCKED)
    RETURNING resource_type, id, version_id
), hist AS (
    UPDATE fhir.resource_history h
    SET content = jsonb_set(h.content, '{meta,compartment}', $5)
    FROM cur
    WHERE (h.resource_type, h.id, h.version_id) = (cur.resource_type, cur.id, cur.version_id)
    RETURNING 1
)
SELECT count(*) FROM cur
