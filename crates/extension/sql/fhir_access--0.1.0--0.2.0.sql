-- fhir_access 0.1.0 -> 0.2.0. Run by ALTER EXTENSION fhir_access UPDATE,
-- after the 0.2.0 library is installed and PostgreSQL restarted. Every row
-- of every table is kept (the tables are migrated below, by hand); the
-- functions, policies, the view and its trigger are dropped and created as
-- 0.2.0 defines them (the part scripts/upgrade-script.py generates).
-- tests/ops/extension_update.sh checks that the result is the catalog a fresh
-- 0.2.0 install has.
\echo Use "ALTER EXTENSION fhir_access UPDATE TO '0.2.0'" to load this file. \quit

-- A GRANT in an extension script records the object's whole ACL as the
-- extension's initial privileges, which pg_dump leaves out: the privileges
-- given since (fhir.grant_client's, an administrator's) would vanish from
-- every backup. Noted here, taken out of the initial privileges at the end.
SELECT pg_catalog.set_config('fhir_access.granted_since_install', coalesce(pg_catalog.json_agg(g)::text, '[]'), true)
FROM (SELECT i.classoid, i.objoid, i.objsubid, a.acl::text AS item
      FROM pg_catalog.pg_init_privs i
      JOIN LATERAL (SELECT c.relacl FROM pg_catalog.pg_class c WHERE i.classoid = 'pg_catalog.pg_class'::regclass AND c.oid = i.objoid AND i.objsubid = 0
                    UNION ALL SELECT n.nspacl FROM pg_catalog.pg_namespace n WHERE i.classoid = 'pg_catalog.pg_namespace'::regclass AND n.oid = i.objoid
                    UNION ALL SELECT p.proacl FROM pg_catalog.pg_proc p WHERE i.classoid = 'pg_catalog.pg_proc'::regclass AND p.oid = i.objoid) o(acl) ON true
      CROSS JOIN LATERAL pg_catalog.unnest(o.acl) a(acl)
      WHERE i.privtype = 'e' AND NOT a.acl OPERATOR(pg_catalog.=) ANY (i.initprivs)) g;

-- What depends on the functions goes first; the tables stay. The view is
-- replaced rather than dropped, so that the privileges fhir.grant_client gave
-- clients on it stay (and stay what pg_dump backs up).
DROP TRIGGER resources_write ON fhir.resources;
CREATE OR REPLACE VIEW fhir.resources WITH (security_barrier) AS
SELECT resource_type, id, version_id, last_updated, project_id, content FROM fhir.resource WHERE false;
DROP POLICY project_wall ON fhir.resource;
DROP POLICY granted ON fhir.resource;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT d.objid::regprocedure FROM pg_catalog.pg_depend d
             WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
               AND d.refclassid = 'pg_catalog.pg_extension'::regclass
               AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'fhir_access')
               AND d.objid NOT IN ('fhir.tokens_overlap(text[], text[])'::regprocedure,
                                   'fhir.tokens_contain(text[], text[])'::regprocedure) LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;

-- The token operators' functions call PostgreSQL's through the library
-- (operators.rs): a C function is found by a hash, an internal one outside
-- the built-in OIDs by a linear scan at every executor start.
CREATE OR REPLACE FUNCTION fhir.tokens_overlap(text[], text[]) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'tokens_overlap_wrapper';
CREATE OR REPLACE FUNCTION fhir.tokens_contain(text[], text[]) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'tokens_contain_wrapper';

-- Client roles are stored by name (regrole) rather than by OID, so that a
-- restore into a cluster whose roles have other OIDs binds the same roles.
-- An OID whose role is gone would dump as a number that could name another
-- role after a restore: such rows are dropped.
DELETE FROM fhir.client c WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = c.role);
DELETE FROM fhir.role_binding b WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = b.role);
ALTER TABLE fhir.client
    ALTER COLUMN role TYPE regrole USING role::regrole,
    ADD COLUMN session_scope boolean NOT NULL DEFAULT false;
ALTER TABLE fhir.role_binding ALTER COLUMN role TYPE regrole USING role::regrole;

-- The access version becomes a keyed singleton (a missing row is version 0),
-- so that a restore brings the dumped row back without a clash.
DO $$
DECLARE
    v bigint := (SELECT max(version) FROM fhir.access_version);
