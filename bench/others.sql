-- 1,000 other AccessPolicies, each with distinct criteria on the same types
-- the measured queries read, each assigned to its own membership. Loaded
-- into the measurement database only after the rows that must not see them.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT clock_timestamp() AS others_started \gset

SELECT count(fhir.create(jsonb_build_object(
    'resourceType', 'AccessPolicy', 'id', 'other-' || n, 'meta', jsonb_build_object('project', 'bench'), 'name', 'Other ' || n,
    'resource', jsonb_build_array(
        jsonb_build_object('resourceType', 'Patient', 'criteria', 'Patient?organization=Organization/o' || n),
        jsonb_build_object('resourceType', 'Observation', 'criteria', 'Observation?_compartment=Patient/p' || n)))))
FROM generate_series(1, 1000) n
WHERE NOT EXISTS (SELECT 1 FROM fhir.resource WHERE resource_type = 'AccessPolicy' AND id = 'other-' || n) \g /dev/null

SELECT count(bench.membership('m-other-' || n, 'Practitioner/pr' || n,
                              jsonb_build_object('accessPolicy', jsonb_build_object('reference', 'AccessPolicy/other-' || n))))
FROM generate_series(1, 1000) n
WHERE NOT EXISTS (SELECT 1 FROM fhir.resource WHERE resource_type = 'ProjectMembership' AND id = 'm-other-' || n) \g /dev/null

SELECT format('1,000 other AccessPolicies and memberships written in %s s',
              round(extract(epoch FROM clock_timestamp() - :'others_started'::timestamptz)::numeric, 1)) AS msg \gset
\echo :msg
