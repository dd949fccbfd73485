-- AccessPolicy entries: types, readonly, interactions and criteria, through
-- the functions and through the view. 403 for what the policy does not grant,
-- 404 for an instance outside the criteria.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS po_gateway;
CREATE ROLE po_gateway;
SELECT fhir.grant_client('po_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pca", "address": [{"state": "CA"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pny", "address": [{"state": "NY"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/pca"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Device", "id": "d1", "identifier": [{"value": "x"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Device", "id": "d2", "identifier": [{"value": "y"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "readonly", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "readonly": true}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "create-read", "meta": {"project": "p"}, "resource": [{"resourceType": "Observation", "interaction": ["create", "read"]}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "california", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "devices", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Device", "interaction": ["read"]},
    {"resourceType": "Device", "criteria": "Device?identifier=x", "interaction": ["search", "read"]}]}');
CREATE TABLE ids AS SELECT
    (fhir.invite('p', '{"resourceType": "Practitioner", "email": "ro@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/readonly"}}}')->>'id') AS readonly,
    (fhir.invite('p', '{"resourceType": "Practitioner", "email": "cr@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/create-read"}}}')->>'id') AS create_read,
    (fhir.invite('p', '{"resourceType": "Practitioner", "email": "ca@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/california"}}}')->>'id') AS california,
    (fhir.invite('p', '{"resourceType": "Practitioner", "email": "dv@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/devices"}}}')->>'id') AS devices;
GRANT SELECT ON ids TO po_gateway;

SET ROLE po_gateway;
-- readonly
SELECT fhir.set_membership(readonly) IS NOT NULL AS readonly FROM ids;
SELECT t.is(fhir.read('Patient', 'pca')->>'id', 'pca', 'readonly: read is allowed');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient')), 2::bigint, 'readonly: search is allowed');
SELECT t.is((SELECT count(*) FROM fhir.history('Patient', 'pca')), 1::bigint, 'readonly: history is allowed');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "pca", "active": true}') $$, '42501', 'readonly: update is forbidden');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'pca', '[{"op": "add", "path": "/active", "value": true}]') $$, '42501', 'readonly: patch is forbidden');
SELECT t.throws($$ SELECT fhir.delete('Patient', 'pca') $$, '42501', 'readonly: delete is forbidden');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient"}') $$, '42501', 'readonly: create is forbidden');
SELECT t.throws($$ UPDATE fhir.resources SET content = content || '{"active": true}' WHERE id = 'pca' $$, '42501', 'readonly: UPDATE through the view is forbidden');
SELECT t.throws($$ SELECT fhir.read('Observation', 'o1') $$, '42501', 'a type the policy does not name is forbidden');

-- interactions
SELECT fhir.set_membership(create_read) IS NOT NULL AS create_read FROM ids;
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "preliminary"}') $$, 'interaction list: create is allowed');
SELECT t.is(fhir.read('Observation', 'o1')->>'id', 'o1', 'interaction list: read is allowed');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Observation", "id": "o1", "status": "amended"}') $$, '42501', 'interaction list: update is forbidden');
SELECT t.throws($$ SELECT fhir.patch('Observation', 'o1', '[{"op": "replace", "path": "/status", "value": "amended"}]') $$, '42501', 'interaction list: patch counts as update');
SELECT t.throws($$ SELECT fhir.delete('Observation', 'o1') $$, '42501', 'interaction list: delete is forbidden');
SELECT t.throws($$ SELECT * FROM fhir.search('Observation') $$, '42501', 'interaction list: search is forbidden');
SELECT t.throws($$ SELECT * FROM fhir.history('Observation', 'o1') $$, '42501', 'interaction list: history is forbidden');
SELECT t.throws($$ SELECT fhir.vread('Observation', 'o1', 'x') $$, '42501', 'interaction list: vread is forbidden');

-- criteria
SELECT fhir.set_membership(california) IS NOT NULL AS california FROM ids;
SELECT t.is(fhir.read('Patient', 'pca')->>'id', 'pca', 'criteria: a matching instance is readable');
SELECT t.throws($$ SELECT fhir.read('Patient', 'pny') $$, 'P0002', 'criteria: an instance outside is not found');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "pny", "active": true}') $$, 'P0002', 'criteria: update outside is not found');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'pny', '[]') $$, 'P0002', 'criteria: patch outside is not found');
SELECT t.throws($$ SELECT fhir.delete('Patient', 'pny') $$, 'P0002', 'criteria: delete outside is not found');
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['pca'], 'criteria: the view shows matching instances only');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient') x), ARRAY['pca'], 'criteria: search returns matching instances only');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Patient", "address": [{"state": "CA"}]}') $$, 'criteria: creating a matching instance is allowed');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient", "address": [{"state": "NY"}]}') $$, '42501', 'criteria: creating an instance outside is forbidden');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "pca", "address": [{"state": "NY"}]}') $$, '42501', 'criteria: moving an instance outside is forbidden');
SELECT t.is(fhir.read('Patient', 'pca')->'address'->0->>'state', 'CA', 'criteria: the refused update left the instance as it was');

-- entries without search do not widen search (Medplum's overlapping entries)
SELECT fhir.set_membership(devices) IS NOT NULL AS devices FROM ids;
SELECT t.is(fhir.read('Device', 'd2')->>'id', 'd2', 'a read-only entry grants read by id');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Device') x), ARRAY['d1'], 'search honours only entries granting search');
RESET ROLE;
