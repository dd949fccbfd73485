-- The one redaction plan: values derived from hidden elements are hidden,
-- writes cannot move or erase what the writer cannot see, and a write that
-- moves a resource to another entry reveals nothing hidden before.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS rd_gateway;
CREATE ROLE rd_gateway;
SELECT fhir.grant_client('rd_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "secret-patient", "meta": {"project": "p", "accounts": [{"reference": "Organization/secret-org"}]}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "c"},
                     "subject": {"reference": "Patient/secret-patient"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p1", "gender": "female", "meta": {"project": "p"},
                     "name": [{"family": "A", "given": ["a-hidden"]}, {"family": "B", "given": ["b-hidden"]}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "hide", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Observation", "hiddenFields": ["subject"]},
    {"resourceType": "Patient", "criteria": "Patient?gender=female", "hiddenFields": ["name.given", "birthDate"]},
    {"resourceType": "Patient"}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "r@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/hide"}}}')->>'id' AS member \gset

SET ROLE rd_gateway;
SELECT fhir.set_membership(:'member') IS NOT NULL AS acting;
-- Derived values.
SELECT t.ok(fhir.read('Observation', 'o1')::text NOT LIKE '%secret-patient%', 'a hidden subject does not show in meta.compartment');
SELECT t.ok(fhir.read('Observation', 'o1')::text NOT LIKE '%secret-org%', 'nor do the accounts inherited from it');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', '_compartment=Patient/secret-patient')), 0::bigint,
            '_compartment cannot match through a hidden subject');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', 'patient=Patient/secret-patient')), 0::bigint,
            'a parameter whose expression does not start with the hidden path (subject.where(resolve() is Patient)) is hidden too');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', 'subject:missing=true')), 1::bigint, 'to search, a hidden subject is missing');
SELECT t.is(fhir.explain_access('Observation', 'o1', 'read')->'redacted', '["meta.account", "meta.accounts", "meta.compartment", "subject"]'::jsonb,
            'explain_access shows the plan, derived values included');

-- Hidden accounts do not show through the compartments that list them.
RESET ROLE;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "accounts", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "hiddenFields": ["meta.accounts", "meta.account"]},
    {"resourceType": "Observation", "hiddenFields": ["value[x]"], "readonlyFields": ["valueQuantity.unit"]}]}');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "a@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/accounts"}}}')->>'id' AS accounts_member \gset
SELECT fhir.create('{"resourceType": "Observation", "id": "q1", "status": "final", "valueQuantity": {"value": 1, "unit": "mg"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "q2", "status": "final", "meta": {"project": "p"}}');
SET ROLE rd_gateway;
SELECT fhir.set_membership(:'accounts_member') IS NOT NULL AS acting_for_accounts;
SELECT t.ok(fhir.read('Patient', 'secret-patient')::text NOT LIKE '%secret-org%', 'hidden accounts do not show in meta.compartment');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', '_compartment=Organization/secret-org')), 0::bigint,
            '_compartment cannot match through hidden accounts');
SELECT t.is((SELECT string_agg(x, ',' ORDER BY x) FROM (
               SELECT fhir.patch('Observation', id, '[{"op": "replace", "path": "/status", "value": "amended"}]')->>'status' AS x
               FROM unnest(ARRAY['q1', 'q2']) id) s), 'amended,amended',
            'a readonly path under a hidden choice changes nothing: the write succeeds alike with or without the hidden value');
RESET ROLE;
SET ROLE rd_gateway;
SELECT fhir.set_membership(:'member') IS NOT NULL AS acting_again;

-- Writes cannot reorder, remove or reshape elements that hold hidden values.
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "p1", "gender": "female", "name": [{"family": "B"}, {"family": "A"}]}') $$,
                '42501', 'reordering names that hold hidden given names is refused');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "p1", "gender": "female", "name": [{"family": "B"}]}') $$,
                '42501', 'removing a name that holds a hidden given name is refused');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "p1", "gender": "female", "name": {"family": "A"}}') $$,
                '42501', 'an object where the array of names was is refused');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "move", "from": "/name/1", "path": "/name/0"}]') $$,
                '42501', 'a patch that moves a name holding a hidden value is refused');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "replace", "path": "/name/1/family", "value": "Z"}]') $$,
                '42501', 'editing a name in place is refused: it could hold a hidden value');
