-- Preparing client roles and binding memberships to them. Only the system
-- (a superuser or a BYPASSRLS role) may do this.

CREATE FUNCTION fhir._require_system() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'Forbidden: only the system manages fhir_access clients'
            USING ERRCODE = '42501',
                  DETAIL = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"text":"Forbidden: only the system manages fhir_access clients"}}]}';
    END IF;
END
$$;

-- Lets `role` use the view and the functions. A gateway may act as any membership.
CREATE FUNCTION fhir.grant_client(role regrole, gateway boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fhir._require_system();
    INSERT INTO fhir.client (role, gateway) VALUES (role, gateway)
    ON CONFLICT ON CONSTRAINT client_pkey DO UPDATE SET gateway = EXCLUDED.gateway;
    EXECUTE format('GRANT USAGE ON SCHEMA fhir TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON fhir.resources TO %s', role);
    UPDATE fhir.access_version SET version = version + 1;
END
$$;

-- Lets a non-gateway client act as `membership` ('ProjectMembership/<id>' or '<id>').
CREATE FUNCTION fhir.bind_role(role regrole, membership text) RETURNS void
LANGUAGE plpgsql AS $$
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
    UPDATE fhir.access_version SET version = version + 1;
END
$$;

CREATE FUNCTION fhir.unbind_role(role regrole, membership text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fhir._require_system();
    DELETE FROM fhir.role_binding b WHERE b.role = unbind_role.role AND b.membership = regexp_replace(unbind_role.membership, '^ProjectMembership/', '');
    UPDATE fhir.access_version SET version = version + 1;
END
$$;
