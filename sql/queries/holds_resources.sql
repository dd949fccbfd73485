-- Whether any resource (current or deleted) is stored.
SELECT EXISTS (SELECT 1 FROM fhir.resource_history)
