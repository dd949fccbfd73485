-- Measuring: medians of EXPLAIN ANALYZE execution times, the measured query as
-- the client role bench_gateway acting as a membership, the baseline as the
-- system (or as another membership), interleaved run by run.
\set ON_ERROR_STOP 1
\set QUIET 1
-- The measured queries run as a client, which may EXPLAIN ANALYZE only when a
-- superuser allows it for the session.
SET fhir.explain_analyze = on;
CREATE EXTENSION IF NOT EXISTS pageinspect;

CREATE TABLE IF NOT EXISTS bench.result (
    no text PRIMARY KEY, name text, target text, max_ratio numeric,
    measured_ms numeric, baseline_ms numeric, planning_ms numeric,
    rows_measured bigint, rows_baseline bigint, needs_index boolean, plan text, note text,
    membership text, query text);
TRUNCATE bench.result;

-- True when fhir.resource has the tokens column and its GIN operators.
CREATE OR REPLACE FUNCTION bench.has_tokens() RETURNS boolean LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'fhir.resource'::regclass AND attname = 'tokens' AND NOT attisdropped)
       AND to_regoperator('fhir.@>(text[],text[])') IS NOT NULL;

CREATE OR REPLACE FUNCTION bench.has_search() RETURNS boolean LANGUAGE sql STABLE
RETURN to_regprocedure('fhir.search(text,text)') IS NOT NULL;

CREATE OR REPLACE FUNCTION bench.median(numeric[]) RETURNS numeric LANGUAGE sql IMMUTABLE
RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest($1) x);

-- EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) of one statement, as JSON; with
-- rollback, whatever the statement wrote is undone.
CREATE OR REPLACE FUNCTION bench.explain(q text, rollback boolean DEFAULT false) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    IF NOT rollback THEN
        EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) ' || q INTO r;
        RETURN (r -> 0)::jsonb;
    END IF;
    BEGIN
        EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) ' || q INTO r;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'BR000';
    EXCEPTION WHEN SQLSTATE 'BR000' THEN
        RETURN (r -> 0)::jsonb;
    END;
END
$$;