BEGIN
    DROP TABLE fhir.access_version;
    CREATE TABLE fhir.access_version (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        version   bigint NOT NULL
    );
    IF v > 0 THEN
        INSERT INTO fhir.access_version (singleton, version) VALUES (true, v);
    END IF;
END
$$;

-- No statistics on the columns a client can compare (schema.sql), and none
-- left from before.
ALTER TABLE fhir.resource
    ALTER COLUMN project_id SET STATISTICS 0,
    ALTER COLUMN id SET STATISTICS 0,
    ALTER COLUMN version_id SET STATISTICS 0,
    ALTER COLUMN last_updated SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic s
USING pg_catalog.pg_attribute a
WHERE s.starelid = 'fhir.resource'::regclass AND a.attrelid = s.starelid AND a.attnum = s.staattnum
  AND a.attname IN ('project_id', 'id', 'version_id', 'last_updated');

-- The audit trail's queue is new.
CREATE TABLE fhir.audit_queue (
    project_id text NOT NULL,
    content    text NOT NULL
) WITH (toast_tuple_target = 8160);

-- >>> generated by scripts/upgrade-script.py: every object of the new version but its tables
CREATE  FUNCTION "_audit_search"(
	"resource_type" TEXT, /* & str */
	"query" TEXT, /* & str */
	"ids" TEXT[] /* Vec < String > */
) RETURNS void
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_audit_search_wrapper';

CREATE  FUNCTION "_audits_search"() RETURNS bool /* bool */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_audits_search_wrapper';

CREATE  FUNCTION "_content_contains_sel"(
	"_root" internal, /* Internal */
	"_operator" oid, /* pg_sys :: Oid */
	"_args" internal, /* Internal */
	"_var_relid" INT /* i32 */
) RETURNS double precision /* f64 */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_content_contains_sel_wrapper';

-- Plain SQL on content, indexable under policy (content_index.rs).
--
-- A containment operator declared LEAKPROOF, for the reason the token
-- operators are: a client's `content @> …` or `content->'a'->>'b' = …` is
-- not leakproof, so the planner hook adds the containment it implies with
-- this operator, which the GIN index below answers before row-level
-- security. jsonb_contains (called through operators.rs) raises no
-- data-dependent errors.
CREATE FUNCTION fhir.content_contains(jsonb, jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'content_contains_wrapper';
CREATE OPERATOR fhir.@> (
    LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = fhir.content_contains,
    RESTRICT = fhir._content_contains_sel, JOIN = matchingjoinsel);

-- GIN over jsonb with that operator (as the built-in jsonb_path_ops).
CREATE OPERATOR CLASS fhir.content_ops FOR TYPE jsonb USING gin AS
    OPERATOR 7 fhir.@> (jsonb, jsonb),
    FUNCTION 1 btint4cmp(int4, int4),
    FUNCTION 2 gin_extract_jsonb_path(jsonb, internal, internal),
    FUNCTION 3 gin_extract_jsonb_query_path(jsonb, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 gin_consistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal, internal),
    FUNCTION 6 gin_triconsistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal),
    STORAGE int4;

CREATE  FUNCTION "_content_document"(
	"steps" TEXT[], /* Array < & str > */
	"value" jsonb /* RawJsonb */
) RETURNS jsonb /* RawJsonb */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_content_document_wrapper';

CREATE  FUNCTION "_content_text_document"(
	"steps" TEXT[], /* Array < & str > */
	"value" TEXT, /* & str */
	"as_string" bool /* bool */
) RETURNS jsonb /* Option < RawJsonb > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_content_text_document_wrapper';

CREATE  FUNCTION "_query_match"(
	"resource_type" TEXT, /* & str */
	"query" TEXT, /* & str */
	"tokens" TEXT[] /* Array < & str > */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_query_match_wrapper';

