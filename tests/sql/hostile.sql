-- Hostile sessions: a client shadows everything it can, and the extension
-- still runs none of its code, as any role. The shadows are generated from
-- the catalog: for every pg_catalog function and operator over the types the
-- extension uses (polymorphic ones instantiated at text), a same-named one in
-- a schema the client owns and puts first in search_path, plus pg_temp types
-- and relations named like the built-in ones and ours. Every shadow raises
-- XE001 naming the role it ran as. Each call runs twice, plainly and under
-- the shadows, and must give the same outcome.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS h_app, h_gateway;
CREATE ROLE h_app;
CREATE ROLE h_gateway;
SELECT fhir.grant_client('h_app');
SELECT fhir.grant_client('h_gateway', gateway => true);
CREATE SCHEMA evil AUTHORIZATION h_app;
GRANT USAGE ON SCHEMA evil TO PUBLIC;

SELECT fhir.create('{"resourceType": "Project", "id": "hp", "name": "Hostile"}') IS NOT NULL AS project;
SELECT fhir.create('{"resourceType": "Patient", "id": "hp1", "name": [{"family": "Lee", "given": ["Ann"]}], "birthDate": "1970-01-01",
                     "meta": {"project": "hp", "accounts": [{"reference": "Organization/o1"}]}}') IS NOT NULL AS patient;
SELECT fhir.create('{"resourceType": "Observation", "id": "ho1", "status": "final", "subject": {"reference": "Patient/hp1"}, "meta": {"project": "hp"}}') IS NOT NULL AS observation;
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "hpol", "meta": {"project": "hp"}, "resource": [
    {"resourceType": "Patient", "hiddenFields": ["birthDate"]},
    {"resourceType": "Observation", "criteria": "Observation?status=final",
     "writeConstraint": [{"language": "text/fhirpath", "expression": "status.exists()"}]}]}') IS NOT NULL AS policy;
SELECT fhir.invite('hp', '{"resourceType": "Practitioner", "email": "h@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/hpol"}}}')->>'id' AS hm \gset
SELECT fhir.bind_role('h_app', :'hm');

-- The shadows, created by the client itself.
SET ROLE h_app;
CREATE FUNCTION evil.trap(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'XE001', MESSAGE = format('shadowed %s ran as %s', what, current_user);
END
$$;

-- Types the extension's statements use, and how polymorphic ones are instantiated.
CREATE TABLE evil.types (name text PRIMARY KEY);
INSERT INTO evil.types VALUES ('text'), ('jsonb'), ('json'), ('boolean'), ('smallint'), ('integer'), ('bigint'), ('oid'),
    ('numeric'), ('double precision'), ('timestamp with time zone'), ('timestamp without time zone'), ('date'), ('interval'),
    ('text[]'), ('jsonb[]'), ('integer[]'), ('bigint[]'), ('oid[]'), ('name'), ('regrole'), ('regclass'), ('regnamespace'),
    ('inet'), ('uuid'), ('character varying'), ('character'), ('"char"'), ('bytea'), ('void'), ('record'), ('tid');
CREATE FUNCTION evil.instance(t regtype) RETURNS text LANGUAGE sql AS $$
    SELECT CASE t::text
        WHEN 'anyelement' THEN 'text' WHEN 'anynonarray' THEN 'text' WHEN 'anycompatible' THEN 'text'
        WHEN 'anycompatiblenonarray' THEN 'text' WHEN 'anyarray' THEN 'text[]' WHEN 'anycompatiblearray' THEN 'text[]'
        ELSE CASE WHEN t::text IN (SELECT name FROM evil.types) THEN t::text END END
$$;

DO $$
DECLARE
    f record;
    made int := 0;
BEGIN
    FOR f IN
        SELECT p.proname, p.proretset,
               (SELECT string_agg(evil.instance(a), ', ' ORDER BY o) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(a, o)) AS args,
               (SELECT bool_and(evil.instance(a) IS NOT NULL) FROM unnest(p.proargtypes::oid[]) AS x(a)) AS args_ok,
               evil.instance(p.prorettype) AS ret
        FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND p.provariadic = 0
          AND p.proallargtypes IS NULL AND p.prorettype <> 'record'::regtype
    LOOP
        CONTINUE WHEN NOT coalesce(f.args_ok, true) OR f.ret IS NULL;
        BEGIN
            EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s%s LANGUAGE plpgsql AS $f$BEGIN PERFORM evil.trap(%L); %s END$f$',
                           f.proname, coalesce(f.args, ''), CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END, f.ret,
                           'function ' || f.proname, CASE WHEN f.proretset OR f.ret = 'void' THEN 'RETURN;' ELSE 'RETURN NULL;' END);
            made := made + 1;
        EXCEPTION WHEN duplicate_function OR invalid_function_definition OR datatype_mismatch OR feature_not_supported THEN
            NULL;
        END;
    END LOOP;
    CREATE TABLE evil.made (what text, n int);
    INSERT INTO evil.made VALUES ('functions', made);
