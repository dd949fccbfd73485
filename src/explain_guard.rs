//! `EXPLAIN ANALYZE` by a client would count rows that row-level security
//! hides ("Rows Removed by Filter" on an index scan by `id` counts other
//! tenants' rows), telling it what exists elsewhere. A utility hook marks the
//! statement, and every session function refuses to decide access under it,
//! so an EXPLAIN ANALYZE by a role that is not the system fails as soon as it
//! touches the extension's rows; everything else explains as usual. Plain
//! EXPLAIN shows estimates only and is allowed. The hook is installed when the
//! library loads, which `shared_preload_libraries` makes happen first.

use fhir_access_core::outcome::{FhirError, Result};
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::{c_char, CStr};

thread_local! {
    /// How many EXPLAIN ANALYZE statements by a non-system role are running.
    static ANALYZING: Cell<u32> = const { Cell::new(0) };
}

static mut PREVIOUS: pg_sys::ProcessUtility_hook_type = None;

pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement.
    unsafe {
        PREVIOUS = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

/// Refuses to decide access inside a client's EXPLAIN ANALYZE.
pub fn refuse_if_analyzing() -> Result<()> {
    if ANALYZING.with(Cell::get) > 0 {
        return Err(FhirError::forbidden(
            "EXPLAIN ANALYZE is not available to clients: its row counts would include rows that access control hides",
        ));
    }
    Ok(())
}

/// Whether `stmt` is an EXPLAIN with ANALYZE on.
///
/// SAFETY: `stmt` is a valid node tree from the planner.
unsafe fn is_explain_analyze(stmt: *mut pg_sys::Node) -> bool {
    if stmt.is_null() || unsafe { (*stmt).type_ } != pg_sys::NodeTag::T_ExplainStmt {
        return false;
    }
    let options = unsafe { (*stmt.cast::<pg_sys::ExplainStmt>()).options };
    if options.is_null() {
        return false;
    }
    // SAFETY: a List of DefElems; each has a NUL-terminated name.
    unsafe {
        (0..(*options).length as usize).any(|i| {
            let def = (*(*options).elements.add(i)).ptr_value.cast::<pg_sys::DefElem>();
            CStr::from_ptr((*def).defname) == c"analyze" && pg_sys::defGetBoolean(def)
        })
    }
}

/// Decrements the count when the statement ends, by success or by error.
struct Analyzing;

impl Drop for Analyzing {
    fn drop(&mut self) {
        ANALYZING.with(|a| a.set(a.get().saturating_sub(1)));
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
    // SAFETY: PostgreSQL passes a valid PlannedStmt; the role lookups read catalogs.
    let guard = unsafe {
        let outer = pg_sys::GetOuterUserId();
        let system = pg_sys::superuser_arg(outer) || pg_sys::has_bypassrls_privilege(outer);
        (!system && is_explain_analyze((*pstmt).utilityStmt)).then(|| {
            ANALYZING.with(|a| a.set(a.get() + 1));
            Analyzing
        })
    };
    // SAFETY: the arguments are passed through unchanged.
    unsafe {
        match PREVIOUS {
            Some(previous) => previous(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
            None => pg_sys::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
        }
    }
    drop(guard);
}
