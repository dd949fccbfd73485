-- The audit trail: every client interaction recorded as a BALP-shaped
-- AuditEvent (fhir.audit = writes records writes, all records everything),
-- committed with the interaction, readable under policy, immutable for
-- clients, purged only by the system. Refusals go to the server log
-- (tests/ops/audit_log.sh).
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS au_gateway;
CREATE ROLE au_gateway;
SELECT fhir.grant_client('au_gateway', gateway => true, session_scope => true);
-- The helpers move the audit queue first (fhir.flush_audit), so that what
-- was recorded is readable now rather than when the audit writer gets to it.
CREATE FUNCTION t.last_audit() RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$
    SELECT fhir.flush_audit();
    SELECT content FROM fhir.resource WHERE resource_type = 'AuditEvent' ORDER BY content->>'recorded' DESC LIMIT 1
$$;
CREATE FUNCTION t.audit_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
    SELECT fhir.flush_audit();
    SELECT count(*) FROM fhir.resource WHERE resource_type = 'AuditEvent'
$$;
-- Waits up to 10 s for the audit writer (not flush_audit) to store n AuditEvents.
CREATE FUNCTION t.writer_stored(n bigint) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        IF (SELECT count(*) FROM fhir.resource WHERE resource_type = 'AuditEvent') >= n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;
-- The last record's action, subtype, outcome and first entity.
CREATE FUNCTION t.last_audit_says() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT concat_ws(' ', a->>'action', a->'subtype'->0->>'code', a->>'outcome', a->'entity'->0->'what'->>'reference') FROM t.last_audit() a
$$;

SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Project", "id": "q", "name": "Q"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p1", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p2", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "clinician", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient"}, {"resourceType": "Observation"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "everything", "meta": {"project": "p"}, "resource": [{"resourceType": "*"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "auditor", "meta": {"project": "p"}, "resource": [{"resourceType": "AuditEvent", "readonly": true}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "own", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?_id=%patient.id", "readonly": true},
    {"resourceType": "AuditEvent", "criteria": "AuditEvent?patient=%patient", "readonly": true}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "q-everything", "meta": {"project": "q"}, "resource": [{"resourceType": "*"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "doc@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/clinician"}}}') AS doc_m \gset
SELECT :'doc_m'::jsonb->>'id' AS doc, :'doc_m'::jsonb->'profile'->>'reference' AS doc_profile, :'doc_m'::jsonb->'user'->>'reference' AS doc_user \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "all@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/everything"}}}')->>'id' AS wide \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "admin@example.org", "membership": {"admin": true, "accessPolicy": {"reference": "AccessPolicy/everything"}}}')->>'id' AS admin \gset
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "officer@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/auditor"}}}')->>'id' AS officer \gset
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "pm-p1", "meta": {"project": "p"}, "project": {"reference": "Project/p"},
                     "user": {"reference": "User/u-p1"}, "profile": {"reference": "Patient/p1"}, "accessPolicy": {"reference": "AccessPolicy/own"}}');
SELECT fhir.invite('q', '{"resourceType": "Practitioner", "email": "q@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/q-everything"}}}')->>'id' AS q_member \gset

SELECT t.is(current_setting('fhir.audit'), 'writes', 'the audit trail records writes by default');
SELECT t.is(t.audit_count(), 0::bigint, 'the system''s own work is not recorded');

