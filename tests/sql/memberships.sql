-- One User, several memberships: each sees only what it should.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS mm_user;
CREATE ROLE mm_user;
SELECT fhir.grant_client('mm_user');

SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Clinic"}');
SELECT fhir.create('{"resourceType": "Project", "id": "research", "name": "Research"}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "patients-only", "meta": {"project": "clinic"}, "resource": [{"resourceType": "Patient"}]}');
SELECT fhir.create('{"resourceType": "Patient", "id": "c-pat", "meta": {"project": "clinic"}}');
SELECT fhir.create('{"resourceType": "Observation", "id": "c-obs", "status": "final", "meta": {"project": "clinic"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "r-pat", "meta": {"project": "research"}}');

-- A practitioner in two projects, and the same person as a patient of the clinic.
SELECT fhir.invite('clinic', '{"resourceType": "Practitioner", "firstName": "Dee", "lastName": "Oc", "email": "dee@example.org",
                               "membership": {"accessPolicy": {"reference": "AccessPolicy/patients-only"}}}')->>'id' AS clinic_doc \gset
SELECT fhir.invite('research', '{"resourceType": "Practitioner", "firstName": "Dee", "lastName": "Oc", "email": "dee@example.org"}')->>'id' AS research_doc \gset
SELECT fhir.invite('clinic', '{"resourceType": "Patient", "firstName": "Dee", "lastName": "Oc", "email": "dee@example.org",
                               "membership": {"access": [{"policy": {"reference": "AccessPolicy/patients-only"}}]}}')->>'id' AS clinic_patient \gset
SELECT fhir.bind_role('mm_user', :'clinic_doc');
SELECT fhir.bind_role('mm_user', :'research_doc');
SELECT fhir.bind_role('mm_user', :'clinic_patient');
SELECT t.is((SELECT content->'user' FROM fhir.resource WHERE id = :'clinic_doc'), (SELECT content->'user' FROM fhir.resource WHERE id = :'research_doc'),
            'both practitioner memberships belong to one User');

SET ROLE mm_user;
SELECT fhir.set_membership(:'clinic_doc') IS NOT NULL AS as_clinic_doctor;
SELECT t.is((SELECT array_agg(DISTINCT project_id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['clinic'], 'as the clinic doctor: only the clinic''s patients');
SELECT t.is(fhir.read('Patient', 'c-pat')->>'id', 'c-pat', 'as the clinic doctor: reads a clinic patient');
SELECT t.throws($$ SELECT fhir.read('Observation', 'c-obs') $$, '42501', 'as the clinic doctor: no Observations (policy)');

SELECT fhir.set_membership(:'research_doc') IS NOT NULL AS as_researcher;
SELECT t.is((SELECT array_agg(id ORDER BY id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['r-pat'], 'as the researcher: only the research project''s patients');
SELECT t.is(fhir.read('Patient', 'r-pat')->>'id', 'r-pat', 'as the researcher: reads research data');
SELECT t.throws($$ SELECT fhir.read('Patient', 'c-pat') $$, 'P0002', 'as the researcher: the clinic is invisible');

SELECT fhir.set_membership(:'clinic_patient') IS NOT NULL AS as_patient;
SELECT t.is(fhir.current_membership(), 'ProjectMembership/' || :'clinic_patient', 'switching to the patient membership');
SELECT t.throws($$ SELECT fhir.read('Patient', 'r-pat') $$, 'P0002', 'as the patient: the research project is invisible');
SELECT t.throws($$ SELECT fhir.read('Observation', 'c-obs') $$, '42501', 'as the patient: no Observations (policy)');
RESET ROLE;
