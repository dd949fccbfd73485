-- The benchmark population: one Project, 1,000 Organizations, 2,000
-- Practitioners and, per 1.0 of scale, 100,000 Patients with 7 Observations,
-- 1 Condition and 1 Encounter each (1,003,000 resources at scale 1.0).
--
-- Deterministic: every value comes from the row number through fixed lists
-- and hashint4 (stable for a given PostgreSQL build), never random(), so two
-- loads at the same scale are the same data. Everything is written through
-- fhir.create as the system, in set-based chunks that commit and report.
--
--   psql -v npat=100000 -f bench/populate.sql
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = notice;

CREATE EXTENSION IF NOT EXISTS fhir_access;
CREATE SCHEMA bench;

CREATE TABLE bench.config AS
SELECT 1000 AS norg, 2000 AS npract, :npat::int AS npat, 7 AS obs_per_patient;

-- A value from a fixed list, picked by a hash of the row number and a salt.
CREATE FUNCTION bench.pick(list text[], i int, salt int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN list[1 + mod(hashint4(i * 31 + salt)::bigint + 2147483648, cardinality(list))];

CREATE FUNCTION bench.families() RETURNS text[] LANGUAGE sql IMMUTABLE
RETURN ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
             'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Taylor', 'Moore', 'Jackson', 'White', 'Harris'];
CREATE FUNCTION bench.givens() RETURNS text[] LANGUAGE sql IMMUTABLE
RETURN ARRAY['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth',
             'Richard', 'Barbara', 'Joseph', 'Susan', 'Charles', 'Jessica', 'Daniel', 'Sarah', 'Paul', 'Karen'];

-- Patient i: organization and practitioner spread evenly, name, state and
-- birth date from the hash.
CREATE FUNCTION bench.patient(i int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object(
    'resourceType', 'Patient', 'id', 'p' || i, 'meta', jsonb_build_object('project', 'bench'),
    'active', true,
    'name', jsonb_build_array(jsonb_build_object('family', bench.pick(bench.families(), i, 1),
                                                 'given', jsonb_build_array(bench.pick(bench.givens(), i, 2)))),
    'gender', (ARRAY['female', 'male'])[1 + i % 2],
    'birthDate', to_char(date '1930-01-01' + mod(hashint4(i)::bigint + 2147483648, 33000)::int, 'YYYY-MM-DD'),
    'address', jsonb_build_array(jsonb_build_object(
        'city', bench.pick(ARRAY['Springfield', 'Riverside', 'Franklin', 'Greenville', 'Bristol', 'Clinton'], i, 3),
        'state', bench.pick(ARRAY['AL','AK','AZ','AR','CA','CO','CT','DE','FL','GA','HI','ID','IL','IN','IA','KS','KY',
                                  'LA','ME','MD','MA','MI','MN','MS','MO','MT','NE','NV','NH','NJ','NM','NY','NC','ND',
                                  'OH','OK','OR','PA','RI','SC','SD','TN','TX','UT','VT','VA','WA','WV','WI','WY'], i, 4))),
    'generalPractitioner', jsonb_build_array(jsonb_build_object('reference', 'Practitioner/pr' || (1 + (i - 1) % 2000))),
    'managingOrganization', jsonb_build_object('reference', 'Organization/o' || (1 + (i - 1) % 1000)));

-- Observation n: patient (n - 1) / 7 + 1, its k-th of 7.
CREATE FUNCTION bench.observation(n int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN (SELECT jsonb_build_object(
    'resourceType', 'Observation', 'id', 'obs' || n, 'meta', jsonb_build_object('project', 'bench'),
    'status', (ARRAY['final', 'final', 'final', 'amended', 'preliminary'])[1 + n % 5],
    'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
        'system', 'http://loinc.org', 'code', l.code, 'display', l.display))),
    'subject', jsonb_build_object('reference', 'Patient/p' || ((n - 1) / 7 + 1)),
    'effectiveDateTime', to_char(timestamptz '2015-01-01 00:00Z' + make_interval(mins => mod(hashint4(n)::bigint + 2147483648, 5000000)::int),
                                 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'valueQuantity', jsonb_build_object('value', round(l.base + mod(n, 400) * l.step, 1), 'unit', l.unit,
                                        'system', 'http://unitsofmeasure.org', 'code', l.unit))
  FROM (SELECT * FROM (VALUES
        (0, '8867-4',  'Heart rate',               60.0, 0.1,  '/min'),
        (1, '8310-5',  'Body temperature',         36.0, 0.01, 'Cel'),
        (2, '29463-7', 'Body weight',              50.0, 0.1,  'kg'),
        (3, '8302-2',  'Body height',             150.0, 0.1,  'cm'),
        (4, '8480-6',  'Systolic blood pressure', 100.0, 0.1,  'mm[Hg]'),
        (5, '2339-0',  'Glucose',                  70.0, 0.2,  'mg/dL'),
        (6, '9279-1',  'Respiratory rate',         12.0, 0.02, '/min')) v(k, code, display, base, step, unit)
        WHERE v.k = (n - 1) % 7) l);

