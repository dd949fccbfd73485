-- Criteria semantics, one for reads and writes: fhir.matches evaluates a
-- criteria in memory with the engine policies and fhir.search use.
CREATE EXTENSION fhir_access;

CREATE TABLE r (name text PRIMARY KEY, doc jsonb);
INSERT INTO r VALUES
 ('patient', '{"resourceType": "Patient", "id": "p1", "active": true, "gender": "female", "birthDate": "1970-05-01",
               "name": [{"family": "Smith", "given": ["Ann"]}], "address": [{"state": "CA", "city": "San Diego"}],
               "identifier": [{"system": "urn:mrn", "value": "42"}], "generalPractitioner": [{"reference": "Practitioner/d1"}],
               "meta": {"lastUpdated": "2024-03-01T10:00:00.000Z", "tag": [{"system": "urn:t", "code": "vip"}],
                        "security": [{"system": "urn:s", "code": "R"}], "profile": ["http://example.org/StructureDefinition/p"],
                        "compartment": [{"reference": "Patient/p1"}]}}'),
 ('observation', '{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}, {"code": "hr"}]},
                   "effectiveDateTime": "2024-03-01T10:30:00Z",
                   "valueQuantity": {"value": 5.4, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}'),
 ('risk', '{"resourceType": "RiskAssessment", "id": "r1", "status": "final", "subject": {"reference": "Patient/p1"},
            "prediction": [{"probabilityDecimal": 0.8}]}'),
 ('questionnaire', '{"resourceType": "Questionnaire", "id": "q1", "status": "active", "url": "http://example.org/q/1"}');

CREATE FUNCTION m(which text, criteria text) RETURNS boolean LANGUAGE sql AS $$ SELECT fhir.matches((SELECT doc FROM r WHERE name = which), criteria) $$;

-- reference
SELECT t.ok(m('observation', 'Observation?subject=Patient/p1'), 'reference: Type/id matches');
SELECT t.ok(m('observation', 'Observation?subject=p1'), 'reference: a bare id matches');
SELECT t.ok(m('observation', 'Observation?subject:Patient=p1'), 'reference: a type modifier with an id matches');
SELECT t.ok(NOT m('observation', 'Observation?subject=Patient/p2'), 'reference: another patient does not match');
SELECT t.ok(m('patient', 'Patient?general-practitioner=Practitioner/d1'), 'reference: general-practitioner matches');
-- token
SELECT t.ok(m('observation', 'Observation?code=http://loinc.org|8867-4'), 'token: system|code matches');
SELECT t.ok(m('observation', 'Observation?code=8867-4'), 'token: code alone matches any system');
SELECT t.ok(m('observation', 'Observation?code=|hr'), 'token: |code matches a coding without system');
SELECT t.ok(NOT m('observation', 'Observation?code=|8867-4'), 'token: |code does not match a coding with a system');
SELECT t.ok(m('observation', 'Observation?code=http://loinc.org|'), 'token: system| matches any code of the system');
SELECT t.ok(m('patient', 'Patient?identifier=urn:mrn|42'), 'token: an identifier matches');
SELECT t.ok(m('patient', 'Patient?active=true') AND NOT m('patient', 'Patient?active=false'), 'token: booleans match');
-- string
SELECT t.ok(m('patient', 'Patient?name=smi'), 'string: a case-insensitive prefix matches');
SELECT t.ok(NOT m('patient', 'Patient?name=mith'), 'string: the middle of a word is not a prefix');
SELECT t.ok(m('patient', 'Patient?name:contains=MIT'), 'string: :contains matches a substring');
SELECT t.ok(m('patient', 'Patient?name:exact=Smith') AND NOT m('patient', 'Patient?name:exact=smith'), 'string: :exact is case-sensitive equality');
SELECT t.ok(m('patient', 'Patient?address-state=ca') AND m('patient', 'Patient?address-city=san'), 'string: address parts match');
-- date
SELECT t.ok(m('patient', 'Patient?birthdate=1970'), 'date: a year contains the day');
SELECT t.ok(m('patient', 'Patient?birthdate=1970-05-01') AND NOT m('patient', 'Patient?birthdate=1970-05-02'), 'date: eq on a day');
SELECT t.ok(m('patient', 'Patient?birthdate=ge1970-01-01') AND NOT m('patient', 'Patient?birthdate=lt1970-05-01'), 'date: ge and lt');
SELECT t.ok(m('patient', 'Patient?birthdate=sa1969') AND m('patient', 'Patient?birthdate=eb1971'), 'date: sa and eb');
SELECT t.ok(m('observation', 'Observation?date=2024-03-01'), 'date: a dateTime falls in its day');
SELECT t.ok(m('patient', 'Patient?_lastUpdated=gt2024-01-01') AND NOT m('patient', 'Patient?_lastUpdated=lt2024-01-01'), 'date: _lastUpdated');
-- uri, number, quantity
SELECT t.ok(m('questionnaire', 'Questionnaire?url=http://example.org/q/1'), 'uri: exact match');
SELECT t.ok(m('risk', 'RiskAssessment?probability=0.8') AND m('risk', 'RiskAssessment?probability=gt0.5') AND NOT m('risk', 'RiskAssessment?probability=lt0.5'), 'number: eq, gt, lt');
SELECT t.ok(m('observation', 'Observation?value-quantity=5.4|http://unitsofmeasure.org|mg'), 'quantity: value, system and code');
SELECT t.ok(m('observation', 'Observation?value-quantity=gt5||mg') AND NOT m('observation', 'Observation?value-quantity=gt6'), 'quantity: comparisons');
-- modifiers
SELECT t.ok(m('patient', 'Patient?death-date:missing=true') AND NOT m('patient', 'Patient?birthdate:missing=true'), ':missing=true');
SELECT t.ok(m('patient', 'Patient?birthdate:missing=false'), ':missing=false');
SELECT t.ok(m('patient', 'Patient?gender:not=male') AND NOT m('patient', 'Patient?gender:not=female'), ':not');
-- special parameters
SELECT t.ok(m('patient', 'Patient?_id=p1') AND NOT m('patient', 'Patient?_id=p2'), '_id');
SELECT t.ok(m('patient', 'Patient?_compartment=Patient/p1'), '_compartment');
SELECT t.ok(m('patient', 'Patient?_tag=urn:t|vip'), '_tag');
SELECT t.ok(m('patient', 'Patient?_security=urn:s|R'), '_security');
SELECT t.ok(m('patient', 'Patient?_profile=http://example.org/StructureDefinition/p'), '_profile');
-- combining
SELECT t.ok(m('patient', 'Patient?address-state=NY,CA'), 'a comma means OR');
SELECT t.ok(m('patient', 'Patient?address-state=CA&gender=female') AND NOT m('patient', 'Patient?address-state=CA&gender=male'), '& means AND');
-- refusals
SELECT t.throws($$ SELECT fhir.matches('{"resourceType": "Patient"}', 'Patient?name.family=x') $$, '22023', 'a chained criteria is refused');
SELECT t.throws($$ SELECT fhir.matches('{"resourceType": "Patient"}', 'name=x') $$, '22023', 'a criteria without Type? is refused');
SELECT t.throws($$ SELECT fhir.matches('{"resourceType": "Observation"}', 'Observation?code-value-quantity=x$1') $$, '22023', 'a composite parameter is refused, never ignored');
SELECT t.throws($$ SELECT fhir.matches('{"resourceType": "Patient"}', 'Patient?name:sounds-like=x') $$, '22023', 'an unsupported modifier is refused');
