//! Pure logic of fhir_access, free of pgrx so it is tested in seconds.

pub mod definitions;
