-- The schema the extension lives in (renaming it does not change what it holds).
SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'fhir_access'
