//! Refusals as API.md names them: each kind has one SQLSTATE and one FHIR
//! status, and travels to the client as an OperationOutcome in DETAIL.

use serde_json::{json, Value};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 403: type or interaction not granted, read-only, constraint violated, no membership.
    Forbidden,
    /// 404: no such resource, or one the session may not see.
    NotFound,
    /// 410: the resource was deleted.
    Gone,
    /// 400: malformed resource, search, criteria or FHIRPath.
    Invalid,
    /// 412: `if_match` is not the current version.
    PreconditionFailed,
}

impl ErrorKind {
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "42501",
            ErrorKind::NotFound | ErrorKind::Gone => "P0002",
            ErrorKind::Invalid => "22023",
            ErrorKind::PreconditionFailed => "40001",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Gone => 410,
            ErrorKind::Invalid => 400,
            ErrorKind::PreconditionFailed => 412,
        }
    }

    /// The OperationOutcome issue code (http://hl7.org/fhir/issue-type).
    fn issue_code(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Gone => "deleted",
            ErrorKind::Invalid => "invalid",
            ErrorKind::PreconditionFailed => "conflict",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FhirError {
    pub kind: ErrorKind,
    pub message: String,
    /// FHIRPath-style locations the issue is about (OperationOutcome.issue.expression).
    pub expression: Vec<String>,
}

pub type Result<T> = std::result::Result<T, FhirError>;

impl FhirError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FhirError { kind, message: message.into(), expression: Vec::new() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(resource_type: &str, id: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("Not found: {resource_type}/{id}"))
    }

    /// API.md: the message of a deleted resource starts with "Gone".
    pub fn gone(resource_type: &str, id: &str) -> Self {
        Self::new(ErrorKind::Gone, format!("Gone: {resource_type}/{id} was deleted"))
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }

    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression.push(expression.into());
        self
    }

    pub fn operation_outcome(&self) -> Value {
        let mut outcome = operation_outcome(self.kind.issue_code(), &self.message);
        if !self.expression.is_empty() {
            outcome["issue"][0]["expression"] = json!(self.expression);
        }
        outcome
    }
}

/// An OperationOutcome of one error issue with `code` (http://hl7.org/fhir/issue-type).
pub fn operation_outcome(code: &str, message: &str) -> Value {
    json!({ "resourceType": "OperationOutcome", "issue": [{ "severity": "error", "code": code, "details": { "text": message } }] })
}

impl fmt::Display for FhirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FhirError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_message_starts_with_gone_and_shares_not_found_sqlstate() {
        let e = FhirError::gone("Patient", "p1");
        assert!(e.message.starts_with("Gone"));
        assert_eq!(e.kind.sqlstate(), FhirError::not_found("Patient", "p1").kind.sqlstate());
        assert_eq!(e.kind.http_status(), 410);
    }

    #[test]
    fn operation_outcome_carries_code_text_and_expression() {
        let oo = FhirError::invalid("Invalid id").at("Patient.id").operation_outcome();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["code"], "invalid");
        assert_eq!(oo["issue"][0]["details"]["text"], "Invalid id");
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.id");
    }

    #[test]
    fn every_kind_maps_to_the_api_sqlstate() {
        let expected = [
            (ErrorKind::Forbidden, "42501"),
            (ErrorKind::NotFound, "P0002"),
            (ErrorKind::Gone, "P0002"),
            (ErrorKind::Invalid, "22023"),
            (ErrorKind::PreconditionFailed, "40001"),
        ];
        for (kind, state) in expected {
            assert_eq!(kind.sqlstate(), state);
        }
    }
}
