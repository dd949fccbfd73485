-- fhir.create as the system role: ids, meta, projects, history, refusals.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}') AS project \gset
SELECT :'project'::jsonb->>'id' AS pid \gset

SELECT t.ok(:'pid' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$', 'create assigns a version-4 UUID id');
SELECT t.is(:'project'::jsonb->'meta'->>'project', :'pid', 'a Project is its own project');
SELECT t.is(:'project'::jsonb->'meta'->'compartment', jsonb_build_array(jsonb_build_object('reference', 'Project/' || :'pid')), 'meta.compartment lists the project');

SELECT fhir.create(jsonb_build_object(
    'resourceType', 'Patient', 'name', jsonb_build_array(jsonb_build_object('family', 'Smith')),
    'meta', jsonb_build_object('project', :'pid', 'versionId', 'client-chosen', 'lastUpdated', '1999-01-01T00:00:00Z'))) AS patient \gset

SELECT t.ok(:'patient'::jsonb->'meta'->>'versionId' <> 'client-chosen', 'the server sets meta.versionId');
SELECT t.ok((:'patient'::jsonb->'meta'->>'lastUpdated')::timestamptz > now() - interval '1 minute', 'the server sets meta.lastUpdated');
SELECT t.ok(:'patient'::jsonb->'meta'->>'lastUpdated' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', 'meta.lastUpdated is a FHIR instant');
SELECT t.is(:'patient'::jsonb->'name', '[{"family": "Smith"}]'::jsonb, 'create keeps the content');
SELECT t.is(fhir.read('Patient', :'patient'::jsonb->>'id'), :'patient'::jsonb, 'create returns what read returns');
SELECT t.is((SELECT count(*) FROM fhir.resource_history WHERE id = :'patient'::jsonb->>'id'), 1::bigint, 'create writes a history row');

SELECT t.is(fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'chosen-id.1', 'meta', jsonb_build_object('project', :'pid')))->>'id',
            'chosen-id.1', 'the system may supply its own valid id');

SELECT t.is(fhir.create(jsonb_build_object('resourceType', 'Observation', 'status', 'final', 'meta', jsonb_build_object('project', :'pid'),
                                           'valueQuantity', '{"value": 1.50, "unit": "mg"}'::jsonb))->'valueQuantity'->>'value',
            '1.50', 'decimals keep their precision');

-- Refusals: 22023, an OperationOutcome in DETAIL, and nothing written.
SELECT count(*) AS before FROM fhir.resource_history \gset

SELECT t.throws($$ SELECT fhir.create('[1, 2]') $$, '22023', 'a JSON array is not a resource');
SELECT t.throws($$ SELECT fhir.create('"Patient"') $$, '22023', 'a JSON string is not a resource');
SELECT t.throws($$ SELECT fhir.create('{"name": "x"}') $$, '22023', 'a resource needs a resourceType', 'Missing resourceType');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patientt"}') $$, '22023', 'an unknown resourceType is refused', 'Unknown resourceType%');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": ["Patient"]}') $$, '22023', 'a non-string resourceType is refused');
SELECT t.throws(format($$ SELECT fhir.create('{"resourceType": "Patient", "id": "not valid!", "meta": {"project": "%s"}}') $$, :'pid'),
                '22023', 'an id that is not a valid FHIR id is refused', 'Invalid id');
SELECT t.throws(format($$ SELECT fhir.create('{"resourceType": "Patient", "id": "%s", "meta": {"project": "%s"}}') $$, repeat('a', 65), :'pid'),
                '22023', 'an id longer than 64 characters is refused');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient"}') $$, '22023', 'a non-Project resource needs meta.project', 'meta.project is required');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient", "meta": {"project": "no-such-project"}}') $$,
                '22023', 'meta.project must name an existing Project', 'Project no-such-project does not exist');
SELECT t.throws(format($$ SELECT fhir.create('{"resourceType": "Patient", "meta": {"project": "%s"}}') $$, :'patient'::jsonb->>'id'),
                '22023', 'meta.project must name a Project, not another resource');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Patient", "meta": "x"}') $$, '22023', 'meta must be an object');
SELECT t.throws(format($$ SELECT fhir.create('{"resourceType": "Patient", "id": "chosen-id.1", "meta": {"project": "%s"}}') $$, :'pid'),
                '22023', 'creating an existing id is refused', '%already exists');
SELECT t.throws(format($$ SELECT fhir.create('{"resourceType": "Patient", "meta": {"project": "%s"}, "extension": %s1%s}') $$,
                       :'pid', repeat('[', 300), repeat(']', 300)),
                '22023', 'nesting too deep for the engine is refused cleanly, not as an internal error');
SELECT t.throws($$ SELECT fhir.create('{"resourceType": "Project", "meta": {"project": "other"}}') $$, '22023', 'a Project cannot name another project');

SELECT t.is((SELECT count(*) FROM fhir.resource_history), :'before'::bigint, 'refused creates write nothing');

SELECT t.is(t.error_detail($$ SELECT fhir.create('{"resourceType": "Patientt"}') $$)->>'resourceType', 'OperationOutcome', 'DETAIL is an OperationOutcome');
SELECT t.is(t.error_detail($$ SELECT fhir.create('{"resourceType": "Patientt"}') $$)->'issue'->0->>'code', 'invalid', 'a bad resource is an "invalid" issue');
SELECT t.is(t.error_detail($$ SELECT fhir.create('{"resourceType": "Patientt"}') $$)->'issue'->0->'expression', '["resourceType"]'::jsonb, 'the issue names the offending element');
