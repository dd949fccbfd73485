-- DROP EXTENSION fhir_access and DROP SCHEMA fhir are refused while resources
-- are stored (see src/drop_guard.rs): the data tables are extension members,
-- and a drop would destroy every clinical record with them.
CREATE FUNCTION fhir._guard_drop() RETURNS event_trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'fhir_access_guard_drop';

CREATE EVENT TRIGGER fhir_access_keeps_data ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION fhir._guard_drop();