-- Writes, at the default level.
SET ROLE au_gateway;
SELECT t.throws($$ SET fhir.audit = 'off' $$, '42501', 'a client cannot turn the audit trail off');
SELECT t.throws($$ SELECT set_config('fhir.audit', 'off', true) $$, '42501', 'nor with set_config');
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT t.is(t.audit_count(), 0::bigint, 'at the writes level, set_membership is not recorded');
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "bp"}, "subject": {"reference": "Patient/p1"}}') AS obs \gset
SELECT :'obs'::jsonb->>'id' AS obs_id, :'obs'::jsonb->'meta'->>'versionId' AS obs_v1 \gset
RESET ROLE;
SELECT t.ok(t.writer_stored(1), 'the audit writer stores a committed record by itself');
SELECT t.is((SELECT count(*) FROM fhir.audit_queue), 0::bigint, 'and empties the queue');
SELECT t.is(t.audit_count(), 1::bigint, 'a client''s create is recorded');
SELECT t.is(t.last_audit_says(), format('C create 0 Observation/%s/_history/%s', :'obs_id', :'obs_v1'), 'the record names the action, the interaction, success and the version written');
SELECT t.is(t.last_audit()->'meta'->'profile'->>0, 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Create', 'it follows BALP''s Create profile');
SELECT t.is(t.last_audit()->'meta'->>'project', 'p', 'it is stored in the membership''s project');
SELECT t.is(t.last_audit()->'type'->>'code', 'rest', 'its type is a RESTful operation');
SELECT t.is(t.last_audit()->'agent'->0->'who'->>'reference', :'doc_profile', 'the requesting agent is the membership''s profile');
SELECT t.is(t.last_audit()->'agent'->0->>'requestor', 'true', 'and is the requestor');
SELECT t.is(t.last_audit()->'agent'->0->'policy', '["AccessPolicy/clinician"]'::jsonb, 'with the policies it acted under');
SELECT t.is(t.last_audit()->'agent'->1->'who'->>'reference', 'ProjectMembership/' || :'doc', 'the membership is an agent');
SELECT t.is(t.last_audit()->'agent'->2->'who'->>'reference', :'doc_user', 'the User is an agent');
SELECT t.is(t.last_audit()->'agent'->3->>'altId', 'au_gateway', 'the database role is the client agent');
SELECT t.is(t.last_audit()->'agent'->3->'type'->'coding'->0->>'code', '110153', 'typed as DICOM''s Source Role ID');
SELECT t.is(t.last_audit()->'entity'->1->'what'->>'reference', 'Patient/p1', 'the Patient the resource is about is an entity');
SELECT t.is(t.last_audit()->'entity'->1->'role'->>'code', '1', 'in the role of Patient');
SELECT t.is(t.last_audit()->'source'->>'site', current_database()::text, 'the source is this database');
SELECT t.ok((t.last_audit()->>'recorded')::timestamptz BETWEEN now() - interval '1 minute' AND clock_timestamp(), 'it says when');

-- A gateway gives its client's address; a client's own is its connection's.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc', client_address => '203.0.113.7') IS NOT NULL AS doc;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "from afar"}}') IS NOT NULL AS created;
RESET ROLE;
SELECT t.is(t.last_audit()->'agent'->3->'network', '{"address": "203.0.113.7", "type": "2"}'::jsonb, 'the client address a gateway gives is recorded');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "nearby"}}') IS NOT NULL AS created;
RESET ROLE;
SELECT t.is(t.last_audit()->'agent'->3->'network', NULL, 'the next membership set without one records the connection''s (none over a Unix socket)');
DROP ROLE IF EXISTS au_bound;
CREATE ROLE au_bound;
SELECT fhir.grant_client('au_bound');
SELECT fhir.bind_role('au_bound', :'doc');
SET ROLE au_bound;
SELECT t.throws(format($$ SELECT fhir.set_membership(%L, client_address => '198.51.100.1') $$, :'doc'), '42501', 'a client that is not a gateway cannot claim an address');
SELECT t.throws(format($$ SELECT fhir.set_membership(%L, scopes => 'patient/*.rs') $$, :'doc'), '0A000', 'SMART scopes are refused until they are built, never ignored');
SELECT t.throws(format($$ SELECT fhir.set_membership(%L, on_behalf_of => 'x') $$, :'doc'), '0A000', 'so is on-behalf-of');
RESET ROLE;

SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.update(jsonb_set(:'obs'::jsonb, '{status}', '"amended"'))->'meta'->>'versionId' AS obs_v2 \gset
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('U update 0 Observation/%s/_history/%s', :'obs_id', :'obs_v2'), 'an update is recorded with the new version');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.patch('Observation', :'obs_id', '[{"op": "replace", "path": "/status", "value": "final"}]')->'meta'->>'versionId' AS obs_v3 \gset
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('U patch 0 Observation/%s/_history/%s', :'obs_id', :'obs_v3'), 'a patch is recorded as a patch');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "tmp"}}')->>'id' AS tmp \gset
SELECT fhir.delete('Observation', :'tmp');
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('D delete 0 Observation/%s', :'tmp'), 'a delete is recorded');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Observation", "status": "final", "code": {"text": "via view"}}');
RESET ROLE;
SELECT t.is(t.last_audit_says() LIKE 'C create 0 Observation/%', true, 'a write through the view is recorded as the interaction it is');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'admin') IS NOT NULL AS admin;
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "new@example.org"}') AS invited \gset
RESET ROLE;
SELECT t.is((SELECT string_agg(e->'what'->>'reference', ' ') FROM jsonb_array_elements(t.last_audit()->'entity') e),
            concat_ws(' ', 'ProjectMembership/' || (:'invited'::jsonb->>'id') || '/_history/' || (:'invited'::jsonb->'meta'->>'versionId'),
                      :'invited'::jsonb->'profile'->>'reference', :'invited'::jsonb->'user'->>'reference'),
            'an invite is recorded with the membership, the profile and the User it made');
SELECT t.audit_count() AS before_reads \gset
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.read('Observation', :'obs_id') IS NOT NULL AS read;
SELECT count(*) > 0 AS searched FROM fhir.search('Observation', 'subject=Patient/p1');
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_reads'::bigint, 'at the writes level, reads and searches are not recorded');

-- A write that rolls back takes its record with it.
SET ROLE au_gateway;
BEGIN;
SELECT fhir.set_membership(:'doc', true) IS NOT NULL AS doc;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "undone"}}') IS NOT NULL AS created;
ROLLBACK;
BEGIN;
SELECT fhir.set_membership(:'doc', true) IS NOT NULL AS doc;
SAVEPOINT s;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "undone too"}}') IS NOT NULL AS created;
ROLLBACK TO SAVEPOINT s;
COMMIT;
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_reads'::bigint, 'a rolled-back write leaves no record, to a savepoint too');
SELECT t.is((SELECT count(*) FROM fhir.resource WHERE content->'code'->>'text' LIKE 'undone%'), 0::bigint, '(nor the write)');

-- Refusals are not stored: the transaction that would hold them is aborted.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}') $$, '42501', 'a refused create is refused');
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_reads'::bigint, 'and leaves no stored record (its record is a server log line)');

