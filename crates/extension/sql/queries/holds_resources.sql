-- Whether any resource is stored: a current version, or any in history.
SELECT EXISTS (SELECT 1 FROM fhir.resource) OR EXISTS (SELECT 1 FROM fhir.resource_history)
