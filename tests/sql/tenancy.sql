-- Projects are hard walls, through the view, every function and every join.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS w_gateway;
CREATE ROLE w_gateway;
SELECT fhir.grant_client('w_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "pa", "name": "A"}');
SELECT fhir.create('{"resourceType": "Project", "id": "pb", "name": "B"}');
SELECT fhir.create('{"resourceType": "Project", "id": "root", "name": "Operators", "superAdmin": true}');
SELECT fhir.create('{"resourceType": "Patient", "id": "a1", "meta": {"project": "pa"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "b1", "meta": {"project": "pb"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "oa", "status": "final", "subject": {"reference": "Patient/a1"}, "meta": {"project": "pa"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "ob", "status": "final", "subject": {"reference": "Patient/b1"}, "meta": {"project": "pb"}}');
SELECT fhir.invite('pa', '{"resourceType": "Practitioner", "firstName": "A", "lastName": "Doc", "email": "a@example.org"}')->>'id' AS ma \gset
SELECT fhir.invite('root', '{"resourceType": "Practitioner", "firstName": "R", "lastName": "Op", "email": "r@example.org"}')->>'id' AS mroot \gset

SET ROLE w_gateway;
SELECT fhir.set_membership(:'ma') IS NOT NULL AS acting_in_a;
SELECT t.is((SELECT array_agg(DISTINCT project_id) FROM fhir.resources), ARRAY['pa'], 'the view shows only the session project');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE id = 'b1'), 0::bigint, 'another project''s row is invisible even when named');
SELECT t.is((SELECT count(*) FROM fhir.resources r1 JOIN fhir.resources r2 ON r2.id <> r1.id WHERE r2.project_id = 'pb' OR r1.project_id = 'pb'),
            0::bigint, 'a join of the view with itself sees no other project');
SELECT t.is((SELECT count(*) FROM fhir.resources o JOIN fhir.resources p ON p.resource_type = 'Patient'
             AND o.content->'subject'->>'reference' = 'Patient/' || p.id WHERE o.resource_type = 'Observation'),
            1::bigint, 'joins across resources stay inside the project');
SELECT t.throws($$ SELECT fhir.read('Patient', 'b1') $$, 'P0002', 'read of another project''s resource is not found');
SELECT t.throws($$ SELECT fhir.vread('Patient', 'b1', 'x') $$, 'P0002', 'vread of another project''s resource is not found');
SELECT t.throws($$ SELECT * FROM fhir.history('Patient', 'b1') $$, 'P0002', 'history of another project''s resource is not found');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Patient", "id": "b1", "active": true}') $$, 'P0002', 'update of another project''s resource is not found');
SELECT t.throws($$ SELECT fhir.patch('Patient', 'b1', '[]') $$, 'P0002', 'patch of another project''s resource is not found');
SELECT t.throws($$ SELECT fhir.delete('Patient', 'b1') $$, 'P0002', 'delete of another project''s resource is not found');
WITH d AS (DELETE FROM fhir.resources WHERE id = 'b1' RETURNING 1) SELECT t.is(count(*), 0::bigint, 'DELETE through the view cannot reach another project') FROM d;
WITH u AS (UPDATE fhir.resources SET content = content WHERE id = 'b1' RETURNING 1) SELECT t.is(count(*), 0::bigint, 'UPDATE through the view cannot reach another project') FROM u;

SELECT fhir.create('{"resourceType": "Patient", "meta": {"project": "pb"}}')->'meta'->>'project' AS created_in \gset
SELECT t.is(:'created_in'::text, 'pa', 'a client creates in its session project whatever meta.project says');
-- References: without checkReferencesOnWrite nothing is looked up (Medplum),
-- so a reference into another project is stored like one to nothing, and
-- inherits nothing from the resource it names.
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/b1"}}') AS foreign_ref \gset
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/nowhere"}}') AS missing_ref \gset
SELECT t.is((:'foreign_ref'::jsonb #- '{id}' #- '{meta,versionId}' #- '{meta,lastUpdated}' #- '{meta,compartment}' #- '{subject}')::text,
            (:'missing_ref'::jsonb #- '{id}' #- '{meta,versionId}' #- '{meta,lastUpdated}' #- '{meta,compartment}' #- '{subject}')::text,
            'a reference into another project is answered as one to nothing');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/a1"}}') $$,
               'references inside the project are fine');
RESET ROLE;
SELECT fhir.update(fhir.read('Project', 'pa') || '{"checkReferencesOnWrite": true}') IS NOT NULL AS checks_references;
SET ROLE w_gateway;
SELECT fhir.set_membership(:'ma') IS NOT NULL AS acting_in_a;
SELECT t.error_detail($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/b1"}}') $$) AS foreign_refused \gset
SELECT t.error_detail($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/b2"}}') $$) AS missing_refused \gset
SELECT t.is(:'foreign_refused'::jsonb->'issue'->0->'details'->>'text', 'Invalid reference (Not found): Patient/b1',
            'with checkReferencesOnWrite, a reference into another project is refused as not found');
SELECT t.is(replace(:'foreign_refused', 'b1', 'X'), replace(:'missing_refused', 'b2', 'X'),
            'the refusal is byte-identical to the one for a resource that exists nowhere');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Observation", "id": "oa", "status": "final", "subject": {"reference": "Patient/b1"}}') $$,
                '22023', 'an update may not add a reference the writer cannot read', 'Invalid reference (Not found): Patient/b1');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/a1"}}') $$,
               'with checkReferencesOnWrite, references the writer can read are fine');
RESET ROLE;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/nowhere"}, "meta": {"project": "pa"}}') $$,
                '22023', 'the system too is held to checkReferencesOnWrite', 'Invalid reference (Not found): Patient/nowhere');
SELECT fhir.update(fhir.read('Project', 'pa') - 'checkReferencesOnWrite') IS NOT NULL AS no_reference_checks;
SELECT t.is((SELECT count(*) FROM fhir.resource WHERE id = 'b1' AND NOT deleted), 1::bigint, 'the other project''s patient is untouched');

-- Members of a super-admin project reach every project.
SET ROLE w_gateway;
SELECT fhir.set_membership(:'mroot') IS NOT NULL AS acting_as_operator;
SELECT t.is((SELECT array_agg(DISTINCT project_id ORDER BY project_id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['pa', 'pb'],
            'a super-admin project member sees every project');
SELECT t.is(fhir.read('Patient', 'b1')->>'id', 'b1', 'a super-admin project member reads any project');
RESET ROLE;
