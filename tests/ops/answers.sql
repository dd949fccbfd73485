-- What every client sees: run before a backup and after its restore, the
-- outputs must be byte-identical.
\set ON_ERROR_STOP 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SELECT 'access version ' || version FROM fhir.access_version;
SELECT 'resources ' || count(*) FROM fhir.resource;
SELECT 'versions ' || count(*) FROM fhir.resource_history;
SELECT 'client ' || role || ' gateway ' || gateway || ' session scope ' || session_scope FROM fhir.client ORDER BY role::text;
SELECT 'binding ' || role || ' ' || (SELECT content->'user'->>'display' FROM fhir.resource WHERE id = membership) FROM fhir.role_binding ORDER BY 1;
SELECT 'may select ' || r || ' ' || has_table_privilege(r, 'fhir.resources', 'SELECT')
FROM unnest(ARRAY['ops_gateway', 'ops_nurse', 'ops_patient']) r;

-- The gateway as each membership, one transaction each.
SELECT id AS doctor FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND content->'user'->>'display' = 'doctor@example.org' \gset
SELECT id AS nurse FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND content->'user'->>'display' = 'nurse@example.org' \gset
SELECT id AS patient FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND content->'user'->>'display' = 'patient@example.org' \gset
SET ROLE ops_gateway;
\set membership :doctor
\ir answers_one.sql
\set membership :nurse
\ir answers_one.sql
\set membership :patient
\ir answers_one.sql
RESET ROLE;

-- Bound clients, without asking.
SET ROLE ops_nurse;
SELECT 'nurse sees ' || string_agg(id || ' ' || content::text, '; ' ORDER BY resource_type, id) FROM fhir.resources;
RESET ROLE;
SET ROLE ops_patient;
SELECT 'patient sees ' || string_agg(id || ' ' || content::text, '; ' ORDER BY resource_type, id) FROM fhir.resources;
RESET ROLE;
