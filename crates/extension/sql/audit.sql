-- The audit trail's one removal: the system purges AuditEvents older than an
-- age (the interactions refuse to change or delete them, even for the system).
-- Superuser-only: clients have no privilege on the tables it deletes from.
CREATE FUNCTION fhir.purge_audit(older_than interval) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    purged bigint;
BEGIN
    -- A mixed interval ('1 mon -30 days') can be positive yet end in the future.
    IF older_than IS NULL OR now() - older_than > now() THEN
        RAISE EXCEPTION 'older_than must be an interval of zero or more'
            USING ERRCODE = '22023',
                  DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"older_than must be an interval of zero or more"}}]}';
    END IF;
    WITH gone AS (
        DELETE FROM fhir.resource
        WHERE resource_type = 'AuditEvent' AND last_updated < now() - older_than
        RETURNING id
    ), versions AS (
        DELETE FROM fhir.resource_history h
        WHERE h.resource_type = 'AuditEvent' AND h.id IN (SELECT id FROM gone)
    )
    SELECT count(*) INTO purged FROM gone;
    RETURN purged;
END
$$;

REVOKE ALL ON FUNCTION fhir.purge_audit(interval) FROM PUBLIC;

-- Moving the queue is the audit writer's work; the system may hurry it.
REVOKE ALL ON FUNCTION fhir.flush_audit() FROM PUBLIC;

-- The audit writer's lock (see sql/queries/lock_audit.sql). LOCK is a
-- statement, so a function runs it for SPI; SHARE UPDATE EXCLUSIVE conflicts
-- with itself but not with the inserts that queue records.
CREATE FUNCTION fhir._lock_audit_queue(wait boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF wait THEN
        LOCK TABLE fhir.audit_queue IN SHARE UPDATE EXCLUSIVE MODE;
    ELSE
        LOCK TABLE fhir.audit_queue IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
    END IF;
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    RETURN false;
END
$$;
REVOKE ALL ON FUNCTION fhir._lock_audit_queue(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fhir._lock_audit_queue(boolean) TO fhir_writer;
