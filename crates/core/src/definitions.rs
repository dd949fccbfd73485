//! FHIR R4 definitions (being derived).
