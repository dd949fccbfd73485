-- hiddenFields and readonlyFields: no route reveals a hidden value, and
-- protected values survive every write.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS fd_gateway;
CREATE ROLE fd_gateway;
SELECT fhir.grant_client('fd_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01", "active": false, "multipleBirthInteger": 0,
                     "name": [{"family": "Lee", "given": ["Ann", "Bea"]}, {"family": "Kim"}], "address": [{"state": "CA"}],
                     "meta": {"project": "p", "tag": [{"system": "urn:t", "code": "secret-tag"}]}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1980-02-02", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "oq", "status": "final", "valueQuantity": {"value": 99, "unit": "mg"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "os", "status": "final", "valueString": "classified", "meta": {"project": "p"}}');
SELECT fhir.update('{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01", "active": false, "multipleBirthInteger": 0,
                     "name": [{"family": "Lee", "given": ["Ann", "Bea"]}, {"family": "Kim"}], "address": [{"state": "CA"}], "telecom": [{"value": "555"}],
                     "meta": {"project": "p", "tag": [{"system": "urn:t", "code": "secret-tag"}]}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "hide", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "hiddenFields": ["name.given", "birthDate", "meta.tag", "photo.data"]},
    {"resourceType": "Observation", "hiddenFields": ["value[x]"]}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ro", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "readonlyFields": ["name.given", "active", "multipleBirth[x]", "meta.tag"]}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "first", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?gender=female", "hiddenFields": ["birthDate"]}, {"resourceType": "Patient"}]}');
CREATE TABLE m AS SELECT
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "h@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/hide"}}}')->>'id' AS hide,
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "r@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ro"}}}')->>'id' AS ro,
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "f@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/first"}}}')->>'id' AS first;
GRANT SELECT ON m TO fd_gateway;

SET ROLE fd_gateway;
SELECT fhir.set_membership(hide) IS NOT NULL AS hide FROM m;
-- Every way of receiving a resource.
SELECT t.is((SELECT content->'name' FROM fhir.resources WHERE id = 'p1'), '[{"family": "Lee"}, {"family": "Kim"}]'::jsonb, 'the view: name.given is removed from every name, family stays');
SELECT t.ok(NOT (SELECT content ? 'birthDate' FROM fhir.resources WHERE id = 'p1'), 'the view: birthDate is removed');
SELECT t.ok(NOT (SELECT content->'meta' ? 'tag' FROM fhir.resources WHERE id = 'p1'), 'the view: meta.tag is removed, meta stays');
SELECT t.ok(fhir.read('Patient', 'p1')->'name'->0 = '{"family": "Lee"}', 'read: removed');
SELECT t.ok(NOT fhir.vread('Patient', 'p1', (SELECT h->'meta'->>'versionId' FROM fhir.history('Patient', 'p1') h OFFSET 1 LIMIT 1)) ? 'birthDate', 'vread of an old version: removed');
SELECT t.ok((SELECT bool_and(NOT h ? 'birthDate') FROM fhir.history('Patient', 'p1') h), 'history: removed from every version');
SELECT t.ok((SELECT bool_and(NOT x ? 'birthDate') FROM fhir.search('Patient') x), 'search results: removed');
SELECT t.ok(NOT fhir.create('{"resourceType": "Patient", "birthDate": "2000-01-01", "name": [{"given": ["Z"]}]}') ? 'birthDate', 'create''s returned body: removed');
SELECT t.ok(NOT fhir.update(fhir.read('Patient', 'p2') || '{"active": true}') ? 'birthDate', 'update''s returned body: removed');
SELECT t.ok(NOT fhir.patch('Patient', 'p2', '[{"op": "replace", "path": "/active", "value": false}]') ? 'birthDate', 'patch''s returned body: removed');
SELECT t.ok((SELECT NOT content ? 'valueQuantity' AND NOT content ? 'valueString' FROM fhir.resources WHERE id = 'oq'), 'value[x] removes valueQuantity');
SELECT t.ok(NOT fhir.read('Observation', 'os') ? 'valueString', 'value[x] removes valueString');
SELECT t.is(fhir.read('Patient', 'p2')->>'gender', 'male', 'a hidden path with a missing parent (photo.data) changes nothing else');
-- No route reveals a hidden value.
SELECT t.is((SELECT content->>'birthDate' FROM fhir.resources WHERE id = 'p1'), NULL, 'content->''x'' gives nothing');
SELECT t.is((SELECT count(*) FROM fhir.resources, jsonb_path_query(content, '$.name[*].given[*]') WHERE id = 'p1'), 0::bigint, 'jsonb_path_query finds nothing');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE content->>'birthDate' = '1970-01-01'), 0::bigint, 'filtering the view on the hidden value finds nothing');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE content::text LIKE '%secret-tag%' OR content::text LIKE '%classified%'), 0::bigint, 'searching the text of content finds nothing');
WITH i AS (INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Patient", "birthDate": "1999-09-09"}') RETURNING content)
SELECT t.ok(NOT bool_or(content ? 'birthDate'), 'INSERT ... RETURNING through the view: removed') FROM i;
WITH u AS (UPDATE fhir.resources SET content = content || '{"active": true}' WHERE id = 'p1' RETURNING content)
SELECT t.ok(NOT bool_or(content ? 'birthDate'), 'UPDATE ... RETURNING through the view: removed') FROM u;
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', 'birthdate=1970-01-01')), 0::bigint, 'search on a hidden parameter finds nothing');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', 'birthdate=1970-01-01&_count=5')), 0::bigint, 'with result parameters too');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', 'given=Ann')), 0::bigint, 'search on a hidden nested path finds nothing');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient', 'family=Lee')), 1::bigint, 'search on a visible sibling of a hidden path still works');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', 'value-quantity=99')), 0::bigint, 'search on a hidden choice type finds nothing');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient', '_sort=-birthdate&_id=p1,p2') x), ARRAY['p1', 'p2'], 'sorting by a hidden parameter does not order by it');
SELECT t.ok(fhir.explain_access('Patient', 'p1', 'read')::text NOT LIKE '%1970%', 'explain_access names hidden paths, not values');
-- Writes: hidden values are kept, not erased.
SELECT fhir.update(fhir.read('Patient', 'p1') || '{"name": [{"family": "Lee", "given": ["Changed"]}, {"family": "Kim"}]}') IS NOT NULL AS updated;
RESET ROLE;
SELECT t.is(fhir.read('Patient', 'p1')->'name'->0->'given', '["Ann", "Bea"]'::jsonb, 'an update keeps hidden nested values');
SELECT t.is(fhir.read('Patient', 'p1')->>'birthDate', '1970-01-01', 'an update without a hidden field does not erase it');
SELECT t.is(fhir.read('Patient', 'p1')->'meta'->'tag'->0->>'code', 'secret-tag', 'meta.tag survives an update that could not see it');
SELECT fhir.patch('Patient', 'p1', '[{"op": "replace", "path": "/active", "value": false}]') IS NOT NULL AS reset_active;
SET ROLE fd_gateway;

