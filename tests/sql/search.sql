-- fhir.search: the same parser and semantics as criteria, plus _count,
-- _offset and _sort, and exactly the rows the same filter through the view gives.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS se_gateway;
CREATE ROLE se_gateway;
SELECT fhir.grant_client('se_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Organization", "id": "o1", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "o2", "meta": {"project": "p"}}');
SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'id', 'pat' || g, 'gender', CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
    'birthDate', (DATE '1950-01-01' + g * 400)::text,
    'name', jsonb_build_array(jsonb_build_object('family', (ARRAY['Smith', 'Jones', 'Smythe', 'Lee'])[g % 4 + 1], 'given', jsonb_build_array('G' || g))),
    'address', jsonb_build_array(jsonb_build_object('state', (ARRAY['CA', 'NY', 'TX'])[g % 3 + 1])),
    'managingOrganization', jsonb_build_object('reference', 'Organization/o' || (g % 2 + 1)),
    'meta', '{"project": "p"}'::jsonb))
FROM generate_series(1, 24) g;
SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Observation', 'id', 'obs' || g, 'status', (ARRAY['final', 'preliminary'])[g % 2 + 1],
    'subject', jsonb_build_object('reference', 'Patient/pat' || (g % 24 + 1)),
    'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://loinc.org', 'code', (ARRAY['8867-4', '8310-5'])[g % 2 + 1])))
    ,'valueQuantity', jsonb_build_object('value', g, 'unit', 'mg', 'system', 'http://unitsofmeasure.org', 'code', 'mg'),
    'effectiveDateTime', '2024-01-' || lpad((g % 28 + 1)::text, 2, '0') || 'T10:00:00Z',
    'meta', '{"project": "p"}'::jsonb))
FROM generate_series(1, 60) g;

SELECT t.is((SELECT count(*) FROM fhir.search('Patient')), 24::bigint, 'an empty query returns every resource of the type');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient', 'name=smi&_sort=_id&_count=3') x), ARRAY['pat12', 'pat16', 'pat20'], 'name prefix, _sort and _count');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient', 'name=smi&_sort=_id&_count=3&_offset=3') x), ARRAY['pat24', 'pat4', 'pat8'], '_offset pages on');
SELECT t.is((SELECT array_agg(x->>'birthDate') FROM fhir.search('Patient', 'gender=female&_sort=-birthdate&_count=2') x),
            ARRAY['1976-04-14', '1974-02-04'], '_sort descending by a date parameter');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', 'subject=Patient/pat3')), 3::bigint, 'search by subject');
SELECT t.is((SELECT count(*) FROM fhir.search('Observation', 'value-quantity=gt50')), 10::bigint, 'search by quantity');
SELECT t.throws($$ SELECT * FROM fhir.search('Patient', 'nonsense=1') $$, '22023', 'an unknown parameter is invalid');
SELECT t.throws($$ SELECT * FROM fhir.search('Patient', '_count=many') $$, '22023', 'a bad _count is invalid');
SELECT t.throws($$ SELECT * FROM fhir.search('Patient', '_include=Patient:organization') $$, '22023', 'unsupported result parameters are refused');
SELECT t.throws($$ SELECT * FROM fhir.search('Nonsense') $$, '22023', 'an unknown type is invalid');

-- The same rows as the same filter through the view, for many queries and memberships.
CREATE TABLE queries (resource_type text, query text);
INSERT INTO queries VALUES
 ('Patient', ''), ('Patient', 'name=smi'), ('Patient', 'name:exact=Lee'), ('Patient', 'name:contains=myth'),
 ('Patient', 'gender=female'), ('Patient', 'gender:not=female'), ('Patient', 'address-state=CA,NY'),
 ('Patient', 'birthdate=ge1960-01-01&birthdate=lt1970-01-01'), ('Patient', 'organization=Organization/o1'),
 ('Patient', 'organization=o2&gender=male'), ('Patient', 'birthdate:missing=false'), ('Patient', '_id=pat1,pat2,pat3'),
 ('Observation', 'subject=Patient/pat5'), ('Observation', 'code=http://loinc.org|8867-4'), ('Observation', 'code=8310-5&status=final'),
 ('Observation', 'value-quantity=ge10&value-quantity=le20'), ('Observation', 'date=2024-01-05'), ('Observation', '_compartment=Patient/pat7'),
 ('Observation', 'status:not=final');
GRANT SELECT ON queries TO se_gateway;
CREATE FUNCTION t.search_equals_view(what text) RETURNS text LANGUAGE sql AS $$
    SELECT t.is(count(*) FILTER (WHERE NOT same), 0::bigint, what || ' (' || count(*) || ' queries)')
    FROM queries q, LATERAL (SELECT
        (SELECT coalesce(array_agg(x->>'id' ORDER BY x->>'id'), '{}') FROM fhir.search(q.resource_type, q.query) x) =
        (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM fhir.resources r
         WHERE r.resource_type = q.resource_type AND (q.query = '' OR fhir.matches(r.content, q.resource_type || '?' || q.query))) AS same) s
$$;
SELECT t.search_equals_view('system: search equals the view filtered by the same criteria');

SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "org1", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?organization=Organization/o1"}, {"resourceType": "Observation", "criteria": "Observation?status=final"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ca", "meta": {"project": "p"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=CA"}, {"resourceType": "Observation", "criteria": "Observation?code=8867-4"}]}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "all", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient"}, {"resourceType": "Observation"}]}');
CREATE TABLE mem AS SELECT
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "1@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/org1"}}}')->>'id' AS org1,
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "2@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ca"}}}')->>'id' AS ca,
  fhir.invite('p', '{"resourceType": "Practitioner", "email": "3@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/all"}}}')->>'id' AS all_;
GRANT SELECT ON mem TO se_gateway;

SET ROLE se_gateway;
SELECT fhir.set_membership(org1) IS NOT NULL FROM mem;
SELECT t.search_equals_view('organization criteria: search equals the view');
SELECT t.is((SELECT count(*) FROM fhir.search('Patient')), 12::bigint, 'organization criteria: search sees half the patients');
SELECT fhir.set_membership(ca) IS NOT NULL FROM mem;
SELECT t.search_equals_view('state criteria: search equals the view');
SELECT fhir.set_membership(all_) IS NOT NULL FROM mem;
SELECT t.search_equals_view('whole types: search equals the view');
RESET ROLE;

-- The planner estimates our leakproof operators with statistics present and
-- constant arrays (PostgreSQL's array estimator refuses operators it does not know).
ANALYZE fhir.resource;
SELECT t.is((SELECT count(*) FROM fhir.resource WHERE tokens OPERATOR(fhir.@>) ARRAY['subject=Patient/pat3']), 3::bigint, 'a constant containment is planned with statistics');
SELECT t.is((SELECT count(*) FROM fhir.resource WHERE tokens OPERATOR(fhir.&&) ARRAY['subject=Patient/pat3', 'subject=Patient/pat4']), 6::bigint, 'a constant overlap is planned with statistics');
