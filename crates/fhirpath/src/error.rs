//! Errors: syntax (with the character position), evaluation, and exhausted budgets.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The expression does not parse (or names an unknown function or type).
    Syntax,
    /// The expression parsed but cannot be evaluated on this input.
    Evaluation,
    /// The step budget or a size cap was exhausted.
    Budget,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Character (not byte) offset into the expression, for syntax errors.
    pub position: Option<usize>,
}

impl Error {
    pub fn syntax(message: impl Into<String>, position: usize) -> Error {
        Error { kind: ErrorKind::Syntax, message: message.into(), position: Some(position) }
    }

    pub fn eval(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Evaluation, message: message.into(), position: None }
    }

    pub fn budget(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Budget, message: message.into(), position: None }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.position) {
            (ErrorKind::Syntax, Some(p)) => write!(f, "FHIRPath syntax error at character {p}: {}", self.message),
            (ErrorKind::Syntax, None) => write!(f, "FHIRPath syntax error: {}", self.message),
            (ErrorKind::Evaluation, _) => write!(f, "FHIRPath evaluation error: {}", self.message),
            (ErrorKind::Budget, _) => write!(f, "FHIRPath evaluation aborted: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
