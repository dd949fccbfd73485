//! Raising a `FhirError` as a PostgreSQL ERROR with the SQLSTATE of API.md and
//! the OperationOutcome as DETAIL, so an app server can pass it on unchanged.

use fhir_access_core::outcome::{self, ErrorKind, FhirError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

fn sqlstate(kind: ErrorKind) -> PgSqlErrorCode {
    match kind {
        ErrorKind::Forbidden => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        ErrorKind::NotFound | ErrorKind::Gone => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        ErrorKind::Invalid => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::PreconditionFailed => PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
    }
}

pub fn raise(err: FhirError) -> ! {
    ErrorReport::new(sqlstate(err.kind), err.message.clone(), "fhir_access")
        .set_detail(err.operation_outcome().to_string())
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// An ERROR outside the FHIR interactions (DDL guards, a read-only server, a
/// library awaiting its update), with a hint. Its DETAIL is still an
/// OperationOutcome (issue code `exception`), so a gateway can pass it on.
pub fn raise_with(code: PgSqlErrorCode, message: impl Into<String>, hint: &str) -> ! {
    let message = message.into();
    ErrorReport::new(code, message.clone(), "fhir_access")
        .set_detail(outcome::operation_outcome("exception", &message).to_string())
        .set_hint(hint)
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// `result.or_raise()` unwraps or raises the error as a PostgreSQL ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, FhirError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}
