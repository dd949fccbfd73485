-- fhir.lint_policy: every finding code, on the smallest policy that shows it.
CREATE EXTENSION fhir_access;

-- The findings of a policy made of `entries`, as "code@entry" in order.
CREATE FUNCTION t.lint(entries jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg((w->>'code') || '@' || coalesce(w->>'entry', '-'), ',' ORDER BY n), '')
    FROM fhir.lint_policy(jsonb_build_object('resourceType', 'AccessPolicy', 'resource', entries)) WITH ORDINALITY AS f(w, n)
$$;

SELECT t.is(t.lint('[{"resourceType": "Patient", "criteria": "Patient?general-practitioner=%profile", "hiddenFields": ["birthDate"]},
                     {"resourceType": "Observation", "criteria": "Observation?subject=%patient", "readonly": true},
                     {"resourceType": "Questionnaire", "readonly": true}]'),
            '', 'a policy of conditioned grants and shared reference data has no findings');
SELECT t.ok((SELECT bool_and(w ?& ARRAY['code', 'severity', 'message', 'entry'])
             FROM fhir.lint_policy('{"resourceType": "AccessPolicy", "resource": [{"resourceType": "*"}]}') w),
            'each finding is {code, severity, message, entry}');
SELECT t.is((SELECT w->>'severity' FROM fhir.lint_policy('{"resourceType": "AccessPolicy", "resource": [{"resourceType": "*"}]}') w LIMIT 1),
            'warning', 'an unrestricted * is a warning');

SELECT t.is(t.lint('[{"resourceType": "Practitioner", "criteria": "Patient?name=x"}]'), 'invalid-policy@0',
            'invalid-policy: an entry the write would refuse is reported at its index');
SELECT t.is(t.lint('[{"resourceType": "Patient", "criteria": "Patient?_id=1", "interaction": []}]'), 'grants-nothing@0',
            'grants-nothing: an entry with no interactions');
SELECT t.is(t.lint('[{"resourceType": "*", "readonly": true}]'), 'unrestricted-grant@0',
            'unrestricted-grant: * with neither criteria nor compartment');
SELECT t.is(t.lint('[{"resourceType": "Observation", "criteria": "Observation?subject=%patient", "hiddenFields": ["value"]}]'),
            'no-such-field@0', 'no-such-field: a choice element named without its type hides nothing');
SELECT t.is(t.lint('[{"resourceType": "Observation", "criteria": "Observation?nope=1"}]'), 'unknown-search-parameter@0',
            'unknown-search-parameter: criteria on a parameter the type does not have grant nothing');
SELECT t.is(t.lint('[{"resourceType": "Observation", "criteria": "Observation?date=not-a-date"}]'), 'unusable-criteria@0',
            'unusable-criteria: a literal value the matcher refuses');
SELECT t.is(t.lint('[{"resourceType": "Patient"}, {"resourceType": "Patient", "criteria": "Patient?_compartment=%patient"}]'),
            'unrestricted-grant@0,shadowed-entry@1', 'shadowed-entry: an unconditional earlier entry of the same type wins');
SELECT t.is(t.lint('[{"resourceType": "Patient", "criteria": "Patient?organization=%org"}]'), 'required-parameter@0',
            'required-parameter: a custom parameter every membership must supply');
SELECT t.is(t.lint('[{"resourceType": "Patient", "criteria": "Patient?organization=Organization/%x.id"},
                     {"resourceType": "Observation", "criteria": "Observation?subject=Patient/%x.id"}]') LIKE '%unsatisfiable-parameter%',
            true, 'unsatisfiable-parameter: one parameter needed as references of two types');
SELECT t.is(t.lint('[{"resourceType": "Patient", "criteria": "Patient?_compartment=%patient", "writeConstraint": [{"expression": "false"}]}]'),
            'never-true-write-constraint@0', 'never-true-write-constraint: a constant false refuses every write');
SELECT t.is(t.lint('[{"resourceType": "ProjectMembership", "criteria": "ProjectMembership?_id=1"}]'), 'admin-type-entry@0',
            'admin-type-entry: an entry for an admin type');
SELECT t.is(t.lint('[{"resourceType": "JsonWebKey", "criteria": "JsonWebKey?_id=1"}]'), 'protected-type-entry@0',
            'protected-type-entry: an entry for a protected type');
SELECT t.is(t.lint('[{"resourceType": "AccessPolicy", "criteria": "AccessPolicy?_id=ap1", "interaction": ["read", "update"]}]'),
            'access-control-write@0', 'access-control-write: members could widen access');

SELECT t.is((SELECT string_agg(w->>'code', ',') FROM fhir.lint_policy(jsonb_build_object('resourceType', 'AccessPolicy', 'resource',
               (SELECT jsonb_agg(jsonb_build_object('resourceType', 'Patient', 'criteria', 'Patient?_id=' || n)) FROM generate_series(0, 1000) n))) w),
            'not-reviewed', 'a policy of more than 1000 entries is not reviewed, and says so');

-- Writing a policy with findings succeeds (they are NOTICEs); refusals stay refusals.
SELECT fhir.create('{"resourceType": "Project", "id": "lp", "name": "LP"}') IS NOT NULL AS project \gset
SELECT t.lives($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "lp"}, "resource": [{"resourceType": "*"}]}') $$,
               'an AccessPolicy with findings is still written');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "lp"},
                                        "resource": [{"resourceType": "Practitioner", "criteria": "Patient?name=x"}]}') $$,
                '22023', 'an invalid AccessPolicy is still refused');
