-- The audit writer's lock, held until the transaction ends: one writer moves
-- the queue at a time ($1: wait for it, or give up at once). A table lock that
-- clients, without privileges on the queue, cannot take; it does not conflict
-- with the inserts that queue records.
SELECT fhir._lock_audit_queue($1)
