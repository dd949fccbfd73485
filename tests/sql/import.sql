-- fhir.import(ndjson): bulk loading with exactly the checks and the stored
-- rows of fhir.create, all or nothing, one audit record.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS im_gateway;
CREATE ROLE im_gateway;
SELECT fhir.grant_client('im_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Project", "id": "q", "name": "Q"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pa", "meta": {"project": "p", "accounts": [{"reference": "Organization/acme"}]}}');
SELECT fhir.create('{"resourceType": "Practitioner", "id": "doc", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "loader", "meta": {"project": "p"}, "compartment": {"reference": "Organization/partner"}, "resource": [
    {"resourceType": "Patient", "readonlyFields": ["active"]},
    {"resourceType": "Observation", "hiddenFields": ["note"], "writeConstraint": [
        {"expression": "status.exists()", "description": "an observation has a status"},
        {"expression": "status = ''final'' implies subject.exists()", "description": "a final observation names its subject"}]}]}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "loader", "project": {"reference": "Project/p"}, "user": {"reference": "User/u"},
                     "profile": {"reference": "Practitioner/doc"}, "accessPolicy": {"reference": "AccessPolicy/loader"}, "meta": {"project": "p"}}');

-- The system: ids kept, references between the lines resolved, the count returned.
SELECT t.is(fhir.import(E'{"resourceType": "Patient", "id": "s1", "meta": {"project": "p"}}\n\n'
                        '{"resourceType": "Observation", "id": "s2", "status": "final", "subject": {"reference": "urn:uuid:s1"}, "meta": {"project": "p"}}\r\n'),
            2::bigint, 'the system''s import returns how many resources it created');
SELECT t.is(fhir.read('Observation', 's2')->'subject'->>'reference', 'Patient/s1', 'a urn:uuid reference to an imported resource becomes its relative reference');
SELECT t.is(fhir.read('Observation', 's2')->'meta'->'compartment', '[{"reference": "Project/p"}, {"reference": "Patient/s1"}]'::jsonb,
            'an imported resource is in its Patient''s compartment');
SELECT t.is((SELECT count(*) FROM fhir.resource_history WHERE id IN ('s1', 's2')), 2::bigint, 'each imported resource has its first version in history');
SELECT t.is(fhir.import(''), 0::bigint, 'an empty import creates nothing');
SELECT t.is(fhir.import(E'\n  \n'), 0::bigint, 'blank lines are skipped');

SELECT t.is(fhir.import(E'\uFEFF{"resourceType": "Patient", "id": "bom", "meta": {"project": "p"}}'), 1::bigint,
            'a leading byte order mark (as exported files have) is not part of the first line');
-- Refusals: the whole import is undone, whichever line fails; the message names the line.
SELECT count(*) AS before FROM fhir.resource_history \gset
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient", "meta": {"project": "p"}}\n{"resourceType": ') $$,
                '22023', 'invalid JSON is refused', 'NDJSON line 2: Invalid JSON%');
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient", "meta": {"project": "p"}}\n[1, 2]') $$,
                '22023', 'a line that is not an object is refused', 'NDJSON line 2: Resource must be a JSON object');
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient", "meta": {"project": "p"}}\n{"resourceType": "Nope"}') $$,
                '22023', 'an unknown type is refused at its line', 'NDJSON line 2: Unknown resourceType%');
SELECT t.throws($$ SELECT fhir.import('{"resourceType": "Patient", "meta": {"project": "p"}, "name": [{"text": "a\u0000b"}]}') $$,
                '22023', 'a NUL character, which jsonb cannot store, is refused', 'NDJSON line 1: %u0000%');
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient", "id": "d1", "meta": {"project": "p"}}\n{"resourceType": "Patient", "id": "d1", "meta": {"project": "p"}}') $$,
                '22023', 'an id twice in one import is refused', 'NDJSON line 2: Patient/d1 is already on line 1');
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient", "meta": {"project": "p"}}\n{"resourceType": "Patient", "id": "pa", "meta": {"project": "p"}}') $$,
                '22023', 'an id that exists already is refused', 'NDJSON line 2: Patient/pa already exists');
SELECT t.throws($$ SELECT fhir.import('{"resourceType": "Patient"}') $$, '22023', 'the system''s lines need meta.project', 'NDJSON line 1: meta.project is required');
SELECT t.throws($$ SELECT fhir.import('{"resourceType": "Basic", "meta": {"project": "p"}, "extension": [{"url": "x", "valueDecimal": 1e131000}]}') $$,
                '22023', 'a number PostgreSQL would print as 131,001 digits is refused (600 of them would store 78 MB from 24 kB)',
                'NDJSON line 1: A number may have at most 1000 digits written out');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Basic", "meta": {"project": "p"}, "extension": [{"url": "x", "valueDecimal": 1e131000}]}') $$,
                '22023', 'create refuses it the same way', 'A number may have at most 1000 digits written out');
SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'refused imports write nothing, not even their valid lines');

-- A client: the same checks as its creates, line by line.
SET ROLE im_gateway;
SELECT fhir.set_membership('loader') IS NOT NULL AS loader;
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/pa"}}\n{"resourceType": "Observation", "status": "final"}') $$,
                '42501', 'a line violating a write constraint is forbidden', 'NDJSON line 2: %');
SELECT t.ok(t.error_detail($$ SELECT fhir.import('{"resourceType": "Observation"}') $$)->'issue'->0->'details'->>'text' LIKE '%an observation has a status%',
            'the refusal names the constraint, as create''s does');
SELECT t.throws($$ SELECT fhir.import(E'{"resourceType": "Patient"}\n{"resourceType": "Encounter", "status": "planned", "class": {"code": "x"}}') $$,
                '42501', 'a type the policy does not grant is forbidden', 'NDJSON line 2: %');
SELECT t.throws($$ SELECT fhir.import('{"resourceType": "AuditEvent"}') $$, '42501', 'a client cannot import audit records');
RESET ROLE;
SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'a client''s refused imports write nothing');

-- The client's ids are new, and references between its lines follow them.
SET ROLE im_gateway;
SELECT fhir.set_membership('loader') IS NOT NULL AS loader;
SELECT t.is(fhir.import(E'{"resourceType": "Patient", "id": "mine"}\n'
                        '{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/mine"}, "hasMember": [{"reference": "Observation/o1/_history/7"}]}'),
            2::bigint, 'a client imports two resources');
RESET ROLE;
SELECT r.id AS new_obs, r.content->'subject'->>'reference' AS obs_subject, r.content->'hasMember'->0->>'reference' AS obs_member
FROM fhir.resource r WHERE r.resource_type = 'Observation' AND r.id <> 's2' AND r.content->'meta'->'author'->>'reference' = 'Practitioner/doc' \gset
SELECT t.ok(:'new_obs' <> 'o1' AND NOT EXISTS (SELECT 1 FROM fhir.resource WHERE id IN ('mine', 'o1')), 'a client''s ids are replaced, as by create');
SELECT t.ok(EXISTS (SELECT 1 FROM fhir.resource WHERE resource_type = 'Patient' AND 'Patient/' || id = :'obs_subject'),
            'a reference to another line names the new id');
SELECT t.is(:'obs_member', 'Observation/' || :'new_obs', 'a versioned reference to another line names its new id, without the version');

-- Every stored row of an import is the row create stores: the same content,
-- accounts, compartments, author and tokens, over generated documents (ids,
-- versions and times aside), as a client with a compartment, protected fields
-- and write constraints.
CREATE TABLE import_docs AS
SELECT n, CASE n % 4
    WHEN 0 THEN jsonb_build_object('resourceType', 'Patient', 'active', true, 'name', jsonb_build_array(jsonb_build_object('family', 'F' || n)),
                                   'meta', jsonb_build_object('accounts', jsonb_build_array(jsonb_build_object('reference', 'Organization/sent'))))
    WHEN 1 THEN jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'subject', jsonb_build_object('reference', 'Patient/pa'),
                                   'note', jsonb_build_array(jsonb_build_object('text', 'hidden ' || n)), 'valueInteger', n)
    WHEN 2 THEN jsonb_build_object('resourceType', 'Observation', 'status', 'preliminary', 'code', jsonb_build_object('text', 'c' || n),
                                   'performer', jsonb_build_array(jsonb_build_object('reference', 'Practitioner/doc')))
    ELSE jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'subject', jsonb_build_object('reference', 'Patient/s1'),
                            'meta', jsonb_build_object('tag', jsonb_build_array(jsonb_build_object('code', 't' || n))))
    END || jsonb_build_object('identifier', jsonb_build_array(jsonb_build_object('system', 'urn:case', 'value', n::text))) AS doc