-- Everything, at the all level.
SET fhir.audit = 'all';
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
RESET ROLE;
SELECT t.is(t.last_audit()->'type'->>'code', '110114', 'at the all level, set_membership is recorded as a user authentication');
SELECT t.is(t.last_audit()->'subtype'->0->>'code', '110122', 'a login');
SELECT t.is(t.last_audit()->'agent'->1->'who'->>'reference', 'ProjectMembership/' || :'doc', 'by the membership set');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.read('Observation', :'obs_id') IS NOT NULL AS read;
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('R read 0 Observation/%s/_history/%s', :'obs_id', :'obs_v3'), 'a read is recorded with the version read');
SELECT t.is(t.last_audit()->'meta'->'profile'->>0, 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read', 'as a BALP Read');
SELECT t.is(t.last_audit()->'agent'->0->'type'->'coding'->0->>'code', 'IRCP', 'whose person is the information recipient');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.vread('Observation', :'obs_id', :'obs_v1') IS NOT NULL AS vread;
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('R vread 0 Observation/%s/_history/%s', :'obs_id', :'obs_v1'), 'a vread is recorded with the version read');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT count(*) AS versions FROM fhir.history('Observation', :'obs_id');
RESET ROLE;
SELECT t.is(t.last_audit_says(), format('R history-instance 0 Observation/%s', :'obs_id'), 'a history is recorded');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT string_agg(s->>'id', ',' ORDER BY s->>'id') AS found FROM fhir.search('Observation', 'subject=Patient/p1&status=final') s \gset
RESET ROLE;
SELECT t.is(t.last_audit()->>'action', 'E', 'a search is recorded as an execute');
SELECT t.is(t.last_audit()->'subtype'->0->>'code', 'search-type', 'of a type search');
SELECT t.is(t.last_audit()->'meta'->'profile'->>0, 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query', 'as a BALP Query');
SELECT t.is((SELECT string_agg(substr(e->'what'->>'reference', 13), ',' ORDER BY e->'what'->>'reference') FROM jsonb_array_elements(t.last_audit()->'entity') e
             WHERE e->'what' IS NOT NULL), :'found', 'with every id the search returned');
SELECT t.is((SELECT e->>'description' FROM jsonb_array_elements(t.last_audit()->'entity') e WHERE e->'role'->>'code' = '24'),
            'Observation?subject=Patient/p1&status=final', 'and its query');
SELECT t.is((SELECT convert_from(decode(e->>'query', 'base64'), 'UTF8') FROM jsonb_array_elements(t.last_audit()->'entity') e WHERE e->'role'->>'code' = '24'),
            'Observation?subject=Patient/p1&status=final', 'also base64-encoded, as BALP has it');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT count(*) AS none FROM fhir.search('Observation', 'subject=Patient/nobody');
RESET ROLE;
SELECT t.is(t.last_audit()->'entity'->0->>'description', 'Observation?subject=Patient/nobody', 'a search that finds nothing is recorded too');
-- Plain SQL on the view is recorded too, with its text, before a row is returned.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT count(*) AS observations FROM fhir.resources WHERE resource_type = 'Observation';
RESET ROLE;
SELECT t.is(concat_ws(' ', t.last_audit()->>'action', t.last_audit()->'subtype'->0->>'code', t.last_audit()->'entity'->0->>'description'),
            'E search-system SELECT count(*) AS observations FROM fhir.resources WHERE resource_type = ''Observation'';',
            'a SELECT on the view is recorded as a query with its SQL');
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
CREATE TEMP TABLE copied AS SELECT content FROM fhir.resources WHERE resource_type = 'Patient';
RESET ROLE;
SELECT t.ok(t.last_audit()->'entity'->0->>'description' LIKE 'CREATE TEMP TABLE copied AS SELECT content FROM fhir.resources%', 'so is a copy of the view into a table');
SET ROLE au_gateway;
BEGIN;
SELECT fhir.set_membership(:'doc', true) IS NOT NULL AS doc;
DECLARE c CURSOR FOR SELECT id FROM fhir.resources WHERE resource_type = 'Patient' ORDER BY id;
FETCH 1 FROM c;
COMMIT;
RESET ROLE;
SELECT t.is(t.last_audit()->'entity'->0->>'description', 'DECLARE c CURSOR FOR SELECT id FROM fhir.resources WHERE resource_type = ''Patient'' ORDER BY id;', 'and a cursor over it');

-- What a client was shown stays recorded when it rolls back: in the server
-- log (tests/ops/audit_log.sh), since the stored record goes with the transaction.
SELECT t.audit_count() AS before_undo \gset
SET ROLE au_gateway;
BEGIN;
SELECT fhir.set_membership(:'doc', true) IS NOT NULL AS doc;
SELECT fhir.read('Observation', :'obs_id') IS NOT NULL AS read;
ROLLBACK;
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_undo'::bigint, 'a read whose transaction rolls back leaves no stored record');

-- One record per Patient, so that a patient reading her trail sees no other patient.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "shared"}, "subject": {"reference": "Patient/p1"},
                     "performer": [{"reference": "Patient/p2"}]}')->>'id' AS shared \gset
RESET ROLE;
SELECT fhir.flush_audit() >= 0 AS flushed;
SELECT t.is((SELECT string_agg(p, ' ' ORDER BY p) FROM fhir.resource r,
                    LATERAL (SELECT string_agg(e->'what'->>'reference', ',') p FROM jsonb_array_elements(r.content->'entity') e
                             WHERE e->'role'->>'code' = '1') x
             WHERE r.resource_type = 'AuditEvent' AND r.content->'entity'->0->'what'->>'reference' LIKE 'Observation/' || :'shared' || '/%'),
            'Patient/p1 Patient/p2', 'a write about two patients is two records, each naming one');

