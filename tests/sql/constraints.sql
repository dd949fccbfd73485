-- writeConstraint: FHIRPath on create, update and patch with %before and %after.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS wc_gateway;
CREATE ROLE wc_gateway;
SELECT fhir.grant_client('wc_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pat", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Practitioner", "id": "me", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "wc", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Observation", "writeConstraint": [
        {"language": "text/fhirpath", "expression": "%before.exists() implies %before.status != ''final''", "description": "final observations are frozen"},
        {"language": "text/fhirpath", "expression": "status = ''final'' implies subject.exists()", "description": "a final observation names its subject"}]},
    {"resourceType": "Communication", "writeConstraint": [{"expression": "sender.reference = ''%profile''"}]},
    {"resourceType": "Task", "writeConstraint": [{"expression": "%nope.exists()"}]},
    {"resourceType": "Patient"}]}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "writer", "project": {"reference": "Project/p"}, "user": {"reference": "User/u"},
                     "profile": {"reference": "Practitioner/me"}, "accessPolicy": {"reference": "AccessPolicy/wc"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "frozen", "status": "final", "subject": {"reference": "Patient/pat"}, "meta": {"project": "p"}}');

SET ROLE wc_gateway;
SELECT fhir.set_membership('writer') IS NOT NULL AS writer;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') $$, '42501', 'a create violating a constraint is forbidden');
SELECT t.ok(t.error_detail($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') $$)->'issue'->0->'details'->>'text' LIKE '%a final observation names its subject%',
            'the refusal names the constraint''s description');
SELECT t.is(t.error_detail($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') $$)->'issue'->0->'expression'->>0,
            'status = ''final'' implies subject.exists()', 'the OperationOutcome names the expression');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/pat"}}') $$, 'a create satisfying every constraint is allowed');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "preliminary"}') $$, '%before is empty on create');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Observation", "id": "frozen", "status": "amended", "subject": {"reference": "Patient/pat"}}') $$,
                '42501', '%before: a final observation cannot change');
SELECT t.throws($$ SELECT fhir.patch('Observation', 'frozen', '[{"op": "replace", "path": "/status", "value": "amended"}]') $$, '42501', 'patch is checked too');
SELECT t.is(fhir.update(fhir.read('Observation', 'frozen'))->>'status', 'final', 'an update that changes nothing is not checked');
SELECT fhir.create('{"resourceType": "Observation", "status": "preliminary"}')->>'id' AS draft \gset
SELECT t.throws(format($$ SELECT fhir.patch('Observation', '%s', '[{"op": "replace", "path": "/status", "value": "final"}]') $$, :'draft'),
                '42501', '%after: finalizing without a subject is forbidden');
SELECT t.lives(format($$ SELECT fhir.patch('Observation', '%s', '[{"op": "replace", "path": "/status", "value": "final"}, {"op": "add", "path": "/subject", "value": {"reference": "Patient/pat"}}]') $$, :'draft'),
               '%after: finalizing with a subject is allowed');
SELECT t.lives($$ SELECT fhir.delete('Observation', 'frozen') $$, 'constraints are not evaluated on delete');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Communication", "status": "completed", "sender": {"reference": "Practitioner/me"}}') $$, 'a constraint on %profile accepts the own profile');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Communication", "status": "completed", "sender": {"reference": "Practitioner/other"}}') $$, '42501', 'and refuses another sender');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Task", "status": "ready", "intent": "order"}') $$, '42501', 'a constraint that fails to evaluate denies');
SELECT t.throws($$ INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Observation", "status": "final"}') $$, '42501', 'INSERT through the view is checked');
RESET ROLE;
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p"}, "resource": [{"resourceType": "Observation", "writeConstraint": [{"expression": "status = "}]}]}') $$,
                '22023', 'a constraint that cannot be parsed is refused when the policy is written');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final", "meta": {"project": "p"}}') $$, 'the system is not bound by constraints');
