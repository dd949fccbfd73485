//! Clinical data never disappears with `DROP EXTENSION`. An event trigger
//! (sql/drop_guard.sql) refuses `DROP EXTENSION fhir_access` and a DROP SCHEMA
//! of the extension's schema (whatever it was renamed to) while resources are
//! stored. Destroying them is a deliberate, separate step:
//! `TRUNCATE fhir.resource, fhir.resource_history`. `DROP OWNED BY` the roles
//! the extension acts through is refused always: it would strip the
//! privileges every interaction runs with; renaming the schema is refused
//! too (the extension is not relocatable: its statements name `fhir.`).
//!
//! The trigger is written here rather than in plpgsql because only C sees the
//! statement's parse tree, which names what is being dropped.

use crate::errors::raise_with;
use crate::storage;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::CStr;

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_fhir_access_guard_drop() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// The `ddl_command_start` event trigger function.
///
/// # Safety
/// Called by PostgreSQL's function manager with a valid `fcinfo`.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn fhir_access_guard_drop(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: an event trigger is called with EventTriggerData as its context;
    // anything else is not inspected.
    let stmt = unsafe {
        let context = (*fcinfo).context;
        if !pgrx::is_a(context, pg_sys::NodeTag::T_EventTriggerData) {
            return pg_sys::Datum::from(0);
        }
        (*context.cast::<pg_sys::EventTriggerData>()).parsetree
    };
    // SAFETY: the parse tree of ALTER SCHEMA ... RENAME is a RenameStmt.
    if unsafe { renames_our_schema(stmt) } {
        raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "the schema of fhir_access cannot be renamed: the extension names its objects by it",
            "fhir_access is not relocatable.",
        );
    }
    // SAFETY: the parse tree of DROP OWNED is a DropOwnedStmt whose roles are RoleSpecs.
    if unsafe { drops_owned_by_our_roles(stmt) } {
        raise_with(
            PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            "fhir_access acts through fhir_reader and fhir_writer: DROP OWNED BY them would break it",
            "Drop the extension instead (see DROP EXTENSION fhir_access).",
        );
    }
    // SAFETY: the parse tree of a DROP is a DropStmt whose objects are lists of names.
    if unsafe { drops_fhir_access(stmt) } && storage::holds_resources() {
        raise_with(
            PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            "fhir_access holds resources: dropping it would destroy them",
            "Back up with pg_dump first. To destroy the data deliberately, run TRUNCATE fhir.resource, fhir.resource_history, then drop.",
        );
    }
    pg_sys::Datum::from(0)
}

/// Whether `stmt` is a DROP of the extension or of its schema.
///
/// # Safety
/// `stmt` is a parse tree node or NULL.
unsafe fn drops_fhir_access(stmt: *mut pg_sys::Node) -> bool {
    if !unsafe { pgrx::is_a(stmt, pg_sys::NodeTag::T_DropStmt) } {
        return false;
    }
    let drop = unsafe { &*stmt.cast::<pg_sys::DropStmt>() };
    let target = match drop.removeType {
        pg_sys::ObjectType::OBJECT_EXTENSION => "fhir_access".to_owned(),
        pg_sys::ObjectType::OBJECT_SCHEMA => match storage::extension_schema() {
            Some(schema) => schema,
            None => return false,
        },
        _ => return false,
    };
    // DROP EXTENSION and DROP SCHEMA name their objects as String nodes.
    let objects = unsafe { PgList::<pg_sys::Node>::from_pg(drop.objects) };
    let named = objects.iter_ptr().any(|node| unsafe {
        pgrx::is_a(node, pg_sys::NodeTag::T_String) && CStr::from_ptr((*node.cast::<pg_sys::String>()).sval).to_bytes() == target.as_bytes()
    });
    named
}

/// Whether `stmt` is a DROP OWNED BY one of the extension's roles.
///
/// # Safety
/// `stmt` is a parse tree node or NULL.
unsafe fn drops_owned_by_our_roles(stmt: *mut pg_sys::Node) -> bool {
    if !unsafe { pgrx::is_a(stmt, pg_sys::NodeTag::T_DropOwnedStmt) } {
        return false;
    }
    let roles = unsafe { PgList::<pg_sys::RoleSpec>::from_pg((*stmt.cast::<pg_sys::DropOwnedStmt>()).roles) };
    let ours = roles.iter_ptr().any(|role| unsafe {
        let name = (*role).rolename;
        !name.is_null() && matches!(CStr::from_ptr(name).to_bytes(), b"fhir_reader" | b"fhir_writer")
    });
    ours
}

/// Whether `stmt` renames the extension's schema.
///
/// # Safety
/// `stmt` is a parse tree node or NULL.
unsafe fn renames_our_schema(stmt: *mut pg_sys::Node) -> bool {
    if !unsafe { pgrx::is_a(stmt, pg_sys::NodeTag::T_RenameStmt) } {
        return false;
    }
    let rename = unsafe { &*stmt.cast::<pg_sys::RenameStmt>() };
    rename.renameType == pg_sys::ObjectType::OBJECT_SCHEMA
        && !rename.subname.is_null()
        && storage::extension_schema().is_some_and(|schema| unsafe { CStr::from_ptr(rename.subname) }.to_bytes() == schema.as_bytes())
}
