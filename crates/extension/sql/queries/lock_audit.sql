-- The audit writer's lock, held until the transaction ends: one writer moves
-- the queue at a time ($1: wait for it, or give up at once).
SELECT CASE WHEN $1 THEN pg_catalog.pg_advisory_xact_lock(7166337716541211393) IS NOT NULL
            ELSE pg_catalog.pg_try_advisory_xact_lock(7166337716541211393) END
