-- The measurements (DESIGN-NOTES, "Performance targets"). Each row compares
-- a query run as bench_gateway acting as a membership with the same query on
-- the same data by the system, the predicate written by hand against
-- fhir.resource. Without the tokens column (before it lands) the baselines
-- use equivalent jsonb predicates instead, and the report says so.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
\o /dev/null
SELECT patient_id, org_id, name_prefix FROM bench.subject \gset

-- The hand-written predicates.
CREATE OR REPLACE FUNCTION bench.base(type text, tokens text, fallback text) RETURNS text LANGUAGE sql STABLE
RETURN format('SELECT content FROM fhir.resource WHERE resource_type = %L AND NOT deleted AND %s',
              type, CASE WHEN bench.has_tokens() THEN tokens ELSE fallback END);

-- 1. A patient reads its own Observations.
SELECT bench.compare('1', 'patient reads own Observations (compartment policy)', '≤ 1.2, index scan', 1.2, 'm-patient',
    $q$SELECT content FROM fhir.resources WHERE resource_type = 'Observation'$q$,
    bench.base('Observation', format('tokens OPERATOR(fhir.@>) ARRAY[%L]', '_compartment=Patient/' || :'patient_id'),
                              format($f$content->'subject'->>'reference' = %L$f$, 'Patient/' || :'patient_id')),
    needs_index => true);

-- 2. A practitioner who sees one organization's patients searches by name.
SELECT bench.compare('2', 'practitioner, Patient?organization=%org, search patients by name', '≤ 1.5', 1.5, 'm-org',
    CASE WHEN bench.has_search() THEN format($q$SELECT * FROM fhir.search('Patient', %L)$q$, 'name=' || :'name_prefix') END,
    bench.base('Patient',
        format($f$tokens OPERATOR(fhir.@>) ARRAY[%L] AND EXISTS (SELECT 1 FROM unnest(tokens) t WHERE lower(t) LIKE %L)$f$,
               'organization=Organization/' || :'org_id', 'name~' || lower(:'name_prefix') || '%'),
        format($f$content->'managingOrganization'->>'reference' = %L AND EXISTS (SELECT 1 FROM jsonb_array_elements(content->'name') n
                  WHERE lower(n->>'family') LIKE %L OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(n->'given') g WHERE lower(g) LIKE %L))$f$,
               'Organization/' || :'org_id', lower(:'name_prefix') || '%', lower(:'name_prefix') || '%')),
    note => CASE WHEN NOT bench.has_search() THEN 'not measured: fhir.search is not installed' END);

-- 3. A practitioner with all Observations searches by patient.
SELECT bench.base('Observation', format('tokens OPERATOR(fhir.@>) ARRAY[%L]', 'subject=Patient/' || :'patient_id'),
                                 format($f$content->'subject'->>'reference' = %L$f$, 'Patient/' || :'patient_id')) AS by_subject \gset
SELECT bench.compare('3a', 'practitioner with all Observations, search by patient: fhir.search', '≤ 1.5, index scan', 1.5, 'm-all',
    CASE WHEN bench.has_search() THEN format($q$SELECT * FROM fhir.search('Observation', %L)$q$, 'subject=Patient/' || :'patient_id') END,
    :'by_subject', needs_index => true,
    note => CASE WHEN NOT bench.has_search() THEN 'not measured: fhir.search is not installed' END);
SELECT bench.compare('3b', 'practitioner with all Observations, search by patient: plain SQL', '≤ 1.5, index scan', 1.5, 'm-all',
    format($q$SELECT content FROM fhir.resources WHERE resource_type = 'Observation' AND content->'subject'->>'reference' = %L$q$,
           'Patient/' || :'patient_id'),
    :'by_subject', needs_index => true);

SELECT bench.compare('3c', 'the same in plain SQL, content @> containment', '≤ 1.5, index scan', 1.5, 'm-all',
    format($q$SELECT content FROM fhir.resources WHERE resource_type = 'Observation' AND content @> %L$q$,
           jsonb_build_object('subject', jsonb_build_object('reference', 'Patient/' || :'patient_id'))),
    :'by_subject', needs_index => true);
SELECT bench.compare('3d', 'the same in plain SQL, content #>> path equality', '≤ 1.5, index scan', 1.5, 'm-all',
    format($q$SELECT content FROM fhir.resources WHERE resource_type = 'Observation' AND content #>> '{subject,reference}' = %L$q$,
           'Patient/' || :'patient_id'),
    :'by_subject', needs_index => true);

-- 5. One policy with 1,000 parameter instances (organizations).
SELECT bench.compare('5', 'membership with 1,000 parameter instances (organizations)', '≤ 2.0', 2.0, 'm-orgs',
    $q$SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient'$q$,
    'SELECT count(*) FROM (' || bench.base('Patient',
        (SELECT format('tokens OPERATOR(fhir.&&) %L::text[]', array_agg('organization=Organization/o' || n ORDER BY n)) FROM generate_series(1, 1000) n),
        (SELECT format($f$content->'managingOrganization'->>'reference' = ANY (%L::text[])$f$, array_agg('Organization/o' || n ORDER BY n))
         FROM generate_series(1, 1000) n)) || ') r');

