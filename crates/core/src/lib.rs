//! Pure logic of fhir_access, free of pgrx so it is tested in seconds.

pub mod access;
pub mod audit;
pub mod criteria;
pub mod definitions;
pub mod fields;
pub mod implied;
pub mod import;
pub mod lint;
pub mod outcome;
pub mod patch;
pub mod policy;
pub mod redaction;
pub mod references;
pub mod resource;
pub mod search;
pub mod time;
