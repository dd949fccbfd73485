-- The client roles of the backup and restore test (roles are cluster-wide,
-- so a restore into a new cluster creates them first).
CREATE ROLE ops_gateway;
CREATE ROLE ops_nurse;
CREATE ROLE ops_patient;
