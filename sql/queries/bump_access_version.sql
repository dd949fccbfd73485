UPDATE fhir.access_version SET version = version + 1