SELECT t.lives($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "add", "path": "/name/-", "value": {"family": "C"}}]') $$,
               'appending a name is fine');
SELECT t.throws($$ SELECT fhir.update(fhir.read('Patient', 'p1') - 'name') $$, '42501', 'removing the names is refused');
RESET ROLE;
SELECT t.is((SELECT content->'name' FROM fhir.resource WHERE id = 'p1'),
            '[{"family": "A", "given": ["a-hidden"]}, {"family": "B", "given": ["b-hidden"]}, {"family": "C"}]'::jsonb,
            'the hidden given names stayed with their names');
SET ROLE rd_gateway;

-- A write may not move the resource to an entry that shows what was hidden.
SELECT t.throws($$ SELECT fhir.update(fhir.read('Patient', 'p1') || '{"gender": "male"}') $$, '42501',
                'an update that would move the resource to an entry showing the hidden names is refused', '%shows values hidden from this session%');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "replace", "path": "/gender", "value": "male"}]') $$, '42501',
                'so is such a patch');
SELECT t.ok((SELECT string_agg(h::text, '') FROM fhir.history('Patient', 'p1') h) NOT LIKE '%-hidden%', 'history shows no hidden name');
RESET ROLE;
SELECT fhir.create('{"resourceType": "Patient", "id": "p2", "gender": "male", "meta": {"project": "p"}, "name": [{"family": "M", "given": ["visible"]}]}');
SELECT fhir.update('{"resourceType": "Patient", "id": "p2", "gender": "female", "meta": {"project": "p"}, "name": [{"family": "M", "given": ["now-hidden"]}]}');
SET ROLE rd_gateway;
SELECT t.ok((SELECT string_agg(h::text, '') FROM fhir.history('Patient', 'p2') h) NOT LIKE '%"visible"%',
            'an earlier version is hidden as the current one is, though it was written under an entry that showed it');
SELECT t.lives($$ SELECT fhir.update(fhir.read('Patient', 'p2') || '{"birthDate": "2000-01-01"}') $$, 'a write that stays in the hiding entry is fine');

-- Bad input.
SELECT t.throws($$ SELECT fhir.search('Patient', '_count=1001') $$, '22023', '_count beyond 1000 is refused', '_count must be an integer from 0 to 1000');
SELECT t.throws($$ SELECT fhir.search('Patient', '_count=-1') $$, '22023', 'a negative _count is refused');
SELECT t.throws($$ SELECT fhir.search('Patient', '_offset=99999999999999999999') $$, '22023', 'an _offset beyond range is refused');
SELECT t.is(t.error_detail($$ SELECT fhir.search('Patient', '_offset=10001') $$)->>'resourceType', 'OperationOutcome', 'with an OperationOutcome');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "add", "path": "/extension", "value": %s1%s}]') $$, repeat('[', 100), repeat(']', 100)),
                '22023', 'a patch whose result is nested too deep is refused', '%deeper than 100 levels');
SELECT t.throws(format($$ SELECT fhir.patch('Patient', 'p1', '[{"op": "add", "path": "/x", "value": ["%s"]}%s]') $$, repeat('a', 1 << 20),
                       repeat(', {"op": "copy", "from": "/x", "path": "/x/0"}', 80)),
                '22023', 'a patch whose copies grow the document past the size limit is refused', '%larger than%');
RESET ROLE;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "hiddenFields": ["name..given"]}]}') $$,
                '22023', 'a malformed hidden path is refused', 'Invalid field path%');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "hiddenFields": ["meta.versionId"]}]}') $$,
                '22023', 'hiding what identifies the version is refused');
SELECT t.is((SELECT content->'name'->0->'given' FROM fhir.resource WHERE id = 'p1'), '["a-hidden"]'::jsonb, 'refused writes changed nothing');