-- A client's query cannot make an unbounded record.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT count(*) AS none FROM fhir.search('Observation', 'code=' || repeat('x', 100000));
RESET ROLE;
SELECT t.ok(length(t.last_audit()->'entity'->0->>'description') BETWEEN 4096 AND 4200, 'a long query is kept to its first 4 kB');
SELECT t.ok(t.last_audit()->'entity'->0->>'description' LIKE '%… (100017 bytes)', 'saying how long it was');

-- RESET ALL and DISCARD ALL keep a superuser's level.
SET ROLE au_gateway;
RESET ALL;
SELECT t.is(current_setting('fhir.audit'), 'all', 'a client''s RESET ALL keeps the superuser''s level');
RESET ROLE;

SELECT t.audit_count() AS before_ro \gset
SET ROLE au_gateway;
BEGIN READ ONLY;
SELECT fhir.set_membership(:'doc', true) IS NOT NULL AS doc;
SELECT t.lives(format($$ SELECT fhir.read('Observation', %L) $$, :'obs_id'), 'a read in a read-only transaction works while audited');
COMMIT;
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_ro'::bigint, 'its record goes to the server log, not the table');
SET fhir.audit = 'off';
SET ROLE au_gateway;
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT fhir.read('Observation', :'obs_id') IS NOT NULL AS read;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "unaudited"}}') IS NOT NULL AS created;
RESET ROLE;
SELECT t.is(t.audit_count(), :'before_ro'::bigint, 'off records nothing');
RESET fhir.audit;

-- Who reads the trail: whoever the policy lets read AuditEvent.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'officer') IS NOT NULL AS officer;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent'), :'before_ro'::bigint, 'an auditor reads every AuditEvent of the project through the view');
SELECT t.is((SELECT count(*) FROM fhir.search('AuditEvent', 'agent=' || :'doc_profile')), (SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent' AND content->'agent'->0->'who'->>'reference' = :'doc_profile'), 'and searches them by agent');
SELECT t.is((SELECT count(*) FROM fhir.search('AuditEvent', 'entity=Observation/' || :'obs_id')),
            (SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent' AND content->'entity'->0->'what'->>'reference' LIKE 'Observation/' || :'obs_id' || '%'),
            'or by entity, every version of it');
SELECT id AS some_event FROM fhir.resources WHERE resource_type = 'AuditEvent' LIMIT 1 \gset
SELECT t.is(fhir.read('AuditEvent', :'some_event')->>'id', :'some_event', 'and reads one by id');
SELECT t.throws($$ SELECT fhir.read('Observation', '$$ || :'obs_id' || $$') $$, '42501', 'an auditor need not read the data itself');
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
SELECT t.throws($$ SELECT fhir.search('AuditEvent') $$, '42501', 'a clinician without AuditEvent in the policy cannot search the trail');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent'), 0::bigint, 'nor see it through the view');
SELECT fhir.set_membership('pm-p1') IS NOT NULL AS patient;
SELECT t.ok((SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent') BETWEEN 1 AND :'before_ro'::bigint - 1, 'a patient sees only the records about her');
SELECT t.ok((SELECT bool_and(content->'entity' @> '[{"what": {"reference": "Patient/p1"}}]') FROM fhir.resources WHERE resource_type = 'AuditEvent'), 'each names her as an entity');
SELECT fhir.set_membership(:'q_member') IS NOT NULL AS other_project;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'AuditEvent'), 0::bigint, 'another project sees none of them, even with *');
SELECT t.throws(format($$ SELECT fhir.read('AuditEvent', %L) $$, :'some_event'), 'P0002', 'nor reads one by id');
RESET ROLE;

-- Nobody changes the trail.
SET ROLE au_gateway;
SELECT fhir.set_membership(:'wide') IS NOT NULL AS wide;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}}') $$,
                '42501', 'a client granted * cannot create an AuditEvent');