-- 6. Reading 10k Observations with hiddenFields vs the same without, both as
-- clients. Measured only where redaction works: detected, not assumed.
SELECT bench.act_as('m-hidden');
SELECT coalesce((SELECT NOT (content ? 'valueQuantity') FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY id LIMIT 1), false) AS redacts \gset
SELECT bench.act_as(NULL);
SELECT bench.compare('6', 'read 10k resources with hiddenFields vs the same without', '≤ 2.0', 2.0, 'm-hidden',
    CASE WHEN :'redacts' THEN $q$SELECT content::text FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY id LIMIT 10000$q$ END,
    $q$SELECT content::text FROM fhir.resources WHERE resource_type = 'Observation' ORDER BY id LIMIT 10000$q$,
    baseline_membership => 'm-all',
    note => CASE WHEN NOT :'redacts' THEN 'not measured: hiddenFields arrive with issue 6' END);

-- 7. The cost of access control on writes: 10k Observations created by a
-- client (compartments, 2 write constraints) against the same 10k created by
-- the system; 7b, the same 10k loaded by fhir.import against the client's
-- 10k creates (both undone after each run).
CREATE TABLE IF NOT EXISTS bench.obs_docs AS SELECT bench.observation(n) - 'id' - 'meta' AS doc FROM generate_series(1, 10000) n;
GRANT SELECT ON bench.obs_docs TO bench_gateway;
SELECT bench.act_as('m-writer');
DO $$
BEGIN
    PERFORM fhir.create('{"resourceType": "Observation", "code": {"text": "no status"}}');
    RAISE EXCEPTION 'accepted' USING ERRCODE = 'BR001';
EXCEPTION
    WHEN SQLSTATE 'BR001' THEN PERFORM set_config('bench.constraints', 'not enforced (an Observation without status was accepted)', false);
    WHEN insufficient_privilege THEN PERFORM set_config('bench.constraints', '', false);
    WHEN OTHERS THEN PERFORM set_config('bench.constraints', 'not checked: ' || SQLERRM, false);
END
$$;
SELECT bench.act_as(NULL);
SELECT bench.compare('7', 'create 10k Observations as a client (compartments + 2 write constraints) vs the system', '≤ 1.3', 1.3, 'm-writer',
    'SELECT count(fhir.create(doc)) FROM bench.obs_docs',
    $q$SELECT count(fhir.create(doc || '{"meta": {"project": "bench"}}')) FROM bench.obs_docs$q$,
    rollback => true, note => nullif('write constraints ' || current_setting('bench.constraints'), 'write constraints '));
SELECT bench.compare('7b', 'fhir.import of the same 10k as NDJSON vs 10k creates, both as the client', '≤ 0.2 (≥ 5× the create rate)', 0.2, 'm-writer',
    $q$SELECT fhir.import(string_agg(doc::text, E'\n')) FROM bench.obs_docs$q$,
    'SELECT count(fhir.create(doc)) FROM bench.obs_docs',
    baseline_membership => 'm-writer', rollback => true);

-- 8. set_membership, warm.
SELECT bench.set_membership_cost('8', 'set_membership, warm (patient membership)', 'm-patient');
SELECT bench.set_membership_cost('8b', 'set_membership, warm (1,000 parameter instances)', 'm-orgs');

-- 9. The audit trail's cost on reads: fhir.audit = all (every read and
-- search stored as an AuditEvent) against off, the same membership.
SELECT bench.compare('9a', 'patient searches own Observations, fhir.audit = all vs off', '≤ 1.3', 1.3, 'm-patient',
    $q$SELECT * FROM fhir.search('Observation')$q$, $q$SELECT * FROM fhir.search('Observation')$q$,
    baseline_membership => 'm-patient', measured_audit => 'all', baseline_audit => 'off');
SELECT format('SELECT count(fhir.read(%L, id)) FROM unnest(%L::text[]) id', 'Observation', array_agg(id)) AS reads
FROM fhir.resource WHERE resource_type = 'Observation' AND tokens @> ARRAY['_compartment=Patient/' || :'patient_id'] \gset
SELECT bench.compare('9b', 'patient reads each own Observation by id, fhir.audit = all vs off', '≤ 1.3', 1.3, 'm-patient',
    :'reads', :'reads', baseline_membership => 'm-patient', measured_audit => 'all', baseline_audit => 'off');

-- 4. Row 1 again with 1,000 other AccessPolicies in the database.
\ir others.sql
SELECT bench.compare('4', 'same as row 1 with 1,000 other AccessPolicies', '≤ 1.3 × row 1; planning ≤ 2 ms', NULL, 'm-patient',
    $q$SELECT content FROM fhir.resources WHERE resource_type = 'Observation'$q$,
    bench.base('Observation', format('tokens OPERATOR(fhir.@>) ARRAY[%L]', '_compartment=Patient/' || :'patient_id'),
                              format($f$content->'subject'->>'reference' = %L$f$, 'Patient/' || :'patient_id')),
    needs_index => true);

-- 1w, 3aw. Rows 1 and 3a right after a burst of 3,000 creates (Observations
-- of other patients), with no VACUUM since, against their clean times.
SELECT npat * obs_per_patient AS nobs FROM bench.config \gset
SELECT count(fhir.create(bench.observation(n))) FROM generate_series(:nobs + 1, :nobs + 3000) n \g /dev/null
SELECT bench.pending_pages() AS pending \gset
SELECT bench.again('1w', 'row 1 right after 3,000 creates', '≤ 1.5 × row 1', 1.5, '1', :'pending');
SELECT bench.again('3aw', 'row 3a right after 3,000 creates', '≤ 1.5 × row 3a', 1.5, '3a', :'pending');
