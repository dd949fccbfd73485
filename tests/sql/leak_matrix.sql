-- The leak matrix, generated from the R4 model: every choice element at every
-- depth (crates/core/data/choice-elements.json), in every type it may take,
-- plus nested, array-in-array and meta paths, and primitive extensions
-- (`_birthDate`), which go with their element. Each case is a resource holding
-- a unique sentinel at that one place, read by a membership whose policy
-- hides the path; every route a client receives documents from, and every
-- write response, must never show the sentinel. Nor may a search tell the
-- case from a twin that lacks the hidden value.
CREATE EXTENSION fhir_access;
\set choices `cat :repo/crates/core/data/choice-elements.json`
\set params `cat :repo/crates/core/data/search-parameters.json`

DROP ROLE IF EXISTS lm_client;
CREATE ROLE lm_client;
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');

-- One case per (type, hidden path, concrete key): the sentinel sits at the
-- end of `segments` (intermediate elements are arrays of objects), under the
-- key `leaf`.
CREATE TABLE lm_case (n serial PRIMARY KEY, resource_type text, hidden text, segments text[], leaf text, kind text);
INSERT INTO lm_case (resource_type, hidden, segments, leaf, kind)
SELECT t.key, e.key || '[x]', string_to_array(e.key, '.'), s.suffix, s.suffix
FROM jsonb_each(:'choices'::jsonb) t, jsonb_each(t.value) e, jsonb_array_elements_text(e.value) s(suffix)
-- Types only admins and super admins reach have fixed entries of their own.
WHERE t.key NOT IN ('Project', 'ProjectMembership', 'User', 'UserSecurityRequest', 'PasswordChangeRequest',
                    'DomainConfiguration', 'JsonWebKey', 'Login', 'AccessPolicy')
ORDER BY 1, 2, 5;
INSERT INTO lm_case (resource_type, hidden, segments, leaf, kind) VALUES
  ('Patient', 'name.given', '{name,given}', '', 'String'),
  ('Patient', 'name', '{name,family}', '', 'String'),
  ('Patient', 'contact.name.given', '{contact,name,given}', '', 'String'),
  ('Patient', 'identifier.type.coding.code', '{identifier,type,coding,code}', '', 'String'),
  ('Patient', 'address.line', '{address,line}', '', 'String'),
  ('Patient', 'birthDate', '{birthDate}', '', 'String'),
  ('Patient', 'telecom.value', '{telecom,value}', '', 'String'),
  ('Patient', 'meta.tag', '{meta,tag,code}', '', 'String'),
  ('Patient', 'meta.tag.code', '{meta,tag,code}', '', 'String'),
  ('Patient', 'meta.security', '{meta,security,code}', '', 'String'),
  ('Patient', 'meta.source', '{meta,source}', '', 'String'),
  ('Patient', 'meta.profile', '{meta,profile}', '', 'String'),
  ('Patient', 'birthDate', '{_birthDate}', '', 'Element'),
  ('Patient', 'meta.accounts', '{meta,accounts}', '', 'ReferenceList'),
  ('Observation', 'meta.accounts', '{meta,accounts}', '', 'ReferenceList'),
  ('Patient', 'name.given', '{name,_given}', '', 'Element'),
  ('Patient', 'multipleBirth[x]', '{_multipleBirth}', 'Boolean', 'Element'),
  ('Observation', 'subject', '{subject}', '', 'Reference'),
  ('Observation', 'performer', '{performer}', '', 'Reference'),
  ('Observation', 'component.code', '{component,code}', '', 'CodeableConcept'),
  ('Observation', 'note.text', '{note,text}', '', 'String'),
  ('Encounter', 'subject', '{subject}', '', 'Reference'),
  ('Condition', 'subject', '{subject}', '', 'Reference'),
  ('DiagnosticReport', 'result', '{result}', '', 'Reference'),
  ('Basic', 'extension', '{extension,valueString}', '', 'String'),
  ('Basic', 'extension.value[x]', '{extension,valueString}', '', 'String');

