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
