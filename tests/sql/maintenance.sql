-- fhir.verify() and fhir.reindex(): stored tokens and compartments are
-- derived data; verify finds every row that differs from a fresh derivation,
-- reindex brings it back (batched, resumable), and only the system may.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS mt_client;
CREATE ROLE mt_client;
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "ann", "gender": "female", "meta": {"project": "p", "accounts": [{"reference": "Organization/o1"}]}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "bob", "gender": "male", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/ann"}, "meta": {"project": "p"}}');
SELECT fhir.update('{"resourceType": "Observation", "id": "o1", "status": "amended", "subject": {"reference": "Patient/ann"}, "meta": {"project": "p"}}');
SELECT fhir.delete('Patient', 'bob') IS NULL AS deleted;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "women", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "criteria": "Patient?gender=female"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "m@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/women"}}}')->>'id' AS member \gset
SELECT fhir.grant_client('mt_client');
SELECT fhir.bind_role('mt_client', :'member');

SELECT t.is((SELECT count(*) FROM fhir.verify()), 0::bigint, 'verify is clean after ordinary writes, deletes included');

-- Stale derived data: a lost token is a wrong access decision.
UPDATE fhir.resource SET tokens = array_remove(tokens, 'gender=female') WHERE id = 'ann';
UPDATE fhir.resource SET content = jsonb_set(content, '{meta,compartment}', '[{"reference": "Project/p"}]') WHERE id = 'o1';
UPDATE fhir.resource_history h SET content = r.content FROM fhir.resource r WHERE r.id = 'o1' AND h.id = 'o1' AND h.version_id = r.version_id;
SET ROLE mt_client;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE id = 'ann'), 0::bigint, 'with the stale token the member cannot see the patient it may see');
SELECT t.throws($$ SELECT * FROM fhir.verify() $$, '42501', 'verify is for the system');
SELECT t.throws($$ SELECT fhir.reindex() $$, '42501', 'reindex is for the system');
RESET ROLE;
SELECT t.is((SELECT array_agg(v->>'id' ORDER BY v->>'id') FROM fhir.verify() v), ARRAY['ann', 'o1'], 'verify reports both stale rows');
SELECT t.is((SELECT v->'detail'->'missingTokens' FROM fhir.verify() v WHERE v->>'id' = 'ann'), '["gender=female"]'::jsonb, 'naming the missing token');
SELECT t.ok((SELECT v->'detail'->'compartments' ? 'Patient/ann' FROM fhir.verify() v WHERE v->>'id' = 'o1'), 'and the compartment a fresh derivation gives');

SELECT t.is(fhir.reindex('Patient'), 1::bigint, 'reindex of one type rewrites its stale row');
SELECT t.is((SELECT array_agg(v->>'id') FROM fhir.verify() v), ARRAY['o1'], 'the other type is untouched');
SELECT t.is(fhir.reindex(), 1::bigint, 'reindex of everything rewrites the rest');
SELECT t.is(fhir.reindex(), 0::bigint, 'a second run finds nothing to do');
SELECT t.is((SELECT count(*) FROM fhir.verify()), 0::bigint, 'verify is clean again');
SELECT t.is((SELECT content->'meta'->'compartment' FROM fhir.resource_history WHERE id = 'o1' ORDER BY last_updated DESC LIMIT 1),
            (SELECT content->'meta'->'compartment' FROM fhir.resource WHERE id = 'o1'), 'the history row of the version is rewritten with it');
SET ROLE mt_client;
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE id = 'ann'), 1::bigint, 'after reindex the access decision is right again');
RESET ROLE;

-- Batches: at most max_rows per call, the next call resumes.
UPDATE fhir.resource SET tokens = '{}' WHERE resource_type IN ('Patient', 'Observation');
SELECT t.is(fhir.reindex(NULL, 2), 2::bigint, 'max_rows bounds one call');
SELECT t.is(fhir.reindex(NULL, 2), 1::bigint, 'the next call does the rest');
SELECT t.is((SELECT count(*) FROM fhir.verify()), 0::bigint, 'and verify is clean');

-- Current versus history.
DELETE FROM fhir.resource_history WHERE id = 'o1' AND version_id = (SELECT version_id FROM fhir.resource WHERE id = 'o1');
SELECT t.is((SELECT v->>'problem' FROM fhir.verify() v WHERE v->>'id' = 'o1'), 'the current version is not in history, or differs from it',
            'verify reports a current version missing from history');
