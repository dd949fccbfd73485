-- The same roles in another order, after unrelated ones, so that their OIDs
-- differ from the original cluster's.
CREATE ROLE ops_unrelated_1;
CREATE ROLE ops_unrelated_2;
CREATE ROLE ops_patient;
CREATE ROLE ops_unrelated_3;
CREATE ROLE ops_nurse;
CREATE ROLE ops_gateway;