-- readonlyFields
SELECT fhir.set_membership(ro) IS NOT NULL AS ro FROM m;
SELECT t.ok(NOT fhir.create('{"resourceType": "Patient", "active": true, "name": [{"family": "N", "given": ["G"]}]}') ? 'active', 'create drops read-only fields');
SELECT fhir.update(fhir.read('Patient', 'p1') || '{"active": true, "multipleBirthInteger": 5, "name": [{"family": "Lee", "given": ["X"]}, {"family": "Kim"}], "meta": {"tag": []}}') AS after_ro \gset
SELECT t.is(:'after_ro'::jsonb->'active', 'false'::jsonb, 'update keeps a read-only false');
SELECT t.is(:'after_ro'::jsonb->'multipleBirthInteger', '0'::jsonb, 'update keeps a read-only 0 of a choice type');
SELECT t.is(:'after_ro'::jsonb->'name'->0->'given', '["Ann", "Bea"]'::jsonb, 'update keeps read-only nested values');
SELECT t.is(:'after_ro'::jsonb->'meta'->'tag'->0->>'code', 'secret-tag', 'update keeps read-only meta.tag');
SELECT t.is(fhir.patch('Patient', 'p1', '[{"op": "remove", "path": "/active"}, {"op": "remove", "path": "/name/0/given"}]')->'active', 'false'::jsonb, 'patch cannot remove a read-only value');
SELECT t.is(fhir.read('Patient', 'p1')->'name'->0->'given', '["Ann", "Bea"]'::jsonb, 'patch cannot remove a read-only nested value');
SELECT t.is(fhir.read('Patient', 'p1')->>'birthDate', '1970-01-01', 'read-only fields do not hide');

-- The first entry a resource satisfies supplies the fields (Medplum's rule).
SELECT fhir.set_membership(first) IS NOT NULL AS first FROM m;
SELECT t.ok(NOT fhir.read('Patient', 'p1') ? 'birthDate', 'first matching entry: a female patient''s birthDate is hidden');
SELECT t.is(fhir.read('Patient', 'p2')->>'birthDate', '1980-02-02', 'first matching entry: a male patient''s birthDate is not');
RESET ROLE;
