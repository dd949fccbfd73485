-- A small assertion kit for the SQL specification in tests/sql (loaded into
-- every test database before the test file; not part of the extension).
-- Each assertion returns one line, "ok - <what>" or "not ok - <what>: <why>",
-- which scripts/test.sh counts.

\set ON_ERROR_STOP 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;

CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO PUBLIC;

CREATE FUNCTION t.ok(pass boolean, what text) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN pass THEN 'ok - ' || what ELSE 'not ok - ' || what END
$$;

CREATE FUNCTION t.is(got anyelement, want anyelement, what text) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN got IS NOT DISTINCT FROM want THEN 'ok - ' || what
           ELSE format('not ok - %s: got %s, want %s', what, coalesce(got::text, 'NULL'), coalesce(want::text, 'NULL')) END
$$;

-- Runs sql and expects it to fail with the SQLSTATE (and, if given, a message LIKE pattern).
CREATE FUNCTION t.throws(sql text, state text, what text, message_like text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN format('not ok - %s: no error', what);
EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = state AND (message_like IS NULL OR SQLERRM LIKE message_like) THEN
        RETURN 'ok - ' || what;
    END IF;
    RETURN format('not ok - %s: got %s "%s", want %s', what, SQLSTATE, SQLERRM, state);
END
$$;

-- The DETAIL of the error sql raises, as jsonb (our DETAIL is an OperationOutcome).
CREATE FUNCTION t.error_detail(sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN detail::jsonb;
END
$$;

CREATE FUNCTION t.lives(sql text, what text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok - ' || what;
EXCEPTION WHEN OTHERS THEN
    RETURN format('not ok - %s: %s "%s"', what, SQLSTATE, SQLERRM);
END
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA t TO PUBLIC;
