//! Pure logic of fhir_access, free of pgrx so it is tested in seconds.

pub mod definitions;
pub mod outcome;
pub mod patch;
pub mod resource;
pub mod time;
