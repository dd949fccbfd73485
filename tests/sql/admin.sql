-- Admin rules: Project, ProjectMembership and User are for project admins only.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS ad_gateway;
CREATE ROLE ad_gateway;
SELECT fhir.grant_client('ad_gateway', gateway => true, session_scope => true);

SELECT fhir.create('{"resourceType": "Project", "id": "pa", "name": "A", "features": ["bots"], "superAdmin": false}');
SELECT fhir.create('{"resourceType": "Project", "id": "pb", "name": "B"}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "names-admin-types", "meta": {"project": "pa"},
    "resource": [{"resourceType": "Project"}, {"resourceType": "ProjectMembership"}, {"resourceType": "User"}, {"resourceType": "Patient"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "star", "meta": {"project": "pa"}, "resource": [{"resourceType": "*"}]}');
SELECT fhir.invite('pa', '{"resourceType": "Practitioner", "firstName": "N", "lastName": "A", "email": "n@example.org",
                           "membership": {"accessPolicy": {"reference": "AccessPolicy/names-admin-types"}}}')->>'id' AS named \gset
SELECT fhir.invite('pa', '{"resourceType": "Practitioner", "firstName": "S", "lastName": "A", "email": "s@example.org",
                           "membership": {"accessPolicy": {"reference": "AccessPolicy/star"}}}')->>'id' AS star \gset
SELECT fhir.invite('pa', '{"resourceType": "Practitioner", "firstName": "Ad", "lastName": "Min", "email": "admin@example.org",
                           "membership": {"admin": true}}')->>'id' AS admin \gset
SELECT fhir.invite('pa', '{"resourceType": "Patient", "firstName": "Pat", "lastName": "Ient", "email": "pat@example.org"}') AS patmember \gset
SELECT fhir.patch('User', split_part(:'patmember'::jsonb->'user'->>'reference', '/', 2),
                  '[{"op": "add", "path": "/passwordHash", "value": "$2a$10$secret"}]') IS NOT NULL AS has_password;

SET ROLE ad_gateway;
SELECT fhir.set_membership(:'named') IS NOT NULL AS non_admin_naming_admin_types;
SELECT t.throws($$ SELECT fhir.read('Project', 'pa') $$, '42501', 'a non-admin cannot read Project even if the policy names it');
SELECT t.throws(format($$ SELECT fhir.read('ProjectMembership', '%s') $$, :'named'), '42501', 'a non-admin cannot read ProjectMembership even if the policy names it');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "User", "email": "x@example.org"}') $$, '42501', 'a non-admin cannot create a User');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type IN ('Project', 'ProjectMembership', 'User')), 0::bigint,
            'a non-admin sees no Project, ProjectMembership or User rows in the view');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Patient"}') $$, 'the same policy''s clinical entry still works');

SELECT fhir.set_membership(:'star') IS NOT NULL AS non_admin_with_star;
SELECT t.throws($$ SELECT fhir.read('Project', 'pa') $$, '42501', '* does not cover Project');
SELECT t.throws(format($$ SELECT fhir.read('ProjectMembership', '%s') $$, :'star'), '42501', '* does not cover ProjectMembership');
SELECT t.throws($$ SELECT fhir.read('Login', 'x') $$, '42501', '* does not cover protected types');
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') $$, '* covers clinical types');

SELECT fhir.set_membership(:'admin') IS NOT NULL AS project_admin;
SELECT t.is(fhir.read('Project', 'pa')->>'name', 'A', 'an admin reads their Project');
SELECT t.throws($$ SELECT fhir.read('Project', 'pb') $$, 'P0002', 'an admin cannot read another Project');
SELECT t.is(fhir.update(jsonb_set(jsonb_set(jsonb_set(fhir.read('Project', 'pa'), '{name}', '"A2"'), '{superAdmin}', 'true'), '{features}', '["everything"]'))->>'name',
            'A2', 'an admin updates their Project');
SELECT t.throws($$ SELECT fhir.delete('Project', 'pa') $$, '42501', 'an admin cannot delete their Project');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Project", "name": "new"}') $$, '42501', 'an admin cannot create Projects');
RESET ROLE;
SELECT t.is(fhir.read('Project', 'pa')->'superAdmin', 'false'::jsonb, 'an admin cannot make their project super-admin');
SELECT t.is(fhir.read('Project', 'pa')->'features', '["bots"]'::jsonb, 'an admin cannot change features');
SET ROLE ad_gateway;
SELECT fhir.set_membership(:'admin') IS NOT NULL AS project_admin;
SELECT t.ok(NOT fhir.read('Project', 'pa') ? 'superAdmin', 'superAdmin is hidden from admins');

SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'ProjectMembership'), 4::bigint, 'an admin sees the project''s memberships');
SELECT t.is(fhir.patch('ProjectMembership', :'named', '[{"op": "replace", "path": "/project/reference", "value": "Project/pb"}, {"op": "add", "path": "/admin", "value": true}]')
            ->'project'->>'reference', 'Project/pa', 'an admin manages memberships but cannot move them to another project');
SELECT t.is(fhir.read('ProjectMembership', :'named')->'admin', 'true'::jsonb, 'an admin can change other membership fields');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'User'), 1::bigint, 'an admin sees the project''s (patient) users');
SELECT t.ok(NOT (SELECT content FROM fhir.resources WHERE resource_type = 'User') ? 'passwordHash', 'the view shows users without password hashes');
SELECT t.ok(NOT fhir.read('User', split_part(:'patmember'::jsonb->'user'->>'reference', '/', 2)) ? 'passwordHash', 'read shows users without password hashes');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE content->>'passwordHash' IS NOT NULL), 0::bigint, 'filtering on the hidden password hash finds nothing');
RESET ROLE;
