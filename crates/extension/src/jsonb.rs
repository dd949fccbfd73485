//! jsonb arguments and results.
//!
//! `Document` is a jsonb as a `serde_json::Value`. pgrx's own `JsonB` panics
//! (SQLSTATE XX000) on input serde cannot hold, such as nesting deeper than
//! serde's recursion limit; a `Document` refuses it with 22023 and an
//! OperationOutcome like every other bad input.
//!
//! `RawJsonb` is a jsonb passed through untouched: per-row functions that
//! usually return their input do not pay for a conversion.

use crate::errors::raise;
use fhir_access_core::outcome::FhirError;
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::fcinfo::{direct_function_call, direct_function_call_as_datum};
use pgrx::nullable::Nullable;
use pgrx::pgrx_sql_entity_graph::metadata::{ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin};
use pgrx::prelude::*;
use serde_json::Value;
use std::ffi::{CStr, CString};

pub struct Document(pub Value);

impl FromDatum for Document {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        let text = unsafe { direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)]) }.expect("jsonb_out returns text");
        let parsed = serde_json::from_slice(text.to_bytes());
        unsafe { pg_sys::pfree(text.as_ptr().cast_mut().cast()) };
        match parsed {
            Ok(value) => Some(Document(value)),
            Err(e) => raise(FhirError::invalid(format!("Unsupported JSON document: {e}"))),
        }
    }
}

/// A jsonb datum of `value`, which stays the caller's.
pub fn to_datum(value: &Value) -> pg_sys::Datum {
    // serde_json escapes control characters, so the text has no NUL byte.
    from_text(&value.to_string()).0
}

impl IntoDatum for Document {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(to_datum(&self.0))
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// A jsonb datum, unconverted.
pub struct RawJsonb(pub pg_sys::Datum);

impl FromDatum for RawJsonb {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        (!is_null).then_some(RawJsonb(datum))
    }
}

impl IntoDatum for RawJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// Both types cross the function boundary as jsonb through their FromDatum and IntoDatum.
macro_rules! jsonb_abi {
    ($t:ident) => {
        unsafe impl<'fcx> ArgAbi<'fcx> for $t {
            unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| panic!("argument {index} must not be null"))
            }

            unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
                unsafe { arg.unbox_arg_using_from_datum() }.into()
            }
        }

        unsafe impl BoxRet for $t {
            unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
                match self.into_datum() {
                    Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
                    None => fcinfo.return_null(),
                }
            }
        }

        unsafe impl SqlTranslatable for $t {
            const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!($t);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
        }
    };
}

jsonb_abi!(Document);
jsonb_abi!(RawJsonb);

/// `content` without the top-level `keys`, by PostgreSQL's own jsonb operator.
pub fn without_keys(content: RawJsonb, keys: Vec<String>) -> RawJsonb {
    let keys = keys.into_datum().expect("an array is not null");
    RawJsonb(
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_delete_array, &[Some(content.0), Some(keys)]) }
            .expect("jsonb - text[] is not null"),
    )
}

/// A jsonb datum as a document (22023 for input serde cannot hold).
pub fn to_value(content: RawJsonb) -> Value {
    // SAFETY: a jsonb datum, not null.
    unsafe { Document::from_polymorphic_datum(content.0, false, pg_sys::JSONBOID) }.expect("not null").0
}

/// A jsonb's JSON text.
pub fn text_of(content: RawJsonb) -> String {
    // SAFETY: a jsonb datum, not null; jsonb_out returns a palloc'd C string.
    unsafe {
        let text = direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(content.0)]).expect("jsonb_out returns text");
        let owned = text.to_string_lossy().into_owned();
        pg_sys::pfree(text.as_ptr().cast_mut().cast());
        owned
    }
}

/// Whether a jsonb is an object (jsonb_typeof: its root, not its text).
pub fn is_object(content: RawJsonb) -> bool {
    // SAFETY: a jsonb datum, not null.
    let kind = unsafe { direct_function_call::<&str>(pg_sys::jsonb_typeof, &[Some(content.0)]) };
    kind == Some("object")
}

/// The jsonb of `text`, which must be valid JSON without NUL characters.
pub fn from_text(text: &str) -> RawJsonb {
    let text = CString::new(text).expect("JSON text has no NUL byte");
    RawJsonb(
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(text.as_ptr().into())]) }.expect("jsonb_in of JSON is not null"),
    )
}
