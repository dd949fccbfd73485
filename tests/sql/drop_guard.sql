-- DROP EXTENSION never silently destroys clinical data: it is refused while
-- resources are stored; destroying them is a separate, deliberate TRUNCATE.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "id": "dg", "name": "Kept"}') IS NOT NULL AS project;
SELECT t.throws($$ DROP EXTENSION fhir_access $$, '2BP01', 'DROP EXTENSION is refused while resources are stored', '%would destroy them%');
SELECT t.throws($$ DROP EXTENSION fhir_access CASCADE $$, '2BP01', 'DROP EXTENSION ... CASCADE is refused too');
SELECT t.throws($$ DROP EXTENSION IF EXISTS no_such_extension, fhir_access $$, '2BP01', 'a DROP naming it among others is refused');
SELECT t.throws($$ DROP SCHEMA fhir CASCADE $$, '2BP01', 'DROP SCHEMA fhir CASCADE is refused');
SELECT t.lives($$ DROP EXTENSION IF EXISTS no_such_extension $$, 'dropping another extension is not affected');
SELECT t.lives($$ CREATE SCHEMA other; DROP SCHEMA other $$, 'dropping another schema is not affected');
SELECT t.is((SELECT count(*) FROM fhir.resource), 1::bigint, 'after the refusals the data is still there');
SELECT t.ok(fhir.read('Project', 'dg') IS NOT NULL, 'and readable');

-- A deleted resource is still data (its history).
SELECT fhir.delete('Project', 'dg');
SELECT t.throws($$ DROP EXTENSION fhir_access $$, '2BP01', 'a database holding only deleted resources keeps their history too');

TRUNCATE fhir.resource, fhir.resource_history;
SELECT t.lives($$ DROP EXTENSION fhir_access $$, 'after a deliberate TRUNCATE the extension drops');
SELECT t.ok(NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'fhir_access'), 'and is gone');
SELECT t.lives($$ CREATE EXTENSION fhir_access $$, 'it can be created again');
SELECT t.lives($$ DROP EXTENSION fhir_access $$, 'an empty extension drops');

-- The ways around it a careless DBA might take.
CREATE EXTENSION fhir_access;
SELECT fhir.create('{"resourceType": "Project", "id": "dg2", "name": "Kept"}') IS NOT NULL AS project;
SELECT t.throws($$ TRUNCATE fhir.resource_history; DROP EXTENSION fhir_access $$, '2BP01', 'current resources alone keep the extension');
SELECT t.throws($$ ALTER SCHEMA fhir RENAME TO fhir_old $$, '0A000', 'the extension''s schema cannot be renamed (and then dropped under another name)');
SELECT t.lives($$ CREATE SCHEMA other; ALTER SCHEMA other RENAME TO other2; DROP SCHEMA other2 $$, 'other schemas are renamed as usual');
SELECT t.throws($$ SET LOCAL session_replication_role = replica; DROP EXTENSION fhir_access $$, '2BP01', 'the guard holds in replica mode');
SELECT t.throws($$ DROP OWNED BY fhir_writer $$, '2BP01', 'DROP OWNED BY fhir_writer is refused');
SELECT t.throws($$ DROP OWNED BY fhir_reader CASCADE $$, '2BP01', 'DROP OWNED BY fhir_reader is refused');
SELECT t.ok(fhir.read('Project', 'dg2') IS NOT NULL, 'after every attempt the data is there and readable');
