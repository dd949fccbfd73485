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
