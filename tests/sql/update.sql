-- fhir.update as the system role: versions, no-op updates, if_match, refusals.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset
SELECT fhir.create('{"resourceType": "Project", "name": "Other"}')->>'id' AS other \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'active', true, 'meta', jsonb_build_object('project', :'pid'))) AS v1 \gset
SELECT :'v1'::jsonb->>'id' AS id, :'v1'::jsonb->'meta'->>'versionId' AS vid1 \gset

SELECT fhir.update(jsonb_set(:'v1'::jsonb, '{active}', 'false')) AS v2 \gset
SELECT t.ok(:'v2'::jsonb->'meta'->>'versionId' <> :'vid1', 'an update makes a new version');
SELECT t.ok((:'v2'::jsonb->'meta'->>'lastUpdated') > (:'v1'::jsonb->'meta'->>'lastUpdated'), 'a new version is later than the one before');
SELECT t.is(fhir.read('Patient', :'id')->'active', 'false'::jsonb, 'the update is stored');
SELECT t.is((SELECT count(*) FROM fhir.history('Patient', :'id')), 2::bigint, 'each update adds a history row');

SELECT t.is(fhir.update(jsonb_set(:'v2'::jsonb, '{meta,versionId}', '"whatever"')), :'v2'::jsonb, 'an update that changes nothing returns the stored resource');
SELECT t.is(fhir.update(:'v2'::jsonb - 'meta'), :'v2'::jsonb, 'an update without meta that changes nothing is also a no-op');
SELECT t.is((SELECT count(*) FROM fhir.history('Patient', :'id')), 2::bigint, 'an update that changes nothing makes no new version');

SELECT t.throws(format($$ SELECT fhir.update('%s', '%s') $$, jsonb_set(:'v2'::jsonb, '{active}', 'true'), :'vid1'),
                '40001', 'if_match naming an older version is refused');
SELECT t.lives(format($$ SELECT fhir.update('%s', '%s') $$, jsonb_set(:'v2'::jsonb, '{gender}', '"other"'), :'v2'::jsonb->'meta'->>'versionId'),
               'if_match naming the current version is accepted');
SELECT fhir.read('Patient', :'id') AS v3 \gset
SELECT t.lives(format($$ SELECT fhir.update('%s', 'W/"%s"') $$, jsonb_set(:'v3'::jsonb, '{gender}', '"female"'), :'v3'::jsonb->'meta'->>'versionId'),
               'if_match accepts the weak ETag form');
SELECT t.is(t.error_detail(format($$ SELECT fhir.update('%s', 'stale') $$, :'v3'))->'issue'->0->>'code', 'conflict', 'a version mismatch is a "conflict" issue');

SELECT count(*) AS before FROM fhir.resource_history \gset
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "active": true}') $$, '22023', 'update needs an id', 'update requires an id');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "no-such-id"}') $$, 'P0002', 'update of an unknown resource is not found');
SELECT t.throws(format($$ SELECT fhir.update('{"resourceType": "Patientt", "id": "%s"}') $$, :'id'), '22023', 'update with an unknown type is invalid');
SELECT t.throws(format($$ SELECT fhir.update('%s') $$, jsonb_set(:'v1'::jsonb, '{meta,project}', to_jsonb(:'other'::text))),
                '22023', 'a resource cannot move to another project');
SELECT t.throws(format($$ SELECT fhir.update('%s') $$, jsonb_set(:'v1'::jsonb, '{resourceType}', '"Observation"')),
                'P0002', 'changing the type addresses another resource, which does not exist');
SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'refused updates write nothing');
SELECT t.is(fhir.read('Patient', :'id')->>'gender', 'female', 'refused updates leave the resource as it was');
