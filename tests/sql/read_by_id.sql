-- A read by type and id under policy finds the row by the primary key alone:
-- no scan of the policy's keys on the tokens index (which reads every entry
-- of `_type=Patient`, in proportion to the project), the policy's conditions
-- a filter on the one row. Answers are exactly the policy's, for every id,
-- through the view, fhir.read and a prepared statement's generic plan.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS rb_gateway;
CREATE ROLE rb_gateway;
SELECT fhir.grant_client('rb_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}') IS NOT NULL AS p;
SELECT fhir.create('{"resourceType": "Project", "id": "q", "name": "Q"}') IS NOT NULL AS q;
-- Patients in p, a third of them Californians, and some in q.
SELECT count(fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', pr || 't' || n, 'meta', jsonb_build_object('project', pr),
                                            'address', jsonb_build_array(jsonb_build_object('state', CASE WHEN n % 3 = 0 THEN 'CA' ELSE 'NY' END)))))
FROM generate_series(1, 1500) n, (VALUES ('p'), ('q')) v(pr) WHERE pr = 'p' OR n <= 60;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ca", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=CA"}]}') IS NOT NULL;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "all", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient"}]}') IS NOT NULL;
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "ca@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ca"}}}')->>'id' AS ca \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "all@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/all"}}}')->>'id' AS all_member \gset
ANALYZE fhir.resource;
-- Plan as at two million resources (the planner scales the row count it
-- read by the pages it finds): there, without the hook, PostgreSQL ANDs the
-- primary key with the tokens index.
UPDATE pg_class SET reltuples = 2000000 WHERE oid = 'fhir.resource'::regclass;

CREATE FUNCTION pg_temp.rb_plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    plan := plan || line || E'\n';
  END LOOP;
  RETURN plan;
END
$$;

SET ROLE rb_gateway;
SELECT fhir.set_membership(:'ca') IS NOT NULL AS ca;
SELECT t.ok(pg_temp.rb_plan_of($$SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id = 'pt3'$$) LIKE '%resource_pkey%',
            'a read by type and id uses the primary key');
SELECT t.ok(pg_temp.rb_plan_of($$SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id = 'pt3'$$) NOT LIKE '%resource_tokens_idx%',
            'and not the policy''s keys on the tokens index');
SELECT t.ok(pg_temp.rb_plan_of($$SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id IN ('pt3', 'pt4')$$) LIKE '%resource_tokens_idx%'
            OR pg_temp.rb_plan_of($$SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id IN ('pt3', 'pt4')$$) NOT LIKE '%BitmapAnd%',
            'an id list is not a pinned key: the planner chooses as before');
-- Where workers are cheap, PostgreSQL also builds a parallel plan from the same BitmapAnd.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET min_parallel_index_scan_size = 0;
SELECT t.ok(pg_temp.rb_plan_of($$SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id = 'pt3'$$) NOT LIKE '%resource_tokens_idx%',
            'a parallel plan by id uses the primary key alone too');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient' AND id IN ('pt3', 'pt4', 'qt3')), 1::bigint,
            'and reads what the policy admits');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;
PREPARE rb_by_id(text) AS SELECT id FROM fhir.resources WHERE resource_type = 'Patient' AND id = $1;
SET plan_cache_mode = force_generic_plan;
SELECT t.ok(pg_temp.rb_plan_of('EXECUTE rb_by_id(''pt3'')') NOT LIKE '%resource_tokens_idx%', 'a generic plan by id uses the primary key alone too');

-- Every id of both projects, by each route, for both memberships: what the policy admits, nothing else.
CREATE TEMP TABLE rb_seen (member text, route text, id text);
GRANT ALL ON rb_seen TO rb_gateway;
CREATE FUNCTION pg_temp.rb_walk(m text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  wanted text;
  found text;
BEGIN
  FOR wanted IN SELECT pr || 't' || n FROM generate_series(1, 1500) n, unnest(ARRAY['p', 'q']) pr WHERE pr = 'p' OR n <= 60 LOOP
    SELECT id INTO found FROM fhir.resources WHERE resource_type = 'Patient' AND id = wanted;
    IF found IS NOT NULL THEN INSERT INTO rb_seen VALUES (m, 'view', found); END IF;
    EXECUTE format('EXECUTE rb_by_id(%L)', wanted) INTO found;
    IF found IS NOT NULL THEN INSERT INTO rb_seen VALUES (m, 'prepared', found); END IF;
    BEGIN
      INSERT INTO rb_seen VALUES (m, 'read', fhir.read('Patient', wanted)->>'id');
    EXCEPTION WHEN no_data_found THEN NULL;
    END;
  END LOOP;
END
$$;
SELECT pg_temp.rb_walk(:'ca');
SELECT fhir.set_membership(:'all_member') IS NOT NULL AS all_member;
SELECT pg_temp.rb_walk(:'all_member');
RESET plan_cache_mode;
RESET ROLE;
SELECT t.is((SELECT string_agg(route || ' ' || n, ', ' ORDER BY route)
             FROM (SELECT route, count(*) n FROM rb_seen WHERE member = :'ca' GROUP BY route) c),
            'prepared 500, read 500, view 500', 'the Californian policy reads exactly its 500 Patients by id, by every route');
SELECT t.ok(NOT EXISTS (SELECT 1 FROM rb_seen WHERE member = :'ca' AND (id LIKE 'q%' OR substr(id, 3)::int % 3 <> 0)),
            'and no Patient of another state or project');
SELECT t.is((SELECT string_agg(route || ' ' || n, ', ' ORDER BY route)
             FROM (SELECT route, count(*) n FROM rb_seen WHERE member = :'all_member' GROUP BY route) c),
            'prepared 1500, read 1500, view 1500', 'a type-wide policy reads every Patient of its project by id, none of the other');
SELECT t.ok(NOT EXISTS (SELECT 1 FROM rb_seen WHERE id LIKE 'q%'), 'no route reads a Patient of another project by id');
