-- fhir.resources: the view, and INSERT / UPDATE / DELETE through it.
CREATE EXTENSION fhir_access;

SELECT t.is((SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_schema = 'fhir' AND table_name = 'resources'),
            'resource_type text, id text, version_id text, last_updated timestamp with time zone, project_id text, content jsonb',
            'the view has the columns of API.md');

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'meta', jsonb_build_object('project', :'pid'))) AS p \gset

SELECT t.is((SELECT content FROM fhir.resources WHERE resource_type = 'Patient' AND id = :'p'::jsonb->>'id'), :'p'::jsonb, 'the view shows the stored content');
SELECT t.is((SELECT project_id FROM fhir.resources WHERE id = :'p'::jsonb->>'id'), :'pid', 'the view shows the project');
SELECT t.is((SELECT version_id FROM fhir.resources WHERE id = :'p'::jsonb->>'id'), :'p'::jsonb->'meta'->>'versionId', 'the view shows the version');

INSERT INTO fhir.resources (content) VALUES (jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'meta', jsonb_build_object('project', :'pid')))
RETURNING id AS obs, version_id AS obs_v1 \gset
SELECT t.is(fhir.read('Observation', :'obs')->>'status', 'final', 'INSERT into the view creates the resource');
SELECT t.ok(:'obs_v1' IS NOT NULL, 'INSERT ... RETURNING shows the server-assigned version');

UPDATE fhir.resources SET content = jsonb_set(content, '{status}', '"amended"') WHERE resource_type = 'Observation' AND id = :'obs'
RETURNING version_id AS obs_v2 \gset
SELECT t.is(fhir.read('Observation', :'obs')->>'status', 'amended', 'UPDATE through the view updates the resource');
SELECT t.ok(:'obs_v2' <> :'obs_v1', 'UPDATE ... RETURNING shows the new version');
SELECT t.is((SELECT count(*) FROM fhir.history('Observation', :'obs')), 2::bigint, 'UPDATE through the view keeps history');

SELECT t.throws(format($$ UPDATE fhir.resources SET id = 'other' WHERE id = '%s' $$, :'obs'), '22023', 'UPDATE cannot change the id');
SELECT t.throws($$ INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Nonsense"}') $$, '22023', 'INSERT of a bad resource is refused');

DELETE FROM fhir.resources WHERE resource_type = 'Observation' AND id = :'obs';
SELECT t.throws(format($$ SELECT fhir.read('Observation', '%s') $$, :'obs'), 'P0002', 'DELETE through the view deletes the resource', 'Gone%');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE id = :'obs'), 0::bigint, 'the view hides deleted resources');

SELECT t.ok((SELECT reloptions::text LIKE '%security_barrier=true%' FROM pg_class WHERE oid = 'fhir.resources'::regclass),
            'the view is a security barrier: caller functions never see deleted rows');
