-- Plain SQL on fhir.resources under policy: containment, path equality in
-- every spelling, and the same through subqueries, joins and prepared
-- statements use the content index (EXPLAIN), and return exactly what the
-- predicate selects among the rows the client may read, for every leaf of
-- every stored document. A session that hides fields never filters on them.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS ci_gateway;
CREATE ROLE ci_gateway;
SELECT fhir.grant_client('ci_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}') IS NOT NULL AS p;
SELECT fhir.create('{"resourceType": "Project", "id": "q", "name": "Q"}') IS NOT NULL AS q;

-- Leaves of every kind, and texts that several kinds print alike.
CREATE TABLE ci_doc (n int, content jsonb);
INSERT INTO ci_doc VALUES
  (1, '{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/a"}, "valueQuantity": {"value": 7, "unit": "mg"}}'),
  (2, '{"resourceType": "Observation", "status": "7", "subject": {"reference": "Patient/b"}, "valueQuantity": {"value": 7.0}}'),
  (3, '{"resourceType": "Observation", "status": "true", "valueBoolean": true, "code": {"coding": [{"code": "x"}, {"code": "y"}]}}'),
  (4, '{"resourceType": "Observation", "status": "final", "valueString": "{\"a\": 1}", "code": {"coding": [{"code": "y", "system": "s"}]}}'),
  (5, '{"resourceType": "Observation", "status": "amended", "valueCodeableConcept": {"text": "-3.50"}, "note": [{"text": "é \"quoted\" \\"}]}'),
  (6, '{"resourceType": "Observation", "status": "final", "valueInteger": -3, "category": [{"coding": [{"code": "lab"}]}], "extension": [{"url": "u", "valueString": "0"}]}');
SELECT count(fhir.create(content || jsonb_build_object('id', 'o' || n, 'meta', jsonb_build_object('project', 'p')))) FROM ci_doc;
-- The same documents in another project: never counted.
SELECT count(fhir.create(content || jsonb_build_object('id', 'q' || n, 'meta', jsonb_build_object('project', 'q')))) FROM ci_doc;
-- A value common in q alone: no estimate a client sees may depend on it.
SELECT count(fhir.create(jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'code', '{"text": "only-in-q"}'::jsonb,
                                            'meta', jsonb_build_object('project', 'q')))) FROM generate_series(1, 200) n;
-- Enough other rows that the planner has a choice to make.
SELECT count(fhir.create(jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'meta', jsonb_build_object('project', 'p'),
                                            'subject', jsonb_build_object('reference', 'Patient/bulk' || n)))) FROM generate_series(1, 300) n;

SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "all", "meta": {"project": "p"}, "resource": [{"resourceType": "Observation"}]}') IS NOT NULL;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "hide", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Observation", "hiddenFields": ["subject", "valueQuantity"]}]}') IS NOT NULL;
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "all@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/all"}}}')->>'id' AS all_member \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "hide@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/hide"}}}')->>'id' AS hide_member \gset
ANALYZE fhir.resource;
-- Plan as at two million resources (the planner scales the row count it
-- read by the pages it finds): on a table this small, one tokens scan and a
-- filter cost less than two content scans.
UPDATE pg_class SET reltuples = 2000000 WHERE oid = 'fhir.resource'::regclass;