-- The sentinel of case n, shaped as its type: a string for primitives, and
-- objects whose searchable parts carry it for complex types.
CREATE FUNCTION lm_value(kind text, n int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN kind IN ('ReferenceList') THEN jsonb_build_array(jsonb_build_object('reference', 'Organization/sentinel-' || n))
    WHEN kind IN ('Reference') THEN jsonb_build_object('reference', 'Patient/sentinel-' || n, 'display', 'SENTINEL-' || n)
    WHEN kind IN ('Quantity', 'Age', 'Count', 'Distance', 'Duration', 'Money') THEN
      jsonb_build_object('value', 987000 + n, 'unit', 'SENTINEL-' || n, 'system', 'urn:SENTINEL-' || n, 'code', 'SENTINEL-' || n, 'currency', 'SENTINEL-' || n)
    WHEN kind IN ('CodeableConcept') THEN
      jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'urn:SENTINEL-' || n, 'code', 'SENTINEL-' || n)), 'text', 'SENTINEL-' || n)
    WHEN kind IN ('Coding') THEN jsonb_build_object('system', 'urn:SENTINEL-' || n, 'code', 'SENTINEL-' || n)
    WHEN kind IN ('Period') THEN jsonb_build_object('start', '1901-01-01', 'end', '1901-01-02', 'id', 'SENTINEL-' || n)
    WHEN kind IN ('Range') THEN jsonb_build_object('low', jsonb_build_object('value', 987000 + n, 'unit', 'SENTINEL-' || n))
    WHEN kind IN ('Identifier') THEN jsonb_build_object('system', 'urn:SENTINEL-' || n, 'value', 'SENTINEL-' || n)
    WHEN kind IN ('Boolean', 'Integer', 'Decimal', 'PositiveInt', 'UnsignedInt', 'String', 'Code', 'Uri', 'Url', 'Canonical',
                  'Id', 'Oid', 'Uuid', 'Markdown', 'Base64Binary', 'Date', 'DateTime', 'Instant', 'Time') THEN to_jsonb('SENTINEL-' || n)
    ELSE jsonb_build_object('id', 'SENTINEL-' || n, 'text', 'SENTINEL-' || n, 'display', 'SENTINEL-' || n, 'value', 'SENTINEL-' || n,
                            'extension', jsonb_build_array(jsonb_build_object('url', 'urn:x', 'valueString', 'SENTINEL-' || n)))
  END
$$;

