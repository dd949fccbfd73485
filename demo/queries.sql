-- The demo: the same queries for three memberships of one project, then
-- what a policy refuses and why. demo_app connects as an app server would:
-- one transaction per request, its membership set inside it.
\set QUIET on
\pset footer off
SET ROLE demo_app;

\set membership doctor
\set who 'the doctor (no AccessPolicy: every resource of the project)'
\ir same_queries.sql
\set membership ca-nurse
\set who 'the nurse (AccessPolicy california: Patient?address-state=CA, telecom hidden)'
\ir same_queries.sql
\set membership ann-portal
\set who 'Ann, through the patient portal (AccessPolicy portal: her own compartment, Observations read-only)'
\ir same_queries.sql

\echo
\echo '== A hidden field stays hidden in plain SQL, even as a filter (the nurse, looking for Ann''s phone):'
BEGIN;
SELECT fhir.set_membership('ca-nurse', local => true) IS NOT NULL AS acting \gset
SELECT count(*) AS "content @> phone 555-0101" FROM fhir.resources WHERE content @> '{"telecom": [{"value": "555-0101"}]}';
SELECT count(*) AS "content::text LIKE '%555-0101%'" FROM fhir.resources WHERE content::text LIKE '%555-0101%';
COMMIT;

\set ON_ERROR_STOP 0
\set VERBOSITY default
\echo
\echo '== A refused write, with the OperationOutcome an app server passes on (Ann may only read her Observations):'
BEGIN;
SELECT fhir.set_membership('ann-portal', local => true) IS NOT NULL AS acting \gset
SELECT fhir.update(fhir.read('Observation', 'hr-ann-72') || '{"status": "amended"}');
ROLLBACK;
\echo
\echo '== Why: explain_access for that update'
BEGIN;
SELECT fhir.set_membership('ann-portal', local => true) IS NOT NULL AS acting \gset
SELECT jsonb_pretty(fhir.explain_access('Observation', 'hr-ann-72', 'update') - 'entries') AS explain_access;
COMMIT;
\echo
\echo '== Bad input: SQLSTATE 22023 and an OperationOutcome'
BEGIN;
SELECT fhir.set_membership('doctor', local => true) IS NOT NULL AS acting \gset
SELECT fhir.create('{"resourceType": "Patientt"}');
ROLLBACK;
RESET ROLE;
