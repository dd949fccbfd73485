-- Moves the access version (see sql/access.sql).
SELECT fhir._bump_access_version()
