-- Sample data for the demo: one project with a few patients and observations.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "id": "clinic", "name": "Riverside Clinic"}');

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'id', p.id, 'active', true,
    'name', jsonb_build_array(jsonb_build_object('family', p.family, 'given', jsonb_build_array(p.given))),
    'address', jsonb_build_array(jsonb_build_object('state', p.state)),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 'Lee', 'Ann', 'CA'), ('bob', 'Diaz', 'Bob', 'NY'), ('cat', 'Kim', 'Cat', 'CA')) AS p(id, family, given, state);

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Observation', 'status', 'final',
    'code', '{"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]}'::jsonb,
    'subject', jsonb_build_object('reference', 'Patient/' || o.patient),
    'valueQuantity', jsonb_build_object('value', o.value, 'unit', '/min'),
    'meta', '{"project": "clinic"}'::jsonb))
FROM (VALUES ('ann', 72), ('ann', 75), ('bob', 64), ('cat', 81)) AS o(patient, value);
