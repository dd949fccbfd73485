-- fhir.who_can_access: for every generated membership, resource and
-- interaction, the memberships it lists are exactly those that, acting as
-- themselves through a gateway, can perform the interaction.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS w_gateway, w_client;
CREATE ROLE w_gateway;
CREATE ROLE w_client;
SELECT fhir.grant_client('w_gateway', gateway => true);
SELECT fhir.grant_client('w_client');

SELECT fhir.create('{"resourceType": "Project", "id": "wp", "name": "WP"}') IS NOT NULL AS project \gset
SELECT fhir.create('{"resourceType": "Project", "id": "wq", "name": "WQ"}') IS NOT NULL AS other \gset
SELECT fhir.create(jsonb_build_object('resourceType', 'Organization', 'id', o, 'meta', '{"project": "wp"}'::jsonb)) IS NOT NULL AS org
FROM unnest(ARRAY['o1', 'o2']) o \g /dev/null
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'p' || n, 'birthDate', '19' || (50 + n) || '-01-01',
                                      'address', jsonb_build_array(jsonb_build_object('state', CASE WHEN n % 2 = 0 THEN 'CA' ELSE 'NY' END)),
                                      'managingOrganization', jsonb_build_object('reference', 'Organization/o' || (1 + n % 2)),
                                      'meta', '{"project": "wp"}'::jsonb)) IS NOT NULL AS patients
FROM generate_series(1, 8) n \g /dev/null
SELECT fhir.create(jsonb_build_object('resourceType', 'Observation', 'id', 'o' || n, 'code', '{"text": "hr"}'::jsonb,
                                      'status', CASE WHEN n % 3 = 0 THEN 'preliminary' ELSE 'final' END,
                                      'subject', jsonb_build_object('reference', 'Patient/p' || (1 + n % 8)),
                                      'meta', '{"project": "wp"}'::jsonb)) IS NOT NULL AS observations
FROM generate_series(1, 16) n \g /dev/null
SELECT fhir.create('{"resourceType": "Patient", "id": "elsewhere", "meta": {"project": "wq"}}') IS NOT NULL AS elsewhere \gset

SELECT fhir.create(p::jsonb || '{"resourceType": "AccessPolicy", "meta": {"project": "wp"}}') IS NOT NULL AS policies FROM unnest(ARRAY[
  '{"id": "ca", "resource": [{"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["birthDate"]}]}',
  '{"id": "portal", "resource": [{"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"},
                                 {"resourceType": "Observation", "criteria": "Observation?_compartment=%patient", "interaction": ["read", "search"]}]}',
  '{"id": "final", "resource": [{"resourceType": "Observation", "criteria": "Observation?status=final"}]}',
  '{"id": "readonly", "resource": [{"resourceType": "Patient", "readonly": true}, {"resourceType": "Observation", "readonly": true}]}',
  '{"id": "org", "resource": [{"resourceType": "Patient", "criteria": "Patient?organization=%org"}]}',
  '{"id": "writer", "resource": [{"resourceType": "Observation", "interaction": ["read", "update"]}]}'
]) p \g /dev/null

-- Memberships: one per policy (two for the portal and the parameter), none,
-- two policies at once, an admin, an inactive one.
CREATE TABLE member AS
SELECT name, (fhir.create(jsonb_build_object('resourceType', 'ProjectMembership', 'meta', '{"project": "wp"}'::jsonb,
        'project', '{"reference": "Project/wp"}'::jsonb, 'user', jsonb_build_object('reference', 'User/' || name),
        'profile', jsonb_build_object('reference', profile)) || extra::jsonb))->>'id' AS id
