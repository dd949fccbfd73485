-- fhir.search(resource_type, query): a FHIR search under the session's access.
--
-- It runs as fhir_reader, like the view: row-level security admits the rows
-- the session may read, hidden fields are removed the same way, and the rows
-- must also satisfy an entry granting `search`. The query's own conditions are
-- compiled by fhir._search_sql into a leakproof GIN condition on the tokens
-- (which PostgreSQL may use as an index condition under row-level security)
-- and an exact per-row check. When the audit trail covers searches, the ids
-- returned are collected for its record (fhir._audit_search).
CREATE FUNCTION fhir.search(resource_type text, query text DEFAULT '') RETURNS SETOF jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found record;
    ids text[] := '{}';
BEGIN
    IF NOT fhir._audits_search() THEN
        RETURN QUERY EXECUTE fhir._search_sql(resource_type, query) USING resource_type, query;
        RETURN;
    END IF;
    FOR found IN EXECUTE fhir._search_sql(resource_type, query) USING resource_type, query LOOP
        ids := ids || (found.content ->> 'id');
        RETURN NEXT found.content;
    END LOOP;
    PERFORM fhir._audit_search(resource_type, query, ids);
END
$$;

ALTER FUNCTION fhir.search(text, text) OWNER TO fhir_reader;

-- Only fhir.search records searches: a client calling it could forge records.
REVOKE ALL ON FUNCTION fhir._audit_search(text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fhir._audit_search(text, text, text[]) TO fhir_reader;
