-- fhir.invite: users, profiles and memberships.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "id": "p1", "name": "One"}');
SELECT fhir.create('{"resourceType": "Project", "id": "p2", "name": "Two"}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ap", "meta": {"project": "p1"}, "resource": [{"resourceType": "Patient"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ap2", "meta": {"project": "p2"}, "resource": [{"resourceType": "Patient"}]}');

SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.org",
                           "membership": {"admin": true, "accessPolicy": {"reference": "AccessPolicy/ap"}}}') AS m \gset
SELECT t.is(:'m'::jsonb->>'resourceType', 'ProjectMembership', 'invite returns the ProjectMembership');
SELECT t.is(:'m'::jsonb->'project'->>'reference', 'Project/p1', 'the membership is in the project');
SELECT t.is(:'m'::jsonb->'admin', 'true'::jsonb, 'the membership keeps admin');
SELECT t.is(:'m'::jsonb->'accessPolicy'->>'reference', 'AccessPolicy/ap', 'the membership keeps accessPolicy');
SELECT split_part(:'m'::jsonb->'profile'->>'reference', '/', 2) AS practitioner, split_part(:'m'::jsonb->'user'->>'reference', '/', 2) AS user_id \gset
SELECT t.is(fhir.read('Practitioner', :'practitioner')->'name', '[{"given": ["Ann"], "family": "Lee"}]'::jsonb, 'the profile has the name');
SELECT t.is(fhir.read('Practitioner', :'practitioner')->'telecom'->0->>'value', 'ann@example.org', 'the profile has the email');
SELECT t.is(fhir.read('User', :'user_id')->>'email', 'ann@example.org', 'a User is created with the email');
SELECT t.is((SELECT project_id FROM fhir.resource WHERE id = :'user_id'), '', 'a practitioner''s User is not scoped to a project');

SELECT fhir.invite('p2', '{"resourceType": "Practitioner", "firstName": "Ann", "lastName": "Lee", "email": "ANN@example.org"}') AS m2 \gset
SELECT t.is(split_part(:'m2'::jsonb->'user'->>'reference', '/', 2), :'user_id', 'inviting the same practitioner email again finds the existing User');
SELECT t.is(:'m2'::jsonb->'project'->>'reference', 'Project/p2', 'one practitioner User joins a second project');

SELECT fhir.invite('p1', '{"resourceType": "Patient", "firstName": "Pat", "lastName": "One", "email": "pat@example.org"}') AS pm1 \gset
SELECT fhir.invite('p2', '{"resourceType": "Patient", "firstName": "Pat", "lastName": "Two", "email": "pat@example.org"}') AS pm2 \gset
SELECT t.ok(:'pm1'::jsonb->'user' <> :'pm2'::jsonb->'user', 'patient Users are scoped to their project: same email, two users');
SELECT t.is((SELECT project_id FROM fhir.resource WHERE id = split_part(:'pm1'::jsonb->'user'->>'reference', '/', 2)), 'p1', 'a patient''s User lives in the project');
SELECT t.ok(:'pm1'::jsonb->'profile'->>'reference' LIKE 'Patient/%', 'a patient invite creates a Patient profile');
SELECT t.lives($$ SELECT fhir.invite('p1', '{"resourceType": "RelatedPerson", "firstName": "Rel", "lastName": "Ated", "email": "rel@example.org"}') $$,
               'RelatedPerson is a supported profile');

SELECT count(*) AS before FROM fhir.resource_history \gset
SELECT t.throws($$ SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "firstName": "No", "lastName": "Mail"}') $$, '22023', 'an invite without email is refused');
SELECT t.throws($$ SELECT fhir.invite('nope', '{"resourceType": "Practitioner", "email": "x@example.org"}') $$, '22023', 'an invite to an unknown project is refused');
SELECT t.throws($$ SELECT fhir.invite('p1', '{"resourceType": "Device", "email": "x@example.org"}') $$, '22023', 'an unsupported profile type is refused');
SELECT t.throws($$ SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "email": "x@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ap2"}}}') $$,
                '22023', 'an invite naming a policy in another project is refused', 'AccessPolicy/ap2 is not an AccessPolicy of this project');
SELECT t.is(replace(t.error_detail($$ SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "email": "x@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ap2"}}}') $$)::text, 'ap2', 'X'),
            replace(t.error_detail($$ SELECT fhir.invite('p1', '{"resourceType": "Practitioner", "email": "x@example.org", "membership": {"access": [{"policy": {"reference": "AccessPolicy/nowhere"}}]}}') $$)::text, 'nowhere', 'X'),
            'a policy of another project is refused exactly as one that exists nowhere');
SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'refused invites write nothing');