FROM (VALUES
  ('doctor', 'Practitioner/d', '{}'),
  ('admin', 'Practitioner/a', '{"admin": true, "accessPolicy": {"reference": "AccessPolicy/readonly"}}'),
  ('nurse', 'Practitioner/n', '{"accessPolicy": {"reference": "AccessPolicy/ca"}}'),
  ('portal1', 'Patient/p1', '{"accessPolicy": {"reference": "AccessPolicy/portal"}}'),
  ('portal2', 'Patient/p2', '{"accessPolicy": {"reference": "AccessPolicy/portal"}}'),
  ('final', 'Practitioner/f', '{"accessPolicy": {"reference": "AccessPolicy/final"}}'),
  ('reader', 'Practitioner/r', '{"accessPolicy": {"reference": "AccessPolicy/readonly"}}'),
  ('org1', 'Practitioner/o', '{"access": [{"policy": {"reference": "AccessPolicy/org"}, "parameter": [{"name": "org", "valueReference": {"reference": "Organization/o1"}}]}]}'),
  ('org2', 'Practitioner/o', '{"access": [{"policy": {"reference": "AccessPolicy/org"}, "parameter": [{"name": "org", "valueReference": {"reference": "Organization/o2"}}]}]}'),
  ('two', 'Practitioner/t', '{"access": [{"policy": {"reference": "AccessPolicy/ca"}}, {"policy": {"reference": "AccessPolicy/writer"}}]}'),
  ('inactive', 'Practitioner/i', '{"active": false}')
) AS m(name, profile, extra);
CREATE TABLE target AS SELECT resource_type, id FROM fhir.resource WHERE project_id = 'wp' AND resource_type IN ('Patient', 'Observation');
CREATE TABLE seen (membership text, resource_type text, id text, interaction text);
GRANT SELECT ON member, target TO w_gateway;
GRANT INSERT ON seen TO w_gateway;

-- Whether an update (or a delete) of the resource succeeds; undone either way.
CREATE FUNCTION t.succeeds(sql text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RAISE SQLSTATE 'P0099';
EXCEPTION
    WHEN SQLSTATE 'P0099' THEN RETURN true;
    WHEN OTHERS THEN RETURN false;
END
$$;

-- Whether a query returns a row; a refusal returns none.
CREATE FUNCTION t.finds(sql text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    found boolean;
BEGIN
    EXECUTE 'SELECT EXISTS (' || sql || ')' INTO found;
    RETURN found;
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$$;

-- Impersonation: each membership, one transaction each, does what it can.
SET ROLE w_gateway;
SELECT format($f$BEGIN;
SELECT fhir.set_membership(%1$L, local => true) IS NOT NULL;
INSERT INTO seen SELECT %1$L, r.resource_type, r.id, 'read' FROM fhir.resources r JOIN target USING (resource_type, id);
INSERT INTO seen SELECT %1$L, t.resource_type, t.id, 'search' FROM target t
    WHERE t.finds(format('SELECT FROM fhir.search(%%L, %%L)', t.resource_type, '_id=' || t.id));
INSERT INTO seen SELECT %1$L, t.resource_type, t.id, 'update' FROM target t
    WHERE t.succeeds(format('SELECT fhir.patch(%%L, %%L, ''[{"op": "add", "path": "/language", "value": "en"}]'')', t.resource_type, t.id));
INSERT INTO seen SELECT %1$L, t.resource_type, t.id, 'delete' FROM target t
    WHERE t.succeeds(format('SELECT fhir.delete(%%L, %%L)', t.resource_type, t.id));
COMMIT;$f$, id) FROM member WHERE name <> 'inactive' \gexec
SELECT t.throws(format($$ SELECT fhir.set_membership(%L) $$, (SELECT id FROM member WHERE name = 'inactive')), '42501',
                'the inactive membership cannot be acted as');
RESET ROLE;

-- What who_can_access claims, per resource and interaction.
CREATE TABLE claimed AS
SELECT regexp_replace(w->>'membership', '^ProjectMembership/', '') AS membership, t.resource_type, t.id, i AS interaction
FROM target t, unnest(ARRAY['read', 'search', 'update', 'delete']) i, fhir.who_can_access(t.resource_type, t.id, i) w;

SELECT t.ok((SELECT count(*) FROM seen) > 100, format('the memberships performed %s interactions', (SELECT count(*) FROM seen)));
SELECT t.is((SELECT count(*) FROM (SELECT * FROM seen EXCEPT SELECT * FROM claimed) x), 0::bigint,
            'every interaction a membership performed is one who_can_access lists');
SELECT t.is((SELECT count(*) FROM (SELECT * FROM claimed EXCEPT SELECT * FROM seen) x), 0::bigint,
            'every interaction who_can_access lists is one the membership performed');
SELECT t.is((SELECT count(DISTINCT interaction) FROM seen), 4::bigint, 'all four interactions occur');
SELECT t.is((SELECT count(*) FROM claimed c JOIN member m ON m.id = c.membership WHERE m.name = 'inactive'), 0::bigint,
            'an inactive membership may do nothing');

-- One row, as the API describes it.
SELECT m.id AS nurse FROM member m WHERE m.name = 'nurse' \gset
SELECT w AS row FROM fhir.who_can_access('Patient', 'p2', 'read') w WHERE w->>'membership' = 'ProjectMembership/' || :'nurse' \gset
SELECT t.is(:'row'::jsonb->>'entry', '0', 'a row names the entry that grants it');
SELECT t.is(:'row'::jsonb->>'basedOn', 'AccessPolicy/ca', 'and the policy it came from');
SELECT t.is(:'row'::jsonb->>'profile', 'Practitioner/n', 'and the membership''s profile');
SELECT t.is(:'row'::jsonb->'parameters'->>'profile', 'Practitioner/n', 'and its parameters');
SELECT t.ok(:'row'::jsonb->'hiddenFields' ? 'birthDate', 'and what a read hides from it');
SELECT t.is((SELECT w->'parameters'->>'org' FROM member m, fhir.who_can_access('Patient', 'p1', 'read') w
             WHERE m.name = 'org2' AND w->>'membership' = 'ProjectMembership/' || m.id), 'Organization/o2',
            'a custom parameter''s value is listed');

-- Who may ask.
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'nope') $$, 'P0002', 'an unknown resource is not found');
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'p1', 'teleport') $$, '22023', 'an unknown interaction is invalid');
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'p1', 'create') $$, '22023', 'create is no interaction on an existing resource');

