//! Pure logic of fhir_access, free of pgrx so it is tested in seconds.

pub mod criteria;
pub mod definitions;
pub mod outcome;
pub mod patch;
pub mod policy;
pub mod resource;
pub mod time;
