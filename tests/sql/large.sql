-- Very large resources store and read back whole.
CREATE EXTENSION fhir_access;

SELECT fhir.create('{"resourceType": "Project", "name": "Demo"}')->>'id' AS pid \gset

-- About 24 MB of text in one resource.
SELECT fhir.create(jsonb_build_object('resourceType', 'Binary', 'contentType', 'text/plain', 'data', repeat('QUJD', 6000000),
                                      'meta', jsonb_build_object('project', :'pid')))->>'id' AS big \gset
SELECT t.is(length(fhir.read('Binary', :'big')->>'data'), 24000000, 'a 24 MB resource stores and reads back whole');

-- Many elements rather than one long string.
SELECT fhir.create(jsonb_build_object('resourceType', 'Group', 'type', 'person', 'actual', true,
                                      'member', (SELECT jsonb_agg(jsonb_build_object('entity', jsonb_build_object('reference', 'Patient/' || g)))
                                                 FROM generate_series(1, 200000) g),
                                      'meta', jsonb_build_object('project', :'pid')))->>'id' AS grp \gset
SELECT t.is(jsonb_array_length(fhir.read('Group', :'grp')->'member'), 200000, 'a resource with 200,000 elements stores and reads back');