-- Members of a super-admin project reach every project: they are listed, and its admins may ask.
SELECT fhir.create('{"resourceType": "Project", "id": "ws", "name": "WS", "superAdmin": true}') IS NOT NULL AS super \gset
SELECT fhir.invite('ws', '{"resourceType": "Practitioner", "firstName": "Su", "email": "su@example.org", "membership": {"admin": true}}')->>'id' AS su \gset
SELECT t.ok(EXISTS (SELECT FROM fhir.who_can_access('Patient', 'p1') w WHERE w->>'membership' = 'ProjectMembership/' || :'su'),
            'a super-admin project''s member who can read the resource is listed');
SET ROLE w_gateway;
BEGIN;
SELECT fhir.set_membership(:'su', local => true) IS NOT NULL AS acting \gset
SELECT t.ok((SELECT count(*) FROM fhir.who_can_access('Patient', 'elsewhere')) > 0, 'a super-admin project''s admin may ask about any project');
COMMIT;
RESET ROLE;
SET ROLE w_gateway;
BEGIN;
SELECT fhir.set_membership((SELECT id FROM member WHERE name = 'admin'), local => true) IS NOT NULL AS acting \gset
SELECT t.ok((SELECT count(*) FROM fhir.who_can_access('Patient', 'p1')) > 0, 'a project admin may ask');
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'elsewhere') $$, 'P0002', 'to an admin, another project''s resource is not found');
COMMIT;
BEGIN;
SELECT fhir.set_membership((SELECT id FROM member WHERE name = 'nurse'), local => true) IS NOT NULL AS acting \gset
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'p2') $$, '42501', 'a member who is not an admin may not ask');
COMMIT;
RESET ROLE;
SET ROLE w_client;
SELECT t.throws($$ SELECT fhir.who_can_access('Patient', 'p2') $$, '42501', 'a client without a membership may not ask');
RESET ROLE;