SELECT t.throws($$ INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}}') $$,
                '42501', 'nor through the view');
SELECT fhir.set_membership(:'admin') IS NOT NULL AS admin;
SELECT fhir.read('AuditEvent', :'some_event') AS event \gset
SELECT t.throws(format($$ SELECT fhir.update(%L::jsonb || '{"outcome": "8"}') $$, :'event'), '42501', 'an admin cannot change an AuditEvent');
SELECT t.throws(format($$ SELECT fhir.patch('AuditEvent', %L, '[{"op": "remove", "path": "/agent"}]') $$, :'some_event'), '42501', 'nor patch one');
SELECT t.throws(format($$ SELECT fhir.delete('AuditEvent', %L) $$, :'some_event'), '42501', 'nor delete one');
SELECT t.throws(format($$ DELETE FROM fhir.resources WHERE resource_type = 'AuditEvent' AND id = %L $$, :'some_event'), '42501', 'nor delete one through the view');
SELECT t.throws(format($$ UPDATE fhir.resources SET content = content || '{"outcome": "8"}' WHERE id = %L $$, :'some_event'), '42501', 'nor update one through the view');
SELECT t.throws($$ SELECT fhir.delete('AuditEvent', 'no-such-event') $$, '42501', 'the refusal does not depend on what exists');
SELECT t.throws($$ SELECT fhir.purge_audit(interval '0') $$, '42501', 'a client cannot purge');
SELECT t.throws($$ DELETE FROM fhir.resource WHERE resource_type = 'AuditEvent' $$, '42501', 'nor touch the table');
SELECT t.throws($$ SELECT count(*) FROM fhir.audit_queue $$, '42501', 'nor read the queue');
SELECT t.throws($$ LOCK TABLE fhir.audit_queue IN SHARE UPDATE EXCLUSIVE MODE $$, '42501', 'nor lock the audit writer out');
SELECT t.throws($$ SELECT fhir._lock_audit_queue(false) $$, '42501', 'nor take the writer''s lock through its function');
SELECT t.throws($$ SELECT fhir.flush_audit() $$, '42501', 'nor flush the queue');
RESET ROLE;
SELECT t.is(fhir.read('AuditEvent', :'some_event'), :'event'::jsonb, 'the AuditEvent is unchanged');

-- The system purges by age.
SELECT t.throws($$ SELECT fhir.purge_audit(interval '-1 day') $$, '22023', 'a negative age is refused');
SELECT t.throws($$ SELECT fhir.purge_audit(NULL) $$, '22023', 'so is no age');
SELECT t.throws($$ SELECT fhir.purge_audit(interval '1 day -25 hours') $$, '22023', 'and a mixed age that ends in the future');
SELECT t.is(fhir.purge_audit(interval '1 day'), 0::bigint, 'nothing is older than a day');
SELECT t.audit_count() AS all_events \gset
SELECT t.is(fhir.purge_audit(interval '0'), :'all_events'::bigint, 'purging at age zero removes every AuditEvent and says how many');
SELECT t.is((SELECT count(*) FROM fhir.resource_history WHERE resource_type = 'AuditEvent'), 0::bigint, 'their history goes too');
SELECT t.is((SELECT count(*) FROM fhir.verify()), 0::bigint, 'and the store stays consistent');
SELECT t.ok((SELECT count(*) FROM fhir.resource WHERE resource_type = 'Observation') > 0, 'nothing else is purged');

-- Per database.
ALTER DATABASE :"DBNAME" SET fhir.audit = 'all';
\c
\set ON_ERROR_STOP 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SELECT t.is(current_setting('fhir.audit'), 'all', 'ALTER DATABASE sets the level for new sessions');
SET ROLE au_gateway;
SELECT t.throws($$ SET fhir.audit = 'writes' $$, '42501', 'which a client cannot lower');
SELECT fhir.set_membership(:'doc') IS NOT NULL AS doc;
RESET ROLE;
SELECT t.is(t.last_audit()->'type'->>'code', '110114', 'and the new session records at that level');
ALTER DATABASE :"DBNAME" RESET fhir.audit;
