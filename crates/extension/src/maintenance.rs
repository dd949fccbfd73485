//! `fhir.verify()` and `fhir.reindex()`: the tokens and compartments stored
//! with each version are derived data, and a stale token is a wrong access
//! decision. verify reports every row whose stored derivation, or whose
//! current-versus-history state, differs from a fresh one (as amcheck does
//! for indexes); reindex brings rows back to a fresh derivation. Both are for
//! the system only.

use crate::errors::OrRaise;
use crate::jsonb::Document;
use crate::session::{self, Caller};
use crate::storage::{self, Row};
use crate::versions;
use fhir_access_core::outcome::{FhirError, Result};
use pgrx::prelude::*;
use serde_json::{json, Value};

fn require_system() -> Result<()> {
    match &*session::caller() {
        Caller::System => Ok(()),
        _ => Err(FhirError::forbidden("fhir.verify and fhir.reindex are for the system (a superuser or BYPASSRLS role)")),
    }
}

/// Calls `each` on every current row (of one type, or all), a page at a
/// time; `each` returns false to stop.
fn each_row(resource_type: Option<&str>, mut each: impl FnMut(&Row) -> bool) {
    let mut after = (String::new(), String::new());
    loop {
        let rows = storage::page(resource_type, (&after.0, &after.1));
        let Some(last) = rows.last() else { return };
        after = (last.resource_type.clone(), last.id.clone());
        for row in &rows {
            if !each(row) {
                return;
            }
        }
    }
}

fn stored_compartments(content: &Value) -> Vec<String> {
    content["meta"]["compartment"].as_array().into_iter().flatten().filter_map(|c| c["reference"].as_str()).map(str::to_owned).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// A fresh derivation: tokens and compartments.
type Derived = (Vec<String>, Vec<String>);

/// What is stale about a row: its fresh derivation when it differs from the
/// stored one; an error when its content no longer derives.
fn staleness(row: &Row) -> std::result::Result<Option<Derived>, String> {
    let (tokens, compartments) =
        versions::derive(&row.current.content, &row.current.project_id).ok_or("the content no longer indexes".to_owned())?;
    let fresh = sorted(tokens.clone()) == sorted(row.current.tokens.clone()) && compartments == stored_compartments(&row.current.content);
    Ok((!fresh).then_some((tokens, compartments)))
}

fn problem(resource_type: &str, id: &str, problem: &str, detail: Value) -> Value {
    json!({"resourceType": resource_type, "id": id, "problem": problem, "detail": detail})
}

#[pg_extern]
fn verify() -> SetOfIterator<'static, Document> {
    require_system().or_raise();
    let mut problems = Vec::new();
    each_row(None, |row| {
        match staleness(row) {
            Ok(None) => {}
            Ok(Some((tokens, compartments))) => {
                let (stored, fresh) = (sorted(row.current.tokens.clone()), sorted(tokens));
                let missing: Vec<&String> = fresh.iter().filter(|t| !stored.contains(t)).collect();
                let unexpected: Vec<&String> = stored.iter().filter(|t| !fresh.contains(t)).collect();
                let detail = json!({"missingTokens": missing, "unexpectedTokens": unexpected,
                                    "storedCompartments": stored_compartments(&row.current.content), "compartments": compartments});
                problems.push(problem(&row.resource_type, &row.id, "stale derived data: run fhir.reindex", detail));
            }
            Err(why) => problems.push(problem(&row.resource_type, &row.id, &why, Value::Null)),
        }
        true
    });
    for (resource_type, id, why) in storage::verify_history() {
        problems.push(problem(&resource_type, &id, &why, Value::Null));
    }
    SetOfIterator::new(problems.into_iter().map(Document))
}

/// Re-derives the tokens and compartments of every stale row (of one type,
/// or all), at most `max_rows` of them, and returns how many it rewrote. Rows
/// a writer holds are skipped (its new version is derived afresh anyway), so
/// it never waits on live traffic; a second call resumes where work remains.
#[pg_extern]
fn reindex(resource_type: default!(Option<&str>, "NULL"), max_rows: default!(Option<i64>, "NULL")) -> i64 {
    require_system().or_raise();
    let (mut read, mut rewritten, mut skipped) = (0i64, 0i64, 0i64);
    each_row(resource_type, |row| {
        read += 1;
        if let Ok(Some((tokens, compartments))) = staleness(row) {
            let compartments = Value::Array(compartments.iter().map(|c| json!({"reference": c})).collect());
            if storage::reindex_row(row, tokens, &compartments) {
                rewritten += 1;
            } else {
                skipped += 1;
            }
        }
        if read % 1000 == 0 {
            notice!("fhir.reindex: {read} rows read, {rewritten} rewritten, {skipped} skipped (busy)");
        }
        max_rows.is_none_or(|max| rewritten < max)
    });
    notice!("fhir.reindex: {read} rows read, {rewritten} rewritten, {skipped} skipped (busy)");
    rewritten
}
