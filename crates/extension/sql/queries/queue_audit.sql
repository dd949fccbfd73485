-- An audit record of a successful interaction, for the audit writer.
INSERT INTO fhir.audit_queue (project_id, content) VALUES ($1, $2)
