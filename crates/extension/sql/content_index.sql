-- Plain SQL on content, indexable under policy (content_index.rs).
--
-- A containment operator declared LEAKPROOF, for the reason the token
-- operators are: a client's `content @> …` or `content->'a'->>'b' = …` is
-- not leakproof, so the planner hook adds the containment it implies with
-- this operator, which the GIN index below answers before row-level
-- security. jsonb_contains (called through operators.rs) raises no
-- data-dependent errors.
CREATE FUNCTION fhir.content_contains(jsonb, jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'content_contains_wrapper';
CREATE OPERATOR fhir.@> (
    LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = fhir.content_contains,
    RESTRICT = fhir._content_contains_sel, JOIN = matchingjoinsel);

-- GIN over jsonb with that operator (as the built-in jsonb_path_ops).
CREATE OPERATOR CLASS fhir.content_ops FOR TYPE jsonb USING gin AS
    OPERATOR 7 fhir.@> (jsonb, jsonb),
    FUNCTION 1 btint4cmp(int4, int4),
    FUNCTION 2 gin_extract_jsonb_path(jsonb, internal, internal),
    FUNCTION 3 gin_extract_jsonb_query_path(jsonb, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 gin_consistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal, internal),
    FUNCTION 6 gin_triconsistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal),
    STORAGE int4;

-- A small pending list, as resource_tokens_idx (schema.sql).
CREATE INDEX resource_content_idx ON fhir.resource USING gin (content fhir.content_ops) WITH (gin_pending_list_limit = 64);
