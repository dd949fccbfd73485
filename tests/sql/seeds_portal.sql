-- Medplum's patient-portal template, the caregiver built on it, and the
-- multi-tenant guide, verbatim (the template's trailing comma fixed).
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS sp_gateway;
CREATE ROLE sp_gateway;
SELECT fhir.grant_client('sp_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', x, 'meta', '{"project": "p"}'::jsonb)) FROM unnest(ARRAY['homer', 'xyz', 'uvw', 'other']) x;
SELECT fhir.create(jsonb_build_object('resourceType', 'Observation', 'id', 'obs-' || x, 'status', 'final', 'subject', jsonb_build_object('reference', 'Patient/' || x), 'meta', '{"project": "p"}'::jsonb))
FROM unnest(ARRAY['homer', 'xyz', 'uvw', 'other']) x;
SELECT fhir.create('{"resourceType": "Task", "id": "task-homer", "status": "ready", "intent": "order", "focus": {"reference": "Patient/homer"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Practitioner", "id": "dr", "meta": {"project": "p"}}');

SELECT fhir.create('{
  "resourceType": "AccessPolicy", "meta": {"project": "p"},
  "name": "Patient Access Policy Template",
  "id": "patient-access-policy-template",
  "resource": [
    {"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"},
    {"resourceType": "Observation", "criteria": "Observation?_compartment=%patient"},
    {"resourceType": "DiagnosticReport", "criteria": "DiagnosticReport?_compartment=%patient"},
    {"resourceType": "MedicationRequest", "criteria": "MedicationRequest?_compartment=%patient"},
    {"resourceType": "Coverage", "criteria": "Coverage?_compartment=%patient"},
    {"resourceType": "PaymentNotice", "criteria": "PaymentNotice?_compartment=%patient"},
    {"resourceType": "CarePlan", "criteria": "CarePlan?_compartment=%patient"},
    {"resourceType": "Immunization", "criteria": "Immunization?_compartment=%patient"},
    {"resourceType": "Communication", "criteria": "Communication?_compartment=%patient", "interaction": ["create", "read", "search"]},
    {"resourceType": "RequestGroup", "criteria": "RequestGroup?_compartment=%patient"},
    {"resourceType": "Task", "criteria": "Task?focus=%patient"},
    {"resourceType": "QuestionnaireResponse", "criteria": "QuestionnaireResponse?_compartment=%patient"},
    {"resourceType": "Organization", "readonly": true},
    {"resourceType": "Practitioner", "readonly": true},
    {"resourceType": "Schedule", "readonly": true},
    {"resourceType": "DocumentReference", "criteria": "DocumentReference?_compartment=%patient"},
    {"resourceType": "Subscription", "criteria": "Subscription?type=websocket&author=%patient"},
    {"resourceType": "Appointment", "interaction": ["create", "read", "search"], "criteria": "Appointment?_compartment=%patient"},
    {"resourceType": "Slot", "interaction": ["create", "read", "search"]}
  ]
}');

-- The patient portal: a Patient membership sees its own data.
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "homer-portal", "project": {"reference": "Project/p"}, "user": {"reference": "User/homer"},
                     "profile": {"reference": "Patient/homer"}, "accessPolicy": {"reference": "AccessPolicy/patient-access-policy-template"}, "meta": {"project": "p"}}');
-- The caregiver: the template twice, one patient each.
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "caregiver", "project": {"reference": "Project/p"}, "user": {"reference": "User/parent"},
  "profile": {"reference": "Practitioner/dr"}, "meta": {"project": "p"},
  "access": [
    {
      "policy": { "reference": "AccessPolicy/patient-access-policy-template" },
      "parameter": [
        {
          "name": "patient",
          "valueReference": { "reference": "Patient/xyz" }
        }
      ]
    },
    {
      "policy": { "reference": "AccessPolicy/patient-access-policy-template" },
      "parameter": [
        {
          "name": "patient",
          "valueReference": { "reference": "Patient/uvw" }
        }
      ]
    }
  ]
}');

SET ROLE sp_gateway;
SELECT fhir.set_membership('homer-portal') IS NOT NULL AS homer;
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Observation'), ARRAY['obs-homer'], 'portal: a patient sees only their own Observations');
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient') x), ARRAY['homer'], 'portal: a patient finds only themselves');
SELECT t.is(fhir.read('Task', 'task-homer')->>'id', 'task-homer', 'portal: Task?focus=%patient');
SELECT t.throws($$ SELECT fhir.read('Observation', 'obs-other') $$, 'P0002', 'portal: another patient''s Observation is not found');
SELECT t.is(fhir.create('{"resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/homer"}}')->'meta'->'compartment'->1,
            '{"reference": "Patient/homer"}'::jsonb, 'portal: a patient writes a Communication about themselves');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/other"}}') $$,
                '42501', 'portal: not about somebody else');