END
$$;

DO $$
DECLARE
    o record;
    made int := 0;
BEGIN
    FOR o IN
        SELECT oprname, evil.instance(oprleft) AS l, evil.instance(oprright) AS r, evil.instance(oprresult) AS res, oprleft = 0 AS prefix
        FROM pg_operator
        WHERE oprnamespace = 'pg_catalog'::regnamespace
    LOOP
        CONTINUE WHEN (NOT o.prefix AND o.l IS NULL) OR o.r IS NULL OR o.res IS NULL OR o.res = 'void';
        BEGIN
            made := made + 1;
            EXECUTE format('CREATE FUNCTION evil.op_%s(%s) RETURNS %s LANGUAGE plpgsql AS $f$BEGIN PERFORM evil.trap(%L); RETURN NULL; END$f$',
                           made, CASE WHEN o.prefix THEN o.r ELSE o.l || ', ' || o.r END, o.res, 'operator ' || o.oprname);
            EXECUTE format('CREATE OPERATOR evil.%s (%s RIGHTARG = %s, FUNCTION = evil.op_%s)',
                           o.oprname, CASE WHEN o.prefix THEN '' ELSE 'LEFTARG = ' || o.l || ',' END, o.r, made);
        EXCEPTION WHEN duplicate_function OR duplicate_object OR invalid_function_definition OR datatype_mismatch OR syntax_error THEN
            NULL;
        END;
    END LOOP;
    INSERT INTO evil.made VALUES ('operators', made);
END
$$;
SELECT t.ok((SELECT n FROM evil.made WHERE what = 'functions') > 1000, 'more than a thousand pg_catalog functions are shadowed');
SELECT t.ok((SELECT n FROM evil.made WHERE what = 'operators') > 300, 'more than three hundred pg_catalog operators are shadowed');
SELECT t.ok(EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'evil'::regnamespace AND proname = 'unnest'), 'the shadows include unnest(text[])');
SELECT t.ok(EXISTS (SELECT 1 FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace AND oprname = '=' AND oprleft = 'text'::regtype), 'the shadows include text = text');
RESET ROLE;

-- Runs sql (fully qualified, so that it parses under the shadows) and returns
-- its outcome: 'ok ' and the result, or the SQLSTATE and message. Shadowed,
-- search_path puts the client's schema first and pg_temp holds types and
-- relations named like the built-in ones and the extension's, for this call only.
CREATE FUNCTION t.outcome(sql pg_catalog.text, shadowed pg_catalog.bool) RETURNS pg_catalog.text
LANGUAGE plpgsql AS $$
DECLARE
    result pg_catalog.text;
    shadow pg_catalog.text;
BEGIN
    IF shadowed THEN
        FOREACH shadow IN ARRAY ARRAY['text', 'jsonb', 'json', 'int8', 'int4', 'int2', 'bool', 'oid', 'timestamptz', 'numeric',
                                      'name', 'regrole', 'regclass', 'inet', 'uuid', 'varchar'] LOOP
            EXECUTE pg_catalog.format('CREATE DOMAIN pg_temp.%I AS pg_catalog.point', shadow);
        END LOOP;
        FOREACH shadow IN ARRAY ARRAY['pg_roles', 'pg_authid', 'pg_auth_members', 'pg_class', 'pg_namespace', 'resource',
                                      'resource_history', 'access_version', 'client', 'role_binding', 'resources'] LOOP
            EXECUTE pg_catalog.format('CREATE TEMP TABLE %I (x pg_catalog.int4)', shadow);
        END LOOP;
        PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog, pg_temp, public, fhir', true);
    END IF;
    BEGIN
        EXECUTE sql INTO result;
        result := 'ok ' OPERATOR(pg_catalog.||) CASE WHEN result IS NULL THEN '' ELSE result END;
    EXCEPTION WHEN OTHERS THEN
        result := SQLSTATE OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) SQLERRM;
    END;
    IF shadowed THEN
        PERFORM pg_catalog.set_config('search_path', '"$user", public', true);
        DISCARD TEMP;
    END IF;
    RETURN result;
