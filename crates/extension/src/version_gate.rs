//! After a new library is installed and PostgreSQL restarted, a database's
//! catalog still declares the previous release's functions until `ALTER
//! EXTENSION fhir_access UPDATE` runs. Calling one would hand the new code
//! arguments of another shape. So while the versions differ, every statement
//! of a non-superuser is refused before it is planned; superusers may still
//! inspect, back up and update. Once the versions match, the backend never
//! looks again (a version only moves forward, and only by the update).

use crate::errors::raise_with;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::FromDatum;

const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

static mut PREVIOUS: pg_sys::post_parse_analyze_hook_type = None;
static mut MATCHED: bool = false;

pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement.
    unsafe {
        PREVIOUS = pg_sys::post_parse_analyze_hook;
        pg_sys::post_parse_analyze_hook = Some(check);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn check(pstate: *mut pg_sys::ParseState, query: *mut pg_sys::Query, jstate: *mut pg_sys::JumbleState) {
    // SAFETY: the arguments are passed through unchanged.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(pstate, query, jstate);
        }
    }
    // SAFETY: backend-local flags; the catalog is read inside the statement's transaction.
    unsafe {
        if MATCHED || pg_sys::creating_extension || !pg_sys::IsTransactionState() {
            return;
        }
        match installed_version() {
            Some(installed) if installed != LIBRARY_VERSION && !pg_sys::superuser() => raise_with(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("fhir_access {installed} is installed in this database, but the library is {LIBRARY_VERSION}"),
                "A superuser runs ALTER EXTENSION fhir_access UPDATE.",
            ),
            Some(installed) if installed != LIBRARY_VERSION => {}
            Some(_) => MATCHED = true,
            // Not installed: looked up again, since CREATE EXTENSION may name an older version.
            None => {}
        }
    }
}

/// `pg_extension.extversion` of fhir_access in this database, if installed.
///
/// SAFETY: call inside a transaction.
unsafe fn installed_version() -> Option<String> {
    // SAFETY: a catalog scan by the unique name index, as get_extension_oid does.
    unsafe {
        let rel = pg_sys::table_open(pg_sys::ExtensionRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let mut key = std::mem::MaybeUninit::<pg_sys::ScanKeyData>::uninit();
        pg_sys::ScanKeyInit(
            key.as_mut_ptr(),
            pg_sys::Anum_pg_extension_extname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(c"fhir_access".as_ptr()),
        );
        let scan = pg_sys::systable_beginscan(rel, pg_sys::ExtensionNameIndexId.into(), true, std::ptr::null_mut(), 1, key.as_mut_ptr());
        let tuple = pg_sys::systable_getnext(scan);
        let version = if tuple.is_null() {
            None
        } else {
            let mut is_null = false;
            let datum = pg_sys::heap_getattr(tuple, pg_sys::Anum_pg_extension_extversion as i32, (*rel).rd_att, &mut is_null);
            String::from_datum(datum, is_null)
        };
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        version
    }
}
