-- Existence oracles: a resource the session may not see (another project's,
-- or one its criteria exclude) is indistinguishable from one that does not
-- exist, on every interaction: same SQLSTATE, message and DETAIL, byte for
-- byte (with the id itself replaced). Also EXPLAIN ANALYZE, whose row counts
-- would count hidden rows.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS or_gateway;
CREATE ROLE or_gateway;
SELECT fhir.grant_client('or_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "pa", "name": "A"}');
SELECT fhir.create('{"resourceType": "Project", "id": "pb", "name": "B"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "mine", "gender": "female", "meta": {"project": "pa"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "excluded", "gender": "male", "meta": {"project": "pa", "accounts": [{"reference": "Organization/secret"}]}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "foreign", "gender": "female", "meta": {"project": "pb"}}');
SELECT fhir.update('{"resourceType": "Patient", "id": "foreign", "gender": "female", "active": true, "meta": {"project": "pb"}}');
SELECT fhir.delete('Patient', 'foreign') IS NULL AS deleted_foreign_once;
SELECT fhir.create('{"resourceType": "Patient", "id": "foreign-live", "gender": "female", "meta": {"project": "pb"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "women", "meta": {"project": "pa"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?gender=female"}, {"resourceType": "Observation"}]}');
SELECT fhir.invite('pa', '{"resourceType": "Practitioner", "email": "o@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/women"}}}')->>'id' AS member \gset

