-- fhir.search(resource_type, query): a FHIR search under the session's access.
--
-- It runs as fhir_reader, like the view: row-level security admits the rows
-- the session may read, hidden fields are removed the same way, and the rows
-- must also satisfy an entry granting `search`. The query's own conditions are
-- compiled by fhir._search_sql into a leakproof GIN condition on the tokens
-- (which PostgreSQL may use as an index condition under row-level security)
-- and an exact per-row check.
CREATE FUNCTION fhir.search(resource_type text, query text DEFAULT '') RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE fhir._search_sql(resource_type, query) USING resource_type, query;
END
$$;

ALTER FUNCTION fhir.search(text, text) OWNER TO fhir_reader;
