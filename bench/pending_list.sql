-- The GIN pending list's cost on reads and writes, for the limits an
-- operator could choose. In a fresh database of a cluster with fhir_access
-- preloaded, as a superuser:
--
--   createdb pl && psql -X -q -At -d pl -f bench/pending_list.sql
--
-- For each setting of the two GIN indexes: µs per system create (3,000 in
-- one transaction, undone after) and µs per read by a compartment token
-- (tokens) and by a containment (content), before and after those creates.
CREATE EXTENSION fhir_access;
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}') IS NOT NULL;
SELECT count(fhir.create(format('{"resourceType": "Patient", "id": "pt%s", "meta": {"project": "p"}, "name": [{"family": "F%s"}]}', n, n)::jsonb))
FROM generate_series(1, 1500) n;
CREATE TABLE docs AS
SELECT format('{"resourceType": "Observation", "status": "final", "meta": {"project": "p"}, "code": {"coding": [{"system": "http://loinc.org", "code": "%s"}]},
               "subject": {"reference": "Patient/pt%s"}, "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": %s, "unit": "mg"}}',
              n % 50, 1 + n % 1500, n)::jsonb AS doc
FROM generate_series(1, 3000) n;

CREATE FUNCTION pg_temp.us(query text, n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
BEGIN
  EXECUTE query;
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    EXECUTE query;
  END LOOP;
  RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000000 / n, 1);
END
$$;
CREATE FUNCTION pg_temp.measure(setting text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  by_token CONSTANT text := $q$SELECT count(*) FROM fhir.resource WHERE tokens OPERATOR(fhir.@>) ARRAY['_compartment=Patient/pt7']$q$;
  by_content CONSTANT text := $q$SELECT count(*) FROM fhir.resource WHERE content OPERATOR(fhir.@>) '{"subject": {"reference": "Patient/pt7"}}'$q$;
  t1 numeric := pg_temp.us(by_token, 300);
  c1 numeric := pg_temp.us(by_content, 300);
  t0 timestamptz := clock_timestamp();
  create_us numeric;
BEGIN
  PERFORM count(fhir.create(doc)) FROM docs;
  create_us := round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000000 / 3000, 1);
  RETURN format('%-32s create %6s µs; read by token %6s -> %6s µs; by content %6s -> %6s µs',
                setting, create_us, t1, pg_temp.us(by_token, 300), c1, pg_temp.us(by_content, 300));
END
$$;

ALTER INDEX fhir.resource_tokens_idx SET (gin_pending_list_limit = 4096);
ALTER INDEX fhir.resource_content_idx SET (gin_pending_list_limit = 4096);
VACUUM fhir.resource;
BEGIN; SELECT pg_temp.measure('4 MB (PostgreSQL''s default)'); ROLLBACK;
VACUUM fhir.resource;
ALTER INDEX fhir.resource_tokens_idx SET (fastupdate = off);
ALTER INDEX fhir.resource_content_idx SET (fastupdate = off);
BEGIN; SELECT pg_temp.measure('fastupdate = off'); ROLLBACK;
VACUUM fhir.resource;
ALTER INDEX fhir.resource_tokens_idx SET (fastupdate = on, gin_pending_list_limit = 64);
ALTER INDEX fhir.resource_content_idx SET (fastupdate = on, gin_pending_list_limit = 64);
BEGIN; SELECT pg_temp.measure('64 kB (fhir_access''s setting)'); ROLLBACK;
