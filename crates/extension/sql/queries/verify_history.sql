-- Current rows and history that disagree.
SELECT r.resource_type, r.id, 'the current version is not in history, or differs from it'
FROM fhir.resource r
WHERE NOT EXISTS (SELECT 1 FROM fhir.resource_history h
                  WHERE (h.resource_type, h.id, h.version_id) = (r.resource_type, r.id, r.version_id)
                    AND h.content = r.content AND h.deleted = r.deleted)
UNION ALL
SELECT DISTINCT h.resource_type, h.id, 'history holds a version newer than the current one'
FROM fhir.resource_history h JOIN fhir.resource r USING (resource_type, id)
WHERE h.last_updated > r.last_updated
UNION ALL
SELECT DISTINCT h.resource_type, h.id, 'history of a resource without a current row'
FROM fhir.resource_history h
WHERE NOT EXISTS (SELECT 1 FROM fhir.resource r WHERE (r.resource_type, r.id) = (h.resource_type, h.id))
ORDER BY 1, 2, 3
