-- The table of bench.result as markdown, then the plan lines of the rows that
-- need an index scan (EXPLAIN of the measured query as the client role).
\set QUIET 1
\pset format unaligned
\pset tuples_only on

CREATE OR REPLACE FUNCTION bench.ms(x numeric) RETURNS text LANGUAGE sql IMMUTABLE
RETURN CASE WHEN x IS NULL THEN '—' WHEN x < 10 THEN round(x, 3)::text ELSE round(x, 1)::text END;

WITH r AS (
    SELECT r.*,
           CASE WHEN r.no = '8' OR r.no = '8b' THEN NULL ELSE r.measured_ms / nullif(r.baseline_ms, 0) END AS ratio,
           CASE WHEN r.no = '4' THEN 1.3 * (SELECT measured_ms / nullif(baseline_ms, 0) FROM bench.result WHERE no = '1')
                ELSE r.max_ratio END AS limit_ratio,
           -- an index condition on more than the type and project (those scan every row of the type)
           EXISTS (SELECT 1 FROM regexp_split_to_table(r.plan, E'\n') l
                   WHERE l ~ 'Index Cond' AND regexp_replace(l, '(resource_type|project_id) = [^)]*', '', 'g') ~ '\w+ (=|@>|&&|<@|~~|<|>|OPERATOR)') AS indexed
    FROM bench.result r
), v AS (
    SELECT r.*,
        CASE
            WHEN measured_ms IS NULL THEN 'SKIP'
            WHEN rows_measured IS DISTINCT FROM rows_baseline THEN 'MISMATCH'
            ELSE coalesce('MISS (' || nullif(concat_ws(', ',
                     CASE WHEN no IN ('8', '8b') AND measured_ms * 1000 > max_ratio THEN 'time' END,
                     CASE WHEN ratio > limit_ratio THEN 'ratio' END,
                     CASE WHEN no = '4' AND planning_ms > 2 THEN 'planning' END,
                     CASE WHEN needs_index AND plan NOT LIKE '%Function Scan%' AND NOT indexed THEN 'no index scan' END), '') || ')',
                 CASE WHEN needs_index AND plan LIKE '%Function Scan%' THEN 'PASS (index not visible inside the function)' ELSE 'PASS' END)
        END AS verdict
    FROM r
)
SELECT line FROM (
    SELECT 0 AS ord, '| # | case | rows measured / baseline | measured ms | baseline ms | ratio | planning ms | target | result |' AS line
    UNION ALL SELECT 1, '|---|---|---|---|---|---|---|---|---|'
    UNION ALL
    SELECT 2 + row_number() OVER (ORDER BY CASE WHEN no = '4' THEN '1z' ELSE no END),
           format('| %s | %s | %s | %s | %s | %s | %s | %s | %s |', no, name,
                  CASE WHEN rows_measured IS NULL THEN '—' ELSE rows_measured || ' / ' || rows_baseline END,
                  CASE WHEN no IN ('8', '8b') AND measured_ms IS NOT NULL THEN round(measured_ms * 1000, 1) || ' µs/call' ELSE bench.ms(measured_ms) END,
                  bench.ms(baseline_ms),
                  coalesce(round(ratio, 2)::text, '—'),
                  bench.ms(planning_ms),
                  target || CASE WHEN no = '4' AND limit_ratio IS NOT NULL THEN format(' (≤ %s)', round(limit_ratio, 2)) ELSE '' END,
                  verdict || coalesce(' — ' || note, '')
                          || CASE WHEN no IN ('7', '7b') AND measured_ms > 0
                                  THEN format(' — %s resources/s for one client (baseline %s/s)', round(10000 / (measured_ms / 1000)),
                                              round(10000 / (baseline_ms / 1000))) ELSE '' END)
    FROM v
) t ORDER BY ord;

\echo
\echo 'Plans of the measured queries as bench_gateway (index rows):'
SELECT format(E'\n%s. %s\n%s', no, name, coalesce(nullif(plan, ''), '(no plan: not measured)'))
FROM bench.result WHERE needs_index ORDER BY CASE WHEN no = '4' THEN '1z' ELSE no END;
\echo
SELECT CASE WHEN bench.has_tokens() THEN 'Baselines: the tokens column with OPERATOR(fhir.@>) / OPERATOR(fhir.&&).'
            ELSE 'Baselines: fhir.resource has no tokens column yet; the hand-written predicates use jsonb paths instead (no index).' END;
