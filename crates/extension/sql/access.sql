-- Who may connect as a client, which memberships they may act as, the roles
-- the extension acts through, and the row-level security every client query
-- goes through.

-- The extension never runs a client's work as a superuser. Two NOLOGIN roles,
-- each with only the privileges it needs:
--   fhir_reader  owns the fhir.resources view and runs the functions' reads
--                for clients; subject to row-level security.
--   fhir_writer  runs the interactions' checked writes and the lookups that
--                must see every row (BYPASSRLS, but no other attribute).
-- Roles are cluster-wide: another database may have created them already. A
-- role of that name that anybody is a member of, or that can log in, could
-- be used to act with its privileges, so it is refused rather than reused.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('fhir_reader', false), ('fhir_writer', true)) AS v(name, bypass) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r.name);
        ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                      WHERE g.rolname = r.name)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name AND (rolcanlogin OR rolsuper)) THEN
            RAISE EXCEPTION 'role % exists with members or login: fhir_access will not act through it', r.name
                USING HINT = 'Drop the role, or revoke its members and make it NOLOGIN NOSUPERUSER, then CREATE EXTENSION again.';
        END IF;
        EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT %s',
                                  r.name, CASE WHEN r.bypass THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END);
    END LOOP;
END
$$;

-- Roles prepared by fhir.grant_client. A gateway (an app server, a pooler)
-- may act as any membership, for one transaction at a time unless it was
-- granted session scope; other clients only as memberships bound to them.
-- Roles are stored as regrole: they dump and restore as names, so a restore
-- into a cluster whose roles have other OIDs binds the same roles.
CREATE TABLE fhir.client (
    role          regrole PRIMARY KEY,
    gateway       boolean NOT NULL DEFAULT false,
    session_scope boolean NOT NULL DEFAULT false
);

CREATE TABLE fhir.role_binding (
    role       regrole NOT NULL,
    membership text NOT NULL,
    PRIMARY KEY (role, membership)
);

-- Moves on every write that can change somebody's access (Projects,
-- memberships, policies, users, client grants): sessions recompile their
-- policy when it moves, so a change applies from the next statement without
-- reconnecting. One row, created by the first change (a missing row is
-- version 0), so that a restore brings the dumped row back without a clash.
CREATE TABLE fhir.access_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);

CREATE FUNCTION fhir._bump_access_version() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO fhir.access_version AS a (singleton, version) VALUES (true, 1)
    ON CONFLICT (singleton) DO UPDATE SET version = a.version OPERATOR(pg_catalog.+) 1
$$;
REVOKE ALL ON FUNCTION fhir._bump_access_version() FROM PUBLIC;

-- pg_dump and pg_dumpall back up these tables' rows (extension members are
-- otherwise dumped as their definition only).
SELECT pg_catalog.pg_extension_config_dump('fhir.resource', '');
SELECT pg_catalog.pg_extension_config_dump('fhir.resource_history', '');
SELECT pg_catalog.pg_extension_config_dump('fhir.client', '');
SELECT pg_catalog.pg_extension_config_dump('fhir.role_binding', '');
SELECT pg_catalog.pg_extension_config_dump('fhir.access_version', '');
SELECT pg_catalog.pg_extension_config_dump('fhir.audit_queue', '');

REVOKE ALL ON fhir.client, fhir.role_binding, fhir.access_version FROM PUBLIC;

GRANT USAGE ON SCHEMA fhir TO fhir_reader, fhir_writer;
GRANT SELECT ON fhir.resource TO fhir_reader;
GRANT SELECT, INSERT, UPDATE ON fhir.resource, fhir.resource_history TO fhir_writer;
GRANT SELECT ON fhir.client, fhir.role_binding, fhir.access_version TO fhir_writer;
GRANT EXECUTE ON FUNCTION fhir._bump_access_version() TO fhir_writer;
GRANT INSERT, UPDATE ON fhir.access_version TO fhir_writer;
GRANT SELECT, INSERT, DELETE ON fhir.audit_queue TO fhir_writer;

ALTER TABLE fhir.resource ENABLE ROW LEVEL SECURITY;

-- The project wall, ANDed with every other policy. Session functions in
-- parentheses run once per statement (InitPlans), never per row, and all of
-- them decide with the statement's one snapshot: fhir._session() gives every
-- call of one statement the same handle (one InitPlan each, not two).
CREATE POLICY project_wall ON fhir.resource AS RESTRICTIVE FOR SELECT
    USING ((SELECT fhir._session_all_projects(fhir._session()))
           OR project_id = ANY ((SELECT fhir._session_projects(fhir._session()))::text[]));

-- The session's AccessPolicy entries granting `read`, compiled into one
-- indexable condition and an exact check. Every row of a type granted outright
-- carries `_type=<Type>`; every row a conditional entry admits carries one of
-- its prefilter tokens (`_compartment=Patient/1`, `organization=...`), or
-- `_type=<Type>` when no index narrows it. The session supplies these keys once
-- per statement (an InitPlan), GIN finds the rows, and the exact check runs on
-- those rows only; rows of types granted outright skip it.
-- Policies stay fixed whatever AccessPolicies exist: no DDL, no lock and no
-- re-planning when a policy changes, and planning does not grow with them.
CREATE POLICY granted ON fhir.resource FOR SELECT
    USING (tokens OPERATOR(fhir.&&) (SELECT fhir._session_keys(fhir._session(), 'read'))::text[]
           AND (resource_type = ANY ((SELECT fhir._session_open_types(fhir._session(), 'read'))::text[])
                OR fhir._session_match((SELECT fhir._session()), 'read', resource_type, tokens)));