-- The document holding value at segments (+ leaf on the last one); every
-- intermediate element is an array of one object (array-in-array for lists).
CREATE FUNCTION lm_nest(segments text[], leaf text, value jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  doc jsonb := value;
BEGIN
  doc := jsonb_build_object(segments[array_length(segments, 1)] || leaf, doc);
  FOR i IN REVERSE array_length(segments, 1) - 1 .. 1 LOOP
    doc := jsonb_build_object(segments[i], CASE WHEN segments[i] = 'meta' THEN doc ELSE jsonb_build_array(doc) END);
  END LOOP;
  RETURN doc;
END
$$;

-- The case's resource, and its twin without the hidden value.
ALTER TABLE lm_case ADD COLUMN content jsonb, ADD COLUMN twin jsonb;
UPDATE lm_case SET content = jsonb_build_object('resourceType', resource_type, 'id', 'c' || n) || lm_nest(segments, leaf, lm_value(kind, n)),
                   twin = jsonb_build_object('resourceType', resource_type, 'id', 't' || n);
UPDATE lm_case SET content = jsonb_set(content, '{meta}', coalesce(content->'meta', '{}') || '{"project": "p"}'),
                   twin = twin || '{"meta": {"project": "p"}}';
SELECT t.ok(count(*) > 700, format('the matrix has %s cases from the model', count(*))) FROM lm_case;

-- The policy: one entry per type, hiding every path of the matrix for it.
SELECT fhir.create(jsonb_build_object('resourceType', 'AccessPolicy', 'id', 'hide', 'meta', jsonb_build_object('project', 'p'),
         'resource', jsonb_agg(jsonb_build_object('resourceType', resource_type, 'hiddenFields', hidden)))) IS NOT NULL AS policy
FROM (SELECT resource_type, jsonb_agg(DISTINCT hidden) AS hidden FROM lm_case GROUP BY 1) x;
SELECT count(*) > 0 AS stored FROM lm_case, fhir.create(content) a, fhir.create(twin) b;
-- A second version, so that vread and history have an earlier one to show.
SELECT count(*) > 0 AS updated FROM lm_case, fhir.update(content || '{"language": "en"}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "lm@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/hide"}}}')->>'id' AS member \gset
SELECT fhir.grant_client('lm_client');
SELECT fhir.bind_role('lm_client', :'member');
GRANT SELECT ON lm_case TO lm_client;

-- Every case through every route; the failures are the cases whose sentinel came back.
CREATE FUNCTION lm_leaks(route text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c lm_case;
  got text;
  leaked text[] := '{}';
  checked int := 0;
BEGIN
  FOR c IN SELECT * FROM lm_case ORDER BY n LOOP
    BEGIN
      IF route = 'view RETURNING' THEN
        EXECUTE 'WITH u AS (UPDATE fhir.resources r SET content = r.content || ''{"language": "it"}''
                            WHERE r.id = $1 AND r.resource_type = $2 RETURNING r.*)
                 SELECT string_agg(u::text, '' '') FROM u' INTO got USING 'c' || c.n, c.resource_type;
      ELSE
      got := CASE route
        WHEN 'read' THEN fhir.read(c.resource_type, 'c' || c.n)::text
        WHEN 'vread' THEN (SELECT string_agg(fhir.vread(c.resource_type, 'c' || c.n, h->'meta'->>'versionId')::text, ' ')
                           FROM fhir.history(c.resource_type, 'c' || c.n) h)
        WHEN 'history' THEN (SELECT string_agg(h::text, ' ') FROM fhir.history(c.resource_type, 'c' || c.n) h)
        WHEN 'view' THEN (SELECT string_agg(r::text, ' ') FROM fhir.resources r WHERE r.id = 'c' || c.n)
        WHEN 'view expression' THEN (SELECT string_agg(x::text, ' ') FROM fhir.resources r, jsonb_path_query(r.content, 'strict $.**') x
                                     WHERE r.id = 'c' || c.n)
        WHEN 'search' THEN (SELECT string_agg(s::text, ' ') FROM fhir.search(c.resource_type, '_id=c' || c.n) s)
        WHEN 'update response' THEN fhir.update(fhir.read(c.resource_type, 'c' || c.n) || '{"language": "de"}')::text
        WHEN 'patch response' THEN fhir.patch(c.resource_type, 'c' || c.n, '[{"op": "add", "path": "/language", "value": "fr"}]')::text
        WHEN 'create response' THEN fhir.create(c.content - 'id')::text
        WHEN 'explain_access' THEN fhir.explain_access(c.resource_type, 'c' || c.n, 'read')::text
      END;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      got := SQLSTATE || ' ' || SQLERRM;
    END;
    checked := checked + 1;
    -- Clients never write AuditEvents (tests/sql/audit.sql): that refusal shows nothing.
    CONTINUE WHEN c.resource_type = 'AuditEvent' AND route IN ('update response', 'patch response', 'view RETURNING', 'create response')
                  AND got LIKE '42501 AuditEvents are recorded by the server%';
    IF got IS NULL OR got LIKE '%' || 'SENTINEL-' || c.n || '%' OR got LIKE '%sentinel-' || c.n || '%'
       OR (route NOT IN ('create response', 'explain_access') AND got NOT LIKE '%"c' || c.n || '"%') THEN
      leaked := leaked || format('%s %s [%s]', c.resource_type, c.hidden, left(got, 160));
    END IF;
  END LOOP;
  RETURN t.is(array_length(leaked, 1), NULL, format('%s: no sentinel in %s cases (leaks: %s)', route, checked, left(array_to_string(leaked[1:5], ', '), 300)));
END
$$;
GRANT EXECUTE ON FUNCTION lm_leaks(text) TO lm_client;

SET ROLE lm_client;
SELECT lm_leaks(route) FROM unnest(ARRAY['read', 'vread', 'history', 'view', 'view expression', 'search', 'explain_access',
                                         'update response', 'patch response', 'view RETURNING', 'create response']) route;
RESET ROLE;

-- Writes kept every hidden value where it was.
SELECT t.is((SELECT count(*) FROM lm_case c JOIN fhir.resource r ON r.id = 'c' || c.n
             WHERE r.content::text NOT LIKE '%SENTINEL-' || c.n || '%' AND r.content::text NOT LIKE '%sentinel-' || c.n || '%'),
            0::bigint, 'every write kept the hidden value it could not see');

-- JSON Patch reaches only what the caller sees: copy, move and test of the
-- hidden value fail exactly as they do at a path that holds nothing.
CREATE FUNCTION lm_pointer(c lm_case) RETURNS text LANGUAGE sql AS $$
  SELECT '/' || string_agg(CASE WHEN i = array_length(c.segments, 1) THEN s || c.leaf WHEN s = 'meta' THEN s ELSE s || '/0' END, '/' ORDER BY i)
  FROM unnest(c.segments) WITH ORDINALITY u(s, i)
$$;
CREATE FUNCTION lm_patch_leaks() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c lm_case;
  hidden_outcome text;
  twin_outcome text;
  differ text[] := '{}';
  op jsonb;
BEGIN
  FOR c IN SELECT * FROM lm_case ORDER BY n LOOP
    FOREACH op IN ARRAY ARRAY[
        jsonb_build_object('op', 'copy', 'from', lm_pointer(c), 'path', '/language'),
        jsonb_build_object('op', 'move', 'from', lm_pointer(c), 'path', '/language'),
        jsonb_build_object('op', 'test', 'path', lm_pointer(c), 'value', lm_value(c.kind, c.n))] LOOP
      BEGIN
        PERFORM fhir.patch(c.resource_type, 'c' || c.n, jsonb_build_array(op));
        hidden_outcome := 'applied';
      EXCEPTION WHEN OTHERS THEN
        hidden_outcome := SQLSTATE || ' ' || replace(SQLERRM, 'c' || c.n, 'ID');
      END;
      BEGIN
        PERFORM fhir.patch(c.resource_type, 't' || c.n, jsonb_build_array(op));
        twin_outcome := 'applied';
      EXCEPTION WHEN OTHERS THEN
        twin_outcome := SQLSTATE || ' ' || replace(SQLERRM, 't' || c.n, 'ID');
      END;
      IF hidden_outcome IS DISTINCT FROM twin_outcome OR hidden_outcome = 'applied' THEN
        differ := differ || format('%s %s %s: %s / %s', c.resource_type, c.hidden, op->>'op', hidden_outcome, twin_outcome);
      END IF;
    END LOOP;
  END LOOP;
  RETURN t.is(array_length(differ, 1), NULL, format('patch copy, move and test: a hidden value is indistinguishable from none (%s)', left(array_to_string(differ[1:3], '; '), 400)));
END
$$;
GRANT EXECUTE ON FUNCTION lm_patch_leaks() TO lm_client;
GRANT EXECUTE ON FUNCTION lm_pointer(lm_case) TO lm_client;
SET ROLE lm_client;
SELECT lm_patch_leaks();
RESET ROLE;

-- Search: for every search parameter of the case's type that names the
-- hidden element's root (the rest cannot read it), the case and its twin are
-- found alike, by the sentinel, by :missing and by :not.
CREATE TABLE lm_param AS
SELECT t.key AS resource_type, p.key AS code, p.value->>'expression' AS expression
FROM jsonb_each(:'params'::jsonb) t, jsonb_each(t.value) p
UNION ALL
SELECT DISTINCT c.resource_type, m.code, m.expression FROM lm_case c,
  (VALUES ('_compartment', 'meta.compartment'), ('_tag', 'meta.tag'), ('_security', 'meta.security'),
          ('_source', 'meta.source'), ('_profile', 'meta.profile')) m(code, expression);
GRANT SELECT ON lm_param TO lm_client;
CREATE FUNCTION lm_search_leaks() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c lm_case;
  code text;
  q text;
  found_case boolean;
  found_twin boolean;
  differ text[] := '{}';
  queries int := 0;
BEGIN
  FOR c IN SELECT * FROM lm_case ORDER BY n LOOP
    FOR code IN SELECT p.code FROM lm_param p WHERE p.resource_type = c.resource_type
                  AND (p.code = '_compartment' OR p.expression ~ ('\m' || c.segments[1])) LOOP
      FOREACH q IN ARRAY ARRAY[code || '=SENTINEL-' || c.n, code || '=urn:SENTINEL-' || c.n || '|SENTINEL-' || c.n,
                               code || '=Patient/sentinel-' || c.n, code || '=' || (987000 + c.n),
                               code || ':missing=true', code || ':missing=false', code || ':not=SENTINEL-' || c.n] LOOP
        BEGIN
          SELECT bool_or(s->>'id' = 'c' || c.n), bool_or(s->>'id' = 't' || c.n) INTO found_case, found_twin
          FROM fhir.search(c.resource_type, '_id=c' || c.n || ',t' || c.n || '&' || q) s;
        EXCEPTION WHEN OTHERS THEN
          found_case := NULL; found_twin := NULL;
        END;
        queries := queries + 1;
        IF coalesce(found_case, false) IS DISTINCT FROM coalesce(found_twin, false) THEN
          differ := differ || format('%s %s: %s', c.resource_type, c.hidden, q);
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
  RETURN t.is(array_length(differ, 1), NULL, format('search: %s queries cannot tell a hidden value from none (%s)', queries, left(array_to_string(differ[1:5], '; '), 400)));
END
$$;
GRANT EXECUTE ON FUNCTION lm_search_leaks() TO lm_client;
SET ROLE lm_client;
SELECT lm_search_leaks();
RESET ROLE;

-- Plain SQL: a hidden value filters nothing through the view, neither by
-- containment nor by path equality, though both find it in the table (the
-- predicate is sound) and the content index would (tests/sql/content_index.sql).
CREATE FUNCTION lm_chain(c lm_case) RETURNS text LANGUAGE sql AS $$
  SELECT 'content' || string_agg('->' || quote_literal(CASE WHEN i = array_length(c.segments, 1) THEN s || c.leaf ELSE s END)
                                 || CASE WHEN i < array_length(c.segments, 1) AND s <> 'meta' THEN '->0' ELSE '' END, '' ORDER BY i)
  FROM unnest(c.segments) WITH ORDINALITY u(s, i)
$$;
CREATE FUNCTION lm_filters(c lm_case) RETURNS text[] LANGUAGE sql AS $$
  SELECT ARRAY[format('content @> %L::jsonb', lm_nest(c.segments, c.leaf, lm_value(c.kind, c.n))),
               format('%s = %L::jsonb', lm_chain(c), lm_value(c.kind, c.n))]
$$;
CREATE FUNCTION lm_matches(relation text, c lm_case, filter text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  found bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s WHERE id = %L AND %s', relation, 'c' || c.n, filter) INTO found;
  RETURN found;
END
$$;
SELECT t.is((SELECT count(*) FROM lm_case c, unnest(lm_filters(c)) f WHERE lm_matches('fhir.resource', c, f) <> 1), 0::bigint,
            'every hidden value is found in the table by containment and by path equality');
CREATE FUNCTION lm_filter_leaks() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c lm_case;
  f text;
  leaked text[] := '{}';
  checked int := 0;
BEGIN
  FOR c IN SELECT * FROM lm_case ORDER BY n LOOP
    FOREACH f IN ARRAY lm_filters(c) LOOP
      checked := checked + 1;
      IF lm_matches('fhir.resources', c, f) <> 0 THEN
        leaked := leaked || format('%s %s: %s', c.resource_type, c.hidden, f);
      END IF;
    END LOOP;
  END LOOP;
  RETURN t.is(array_length(leaked, 1), NULL, format('plain SQL: %s filters on hidden values match nothing (%s)', checked, left(array_to_string(leaked[1:3], '; '), 400)));
END
$$;
GRANT EXECUTE ON FUNCTION lm_filter_leaks(), lm_filters(lm_case), lm_matches(text, lm_case, text), lm_chain(lm_case) TO lm_client;
SET ROLE lm_client;
SET enable_seqscan = off;
SELECT lm_filter_leaks();
RESET enable_seqscan;
RESET ROLE;
