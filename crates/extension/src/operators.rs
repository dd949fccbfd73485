//! The functions of the leakproof operators (`fhir.&&`, `fhir.@>` on tokens
//! and on content): PostgreSQL's own, called through this library. As
//! `LANGUAGE internal` functions outside PostgreSQL's built-in OIDs, every
//! executor start looked each one up by name in a linear scan of some 3,000
//! built-ins (a sixth of a short query's time); a C function is found in a
//! hash. Each passes its call through unchanged.

use pgrx::prelude::*;

/// `text[] && text[]` (arrayoverlap).
#[pg_extern(sql = false)]
fn tokens_overlap(fcinfo: pg_sys::FunctionCallInfo) -> bool {
    // SAFETY: the built-in's own call, its two array arguments not null (STRICT).
    unsafe { pg_sys::arrayoverlap(fcinfo) }.value() != 0
}

/// `text[] @> text[]` (arraycontains).
#[pg_extern(sql = false)]
fn tokens_contain(fcinfo: pg_sys::FunctionCallInfo) -> bool {
    // SAFETY: as above.
    unsafe { pg_sys::arraycontains(fcinfo) }.value() != 0
}

/// `jsonb @> jsonb` (jsonb_contains).
#[pg_extern(sql = false)]
fn content_contains(fcinfo: pg_sys::FunctionCallInfo) -> bool {
    // SAFETY: the built-in's own call, its two jsonb arguments not null (STRICT).
    unsafe { pg_sys::jsonb_contains(fcinfo) }.value() != 0
}