-- Rows a query returns (a count(*) query: its count).
CREATE OR REPLACE FUNCTION bench.row_count(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF q ~* '^\s*select\s+count\(' THEN
        EXECUTE q INTO n;
    ELSE
        EXECUTE 'SELECT count(*) FROM (' || q || ') q' INTO n;
    END IF;
    RETURN n;
END
$$;

-- The plan lines that show how fhir.resource is reached.
CREATE OR REPLACE FUNCTION bench.plan_lines(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    lines text[] := '{}';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ '(Index Scan|Index Only Scan|Bitmap Index Scan|Index Cond|Seq Scan|Function Scan)' THEN
            lines := lines || line;
        END IF;
    END LOOP;
    RETURN array_to_string(lines, E'\n');
END
$$;

-- Acts as a membership through the gateway role, or as the system (NULL).
CREATE OR REPLACE FUNCTION bench.act_as(membership text, audit text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    -- The audit level is the superuser's to set, before the role switch.
    PERFORM set_config('fhir.audit', coalesce(audit, 'writes'), false);
    IF membership IS NOT NULL THEN
        SET ROLE bench_gateway;
        PERFORM fhir.set_membership(membership);
    END IF;
END
$$;

-- One row of the table: 2 warm-up and `runs` measured rounds, measured and
-- baseline interleaved (alternating which goes first).
CREATE OR REPLACE FUNCTION bench.compare(
    no text, name text, target text, max_ratio numeric, membership text, measured text, baseline text,
    baseline_membership text DEFAULT NULL, needs_index boolean DEFAULT false, rollback boolean DEFAULT false,
    note text DEFAULT NULL, runs int DEFAULT 7, warm int DEFAULT 2,
    measured_audit text DEFAULT NULL, baseline_audit text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m_ms numeric[] := '{}';
    b_ms numeric[] := '{}';
    p_ms numeric[] := '{}';
    m jsonb;
    b jsonb;
    r_m bigint;
    r_b bigint;
    plan text;
BEGIN
    IF measured IS NULL THEN
        INSERT INTO bench.result (no, name, target, max_ratio, note) VALUES (no, name, target, max_ratio, note);
        RETURN;
    END IF;
    BEGIN
        IF NOT rollback THEN
            PERFORM bench.act_as(membership, measured_audit);
            r_m := bench.row_count(measured);
            plan := bench.plan_lines(measured);
            PERFORM bench.act_as(baseline_membership, baseline_audit);
            r_b := bench.row_count(baseline);
        END IF;
        FOR i IN 1 .. warm + runs LOOP
            IF i % 2 = 0 THEN
                PERFORM bench.act_as(baseline_membership, baseline_audit);
                b := bench.explain(baseline, rollback);
            END IF;
            PERFORM bench.act_as(membership, measured_audit);
            m := bench.explain(measured, rollback);
            IF i % 2 = 1 THEN
                PERFORM bench.act_as(baseline_membership, baseline_audit);
                b := bench.explain(baseline, rollback);
            END IF;
            IF i > warm THEN
                m_ms := m_ms || (m ->> 'Execution Time')::numeric;
                p_ms := p_ms || (m ->> 'Planning Time')::numeric;
                b_ms := b_ms || (b ->> 'Execution Time')::numeric;
            END IF;
        END LOOP;
        PERFORM bench.act_as(NULL);
        INSERT INTO bench.result VALUES (no, name, target, max_ratio, bench.median(m_ms), bench.median(b_ms), bench.median(p_ms),
                                         r_m, r_b, needs_index, plan, note, membership, measured);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO bench.result (no, name, target, max_ratio, note)
        VALUES (no, name, target, max_ratio, concat_ws('; ', note, 'error: ' || SQLERRM));
    END;
END
$$;

-- A row measured again in another state of the database (after a burst of
-- writes, or under a steady write load), against its own clean time: the
-- baseline is the measured time `of_row` recorded.
CREATE OR REPLACE FUNCTION bench.again(no text, name text, target text, max_ratio numeric, of_row text, note text DEFAULT NULL,
                                       runs int DEFAULT 7, warm int DEFAULT 2) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    clean bench.result;
    m_ms numeric[] := '{}';
    p_ms numeric[] := '{}';
    m jsonb;
    r_m bigint;
    plan text;
BEGIN
    SELECT * INTO clean FROM bench.result WHERE result.no = of_row;
    IF clean.measured_ms IS NULL THEN
        INSERT INTO bench.result (no, name, target, max_ratio, note) VALUES (no, name, target, max_ratio, 'row ' || of_row || ' was not measured');
        RETURN;
    END IF;
    PERFORM bench.act_as(clean.membership);
    FOR i IN 1 .. warm + runs LOOP
        m := bench.explain(clean.query);
        IF i > warm THEN
            m_ms := m_ms || (m ->> 'Execution Time')::numeric;
            p_ms := p_ms || (m ->> 'Planning Time')::numeric;
        END IF;
    END LOOP;
    r_m := bench.row_count(clean.query);
    plan := bench.plan_lines(clean.query);
    PERFORM bench.act_as(NULL);
    INSERT INTO bench.result VALUES (no, name, target, max_ratio, bench.median(m_ms), clean.measured_ms, bench.median(p_ms),
                                     r_m, clean.rows_measured, clean.needs_index, plan, note, clean.membership, clean.query);
END
$$;

-- The GIN pending-list pages of fhir.resource's indexes (what a read under
-- policy scans besides the index's tree), for the notes of those rows.
CREATE OR REPLACE FUNCTION bench.pending_pages() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s: %s pending pages', c.relname, (gin_metapage_info(get_raw_page(c.oid::regclass::text, 0))).n_pending_pages), ', '
                               ORDER BY c.relname), 'no GIN index')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
    WHERE i.indrelid = 'fhir.resource'::regclass AND a.amname = 'gin'
$$;

-- A steady write load for the rows measured under it: one create by the
-- system every `pause`, each committed, until bench.load_stop has a row.
CREATE TABLE IF NOT EXISTS bench.load_stop (stopped boolean);
CREATE OR REPLACE PROCEDURE bench.write_load(first int, pause float8 DEFAULT 0.005) LANGUAGE plpgsql AS $$
DECLARE
    n int := first;
    started timestamptz := clock_timestamp();
BEGIN
    WHILE NOT EXISTS (SELECT 1 FROM bench.load_stop) LOOP
        PERFORM fhir.create(bench.observation(n));
        n := n + 1;
        COMMIT;
        PERFORM pg_sleep(pause);
    END LOOP;
    RAISE NOTICE 'background writer: % creates in % s', n - first, round(extract(epoch FROM clock_timestamp() - started)::numeric, 1);
END
$$;

-- Warm per-call cost of fhir.set_membership: `calls` calls in one session,
-- median over `runs` rounds after 2 warm-up rounds, in microseconds.
CREATE OR REPLACE FUNCTION bench.set_membership_cost(no text, name text, membership text, calls int DEFAULT 1000, runs int DEFAULT 7)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    per_call numeric[] := '{}';
    t0 timestamptz;
BEGIN
    BEGIN
        PERFORM bench.act_as(membership);
        -- Fewer calls per round when one call is slow, so a round stays near a second.
        t0 := clock_timestamp();
        FOR i IN 1 .. 10 LOOP
            PERFORM fhir.set_membership(membership);
        END LOOP;
        calls := least(calls, greatest(10, (10 / greatest(extract(epoch FROM clock_timestamp() - t0), 1e-6))::int));
        FOR r IN 1 .. runs + 2 LOOP
            t0 := clock_timestamp();
            FOR i IN 1 .. calls LOOP
                PERFORM fhir.set_membership(membership);
            END LOOP;
            IF r > 2 THEN
                per_call := per_call || extract(epoch FROM clock_timestamp() - t0)::numeric * 1e6 / calls;
            END IF;
        END LOOP;
        PERFORM bench.act_as(NULL);
        INSERT INTO bench.result (no, name, target, max_ratio, measured_ms, note)
        VALUES (no, name, '≤ 100 µs', 100, bench.median(per_call) / 1000, format('%s calls per round', calls));
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO bench.result (no, name, target, max_ratio, note) VALUES (no, name, '≤ 100 µs', 100, 'error: ' || SQLERRM);
    END;
END
$$;

GRANT USAGE ON SCHEMA bench TO bench_gateway;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bench TO bench_gateway;