SELECT t.is(fhir.read('Practitioner', 'dr')->>'id', 'dr', 'portal: practitioners are readable');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Practitioner", "id": "dr", "active": false}') $$, '42501', 'portal: practitioners are read-only');

SELECT fhir.set_membership('caregiver') IS NOT NULL AS caregiver;
SELECT t.is((SELECT array_agg(id ORDER BY id) FROM fhir.resources WHERE resource_type = 'Observation'), ARRAY['obs-uvw', 'obs-xyz'], 'caregiver: both children''s Observations');
SELECT t.is((SELECT array_agg(id ORDER BY id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['uvw', 'xyz'], 'caregiver: both children');
SELECT t.throws($$ SELECT fhir.read('Patient', 'homer') $$, 'P0002', 'caregiver: nobody else');
RESET ROLE;

-- The multi-tenant guide.
SELECT fhir.create('{"resourceType": "Organization", "id": "org-a", "name": "Organization A", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "org-b", "name": "Organization B", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Questionnaire", "id": "qa", "status": "active", "meta": {"project": "p", "accounts": [{"reference": "Organization/org-a"}]}}');
SELECT fhir.create('{"resourceType": "Questionnaire", "id": "qb", "status": "active", "meta": {"project": "p", "accounts": [{"reference": "Organization/org-b"}]}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pa", "managingOrganization": {"reference": "Organization/org-a"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "pb", "managingOrganization": {"reference": "Organization/org-b"}, "meta": {"project": "p"}}');
SELECT fhir.create('{
    "resourceType": "AccessPolicy", "meta": {"project": "p"},
    "id": "multi-tenant-org-policy",
    "name": "Multi-Tenant Organization Access Policy",
    "compartment": {
        "reference": "%current_organization"
    },
    "resource": [
        {
            "resourceType": "ValueSet"
        },
        {
            "resourceType": "CodeSet"
        },
        {
            "resourceType": "Organization",
            "criteria": "Organization?_id=%current_organization",
            "readonly": true
        },
        {
            "resourceType": "Practitioner",
            "criteria": "Practitioner?organization=%current_organization"
        },
        {
            "resourceType": "Questionnaire",
            "criteria": "Questionnaire?_compartment=Organization/%current_organization"
        },
        {
            "resourceType": "Patient",
            "criteria": "Patient?organization=%current_organization",
            "readonly": true
        }
    ]
}');
SELECT fhir.invite('p', '{
    "resourceType": "Practitioner",
    "firstName": "Practitioner",
    "lastName": "A.1",
    "email": "practitioner.a.1@example.com",
    "membership": {
        "access": [
            {
                "policy": {
                    "reference": "AccessPolicy/multi-tenant-org-policy"
                },
                "parameter": [
                    {
                        "name": "current_organization",
                        "valueReference": {
                            "reference": "Organization/org-a"
                        }
                    }
                ]
            }
        ]
    }
}')->>'id' AS tenant_a \gset

SET ROLE sp_gateway;
SELECT fhir.set_membership(:'tenant_a') IS NOT NULL AS tenant_a;
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Organization'), ARRAY['org-a'], 'multi-tenant: Organization?_id=%current_organization is the own organization');
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Questionnaire'), ARRAY['qa'], 'multi-tenant: Questionnaire?_compartment=Organization/%current_organization');
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['pa'], 'multi-tenant: the organization''s patients');
SELECT t.throws($$ SELECT fhir.update('{"resourceType": "Organization", "id": "org-a", "name": "renamed"}') $$, '42501', 'multi-tenant: the organization is read-only');
SELECT fhir.create('{"resourceType": "Questionnaire", "status": "draft"}') AS newq \gset
SELECT t.is(:'newq'::jsonb->'meta'->'accounts', '[{"reference": "Organization/org-a"}]'::jsonb, 'multi-tenant: a new Questionnaire is tagged with the tenant');
SELECT t.is((SELECT count(*) FROM fhir.resources WHERE resource_type = 'Questionnaire'), 2::bigint, 'multi-tenant: and stays visible to its tenant');
RESET ROLE;
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "practitioner.b.1@example.com", "membership": {"access": [{"policy": {"reference": "AccessPolicy/multi-tenant-org-policy"},
    "parameter": [{"name": "current_organization", "valueReference": {"reference": "Organization/org-b"}}]}]}}')->>'id' AS tenant_b \gset
SET ROLE sp_gateway;
SELECT fhir.set_membership(:'tenant_b') IS NOT NULL AS tenant_b;
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Questionnaire'), ARRAY['qb'], 'multi-tenant: the other tenant sees only its own questionnaire');
RESET ROLE;
