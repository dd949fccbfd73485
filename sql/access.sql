-- Who may connect as a client, which memberships they may act as, and the
-- row-level security every client query goes through.

-- Roles prepared by fhir.grant_client. A gateway (an app server, a pooler)
-- may act as any membership; other clients only as memberships bound to them.
CREATE TABLE fhir.client (
    role    oid PRIMARY KEY,
    gateway boolean NOT NULL DEFAULT false
);

CREATE TABLE fhir.role_binding (
    role       oid NOT NULL,
    membership text NOT NULL,
    PRIMARY KEY (role, membership)
);

-- Moves on every write that can change somebody's access (Projects,
-- memberships, policies, users): sessions recompile their policy when it moves,
-- so a change applies from the next statement without reconnecting.
CREATE TABLE fhir.access_version (version bigint NOT NULL);
INSERT INTO fhir.access_version VALUES (0);

REVOKE ALL ON fhir.client, fhir.role_binding, fhir.access_version FROM PUBLIC;

-- fhir_reader owns the fhir.resources view and runs the functions' reads for
-- clients. It is neither a superuser nor BYPASSRLS, so row-level security
-- applies to everything it reads. Roles are cluster-wide: another database may
-- have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fhir_reader') THEN
        CREATE ROLE fhir_reader NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA fhir TO fhir_reader;
GRANT SELECT ON fhir.resource TO fhir_reader;

ALTER TABLE fhir.resource ENABLE ROW LEVEL SECURITY;

-- The project wall, ANDed with every other policy. Session functions in
-- parentheses run once per statement (InitPlans), never per row.
CREATE POLICY project_wall ON fhir.resource AS RESTRICTIVE FOR SELECT
    USING ((SELECT fhir._session_all_projects()) OR project_id = ANY ((SELECT fhir._session_projects())::text[]));

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
    USING (tokens OPERATOR(fhir.&&) (SELECT fhir._session_keys('read'))::text[]
           AND (resource_type = ANY ((SELECT fhir._session_open_types('read'))::text[])
                OR fhir._session_match('read', resource_type, tokens)));
