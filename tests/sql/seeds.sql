-- Medplum's documented AccessPolicy examples, verbatim (two of them have a
-- JSON typo in the docs, a missing and a trailing comma, fixed here), each
-- doing what its author meant, as client roles through the functions and the view.
CREATE EXTENSION fhir_access;

DROP ROLE IF EXISTS sd_gateway;
CREATE ROLE sd_gateway;
SELECT fhir.grant_client('sd_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Practitioner", "id": "doc", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "abc", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "def", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "ghi", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Organization", "id": "abc-123", "name": "Example Customer Organization", "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "ca", "address": [{"state": "CA"}], "generalPractitioner": [{"reference": "Practitioner/doc"}], "managingOrganization": {"reference": "Organization/abc"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "ny", "address": [{"state": "NY"}], "managingOrganization": {"reference": "Organization/def"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "tx", "address": [{"state": "TX"}], "managingOrganization": {"reference": "Organization/ghi"}, "meta": {"project": "p", "account": {"reference": "Organization/abc-123"}}}');
SELECT fhir.create('{"resourceType": "DiagnosticReport", "id": "dr-abc", "status": "final", "code": {"text": "x"}, "performer": [{"reference": "Organization/abc"}], "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "DiagnosticReport", "id": "dr-ghi", "status": "final", "code": {"text": "x"}, "performer": [{"reference": "Organization/ghi"}], "meta": {"project": "p"}}');

-- 1. Criteria-based access: patients in California.
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "criteria", "meta": {"project": "p"},
  "name": "Criteria Based Access Policy",
  "resource": [
    {
      "resourceType": "Patient",
      "criteria": "Patient?address-state=CA"
    }
  ]
}');
-- 2. General practitioner.
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "gp", "meta": {"project": "p"},
    "name": "GP Access Policy",
    "resource": [
      {
        "resourceType": "Patient",
        "criteria": "Patient?general-practitioner=%profile"
      }
    ]
  }');
-- 3. Parameterized policy, two instances.
SELECT fhir.create('{
      "resourceType": "AccessPolicy",
      "id": "123", "meta": {"project": "p"},
      "name": "Parameterized Access Policy",
      "resource": [
        {
          "resourceType": "Patient",
          "criteria": "Patient?organization=%provider_organization"
        },
        {
          "resourceType": "DiagnosticReport",
          "criteria": "DiagnosticReport?performer=%provider_organization"
        }
      ]
    }');
-- 4. Healthcare partnership.
SELECT fhir.create('{
  "resourceType": "AccessPolicy", "id": "partnership", "meta": {"project": "p"},
  "name": "Patient Example",
  "compartment": {
    "reference": "Organization/abc-123",
    "display": "Example Customer Organization"
  },
  "resource": [
    {
      "resourceType": "Patient",
      "criteria": "Patient?_compartment=Organization/abc-123",
      "readonly": true
    }
  ]
}');

CREATE TABLE m AS SELECT
  (fhir.invite('p', '{"resourceType": "Practitioner", "email": "c@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/criteria"}}}')->>'id') AS criteria,
  (fhir.invite('p', '{"resourceType": "Practitioner", "email": "o@example.org", "membership": {"access": [
      {"policy": {"reference": "AccessPolicy/123"}, "parameter": [{"name": "provider_organization", "valueReference": {"reference": "Organization/abc"}}]},
      {"policy": {"reference": "AccessPolicy/123"}, "parameter": [{"name": "provider_organization", "valueReference": {"reference": "Organization/def"}}]}]}}')->>'id') AS orgs,
  (fhir.invite('p', '{"resourceType": "Practitioner", "email": "l@example.org", "membership": {"accessPolicy": {"reference": "AccessPolicy/partnership"}}}')->>'id') AS partner;
-- The GP policy applies to the practitioner the patients name: make Practitioner/doc that member's profile.
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "gp-member", "project": {"reference": "Project/p"}, "user": {"reference": "User/u-gp"},
                     "profile": {"reference": "Practitioner/doc"}, "accessPolicy": {"reference": "AccessPolicy/gp"}, "meta": {"project": "p"}}');
GRANT SELECT ON m TO sd_gateway;

SET ROLE sd_gateway;
SELECT fhir.set_membership(criteria) IS NOT NULL AS criteria FROM m;
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['ca'], 'Patient?address-state=CA: only the Californian, in the view');
SELECT t.throws($$ SELECT fhir.read('Patient', 'ny') $$, 'P0002', 'Patient?address-state=CA: a New Yorker is not found');

SELECT fhir.set_membership('gp-member') IS NOT NULL AS gp;
SELECT t.is((SELECT array_agg(x->>'id') FROM fhir.search('Patient') x), ARRAY['ca'], 'Patient?general-practitioner=%profile: the doctor''s own patients');

SELECT fhir.set_membership(orgs) IS NOT NULL AS orgs FROM m;
SELECT t.is((SELECT array_agg(id ORDER BY id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['ca', 'ny'], '%provider_organization twice: the patients of both organizations');
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'DiagnosticReport'), ARRAY['dr-abc'], '%provider_organization twice: reports performed by them');
SELECT t.throws($$ SELECT fhir.read('Patient', 'tx') $$, 'P0002', '%provider_organization twice: a third organization''s patient is not found');

SELECT fhir.set_membership(partner) IS NOT NULL AS partner FROM m;
SELECT t.is((SELECT array_agg(id) FROM fhir.resources WHERE resource_type = 'Patient'), ARRAY['tx'], 'partnership: the patients in the customer''s account compartment');
SELECT t.throws($$ SELECT fhir.update(fhir.read('Patient', 'tx') || '{"active": true}') $$, '42501', 'partnership: read-only');
SELECT t.is(fhir.effective_policy()->'compartment'->>'reference', 'Organization/abc-123', 'partnership: the policy compartment tags what is created');
RESET ROLE;