-- The outcome of an interaction on one id: SQLSTATE, message and DETAIL,
-- with the id replaced, or the result when it succeeds.
CREATE FUNCTION or_outcome(interaction text, id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  result text;
  state text;
  message text;
  detail text;
BEGIN
  BEGIN
    result := CASE interaction
      WHEN 'read' THEN fhir.read('Patient', id)::text
      WHEN 'vread' THEN fhir.vread('Patient', id, '00000000-0000-0000-0000-000000000000')::text
      WHEN 'history' THEN (SELECT string_agg(h::text, ' ') FROM fhir.history('Patient', id) h)
      WHEN 'update' THEN fhir.update(jsonb_build_object('resourceType', 'Patient', 'id', id, 'gender', 'female'))::text
      WHEN 'update if_match' THEN fhir.update(jsonb_build_object('resourceType', 'Patient', 'id', id, 'gender', 'female'), 'W/"1"')::text
      WHEN 'patch' THEN fhir.patch('Patient', id, '[{"op": "replace", "path": "/gender", "value": "female"}]')::text
      WHEN 'patch test' THEN fhir.patch('Patient', id, '[{"op": "test", "path": "/gender", "value": "female"}]')::text
      WHEN 'delete' THEN coalesce(fhir.delete('Patient', id)::text, 'deleted')
      WHEN 'explain_access' THEN (fhir.explain_access('Patient', id, 'read') - 'id')::text
      WHEN 'search' THEN (SELECT count(*)::text FROM fhir.search('Patient', '_id=' || id))
      WHEN 'view' THEN (SELECT count(*)::text FROM fhir.resources WHERE resources.id = or_outcome.id)
      WHEN 'reference' THEN (fhir.create(jsonb_build_object('resourceType', 'Observation', 'status', 'final',
                               'subject', jsonb_build_object('reference', 'Patient/' || id))) #- '{id}' #- '{meta,versionId}'
                               #- '{meta,lastUpdated}' #- '{meta,compartment}' #- '{subject}')::text
    END;
    RETURN 'ok ' || coalesce(replace(result, id, 'ID'), 'null');
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN format('%s %s %s', state, replace(message, id, 'ID'), replace(detail, id, 'ID'));
  END;
END
$$;
GRANT EXECUTE ON FUNCTION or_outcome(text, text) TO or_gateway;

SET ROLE or_gateway;
SELECT fhir.set_membership(:'member') IS NOT NULL AS acting;
-- Every interaction, for each kind of invisible id against an id that exists nowhere.
SELECT t.is(or_outcome(i, hidden), or_outcome(i, 'nowhere'), format('%s: %s is indistinguishable from nothing', i, what))
FROM unnest(ARRAY['read', 'vread', 'history', 'update', 'update if_match', 'patch', 'patch test', 'delete',
                  'explain_access', 'search', 'view', 'reference']) i,
     (VALUES ('foreign-live', 'another project''s resource'), ('foreign', 'another project''s deleted resource'),
             ('excluded', 'a resource the criteria exclude')) h(hidden, what);
-- The visible resource answers, so the comparison has teeth.
SELECT t.ok(or_outcome('read', 'mine') LIKE 'ok %', 'a visible resource is read');

-- EXPLAIN ANALYZE would count the hidden rows it filters: refused to clients,
-- whatever the query, so that the refusal itself depends on no data.
SELECT t.throws($$ EXPLAIN ANALYZE SELECT * FROM fhir.resources WHERE id = 'foreign-live' $$, '42501', 'EXPLAIN ANALYZE over the view is refused',
                'EXPLAIN ANALYZE is not available to fhir_access clients%');
SELECT t.is(t.error_detail($$ EXPLAIN ANALYZE SELECT * FROM fhir.resources WHERE resource_type = 'Patient' AND id = 'foreign-live' $$),
            t.error_detail($$ EXPLAIN ANALYZE SELECT * FROM fhir.resources WHERE resource_type = 'Patient' AND id = 'nowhere' $$),
            'the refusal is the same whether another tenant''s row exists or not');
SELECT t.throws($$ EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM fhir.search('Patient', '_id=foreign-live') $$, '42501', 'EXPLAIN (ANALYZE) over search is refused');
SELECT t.throws($$ EXPLAIN (ANALYZE true, FORMAT JSON) SELECT fhir.read('Patient', 'mine') $$, '42501', 'EXPLAIN (ANALYZE true) over an interaction is refused');
SELECT t.throws($$ EXPLAIN ANALYZE SELECT 1 $$, '42501', 'EXPLAIN ANALYZE of any query is refused to a client');
CREATE FUNCTION pg_temp.explain_inside() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN ANALYZE SELECT * FROM fhir.resources WHERE id = ''foreign-live'''; END $$;
SELECT t.throws($$ SELECT pg_temp.explain_inside() $$, '42501', 'EXPLAIN ANALYZE inside a function is refused');
-- Plans follow no statistics of the columns a client compares: another
-- project's size cannot show in a plan's shape.
RESET ROLE;
SELECT count(fhir.create(jsonb_build_object('resourceType', 'Patient', 'meta', jsonb_build_object('project', 'pb')))) > 0 AS pb_grows
FROM generate_series(1, 300);
ANALYZE fhir.resource;
SELECT t.is((SELECT string_agg(attname, ',') FROM pg_stats WHERE schemaname = 'fhir' AND tablename = 'resource'
             AND attname IN ('project_id', 'id', 'version_id', 'last_updated')), NULL,
            'ANALYZE keeps no statistics of the columns that tell tenants apart');
SET ROLE or_gateway;
CREATE FUNCTION pg_temp.or_plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query; END $$;
SELECT t.is((SELECT string_agg(replace(p, 'pb', '?'), E'\n') FROM (SELECT p FROM pg_temp.or_plan($$SELECT 1 FROM fhir.resources r JOIN (SELECT g::text id FROM generate_series(1, 40) g) s
                                                                 ON r.id = s.id WHERE r.project_id = 'pb'$$) p) x),
            (SELECT string_agg(replace(p, 'nowhere', '?'), E'\n') FROM (SELECT p FROM pg_temp.or_plan($$SELECT 1 FROM fhir.resources r JOIN (SELECT g::text id FROM generate_series(1, 40) g) s
                                                                 ON r.id = s.id WHERE r.project_id = 'nowhere'$$) p) x),
            'a join on another project plans as one on a project that does not exist');
-- Estimates come from statistics over every tenant's rows: another
-- project's size would show in `project_id = 'other'`. Refused alike.
SELECT t.throws($$ EXPLAIN SELECT * FROM fhir.resources WHERE project_id = 'other' $$, '42501', 'EXPLAIN with estimates is refused',
                'EXPLAIN''s estimates are not available to fhir_access clients%');
SELECT t.throws($$ EXPLAIN (FORMAT JSON, COSTS true) SELECT 1 $$, '42501', 'of any query, in any format');
SELECT t.throws($$ EXPLAIN (ANALYZE false) SELECT * FROM fhir.resources $$, '42501', 'EXPLAIN (ANALYZE false) shows estimates too');
SELECT t.lives($$ EXPLAIN (COSTS OFF) SELECT * FROM fhir.resources WHERE id = 'foreign-live' $$, 'EXPLAIN (COSTS OFF) shows the plan');
SELECT t.lives($$ EXPLAIN (COSTS false, FORMAT JSON, VERBOSE) SELECT * FROM fhir.resources $$, 'in any format');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE id = 'mine'), 1::bigint, 'after a refused EXPLAIN ANALYZE the session works as before');
RESET ROLE;
SELECT t.lives($$ EXPLAIN ANALYZE SELECT * FROM fhir.resources WHERE id = 'foreign-live' $$, 'the system may EXPLAIN ANALYZE');
SET ROLE or_gateway;
SELECT t.throws($$ SET fhir.explain_analyze = on $$, '42501', 'a client cannot allow itself EXPLAIN ANALYZE');
RESET ROLE;
SET fhir.explain_analyze = on;
SET ROLE or_gateway;
SELECT t.lives($$ EXPLAIN ANALYZE SELECT * FROM fhir.resources $$, 'a superuser may allow it for a session, to diagnose a client''s plans');
RESET ROLE;
RESET fhir.explain_analyze;
DROP ROLE IF EXISTS or_other;
CREATE ROLE or_other;
SET ROLE or_other;
SELECT t.lives($$ EXPLAIN ANALYZE SELECT 1 $$, 'a role that cannot reach the extension may EXPLAIN ANALYZE its own queries');
RESET ROLE;