CREATE  FUNCTION "_query_match_content"(
	"resource_type" TEXT, /* & str */
	"query" TEXT, /* & str */
	"content" jsonb /* Document */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_query_match_content_wrapper';

CREATE  FUNCTION "_query_required"(
	"resource_type" TEXT, /* & str */
	"query" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_query_required_wrapper';

CREATE  FUNCTION "_redact"(
	"session" TEXT, /* & str */
	"resource_type" TEXT, /* & str */
	"tokens" TEXT[], /* Array < & str > */
	"content" jsonb /* RawJsonb */
) RETURNS jsonb /* RawJsonb */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_redact_wrapper';

CREATE  FUNCTION "_search_sql"(
	"resource_type" TEXT, /* & str */
	"query" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_search_sql_wrapper';

CREATE  FUNCTION "_session"(

) RETURNS TEXT /* String */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_wrapper';

CREATE  FUNCTION "_session_all_projects"(
	"session" TEXT /* & str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_all_projects_wrapper';

CREATE  FUNCTION "_session_keys"(
	"session" TEXT, /* & str */
	"interaction_code" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_keys_wrapper';

CREATE  FUNCTION "_session_match"(
	"session" TEXT, /* & str */
	"interaction_code" TEXT, /* & str */
	"resource_type" TEXT, /* & str */
	"tokens" TEXT[] /* Array < & str > */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_match_wrapper';

CREATE  FUNCTION "_session_open_types"(
	"session" TEXT, /* & str */
	"interaction_code" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_open_types_wrapper';

CREATE  FUNCTION "_session_projects"(
	"session" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_projects_wrapper';

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

-- Preparing client roles and binding memberships to them. Only the system
-- (a superuser or a BYPASSRLS role) may do this. Every function pins its
-- search_path, so a caller's schemas and pg_temp cannot shadow what it calls.

CREATE FUNCTION fhir._require_system() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = current_user AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'Forbidden: only the system manages fhir_access clients'
            USING ERRCODE = '42501',
                  DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"text":"Forbidden: only the system manages fhir_access clients"}}]}';
    END IF;
END
$$;

-- Lets `role` use the view and the functions. A gateway may act as any
-- membership, one transaction at a time (`set_membership(..., local => true)`);
-- `session_scope` also lets it set a membership for the whole session, which
-- behind a transaction pooler would answer other clients' queries.
CREATE FUNCTION fhir.grant_client(role regrole, gateway boolean DEFAULT false, session_scope boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM fhir._require_system();
    INSERT INTO fhir.client (role, gateway, session_scope) VALUES (role, gateway, session_scope)
    ON CONFLICT ON CONSTRAINT client_pkey DO UPDATE SET gateway = EXCLUDED.gateway, session_scope = EXCLUDED.session_scope;
    EXECUTE format('GRANT USAGE ON SCHEMA fhir TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON fhir.resources TO %s', role);
    PERFORM fhir._bump_access_version();
END
$$;

-- Lets a non-gateway client act as `membership` ('ProjectMembership/<id>' or '<id>').
CREATE FUNCTION fhir.bind_role(role regrole, membership text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    member_id text := regexp_replace(membership, '^ProjectMembership/', '');
BEGIN
    PERFORM fhir._require_system();
    IF NOT EXISTS (SELECT 1 FROM fhir.resource r WHERE r.resource_type = 'ProjectMembership' AND r.id = member_id AND NOT r.deleted) THEN
        RAISE EXCEPTION 'Not found: ProjectMembership/%', member_id
            USING ERRCODE = 'P0002',
                  DETAIL = json_build_object('resourceType', 'OperationOutcome', 'issue', json_build_array(json_build_object(
                      'severity', 'error', 'code', 'not-found', 'details', json_build_object('text', 'Not found: ProjectMembership/' || member_id))))::text;
    END IF;
    INSERT INTO fhir.role_binding (role, membership) VALUES (role, member_id) ON CONFLICT DO NOTHING;
    PERFORM fhir._bump_access_version();
END
$$;

CREATE FUNCTION fhir.unbind_role(role regrole, membership text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM fhir._require_system();
    DELETE FROM fhir.role_binding b WHERE b.role = unbind_role.role AND b.membership = regexp_replace(unbind_role.membership, '^ProjectMembership/', '');
    PERFORM fhir._bump_access_version();
END
$$;

-- DROP EXTENSION fhir_access and DROP SCHEMA of its schema are refused while
-- resources are stored, and DROP OWNED BY its roles always (see
-- src/drop_guard.rs), and renaming its schema: the data tables are extension members, and a drop would
-- destroy every clinical record with them. ENABLE ALWAYS: the guard also holds
-- under session_replication_role = replica, which restore scripts often set.
CREATE FUNCTION fhir._guard_drop() RETURNS event_trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'fhir_access_guard_drop';

CREATE EVENT TRIGGER fhir_access_keeps_data ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED', 'ALTER SCHEMA')
    EXECUTE FUNCTION fhir._guard_drop();
ALTER EVENT TRIGGER fhir_access_keeps_data ENABLE ALWAYS;

-- fhir.search(resource_type, query): a FHIR search under the session's access.
--
-- It runs as fhir_reader, like the view: row-level security admits the rows
-- the session may read, hidden fields are removed the same way, and the rows
-- must also satisfy an entry granting `search`. The query's own conditions are
-- compiled by fhir._search_sql into a leakproof GIN condition on the tokens
-- (which PostgreSQL may use as an index condition under row-level security)
-- and an exact per-row check. When the audit trail covers searches, the ids
-- returned are collected for its record (fhir._audit_search).
CREATE FUNCTION fhir.search(resource_type text, query text DEFAULT '') RETURNS SETOF jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found record;
    ids text[] := '{}';
BEGIN
    IF NOT fhir._audits_search() THEN
        RETURN QUERY EXECUTE fhir._search_sql(resource_type, query) USING resource_type, query;
        RETURN;
    END IF;
    FOR found IN EXECUTE fhir._search_sql(resource_type, query) USING resource_type, query LOOP
        ids := ids || (found.content ->> 'id');
        RETURN NEXT found.content;
    END LOOP;
    PERFORM fhir._audit_search(resource_type, query, ids);
END
$$;

ALTER FUNCTION fhir.search(text, text) OWNER TO fhir_reader;

-- Only fhir.search records searches: a client calling it could forge records.
REVOKE ALL ON FUNCTION fhir._audit_search(text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fhir._audit_search(text, text, text[]) TO fhir_reader;

CREATE  FUNCTION "_session_redacts"(
	"session" TEXT /* & str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_redacts_wrapper';

CREATE  FUNCTION "_sort_key"(
	"code" TEXT, /* & str */
	"tokens" TEXT[] /* Array < & str > */
) RETURNS TEXT /* Option < String > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_sort_key_wrapper';

CREATE  FUNCTION "clear_membership"() RETURNS void
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clear_membership_wrapper';

-- Skipped due to `#[pgrx(sql = false)]`

CREATE  FUNCTION "create"(
	"resource" jsonb /* Document */
) RETURNS jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'create_wrapper';

CREATE  FUNCTION "current_membership"() RETURNS TEXT /* Option < String > */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'current_membership_wrapper';

CREATE  FUNCTION "delete"(
	"resource_type" TEXT, /* & str */
	"id" TEXT /* & str */
) RETURNS void
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'delete_wrapper';

CREATE  FUNCTION "effective_policy"() RETURNS jsonb /* Option < RawJsonb > */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'effective_policy_wrapper';

CREATE  FUNCTION "explain_access"(
	"resource_type" TEXT, /* & str */
	"id" TEXT, /* & str */
	"interaction" TEXT, /* & str */
	"candidate" jsonb DEFAULT NULL /* Option < pgrx :: JsonB > */
) RETURNS jsonb /* pgrx :: JsonB */
STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_access_wrapper';

CREATE  FUNCTION "fhirpath"(
	"resource" jsonb, /* Document */
	"expression" TEXT, /* & str */
	"variables" jsonb DEFAULT '{}' /* Document */
) RETURNS jsonb /* Document */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fhirpath_wrapper';

CREATE  FUNCTION "flush_audit"() RETURNS bigint /* i64 */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'flush_audit_wrapper';

-- The audit trail's one removal: the system purges AuditEvents older than an
-- age (the interactions refuse to change or delete them, even for the system).
-- Superuser-only: clients have no privilege on the tables it deletes from.
CREATE FUNCTION fhir.purge_audit(older_than interval) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    purged bigint;
BEGIN
    -- A mixed interval ('1 mon -30 days') can be positive yet end in the future.
    IF older_than IS NULL OR now() - older_than > now() THEN
        RAISE EXCEPTION 'older_than must be an interval of zero or more'
            USING ERRCODE = '22023',
                  DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"older_than must be an interval of zero or more"}}]}';
    END IF;
    WITH gone AS (
        DELETE FROM fhir.resource
        WHERE resource_type = 'AuditEvent' AND last_updated < now() - older_than
        RETURNING id
    ), versions AS (
        DELETE FROM fhir.resource_history h
        WHERE h.resource_type = 'AuditEvent' AND h.id IN (SELECT id FROM gone)
    )
    SELECT count(*) INTO purged FROM gone;
    RETURN purged;
END
$$;

REVOKE ALL ON FUNCTION fhir.purge_audit(interval) FROM PUBLIC;

-- Moving the queue is the audit writer's work; the system may hurry it.
REVOKE ALL ON FUNCTION fhir.flush_audit() FROM PUBLIC;

-- The audit writer's lock (see sql/queries/lock_audit.sql). LOCK is a
-- statement, so a function runs it for SPI; SHARE UPDATE EXCLUSIVE conflicts
-- with itself but not with the inserts that queue records.
CREATE FUNCTION fhir._lock_audit_queue(wait boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF wait THEN
        LOCK TABLE fhir.audit_queue IN SHARE UPDATE EXCLUSIVE MODE;
    ELSE
        LOCK TABLE fhir.audit_queue IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
    END IF;
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    RETURN false;
END
$$;
REVOKE ALL ON FUNCTION fhir._lock_audit_queue(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fhir._lock_audit_queue(boolean) TO fhir_writer;

CREATE  FUNCTION "history"(
	"resource_type" TEXT, /* & str */
	"id" TEXT /* & str */
) RETURNS SETOF jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'history_wrapper';

CREATE  FUNCTION "import"(
	"ndjson" TEXT /* & str */
) RETURNS bigint /* i64 */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'import_wrapper';

CREATE  FUNCTION "invite"(
	"project_id" TEXT, /* & str */
	"invite" jsonb /* pgrx :: JsonB */
) RETURNS jsonb /* pgrx :: JsonB */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'invite_wrapper';

CREATE  FUNCTION "lint_policy"(
	"policy" jsonb /* Document */
) RETURNS SETOF jsonb /* Document */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'lint_policy_wrapper';

CREATE  FUNCTION "matches"(
	"resource" jsonb, /* Document */
	"criteria" TEXT /* & str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'matches_wrapper';

CREATE  FUNCTION "patch"(
	"resource_type" TEXT, /* & str */
	"id" TEXT, /* & str */
	"patch" jsonb /* Document */
) RETURNS jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'patch_wrapper';

CREATE  FUNCTION "read"(
	"resource_type" TEXT, /* & str */
	"id" TEXT /* & str */
) RETURNS jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'read_wrapper';

CREATE  FUNCTION "reindex"(
	"resource_type" TEXT DEFAULT NULL, /* Option < & str > */
	"max_rows" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS bigint /* i64 */
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reindex_wrapper';

CREATE  FUNCTION "set_membership"(
	"membership" TEXT, /* & str */
	"local" bool DEFAULT false, /* bool */
	"scopes" TEXT DEFAULT NULL, /* Option < & str > */
	"client_address" inet DEFAULT NULL, /* Option < pgrx :: Inet > */
	"on_behalf_of" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* Option < RawJsonb > */
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_membership_wrapper';

-- Skipped due to `#[pgrx(sql = false)]`

-- Skipped due to `#[pgrx(sql = false)]`

CREATE  FUNCTION "update"(
	"resource" jsonb, /* Document */
	"if_match" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* Document */
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'update_wrapper';

CREATE  FUNCTION "verify"() RETURNS SETOF jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'verify_wrapper';

CREATE  FUNCTION "vread"(
	"resource_type" TEXT, /* & str */
	"id" TEXT, /* & str */
	"version_id" TEXT /* & str */
) RETURNS jsonb /* Document */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vread_wrapper';

CREATE  FUNCTION "who_can_access"(
	"resource_type" TEXT, /* & str */
	"id" TEXT, /* & str */
	"interaction" TEXT DEFAULT 'read' /* & str */
) RETURNS SETOF jsonb /* pgrx :: JsonB */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'who_can_access_wrapper';

-- finalize
-- fhir.resources: the resources the session may read, for any SQL client.
-- INSERT, UPDATE and DELETE on it do what fhir.create, fhir.update and
-- fhir.delete do, with the same checks.

-- Owned by fhir_reader, so row-level security on fhir.resource applies to
-- every reader, the system included (its policies admit the system). Hidden
-- fields are removed from content before any filter of the caller sees it.
-- A security barrier: a caller's non-leakproof function never sees a deleted
-- row; leakproof conditions (the token and content operators) still reach
-- the index. Two branches, of which a one-time filter runs one: a session
-- that hides nothing reads the raw, indexable content; a session that hides
-- fields reads redacted content, so its conditions never test hidden values.
CREATE OR REPLACE VIEW fhir.resources WITH (security_barrier) AS
SELECT resource_type, id, version_id, last_updated, project_id, content
FROM fhir.resource
WHERE NOT deleted AND NOT (SELECT fhir._session_redacts(fhir._session()))
UNION ALL
SELECT resource_type, id, version_id, last_updated, project_id,
       fhir._redact((SELECT fhir._session()), resource_type, tokens, content)
FROM fhir.resource
WHERE NOT deleted AND (SELECT fhir._session_redacts(fhir._session()));

ALTER VIEW fhir.resources OWNER TO fhir_reader;

CREATE FUNCTION fhir.resources_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM fhir.delete(OLD.resource_type, OLD.id);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        stored := fhir.create(NEW.content);
    ELSE
        IF NEW.resource_type IS DISTINCT FROM OLD.resource_type OR NEW.id IS DISTINCT FROM OLD.id THEN
            RAISE EXCEPTION 'resource_type and id cannot change'
                USING ERRCODE = '22023',
                      DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"resource_type and id cannot change"}}]}';
        END IF;
        -- The row's identity wins over whatever id the new content names.
        stored := fhir.update(jsonb_set(NEW.content, '{id}', to_jsonb(OLD.id)));
    END IF;
    -- RETURNING shows the stored resource.
    NEW.resource_type := stored->>'resourceType';
    NEW.id := stored->>'id';
    NEW.version_id := stored->'meta'->>'versionId';
    NEW.last_updated := (stored->'meta'->>'lastUpdated')::timestamptz;
    NEW.project_id := stored->'meta'->>'project';
    NEW.content := stored;
    RETURN NEW;
END
$$;

CREATE TRIGGER resources_write
INSTEAD OF INSERT OR UPDATE OR DELETE ON fhir.resources
FOR EACH ROW EXECUTE FUNCTION fhir.resources_write();
-- <<< generated

-- The content index is new (its operator class is created above). Building
-- it reads every resource once.
CREATE INDEX resource_content_idx ON fhir.resource USING gin (content fhir.content_ops) WITH (gin_pending_list_limit = 64);
-- Reads under policy scan a small pending list (schema.sql): the one there
-- is merged into the index now.
ALTER INDEX fhir.resource_tokens_idx SET (gin_pending_list_limit = 64);
SELECT pg_catalog.gin_clean_pending_list('fhir.resource_tokens_idx'::pg_catalog.regclass);

-- The privileges given since the install are not initial privileges.
UPDATE pg_catalog.pg_init_privs i
SET initprivs = ARRAY(SELECT a FROM pg_catalog.unnest(i.initprivs) a
                      WHERE a::text NOT IN (SELECT g->>'item' FROM pg_catalog.json_array_elements(
                                                pg_catalog.current_setting('fhir_access.granted_since_install')::json) g
                                            WHERE (g->>'classoid')::oid = i.classoid AND (g->>'objoid')::oid = i.objoid
                                              AND (g->>'objsubid')::int = i.objsubid))
WHERE i.privtype = 'e';

-- 0.2.0 derives search tokens and compartments differently in places (dates,
-- quantities, references, accounts): stored tokens may be stale, and a stale
-- token is a wrong access decision. Rewriting them here would lock the table
-- for as long as that takes; fhir.reindex() does it beside live traffic.
DO $$
BEGIN
    RAISE WARNING 'fhir_access 0.2.0: stored search tokens must be derived again'
        USING HINT = 'Run SELECT fhir.reindex(); (batched with max_rows, resumable), then SELECT * FROM fhir.verify(); returns no rows.';
END
$$;
