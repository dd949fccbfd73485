-- fhir.resources: the resources the session may read, for any SQL client.
-- INSERT, UPDATE and DELETE on it do what fhir.create, fhir.update and
-- fhir.delete do, with the same checks.

-- Owned by fhir_reader, so row-level security on fhir.resource applies to
-- every reader, the system included (its policies admit the system). Hidden
-- fields are removed from content before any filter of the caller sees it.
-- A security barrier: a caller's non-leakproof function never sees a deleted
-- row; leakproof conditions (the token and content operators) still reach
-- the index. Two branches, of which a one-time filter runs one: a session
-- that hides nothing reads the raw, indexable content; a session that hides
-- fields reads redacted content, so its conditions never test hidden values.
CREATE VIEW fhir.resources WITH (security_barrier) AS
SELECT resource_type, id, version_id, last_updated, project_id, content
FROM fhir.resource
WHERE NOT deleted AND NOT (SELECT fhir._session_redacts(fhir._session()))
UNION ALL
SELECT resource_type, id, version_id, last_updated, project_id,
       fhir._redact((SELECT fhir._session()), resource_type, tokens, content)
FROM fhir.resource
WHERE NOT deleted AND (SELECT fhir._session_redacts(fhir._session()));

ALTER VIEW fhir.resources OWNER TO fhir_reader;

CREATE FUNCTION fhir.resources_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM fhir.delete(OLD.resource_type, OLD.id);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        stored := fhir.create(NEW.content);
    ELSE
        IF NEW.resource_type IS DISTINCT FROM OLD.resource_type OR NEW.id IS DISTINCT FROM OLD.id THEN
            RAISE EXCEPTION 'resource_type and id cannot change'
                USING ERRCODE = '22023',
                      DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"resource_type and id cannot change"}}]}';
        END IF;
        -- The row's identity wins over whatever id the new content names.
        stored := fhir.update(jsonb_set(NEW.content, '{id}', to_jsonb(OLD.id)));
    END IF;
    -- RETURNING shows the stored resource.
    NEW.resource_type := stored->>'resourceType';
    NEW.id := stored->>'id';
    NEW.version_id := stored->'meta'->>'versionId';
    NEW.last_updated := (stored->'meta'->>'lastUpdated')::timestamptz;
    NEW.project_id := stored->'meta'->>'project';
    NEW.content := stored;
    RETURN NEW;
END
$$;

CREATE TRIGGER resources_write
INSTEAD OF INSERT OR UPDATE OR DELETE ON fhir.resources
FOR EACH ROW EXECUTE FUNCTION fhir.resources_write();