END
$$;
GRANT EXECUTE ON FUNCTION t.outcome(text, boolean) TO PUBLIC;

-- The same call, plainly and shadowed: the outcomes are equal. Ids, versions
-- and timestamps a write creates differ between the two runs, so writes are
-- compared by their outcome's first word (ok or the SQLSTATE).
CREATE FUNCTION t.same(sql text, what text, whole boolean DEFAULT true) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    plain text := t.outcome(sql, false);
    shadowed text := t.outcome(sql, true);
BEGIN
    IF shadowed LIKE 'XE001%' THEN
        RETURN format('not ok - %s: %s', what, shadowed);
    ELSIF (whole AND plain IS DISTINCT FROM shadowed) OR split_part(plain, ' ', 1) IS DISTINCT FROM split_part(shadowed, ' ', 1) THEN
        RETURN format('not ok - %s: plainly %s, shadowed %s', what, left(plain, 200), left(shadowed, 200));
    END IF;
    RETURN 'ok - ' || what;
END
$$;
GRANT EXECUTE ON FUNCTION t.same(text, text, boolean) TO PUBLIC;

CREATE TABLE t.calls (who text, sql text, whole boolean);
INSERT INTO t.calls VALUES
    -- A bound client: every interaction and every SPI path it reaches.
    ('h_app', $$SELECT fhir.current_membership()$$, true),
    ('h_app', $$SELECT fhir.set_membership('ProjectMembership/' OPERATOR(pg_catalog.||) (SELECT fhir.current_membership()))::pg_catalog.text$$, false),
    ('h_app', $$SELECT fhir.effective_policy()::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.read('Patient', 'hp1')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.read('Patient', 'nope')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.vread('Observation', 'ho1', 'nope')::pg_catalog.text$$, true),
    ('h_app', $$SELECT pg_catalog.count(*)::pg_catalog.text FROM fhir.history('Observation', 'ho1')$$, true),
    ('h_app', $$SELECT pg_catalog.string_agg(x::pg_catalog.text, ',') FROM fhir.search('Patient', 'name=lee&_sort=-birthdate&_count=5') x$$, true),
    ('h_app', $$SELECT pg_catalog.string_agg(x::pg_catalog.text, ',') FROM fhir.search('Observation', 'subject=Patient/hp1&status=final') x$$, true),
    ('h_app', $$SELECT pg_catalog.string_agg(x::pg_catalog.text, ',') FROM fhir.search('Patient', 'birthdate=1970') x$$, true),
    ('h_app', $$SELECT pg_catalog.string_agg(content::pg_catalog.text, ',') FROM fhir.resources$$, true),
    ('h_app', $$SELECT fhir.explain_access('Patient', 'hp1', 'read')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.matches('{"resourceType": "Patient", "gender": "male"}', 'Patient?gender=male')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.fhirpath('{"resourceType": "Patient", "id": "x"}', 'id')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/hp1"}}') OPERATOR(pg_catalog.->>) 'resourceType'$$, false),
    ('h_app', $$SELECT fhir.create('{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/elsewhere"}}') OPERATOR(pg_catalog.->>) 'resourceType'$$, false),
    ('h_app', $$SELECT fhir.update('{"resourceType": "Observation", "id": "ho1", "status": "final", "subject": {"reference": "Patient/hp1"}}', 'W/"nope"')::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.patch('Observation', 'ho1', '[{"op": "replace", "path": "/status", "value": "final"}]') OPERATOR(pg_catalog.->>) 'id'$$, true),
    ('h_app', $$SELECT fhir.patch('Observation', 'ho1', '[{"op": "test", "path": "/status", "value": "x"}]')::pg_catalog.text$$, true),
    ('h_app', $$INSERT INTO fhir.resources (content) VALUES ('{"resourceType": "Observation", "status": "final"}') RETURNING resource_type$$, false),
    ('h_app', $$UPDATE fhir.resources SET content = content WHERE id OPERATOR(pg_catalog.=) 'ho1' RETURNING id$$, true),
    ('h_app', $$SELECT fhir.delete('Observation', (SELECT fhir.create('{"resourceType": "Observation", "status": "final"}') OPERATOR(pg_catalog.->>) 'id'))::pg_catalog.text$$, false),
    ('h_app', $$SELECT fhir.clear_membership()::pg_catalog.text$$, true),
    ('h_app', $$SELECT fhir.grant_client('h_app')::pg_catalog.text$$, true),
    -- A gateway: set_membership's checks.
    ('h_gateway', format($$SELECT fhir.set_membership(%L, local => true)::pg_catalog.text$$, :'hm'), true),
    ('h_gateway', format($$SELECT fhir.set_membership(%L)::pg_catalog.text$$, :'hm'), true),
    -- The system, whose search_path the client has poisoned: nothing of the client's runs as a superuser.
    ('postgres', $$SELECT fhir.grant_client('h_gateway', gateway => true)::pg_catalog.text$$, true),
    ('postgres', $$SELECT fhir.bind_role('h_gateway', 'nope')::pg_catalog.text$$, true),
    ('postgres', $$SELECT fhir.unbind_role('h_gateway', 'nope')::pg_catalog.text$$, true),
    ('postgres', $$SELECT fhir.invite('hp', '{"resourceType": "Practitioner", "email": "x@example.org"}') OPERATOR(pg_catalog.->>) 'resourceType'$$, false),
    ('postgres', $$SELECT fhir.create('{"resourceType": "Patient", "meta": {"project": "hp"}, "generalPractitioner": [{"reference": "Practitioner/x"}]}') OPERATOR(pg_catalog.->>) 'resourceType'$$, false),
    ('postgres', $$SELECT fhir.read('Patient', 'hp1')::pg_catalog.text$$, true),
    ('postgres', $$SELECT pg_catalog.count(*)::pg_catalog.text FROM fhir.resources$$, true);

-- Every function of the extension, called with plain arguments of its types.
INSERT INTO t.calls
SELECT who, format('SELECT %s(%s)::pg_catalog.text', p.oid::regproc,
                   (SELECT string_agg(CASE a::regtype::text
                        WHEN 'text' THEN quote_literal('Patient') WHEN 'jsonb' THEN quote_literal('{"resourceType": "Patient"}') || '::pg_catalog.jsonb'
                        WHEN 'text[]' THEN quote_literal('{}') || '::pg_catalog.text[]' WHEN 'boolean' THEN 'false'
                        WHEN 'regrole' THEN quote_literal('h_app') || '::pg_catalog.regrole' ELSE 'NULL' END, ', ' ORDER BY o)
                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(a, o))), false
FROM pg_proc p, (VALUES ('h_app'), ('postgres')) AS w(who)
WHERE p.pronamespace = 'fhir'::regnamespace AND p.prokind = 'f' AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype);
GRANT SELECT ON t.calls TO PUBLIC;

