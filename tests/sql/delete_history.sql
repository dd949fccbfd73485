-- fhir.delete and fhir.history: tombstones, Gone, every version listed.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'active', true, 'meta', jsonb_build_object('project', :'pid'))) AS v1 \gset
SELECT :'v1'::jsonb->>'id' AS id \gset
SELECT fhir.update(jsonb_set(:'v1'::jsonb, '{active}', 'false')) AS v2 \gset

SELECT t.lives(format($$ SELECT fhir.delete('Patient', '%s') $$, :'id'), 'delete succeeds');
SELECT t.throws(format($$ SELECT fhir.read('Patient', '%s') $$, :'id'), 'P0002', 'read after delete is gone', 'Gone%');
SELECT t.is(t.error_detail(format($$ SELECT fhir.read('Patient', '%s') $$, :'id'))->'issue'->0->>'code', 'deleted', 'gone is a "deleted" issue');
SELECT t.lives(format($$ SELECT fhir.delete('Patient', '%s') $$, :'id'), 'deleting a deleted resource succeeds');

SELECT t.is((SELECT count(*) FROM fhir.history('Patient', :'id')), 3::bigint, 'history lists every version, the deletion included, once');
SELECT t.is((SELECT h->'meta'->'tag'->0->>'code' FROM fhir.history('Patient', :'id') h LIMIT 1), 'deleted', 'the newest history entry is the deletion');
SELECT t.is((SELECT h FROM fhir.history('Patient', :'id') h OFFSET 1 LIMIT 1), :'v2'::jsonb, 'history lists the versions newest first');
SELECT t.is((SELECT h FROM fhir.history('Patient', :'id') h OFFSET 2 LIMIT 1), :'v1'::jsonb, 'the oldest version comes last');
SELECT t.ok((SELECT bool_and(h->'meta'->>'versionId' IS NOT NULL) FROM fhir.history('Patient', :'id') h), 'every history entry names its version');

SELECT t.is(fhir.vread('Patient', :'id', :'v1'::jsonb->'meta'->>'versionId'), :'v1'::jsonb, 'vread of a version before the deletion still works');
SELECT (SELECT h->'meta'->>'versionId' FROM fhir.history('Patient', :'id') h LIMIT 1) AS deletion \gset
SELECT t.throws(format($$ SELECT fhir.vread('Patient', '%s', '%s') $$, :'id', :'deletion'), 'P0002', 'vread of the deletion is gone', 'Gone%');
SELECT t.throws(format($$ SELECT fhir.update('%s') $$, :'v2'), 'P0002', 'update of a deleted resource is gone', 'Gone%');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[]') $$, :'id'), 'P0002', 'patch of a deleted resource is gone', 'Gone%');
SELECT t.throws($$ SELECT fhir.delete('Patient', 'no-such-id') $$, 'P0002', 'delete of an unknown resource is not found');
SELECT t.throws($$ SELECT fhir.delete('Nonsense', 'x') $$, '22023', 'delete of an unknown type is invalid');
SELECT t.throws($$ SELECT * FROM fhir.history('Patient', 'no-such-id') $$, 'P0002', 'history of an unknown resource is not found');
