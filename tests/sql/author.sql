-- meta.author is set by the server: a client's writes carry its profile,
-- whatever it sends; the system's writes keep the author it supplies.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS au_app;
CREATE ROLE au_app;
SELECT fhir.grant_client('au_app');
SELECT fhir.create('{"resourceType": "Project", "id": "ap", "name": "Authors"}') IS NOT NULL AS project;
SELECT fhir.invite('ap', '{"resourceType": "Practitioner", "firstName": "Ann", "email": "ann@example.org"}') AS m \gset
SELECT fhir.bind_role('au_app', :'m'::jsonb->>'id');
SELECT (:'m'::jsonb)->'profile'->>'reference' AS profile \gset

SET ROLE au_app;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "meta": {"author": {"reference": "Practitioner/somebody-else"}}}') AS o \gset
SELECT t.is((:'o'::jsonb)->'meta'->'author'->>'reference', :'profile', 'create: a forged meta.author is replaced by the client''s profile');
SELECT t.is(fhir.update((:'o'::jsonb) || '{"status": "amended", "meta": {"author": {"reference": "Patient/forged"}}}')->'meta'->'author'->>'reference',
            :'profile', 'update: a forged meta.author is replaced');
SELECT t.is(fhir.patch('Observation', (:'o'::jsonb)->>'id', '[{"op": "add", "path": "/meta/author", "value": {"reference": "Device/forged"}}, {"op": "replace", "path": "/status", "value": "final"}]')->'meta'->'author'->>'reference',
            :'profile', 'patch: a patched meta.author is replaced');
SELECT t.is((SELECT content->'meta'->'author'->>'reference' FROM fhir.resources WHERE id = (:'o'::jsonb)->>'id'), :'profile', 'the stored version names the client');
SELECT t.is((SELECT count(*) FROM fhir.history('Observation', (:'o'::jsonb)->>'id') h WHERE h->'meta'->'author'->>'reference' = :'profile'), 3::bigint,
            'every version names its author');
RESET ROLE;

SELECT t.is(fhir.create('{"resourceType": "Observation", "status": "final", "meta": {"project": "ap", "author": {"reference": "Device/importer"}}}')->'meta'->'author'->>'reference',
            'Device/importer', 'the system''s writes keep the author it supplies');
SELECT t.ok(NOT fhir.create('{"resourceType": "Observation", "status": "final", "meta": {"project": "ap"}}')->'meta' ? 'author', 'and supply none when it gives none');