FROM generate_series(1, 40) n;
GRANT SELECT ON import_docs TO im_gateway;
CREATE FUNCTION import_rows(since text[]) RETURNS TABLE (n int, resource_type text, content jsonb, tokens text[]) LANGUAGE sql AS $$
    SELECT (r.content->'identifier'->0->>'value')::int, r.resource_type,
           replace((r.content - 'id' #- '{meta,versionId}' #- '{meta,lastUpdated}')::text, r.id, '(id)')::jsonb,
           ARRAY(SELECT t FROM unnest(r.tokens) t WHERE strpos(t, r.id) = 0 AND t NOT LIKE '\_lastUpdated%' ORDER BY t)
    FROM fhir.resource r
    WHERE r.content->'identifier'->0->>'system' = 'urn:case' AND r.id <> ALL (since)
$$;
SET ROLE im_gateway;
SELECT fhir.set_membership('loader') IS NOT NULL AS loader;
SELECT count(fhir.create(doc)) AS created FROM import_docs;
RESET ROLE;
SELECT array_agg(id) AS created_ids FROM fhir.resource \gset
CREATE TABLE created_rows AS SELECT * FROM import_rows('{}');
SELECT fhir.flush_audit() IS NOT NULL AS flushed;
SELECT count(*) AS events_before FROM fhir.resource WHERE resource_type = 'AuditEvent' \gset
SET ROLE im_gateway;
SELECT fhir.set_membership('loader') IS NOT NULL AS loader;
SELECT t.is(fhir.import((SELECT string_agg(doc::text, E'\n' ORDER BY n) FROM import_docs)), 40::bigint, 'a client imports 40 generated documents');
RESET ROLE;
SELECT t.is((SELECT count(*) FROM import_rows(:'created_ids')), 40::bigint, 'the import stored 40 rows');
SELECT t.is((SELECT count(*) FROM created_rows c JOIN import_rows(:'created_ids') i USING (n)
             WHERE c.resource_type = i.resource_type AND c.content = i.content AND c.tokens = i.tokens), 40::bigint,
            'each imported row has the content, meta and tokens its create stored');
SELECT t.ok(NOT EXISTS (SELECT 1 FROM import_rows(:'created_ids') WHERE content ? 'note' OR (resource_type = 'Patient' AND content ? 'active')),
            'hidden and read-only fields were not written');
SELECT t.ok(NOT EXISTS (SELECT 1 FROM import_rows(:'created_ids') WHERE content->'meta'->'accounts' @> '[{"reference": "Organization/sent"}]'),
            'accounts a client sends are ignored');
SELECT t.ok((SELECT bool_and(content->'meta'->'accounts' @> '[{"reference": "Organization/acme"}]') FROM import_rows(:'created_ids') WHERE n % 4 = 1),
            'a resource about a patient inherits the patient''s accounts');

-- The import is recorded per Patient, not per line: one event for each
-- Patient it concerns (pa, s1 and the 10 imported Patients), naming only the
-- resources about that Patient, and one for the resources about none.
SELECT fhir.flush_audit() IS NOT NULL AS flushed;
CREATE TEMP TABLE import_events AS
SELECT content->'agent'->0->'who'->>'reference' AS who,
       ARRAY(SELECT e->'what'->>'reference' FROM jsonb_array_elements(content->'entity') e WHERE e->'what'->>'reference' LIKE 'Patient/%') AS patients,
       (SELECT count(*) FROM jsonb_array_elements(content->'entity') e WHERE e->'what'->>'reference' LIKE 'Observation/%') AS observations
FROM fhir.resource WHERE resource_type = 'AuditEvent' AND content->'subtype'->0->>'code' = 'create'
ORDER BY last_updated DESC LIMIT (SELECT count(*) FROM fhir.resource WHERE resource_type = 'AuditEvent') - :events_before;
SELECT t.is((SELECT count(*) FROM import_events), 13::bigint, 'the import is one event per Patient concerned and one for the rest');
SELECT t.is((SELECT observations FROM import_events WHERE patients = '{Patient/pa}' AND who = 'Practitioner/doc'), 10::bigint,
            'the event of a Patient names the writer and lists only the imported Observations about her');
SELECT t.is((SELECT observations FROM import_events WHERE patients = '{}'), 10::bigint,
            'the Observations about no Patient are in an event that names none');

-- However many lines come first, each resource is named in the trail: a
-- record lists at most 1,000 resources, and the next starts a new one.
SET ROLE im_gateway;
SELECT fhir.set_membership('loader') IS NOT NULL AS loader;
SELECT t.is(fhir.import((SELECT string_agg('{"resourceType": "Observation", "status": "preliminary", "code": {"text": "pad"}}', E'\n')
                         FROM generate_series(1, 1000))
                        || E'\n{"resourceType": "Observation", "status": "final", "code": {"text": "after the padding"}, "subject": {"reference": "Patient/pa"}}'),
            1001::bigint, 'a client imports 1,000 lines of padding, then one about Patient/pa');
RESET ROLE;
SELECT fhir.flush_audit() IS NOT NULL AS flushed;
SELECT id AS padded FROM fhir.resource WHERE resource_type = 'Observation' AND content->'code'->>'text' = 'after the padding' \gset
SELECT t.ok(EXISTS (SELECT 1 FROM fhir.resource WHERE resource_type = 'AuditEvent' AND content->'entity' @> '[{"what": {"reference": "Patient/pa"}}]'
                    AND (content->'entity')::text LIKE '%"Observation/' || :'padded' || '/_history/%'),
            'the line after the padding is named in Patient/pa''s trail');
