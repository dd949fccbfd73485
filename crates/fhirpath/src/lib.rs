//! FHIRPath engine (being written).
