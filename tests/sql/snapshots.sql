-- One membership per statement and per open cursor: the project wall, the
-- keys, the row check and the redaction of a statement all use the snapshot
-- it took, and a membership change that a running statement or an open
-- cursor would see half-way is refused.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS sn_gateway, sn_bound, sn_other;
CREATE ROLE sn_gateway;
CREATE ROLE sn_bound;
CREATE ROLE sn_other;
SELECT fhir.grant_client('sn_gateway', gateway => true, session_scope => true);
SELECT fhir.grant_client('sn_bound');
SELECT fhir.grant_client('sn_other');

SELECT fhir.create('{"resourceType": "Project", "id": "sp", "name": "Snapshots"}') IS NOT NULL AS project;
SELECT fhir.create(format('{"resourceType": "Patient", "id": "%s", "address": [{"state": "%s"}], "birthDate": "1970-01-0%s", "meta": {"project": "sp"}}', id, state, n)::jsonb)
       IS NOT NULL AS patient
FROM (VALUES ('ca1', 'CA', 1), ('ca2', 'CA', 2), ('ca3', 'CA', 3), ('ny1', 'NY', 4)) AS p(id, state, n);
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ca", "meta": {"project": "sp"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=CA", "hiddenFields": ["birthDate"]}]}') IS NOT NULL AS ca;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ny", "meta": {"project": "sp"}, "resource": [
    {"resourceType": "Patient", "criteria": "Patient?address-state=NY"}]}') IS NOT NULL AS ny;
CREATE TABLE m AS SELECT
  fhir.invite('sp', '{"resourceType": "Practitioner", "email": "ca@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ca"}}}')->>'id' AS ca,
  fhir.invite('sp', '{"resourceType": "Practitioner", "email": "ny@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/ny"}}}')->>'id' AS ny;
GRANT SELECT ON m TO sn_gateway, sn_bound, sn_other;
SELECT fhir.bind_role('sn_bound', ca) FROM m;
SELECT fhir.bind_role('sn_other', ny) FROM m;
SELECT ca AS ca, ny AS ny FROM m \gset

