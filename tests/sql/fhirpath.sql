-- fhir.fhirpath: the FHIRPath engine through SQL.
CREATE EXTENSION fhir_access;

SELECT t.is(fhir.fhirpath('{"resourceType": "Patient", "name": [{"use": "official", "given": ["Ann", "B"]}, {"given": ["Nick"]}]}',
                          $$name.where(use = 'official').given.first()$$), '["Ann"]'::jsonb, 'a path with where() and first()');
SELECT t.is(fhir.fhirpath('{"resourceType": "Observation", "valueQuantity": {"value": 1.5, "unit": "mg"}}', 'Observation.value.value'),
            '[1.5]'::jsonb, 'polymorphic value[x] navigation');
SELECT t.is(fhir.fhirpath('{"resourceType": "Observation", "status": "final"}', $$%before.exists() implies %before.status != 'final'$$,
                          '{"before": {"resourceType": "Observation", "status": "final"}}'), '[false]'::jsonb, '%before is bound from variables');
SELECT t.is(fhir.fhirpath('{"resourceType": "Observation", "status": "final"}', $$%before.exists() implies %before.status != 'final'$$,
                          '{"before": []}'), '[true]'::jsonb, 'an empty array binds an empty collection');
SELECT t.is(fhir.fhirpath('{"resourceType": "Patient"}', 'name.given'), '[]'::jsonb, 'no match is an empty array');
SELECT t.is(fhir.fhirpath('{"resourceType": "Observation", "subject": {"reference": "Patient/1"}}', 'subject.where(resolve() is Patient).reference'),
            '["Patient/1"]'::jsonb, 'resolve() is Patient on a plain reference');

SELECT t.throws($$ SELECT fhir.fhirpath('{}', 'name.where(') $$, '22023', 'a syntax error is invalid input');
SELECT t.throws($$ SELECT fhir.fhirpath('{}', '%nope') $$, '22023', 'an undefined variable is an error');
SELECT t.throws($$ SELECT fhir.fhirpath('{}', 'x', '[1]') $$, '22023', 'variables must be an object');
SELECT t.throws($$ SELECT fhir.fhirpath('{}', repeat('(', 5000) || '1' || repeat(')', 5000)) $$, '22023', 'hostile nesting is refused, not a crash');
SELECT t.throws($$ SELECT fhir.fhirpath('{}', '(1).repeat($this + 1)') $$, '22023', 'runaway evaluation stops at the step budget');
SELECT t.ok(t.error_detail($$ SELECT fhir.fhirpath('{}', 'name.where(') $$)->'issue'->0->'details'->>'text' ~ '\d', 'the error names the position');