CREATE FUNCTION bench.condition(i int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object(
    'resourceType', 'Condition', 'id', 'cond' || i, 'meta', jsonb_build_object('project', 'bench'),
    'clinicalStatus', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
        'system', 'http://terminology.hl7.org/CodeSystem/condition-clinical', 'code', 'active'))),
    'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
        'system', 'http://snomed.info/sct',
        'code', bench.pick(ARRAY['44054006', '38341003', '195967001', '13645005', '35489007'], i, 5)))),
    'subject', jsonb_build_object('reference', 'Patient/p' || i),
    'onsetDateTime', to_char(date '2000-01-01' + mod(hashint4(i + 7)::bigint + 2147483648, 9000)::int, 'YYYY-MM-DD'));

CREATE FUNCTION bench.encounter(i int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object(
    'resourceType', 'Encounter', 'id', 'enc' || i, 'meta', jsonb_build_object('project', 'bench'),
    'status', 'finished',
    'class', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/v3-ActCode', 'code', 'AMB'),
    'subject', jsonb_build_object('reference', 'Patient/p' || i),
    'participant', jsonb_build_array(jsonb_build_object('individual',
        jsonb_build_object('reference', 'Practitioner/pr' || (1 + (i - 1) % 2000)))),
    'serviceProvider', jsonb_build_object('reference', 'Organization/o' || (1 + (i - 1) % 1000)),
    'period', jsonb_build_object('start', to_char(date '2015-01-01' + mod(hashint4(i + 11)::bigint + 2147483648, 3500)::int, 'YYYY-MM-DD')));

CREATE FUNCTION bench.organization(i int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object('resourceType', 'Organization', 'id', 'o' || i, 'meta', jsonb_build_object('project', 'bench'),
                          'name', 'Clinic ' || i, 'active', true);

CREATE FUNCTION bench.practitioner(i int) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object('resourceType', 'Practitioner', 'id', 'pr' || i, 'meta', jsonb_build_object('project', 'bench'),
                          'name', jsonb_build_array(jsonb_build_object('family', bench.pick(bench.families(), i, 6),
                                                                       'given', jsonb_build_array(bench.pick(bench.givens(), i, 7)))));

CREATE TABLE bench.load_log (kind text, rows bigint, seconds numeric);

-- Creates rows 1..total of one generator through fhir.create, committing and
-- reporting every chunk.
CREATE PROCEDURE bench.load(kind text, total int, chunk int DEFAULT 20000)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    lo int := 1;
    secs numeric;
BEGIN
    WHILE lo <= total LOOP
        EXECUTE format('SELECT count(fhir.create(bench.%I(i))) FROM generate_series($1, $2) i', kind)
            USING lo, least(lo + chunk - 1, total);
        COMMIT;
        secs := extract(epoch FROM clock_timestamp() - started);
        RAISE NOTICE '% % / % (% s, % rows/s)', rpad(kind, 12), lpad((least(lo + chunk - 1, total))::text, 7), total,
            round(secs, 1), round(least(lo + chunk - 1, total) / greatest(secs, 0.001));
        lo := lo + chunk;
    END LOOP;
    INSERT INTO bench.load_log VALUES (kind, total, extract(epoch FROM clock_timestamp() - started));
    COMMIT;
END
$$;

SELECT fhir.create('{"resourceType": "Project", "id": "bench", "name": "Benchmark"}') \g /dev/null
SELECT npat, npat * obs_per_patient AS nobs FROM bench.config \gset
CALL bench.load('organization', 1000);
CALL bench.load('practitioner', 2000);
CALL bench.load('patient', :npat);
CALL bench.load('observation', :nobs);
CALL bench.load('condition', :npat);
CALL bench.load('encounter', :npat);
VACUUM ANALYZE;

SELECT format('loaded %s resources in %s s: %s resources/s', sum(rows), round(sum(seconds), 1), round(sum(rows) / sum(seconds)))
       AS summary FROM bench.load_log \gset
\echo :summary
