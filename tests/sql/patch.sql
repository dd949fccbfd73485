-- fhir.patch: RFC 6902 JSON Patch as an update.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'active', true, 'name', '[{"family": "Smith"}]'::jsonb,
                                      'meta', jsonb_build_object('project', :'pid'))) AS v1 \gset
SELECT :'v1'::jsonb->>'id' AS id \gset

SELECT fhir.patch('Patient', :'id', '[{"op": "replace", "path": "/active", "value": false}, {"op": "add", "path": "/name/0/given", "value": ["Ann"]}]') AS v2 \gset
SELECT t.is(:'v2'::jsonb->'active', 'false'::jsonb, 'patch replaces a value');
SELECT t.is(:'v2'::jsonb->'name', '[{"family": "Smith", "given": ["Ann"]}]'::jsonb, 'patch adds a value');
SELECT t.ok(:'v2'::jsonb->'meta'->>'versionId' <> :'v1'::jsonb->'meta'->>'versionId', 'patch makes a new version');
SELECT t.is(fhir.read('Patient', :'id'), :'v2'::jsonb, 'the patched resource is stored');
SELECT t.lives(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "test", "path": "/active", "value": false}]') $$, :'id'),
               'a passing test operation is accepted');
SELECT t.is((SELECT count(*) FROM fhir.history('Patient', :'id')), 2::bigint, 'a patch that changes nothing makes no new version');

SELECT count(*) AS before FROM fhir.resource_history \gset
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "test", "path": "/active", "value": true}]') $$, :'id'),
                '22023', 'a failing test operation is refused');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "replace", "path": "/telecom/0/value", "value": "x"}]') $$, :'id'),
                '22023', 'a bad path is refused');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '{"op": "remove", "path": "/active"}') $$, :'id'),
                '22023', 'a patch must be an array of operations');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "replace", "path": "/id", "value": "other"}]') $$, :'id'),
                '22023', 'a patch cannot change the id');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "replace", "path": "/meta", "value": "x"}]') $$, :'id'),
                '22023', 'a patch that leaves an invalid resource is refused');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', '%s', '[{"op": "replace", "path": "/meta/project", "value": "elsewhere"}]') $$, :'id'),
                '22023', 'a patch cannot move a resource to another project');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'no-such-id', '[]') $$, 'P0002', 'patch of an unknown resource is not found');
SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'refused patches write nothing');
