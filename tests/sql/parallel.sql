-- Parallel workers see the session's membership (it travels as a setting):
-- a forced parallel plan returns exactly the rows a serial one does.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS pq_gateway;
CREATE ROLE pq_gateway;
SELECT fhir.grant_client('pq_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Project", "id": "q", "name": "Q"}');
SELECT count(*) > 0 AS loaded FROM (
  SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'pat' || g, 'address', jsonb_build_array(jsonb_build_object('state', (ARRAY['CA', 'NY'])[g % 2 + 1])),
                                        'meta', jsonb_build_object('project', (ARRAY['p', 'q'])[g % 3 % 2 + 1])))
  FROM generate_series(1, 3000) g) s;
ANALYZE fhir.resource;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ca", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "x@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ca"}}}')->>'id' AS m \gset
SELECT count(*) AS expected FROM fhir.resource WHERE project_id = 'p' AND resource_type = 'Patient' AND content->'address'->0->>'state' = 'CA' \gset

SET ROLE pq_gateway;
SELECT fhir.set_membership(:'m') IS NOT NULL AS acting;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- A scan workers share: on a table this small the tokens index wins otherwise.
SET enable_bitmapscan = off;
SET enable_indexscan = off;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient'), :'expected'::bigint, 'a parallel-capable plan sees the session''s rows');
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) IS NOT NULL AS forced;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient'), :'expected'::bigint, 'a forced parallel plan sees exactly the session''s rows');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', 'address-state=CA')), :'expected'::bigint, 'search under a forced parallel plan');
CREATE TEMP TABLE plan (line text);
DO $$ DECLARE l text; BEGIN
  FOR l IN EXPLAIN (COSTS OFF) SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient' LOOP INSERT INTO plan VALUES (l); END LOOP; END $$;
SELECT t.ok(EXISTS (SELECT 1 FROM plan WHERE line LIKE '%Gather%'), 'the plan really runs in parallel workers');
RESET ROLE;
