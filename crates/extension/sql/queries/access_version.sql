SELECT version FROM fhir.access_version