-- The next n ids a cursor yields, with a * where content shows birthDate.
CREATE FUNCTION t.fetch(c refcursor, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    got text[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        FETCH c INTO r;
        EXIT WHEN NOT FOUND;
        got := got || (r.id || CASE WHEN r.content ? 'birthDate' THEN '*' ELSE '' END);
    END LOOP;
    RETURN array_to_string(got, ',');
END
$$;
GRANT EXECUTE ON FUNCTION t.fetch(refcursor, int) TO PUBLIC;

SET ROLE sn_gateway;
SELECT fhir.set_membership(:'ca') IS NOT NULL AS ca;

-- Inside one statement.
SELECT t.throws(format($$ SELECT fhir.set_membership(%L) FROM fhir.resources $$, :'ny'), '42501',
                'set_membership in the select list of a statement reading as another membership is refused', '%open cursor%');
SELECT t.throws(format($$ SELECT count(*) FROM fhir.resources WHERE fhir.set_membership(%L) IS NOT NULL $$, :'ny'), '42501',
                'set_membership in the WHERE clause of a statement reading as another membership is refused');
SELECT t.throws($$ SELECT fhir.clear_membership() FROM fhir.resources $$, '42501', 'clear_membership inside a reading statement is refused');
SELECT t.throws(format($$ SELECT fhir.read('Patient', 'ca1'), fhir.set_membership(%L) $$, :'ny'), '42501',
                'set_membership after a read in the same statement is refused');
SELECT t.throws(format($$ SELECT x, fhir.set_membership(%L) FROM fhir.search('Patient') x $$, :'ny'), '42501',
                'set_membership inside a search statement is refused');
SELECT t.lives(format($$ SELECT fhir.set_membership(%L) FROM fhir.resources $$, :'ca'), 'setting the same membership again inside a statement is harmless');
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'ca', 'after the refusals the membership is unchanged');
SELECT t.is((SELECT string_agg(id, ',' ORDER BY id) FROM fhir.resources), 'ca1,ca2,ca3', 'and reads as before');

-- Between the fetches of an open cursor.
BEGIN;
DECLARE c CURSOR FOR SELECT id, content FROM fhir.resources ORDER BY id;
SELECT t.is(t.fetch('c', 1), 'ca1', 'a cursor''s first fetch reads as the current membership, redacted');
SELECT t.throws(format($$ SELECT fhir.set_membership(%L, local => true) $$, :'ny'), '42501', 'another membership is refused while a cursor reading as this one is open');
SELECT t.throws($$ SELECT fhir.clear_membership() $$, '42501', 'clear_membership is refused while a cursor is open');
SELECT t.lives(format($$ SELECT fhir.set_membership(%L, local => true) $$, :'ca'), 'the same membership may be set again while the cursor is open');
SELECT t.is(t.fetch('c', 1), 'ca2', 'the cursor goes on with its snapshot');
CLOSE c;
SELECT t.lives(format($$ SELECT fhir.set_membership(%L, local => true) $$, :'ny'), 'once the cursor is closed another membership may be set');
SELECT t.is((SELECT string_agg(id, ',') FROM fhir.resources), 'ny1', 'and the next statement reads as it');
COMMIT;

-- A function's queries are statements of their own: it may switch between
-- them, never while one of them is still running.
RESET ROLE;
CREATE FUNCTION t.two_reads(a text, b text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    x text;
    y text;
BEGIN
    PERFORM fhir.set_membership(a, true);
    SELECT string_agg(id, ',' ORDER BY id) INTO x FROM fhir.resources;
    PERFORM fhir.set_membership(b, true);
    SELECT string_agg(id, ',' ORDER BY id) INTO y FROM fhir.resources;
    RETURN x || '|' || y;
END
$$;
CREATE FUNCTION t.switch_in_loop(b text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT id FROM fhir.resources LOOP
        PERFORM fhir.set_membership(b, true);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION t.two_reads(text, text), t.switch_in_loop(text) TO PUBLIC;
SET ROLE sn_gateway;
BEGIN;
SELECT t.is(t.two_reads(:'ca', :'ny'), 'ca1,ca2,ca3|ny1', 'a function may switch memberships between its queries, each reading as one');
SELECT fhir.set_membership(:'ca', local => true) IS NOT NULL AS ca;
SELECT t.throws(format($$ SELECT t.switch_in_loop(%L) $$, :'ny'), '42501', 'but not inside a loop over a query that reads as another');
COMMIT;

-- A cursor that has not fetched has taken no snapshot: it reads as the
-- membership current at its first fetch.
SELECT fhir.set_membership(:'ca') IS NOT NULL AS ca;
BEGIN;
DECLARE d CURSOR FOR SELECT id, content FROM fhir.resources ORDER BY id;
SELECT fhir.set_membership(:'ny', local => true) IS NOT NULL AS ny;
SELECT t.is(t.fetch('d', 10), 'ny1*', 'a cursor reads as the membership of its first fetch');
COMMIT;

-- What an open cursor sees after a revocation: the snapshot its first fetch
-- took, rows and redaction, to its end; the session's next statement sees
-- the revocation.
SELECT fhir.set_membership(:'ca') IS NOT NULL AS ca;
BEGIN;
DECLARE r CURSOR FOR SELECT id, content FROM fhir.resources ORDER BY id;
SELECT t.is(t.fetch('r', 1), 'ca1', 'before the revocation the cursor reads');
RESET ROLE;
SELECT fhir.patch('ProjectMembership', :'ca', '[{"op": "add", "path": "/active", "value": false}]') IS NOT NULL AS revoked;
SET ROLE sn_gateway;
SELECT t.is((SELECT count(*) FROM fhir.resources), 0::bigint, 'the next statement sees the revocation');
SELECT t.is(t.fetch('r', 10), 'ca2,ca3', 'the open cursor finishes with its snapshot, still redacted');
CLOSE r;
ROLLBACK;
SELECT t.is((SELECT string_agg(id, ',' ORDER BY id) FROM fhir.resources), 'ca1,ca2,ca3', 'the revocation was rolled back');
RESET ROLE;

-- A snapshot handle names a membership; a client passing one of its own
-- making gets nothing it could not get by setting that membership.
SELECT version AS v FROM fhir.access_version \gset
SET ROLE sn_bound;
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'ca', 'the bound client acts as its one membership');
SELECT t.ok(NOT fhir._session_all_projects('S'), 'a client passing the system''s handle is nobody');
SELECT t.is(fhir._session_keys('S', 'read'), '{}'::text[], 'a client passing the system''s handle gets no keys');
SELECT t.ok(cardinality(fhir._session_keys(format('M%s:%s', :'v', :'ca'), 'read')) > 0, 'a handle for its own membership gives its keys');
SELECT t.is(fhir._session_keys(format('M%s:%s', :'v', :'ny'), 'read'), '{}'::text[],
            'a client passing a handle for a membership not bound to it gets no keys');
SELECT t.ok(NOT fhir._session_match(format('M%s:%s', :'v', :'ny'), 'read', 'Patient', ARRAY['_type=Patient', 'address-state=NY']),
            'nor a row check that admits anything');
RESET ROLE;

-- A login that may act as two roles switches between them mid-cursor: the
-- cursor's later InitPlans reuse its first snapshot, which the other role
-- cannot use, so it never reads as the other membership; nor can the other
-- role borrow the first one's live snapshot by its handle.
SELECT fhir.clear_membership();
BEGIN;
SET ROLE sn_bound;
DECLARE u CURSOR FOR SELECT id, content FROM fhir.resources WHERE id = 'ca1'
    UNION ALL SELECT id, content FROM fhir.resources WHERE id <> 'ca1';
SELECT t.is(t.fetch('u', 1), 'ca1', 'the first branch reads as the first role''s membership');
SELECT fhir._session() AS handle \gset
RESET ROLE;
SET ROLE sn_other;
SELECT t.is(t.fetch('u', 10), '', 'after SET ROLE the cursor''s second branch does not read as the other membership');
SELECT t.is(fhir._session_projects(:'handle'), '{}'::text[], 'another role cannot borrow a live snapshot by its handle');
SELECT t.is((SELECT string_agg(id, ',') FROM fhir.resources), 'ny1', 'a new statement reads as the role''s own membership');
RESET ROLE;
COMMIT;