-- Every leaf of every document, as the predicates a client would write:
-- ->/->> chains, #>> paths, #> jsonb equality, containment on the content and
-- on a path, each also reversed; plus texts another kind prints alike.
CREATE TABLE ci_leaf AS
WITH RECURSIVE walk(n, steps, value) AS (
  SELECT n, ARRAY[]::jsonb[], content FROM ci_doc
  UNION ALL
  SELECT w.n, w.steps || s.step, s.value FROM walk w,
    LATERAL (SELECT to_jsonb(k) AS step, v AS value FROM jsonb_each(CASE WHEN jsonb_typeof(w.value) = 'object' THEN w.value END) e(k, v)
             UNION ALL
             SELECT to_jsonb(i - 1), v FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.value) = 'array' THEN w.value END) WITH ORDINALITY a(v, i)) s
)
SELECT DISTINCT steps, value FROM walk WHERE array_length(steps, 1) > 0;
CREATE FUNCTION ci_chain(steps jsonb[], text_last boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'content' || string_agg(CASE WHEN i = array_length(steps, 1) AND text_last THEN '->>' ELSE '->' END
                                 || CASE WHEN jsonb_typeof(s) = 'number' THEN s::text ELSE quote_literal(s #>> '{}') END, '' ORDER BY i)
  FROM unnest(steps) WITH ORDINALITY u(s, i)
$$;
CREATE FUNCTION ci_path(steps jsonb[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT quote_literal(array_agg(s #>> '{}' ORDER BY i)::text) FROM unnest(steps) WITH ORDINALITY u(s, i)
$$;
CREATE TABLE ci_case AS
SELECT DISTINCT predicate FROM ci_leaf, LATERAL (VALUES
    (ci_chain(steps, true) || ' = ' || quote_literal(value #>> '{}')),
    (quote_literal(value #>> '{}') || ' = ' || ci_chain(steps, true)),
    ('content #>> ' || ci_path(steps) || ' = ' || quote_literal(value #>> '{}')),
    ('content #> ' || ci_path(steps) || ' = ' || quote_literal(value::text) || '::jsonb'),
    (ci_chain(steps, false) || ' = ' || quote_literal(value::text) || '::jsonb'),
    ('content @> ' || quote_literal(jsonb_set('{}', '{x}', value)::text) || '::jsonb'),
    (quote_literal(value::text) || '::jsonb <@ (' || ci_chain(steps, false) || ')'),
    (ci_chain(steps, false) || ' @> ' || quote_literal(value::text) || '::jsonb'),
    (ci_chain(steps, true) || ' = ' || quote_literal(value::text)),
    (ci_chain(steps, true) || ' = ' || quote_literal((value #>> '{}') || '0'))) v(predicate)
WHERE value #>> '{}' IS NOT NULL;
-- `->0` and `->-1` on a scalar give the scalar itself.
INSERT INTO ci_case VALUES ($$content->'valueInteger'->0 = '-3'$$), ($$content->'valueInteger'->-1 = '-3'$$),
                           ($$content->'status'->>0 = 'final'$$), ($$content->'valueQuantity'->'value'->0->>0 = '7'$$);
-- Containment of the whole document too, at every depth.
INSERT INTO ci_case
SELECT DISTINCT 'content @> ' || quote_literal(d::text) || '::jsonb'
FROM ci_doc, LATERAL (VALUES (content), (content - 'resourceType'), (jsonb_build_object('code', content->'code'))) v(d)
WHERE d IS NOT NULL;
CREATE FUNCTION ci_ids(relation text, predicate text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  ids text;
BEGIN
  EXECUTE format('SELECT coalesce(string_agg(id, '','' ORDER BY id), '''') FROM %s WHERE resource_type = ''Observation'' AND %s',
                 relation, predicate) INTO ids;
  RETURN ids;
EXCEPTION WHEN OTHERS THEN
  RETURN 'error ' || SQLSTATE || ' ' || SQLERRM;
END
$$;
-- What each predicate selects among the rows of project p: the system, on the table.
ALTER TABLE ci_case ADD COLUMN expected text;
UPDATE ci_case SET expected = ci_ids('fhir.resource', 'project_id = ''p'' AND NOT deleted AND ' || predicate);
SELECT t.ok(count(*) > 150, format('%s predicates over every leaf', count(*))) FROM ci_case;
SELECT t.is((SELECT string_agg(predicate || ' ' || expected, '; ') FROM ci_case WHERE expected LIKE 'error %'), NULL,
            'the system evaluates every predicate');
GRANT SELECT ON ci_case TO ci_gateway;
GRANT EXECUTE ON FUNCTION ci_ids(text, text) TO ci_gateway;

-- A client who reads every Observation of p gets exactly those rows, with
-- the index where it applies and without it.
SET ROLE ci_gateway;
SELECT fhir.set_membership(:'all_member') IS NOT NULL AS acting;
SET enable_seqscan = off;
SELECT t.is((SELECT string_agg(predicate || ': ' || got || ' / ' || expected, '; ')
             FROM (SELECT predicate, expected, ci_ids('fhir.resources', predicate) AS got FROM ci_case) c WHERE got <> expected),
            NULL, 'every predicate returns what it selects among the readable rows, by the index');
RESET enable_seqscan;
SELECT t.is((SELECT string_agg(predicate || ': ' || got || ' / ' || expected, '; ')
             FROM (SELECT predicate, expected, ci_ids('fhir.resources', predicate) AS got FROM ci_case) c WHERE got <> expected),
            NULL, 'and by a scan');

-- The forms that use the index.
CREATE TEMP TABLE ci_plan (form text, query text);
INSERT INTO ci_plan VALUES
  ('containment', $$SELECT id FROM fhir.resources WHERE content @> '{"subject": {"reference": "Patient/a"}}'$$),
  ('contained by', $$SELECT id FROM fhir.resources WHERE '{"subject": {"reference": "Patient/a"}}' <@ content$$),
  ('->> chain', $$SELECT id FROM fhir.resources WHERE resource_type = 'Observation' AND content->'subject'->>'reference' = 'Patient/a'$$),
  ('reversed operands', $$SELECT id FROM fhir.resources WHERE 'Patient/a' = content->'subject'->>'reference'$$),
  ('#>> path', $$SELECT id FROM fhir.resources WHERE content #>> '{subject,reference}' = 'Patient/a'$$),
  ('jsonb_extract_path_text', $$SELECT id FROM fhir.resources WHERE jsonb_extract_path_text(content, 'subject', 'reference') = 'Patient/a'$$),
  ('#> jsonb equality', $$SELECT id FROM fhir.resources WHERE content #> '{subject}' = '{"reference": "Patient/a"}'$$),
  ('-> jsonb equality', $$SELECT id FROM fhir.resources WHERE content->'status' = '"amended"'$$),
  ('array element', $$SELECT id FROM fhir.resources WHERE content->'code'->'coding'->0->>'code' = 'x'$$),
  ('path containment', $$SELECT id FROM fhir.resources WHERE content->'subject' @> '{"reference": "Patient/a"}'$$),
  ('number as text', $$SELECT id FROM fhir.resources WHERE content->'valueQuantity'->>'value' = '12345'$$),
  ('varchar value', $$SELECT id FROM fhir.resources WHERE content->'subject'->>'reference' = 'Patient/a'::varchar$$),
  ('subquery', $$SELECT s.id FROM (SELECT id, content FROM fhir.resources) s WHERE s.content @> '{"status": "amended"}'$$),
  ('CTE', $$WITH s AS (SELECT id, content FROM fhir.resources) SELECT id FROM s WHERE s.content->>'status' = 'amended'$$),
  ('EXISTS', $$SELECT 1 WHERE EXISTS (SELECT 1 FROM fhir.resources r WHERE r.content->'subject'->>'reference' = 'Patient/a')$$),
  ('join condition', $$SELECT r.id FROM (VALUES ('Patient/a')) v(ref) JOIN fhir.resources r ON r.content->'subject'->>'reference' = v.ref$$),
  ('outer join', $$SELECT r.id FROM (VALUES (1)) v(x) LEFT JOIN fhir.resources r ON r.content->>'status' = 'amended'$$);
CREATE FUNCTION pg_temp.ci_plan_of(query text, options text DEFAULT 'COSTS OFF') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (' || options || ') ' || query LOOP
    plan := plan || line || E'\n';
  END LOOP;
  RETURN plan;
END
$$;
SET enable_seqscan = off;
SELECT t.ok(pg_temp.ci_plan_of(query) LIKE '%Index Scan on resource_content_idx%', 'plain SQL uses the content index: ' || form)
FROM ci_plan ORDER BY form;
PREPARE ci_by_ref(text) AS SELECT id FROM fhir.resources WHERE content->'subject'->>'reference' = $1;
SELECT t.ok(pg_temp.ci_plan_of('EXECUTE ci_by_ref(''Patient/a'')') LIKE '%Index Scan on resource_content_idx%',
            'a prepared statement uses the content index');
SET plan_cache_mode = force_generic_plan;
SELECT t.ok(pg_temp.ci_plan_of('EXECUTE ci_by_ref(''Patient/a'')') LIKE '%Index Scan on resource_content_idx%',
            'and so does its generic plan, the document built from the parameter');
CREATE TEMP TABLE ci_generic AS EXECUTE ci_by_ref('Patient/a');
SELECT t.is((SELECT string_agg(id, ',') FROM ci_generic), 'o1', 'the generic plan finds the row');
RESET plan_cache_mode;
-- A path element that could be an array index implies nothing; the predicate still decides.
SELECT t.ok(pg_temp.ci_plan_of($$SELECT id FROM fhir.resources WHERE content #>> '{code,coding,0,code}' = 'x'$$) NOT LIKE '%resource_content_idx%',
            'a #>> path with a numeric element is not narrowed by the index');
SELECT t.is(ci_ids('fhir.resources', $$content #>> '{code,coding,0,code}' = 'x'$$), 'o3', 'and finds its row');

-- Estimates never use the column's statistics, which count every project's
-- rows and every hidden value: a value common in another project and an
-- absent one are estimated alike (and plans do not follow them). Clients see
-- no estimates (tests/sql/oracles.sql); a superuser allows them here to look.
RESET ROLE;
SET fhir.explain_analyze = on;
SET ROLE ci_gateway;
CREATE FUNCTION pg_temp.ci_estimate(query text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  RETURN (plan->0->'Plan'->>'Plan Rows')::numeric;
END
$$;
SELECT t.is(pg_temp.ci_estimate($$SELECT id FROM fhir.resources WHERE content @> '{"code": {"text": "only-in-q"}}'$$),
            pg_temp.ci_estimate($$SELECT id FROM fhir.resources WHERE content @> '{"code": {"text": "nowhere"}}'$$),
            'the estimate of a containment says nothing about other projects');
SELECT t.is(pg_temp.ci_estimate($$SELECT id FROM fhir.resources WHERE content->'code'->>'text' = 'only-in-q'$$),
            pg_temp.ci_estimate($$SELECT id FROM fhir.resources WHERE content->'code'->>'text' = 'nowhere'$$),
            'nor does that of a path equality');
RESET ROLE;
RESET fhir.explain_analyze;
SET ROLE ci_gateway;

-- Values too long to copy, and paths too deep, imply something wider or
-- nothing: never an error, never a lost row.
PREPARE ci_by_status(text) AS SELECT id FROM fhir.resources WHERE content->>'status' = $1;
SET plan_cache_mode = force_generic_plan;
CREATE TEMP TABLE ci_long AS EXECUTE ci_by_status(repeat(E'\x01', 2000000));
SELECT t.is((SELECT count(*) FROM ci_long), 0::bigint, 'a 2 MB parameter of control characters is compared, not copied six times over');
RESET plan_cache_mode;
SELECT t.is(ci_ids('fhir.resources', format('content #>> %L = %L', '{' || array_to_string(array_fill('a'::text, ARRAY[5000]), ',') || '}', 'x')), '',
            'a 5,000-key #>> path is compared without the index');
SELECT t.is(ci_ids('fhir.resources', 'content' || repeat('->''a''', 500) || '->>''a'' = ''x'''), '',
            'so is a 500-step -> chain');
SELECT t.is(ci_ids('fhir.resources', format('content->%L->>''b'' = ''x''', repeat('k', 5000))), '',
            'so is a path with a key longer than 4 kB');
SELECT t.throws($$ SELECT fhir._content_document(array_fill('a'::text, ARRAY[100]), '1') $$, '22023',
                'the document helper, called directly, refuses a longer path than the hook writes');
RESET enable_seqscan;
RESET ROLE;
SELECT fhir.create(jsonb_build_object('resourceType', 'Observation', 'id', 'long', 'status', 'final', 'meta', jsonb_build_object('project', 'p'),
                                      'note', jsonb_build_array(jsonb_build_object('text', repeat('n', 1100000))))) IS NOT NULL AS long_note;
SET ROLE ci_gateway;
SET enable_seqscan = off;
SELECT t.is(ci_ids('fhir.resources', format('content->''note''->0->>''text'' = %L', repeat('n', 1100000))), 'long',
            'a stored value longer than the copy limit is found through the object holding it');
RESET enable_seqscan;
RESET ROLE;

-- A nondeterministic collation compares texts the index cannot: no
-- containment is implied. (ICU collations only: PostgreSQL 15 here; 17 and
-- 18 are built without ICU.)
DO $$
BEGIN
  CREATE COLLATION ci_nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END
$$;
SELECT count(*) > 0 AS has_icu FROM pg_collation WHERE collname = 'ci_nocase' \gset
\if :has_icu
SET ROLE ci_gateway;
SET enable_seqscan = off;
SELECT t.ok(pg_temp.ci_plan_of($$SELECT id FROM fhir.resources WHERE content->>'status' = 'AMENDED' COLLATE ci_nocase$$) NOT LIKE '%resource_content_idx%',
            'a nondeterministic collation is not narrowed by the index');
SELECT t.is(ci_ids('fhir.resources', $$content->>'status' = 'AMENDED' COLLATE ci_nocase$$), 'o5', 'and matches as the collation says');
RESET enable_seqscan;
RESET ROLE;
\endif

-- Conditions the hook does not narrow are left alone, whatever they compare:
-- here texts whose collations conflict (no collation for the comparison).
CREATE TABLE ci_ca (c text COLLATE "C");
CREATE TABLE ci_cb (d text COLLATE "POSIX");
INSERT INTO ci_ca VALUES ('x');
SELECT t.is((SELECT count(*) FROM ci_ca LEFT JOIN ci_cb ON ci_ca.c = ci_cb.d AND false), 1::bigint,
            'a comparison of conflicting collations on other tables plans as PostgreSQL does');

-- A session that hides fields: the raw branch never runs, so a hidden value
-- filters nothing; visible fields still filter.
SET ROLE ci_gateway;
SELECT fhir.set_membership(:'hide_member') IS NOT NULL AS acting_hidden;
SELECT t.is(ci_ids('fhir.resources', $$content->'subject'->>'reference' = 'Patient/a'$$), '', 'a hidden subject filters nothing');
SELECT t.is(ci_ids('fhir.resources', $$content @> '{"valueQuantity": {"value": 7}}'$$), '', 'nor does a hidden value by containment');
SELECT t.is(ci_ids('fhir.resources', $$content->>'status' = 'amended'$$), 'o5', 'a visible field filters as usual');
RESET ROLE;
SET fhir.explain_analyze = on;
SET ROLE ci_gateway;
SELECT fhir.set_membership(:'hide_member') IS NOT NULL AS acting_hidden;
SET enable_seqscan = off;
SELECT t.ok(count(*) = 1 AND bool_and(line LIKE '%(never executed)%'), 'for a redacting session the raw content index is never read')
FROM (SELECT line FROM pg_temp.ci_plan_of($$SELECT id FROM fhir.resources WHERE content->'subject'->>'reference' = 'Patient/a'$$, 'ANALYZE, COSTS OFF') p,
      regexp_split_to_table(p, E'\n') line WHERE line LIKE '%Index Scan on resource_content_idx%') x;
RESET enable_seqscan;
RESET ROLE;
RESET fhir.explain_analyze;
