-- Up to $1 queued audit records, taken off the queue (the transaction that
-- stores them as AuditEvents commits both, or neither).
DELETE FROM fhir.audit_queue
WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT ctid FROM fhir.audit_queue LIMIT $1))
RETURNING project_id, content
