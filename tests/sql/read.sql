-- fhir.read and fhir.vread as the system role.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'active', true, 'meta', jsonb_build_object('project', :'pid'))) AS v1 \gset
SELECT :'v1'::jsonb->>'id' AS id \gset
SELECT fhir.update(jsonb_set(:'v1'::jsonb, '{active}', 'false')) AS v2 \gset

SELECT t.is(fhir.read('Patient', :'id'), :'v2'::jsonb, 'read returns the current version');
SELECT t.is(fhir.vread('Patient', :'id', :'v1'::jsonb->'meta'->>'versionId'), :'v1'::jsonb, 'vread returns an older version');
SELECT t.is(fhir.vread('Patient', :'id', :'v2'::jsonb->'meta'->>'versionId'), :'v2'::jsonb, 'vread returns the current version');

SELECT t.throws($$ SELECT fhir.read('Patient', 'no-such-id') $$, 'P0002', 'read of an unknown id is not found', 'Not found%');
SELECT t.throws($$ SELECT fhir.read('Observation', '$$ || :'id' || $$') $$, 'P0002', 'read with the wrong type is not found');
SELECT t.throws($$ SELECT fhir.read('Nonsense', 'x') $$, '22023', 'read of an unknown resource type is invalid');
SELECT t.throws(format($$ SELECT fhir.vread('Patient', '%s', 'no-such-version') $$, :'id'), 'P0002', 'vread of an unknown version is not found');
SELECT t.is(t.error_detail($$ SELECT fhir.read('Patient', 'no-such-id') $$)->'issue'->0->>'code', 'not-found', 'not found is a "not-found" issue');
