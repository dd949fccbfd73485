//! `fhir.lint_policy(policy)`: the review of an AccessPolicy
//! (`fhir_access_core::lint`) as SQL, and, when an AccessPolicy is written, its
//! errors and warnings as NOTICEs (the write itself is decided elsewhere).

use crate::jsonb::Document;
use fhir_access_core::lint::{lint, Severity};
use pgrx::prelude::*;
use serde_json::Value;

/// One row per finding: `{code, severity, message, entry}`; none for a clean policy.
#[pg_extern(stable, parallel_safe)]
fn lint_policy(policy: Document) -> SetOfIterator<'static, Document> {
    SetOfIterator::new(lint(&policy.0).into_iter().map(|w| Document(w.to_json())))
}

/// NOTICEs for what is wrong with an AccessPolicy being written; findings
/// that are only information are left to `fhir.lint_policy`.
pub fn notify(policy: &Value) {
    for w in lint(policy).iter().filter(|w| w.severity != Severity::Information) {
        let at = w.entry.map(|i| format!(" resource[{i}]")).unwrap_or_default();
        notice!("AccessPolicy{at}: {} [{}]", w.message, w.code);
    }
}