SELECT t.ok((SELECT count(*) FROM t.calls) > 60, 'the calls cover every function of the extension and every interaction');

SET ROLE h_app;
SELECT t.same(sql, format('as a client, shadowed: %s', left(sql, 110)), whole) FROM t.calls WHERE who = 'h_app' ORDER BY sql;
RESET ROLE;
SET ROLE h_gateway;
SELECT t.same(sql, format('as a gateway, shadowed: %s', left(sql, 110)), whole) FROM t.calls WHERE who = 'h_gateway' ORDER BY sql;
RESET ROLE;
SELECT t.same(sql, format('as the system, shadowed: %s', left(sql, 110)), whole) FROM t.calls WHERE who = 'postgres' ORDER BY sql;

-- The roles the extension acts through have no more than they need.
SELECT t.ok(NOT rolsuper AND NOT rolcanlogin AND rolbypassrls, 'fhir_writer bypasses row-level security and nothing else')
FROM pg_roles WHERE rolname = 'fhir_writer';
SELECT t.ok(NOT rolsuper AND NOT rolcanlogin AND NOT rolbypassrls, 'fhir_reader is subject to row-level security')
FROM pg_roles WHERE rolname = 'fhir_reader';
SELECT t.is((SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname IN ('fhir_reader', 'fhir_writer')),
            0::bigint, 'nobody is a member of the roles the extension acts through');
SELECT t.ok(NOT has_table_privilege('fhir_writer', 'fhir.resource', 'DELETE') AND NOT has_table_privilege('fhir_writer', 'fhir.resource', 'TRUNCATE'),
            'fhir_writer cannot delete or truncate resources');
