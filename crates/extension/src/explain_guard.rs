//! `EXPLAIN ANALYZE` would count rows that row-level security hides ("Rows
//! Removed by Filter" on an index scan by `id` counts other tenants' rows),
//! and EXPLAIN's estimates come from statistics over every tenant's rows
//! (`project_id = 'other'` would estimate another project's size): both
//! tell a client what exists elsewhere. A utility hook refuses both, before
//! anything runs, to every role that is not the system and can reach the
//! extension's schema: the refusal depends on the role and the options
//! alone, never on the data, so it is no oracle itself. `EXPLAIN (COSTS
//! OFF)` shows the plan without estimates and is allowed. The hook is
//! installed when the library loads, which `shared_preload_libraries` makes
//! happen before any statement. A superuser may allow both for a session
//! (`SET fhir.explain_analyze = on`, then `SET ROLE`), to benchmark or
//! diagnose a client's plans; they then show what other tenants hold.

use crate::errors::raise;
use fhir_access_core::outcome::FhirError;
use pgrx::fcinfo::direct_function_call;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::IntoDatum;
use std::ffi::{c_char, CStr};

static mut PREVIOUS: pg_sys::ProcessUtility_hook_type = None;

static ALLOWED: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn install() {
    GucRegistry::define_bool_guc(
        c"fhir.explain_analyze",
        c"Allows EXPLAIN ANALYZE and EXPLAIN's estimates to fhir_access clients in this session.",
        c"Superuser-only: row counts and estimates include rows that access control hides from the client.",
        &ALLOWED,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: _PG_init runs once per backend, before any statement.
    unsafe {
        PREVIOUS = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

/// What an EXPLAIN would show of rows a client may not see: its row counts
/// (ANALYZE on) or its estimates (COSTS on, the default). `None` when `stmt`
/// is no EXPLAIN or shows neither.
///
/// SAFETY: `stmt` is null or a valid node tree from the parser.
unsafe fn explain_shows(stmt: *mut pg_sys::Node) -> Option<&'static str> {
    if stmt.is_null() || unsafe { (*stmt).type_ } != pg_sys::NodeTag::T_ExplainStmt {
        return None;
    }
    let options = unsafe { (*stmt.cast::<pg_sys::ExplainStmt>()).options };
    let (mut analyze, mut costs) = (false, true);
    if !options.is_null() {
        // SAFETY: a List of DefElems; each has a NUL-terminated name.
        unsafe {
            for i in 0..(*options).length as usize {
                let def = (*(*options).elements.add(i)).ptr_value.cast::<pg_sys::DefElem>();
                match CStr::from_ptr((*def).defname).to_bytes() {
                    b"analyze" => analyze = pg_sys::defGetBoolean(def),
                    b"costs" => costs = pg_sys::defGetBoolean(def),
                    _ => {}
                }
            }
        }
    }
    if analyze {
        Some("EXPLAIN ANALYZE is not available to fhir_access clients: its row counts include rows that access control hides (use EXPLAIN (COSTS OFF))")
    } else if costs {
        Some("EXPLAIN's estimates are not available to fhir_access clients: they come from statistics over rows that access control hides (use EXPLAIN (COSTS OFF))")
    } else {
        None
    }
}

/// Whether the role running the statement may not see row counts: it is not
/// the system and can use the `fhir` schema (every client can).
fn is_restricted() -> bool {
    // SAFETY: backend globals and catalog lookups by OID.
    unsafe {
        let role = pg_sys::GetOuterUserId();
        if pg_sys::superuser_arg(role) || pg_sys::has_bypassrls_privilege(role) {
            return false;
        }
        let schema = pg_sys::get_namespace_oid(c"fhir".as_ptr(), true);
        schema != pg_sys::InvalidOid
            && direct_function_call::<bool>(
                pg_sys::has_schema_privilege_id_id,
                &[role.into_datum(), schema.into_datum(), "USAGE".into_datum()],
            )
            .unwrap_or(true)
    }
}

#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: PostgreSQL passes a valid PlannedStmt.
    if let Some(refusal) = unsafe { explain_shows((*pstmt).utilityStmt) } {
        if !ALLOWED.get() && is_restricted() {
            raise(FhirError::forbidden(refusal));
        }
    }
    // SAFETY: the arguments are passed through unchanged.
    unsafe {
        match PREVIOUS {
            Some(previous) => previous(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
            None => pg_sys::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
        }
    }
}
