-- 1l, 3al. Rows 1 and 3a while the system writes one Observation every
-- 5 ms in another session (bench.write_load, started by scripts/bench.sh),
-- against their clean times.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SET fhir.explain_analyze = on;
\o /dev/null
SELECT pg_sleep(2);
SELECT bench.again('1l', 'row 1 under a steady write load', '≤ 1.5 × row 1', 1.5, '1');
SELECT bench.again('3al', 'row 3a under a steady write load', '≤ 1.5 × row 3a', 1.5, '3a');
UPDATE bench.result SET note = bench.pending_pages() || ' at the end' WHERE no IN ('1l', '3al');
