//! `fhir.search` (see sql/search.sql) and `fhir.matches`: FHIR search strings
//! with the same parser and semantics as AccessPolicy criteria.

use crate::audit::{self, Subject};
use crate::errors::OrRaise;
use crate::jsonb::Document;
use crate::session::{self, Actor};
use fhir_access_core::audit::Action;
use fhir_access_core::criteria::{self, Criteria, Param};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use fhir_access_core::search::{self, Matcher};
use fhirpath::BoundedCache;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

/// A parsed query and its compiled matcher, kept per backend by query text.
struct Compiled {
    criteria: Criteria,
    matcher: Matcher,
}

/// Compiled queries kept per backend, and about how much memory one takes per byte of its text.
const QUERY_CAPACITY: usize = 1000;
const QUERY_BUDGET: usize = 16 << 20;
const COMPILED_PER_BYTE: usize = 8;

thread_local! {
    static QUERIES: RefCell<BoundedCache<(String, String), Rc<Compiled>>> =
        RefCell::new(BoundedCache::new(QUERY_CAPACITY, QUERY_BUDGET));
}

fn compiled(resource_type: &str, query: &str) -> Result<Rc<Compiled>> {
    let key = (resource_type.to_owned(), query.to_owned());
    if let Some(hit) = QUERIES.with(|q| q.borrow().get(&key)) {
        return Ok(hit);
    }
    let criteria = criteria::parse_query(resource_type, query)?;
    let matcher = Matcher::compile(&criteria)?;
    let entry = Rc::new(Compiled { criteria, matcher });
    let bytes = (resource_type.len() + query.len()) * COMPILED_PER_BYTE;
    QUERIES.with(|q| q.borrow_mut().insert(key, Rc::clone(&entry), bytes));
    Ok(entry)
}

/// The statement fhir.search runs; $1 is the resource type, $2 the query.
#[pg_extern(stable)]
fn _search_sql(resource_type: &str, query: &str) -> String {
    // A search's success is recorded by fhir.search, with the ids it returned.
    let attempted = || Subject::search(resource_type, query);
    audit::refused(Action::Interaction(Interaction::Search), attempted, build_sql(resource_type, query)).or_raise()
}

fn build_sql(resource_type: &str, query: &str) -> Result<String> {
    if !fhir_access_core::definitions::is_resource_type(resource_type) {
        return Err(FhirError::invalid(format!("Unknown resource type '{resource_type}'")));
    }
    let caller = session::caller();
    let plan = match caller.require(resource_type, Interaction::Search)? {
        Actor::Member(m) => Some(m.search_plan(resource_type)),
        Actor::System => None,
    };
    let touches_hidden = |code: &str| plan.as_ref().is_some_and(|p| p.hides_param(code));
    let q = compiled(resource_type, query)?;
    const CONTENT: &str = "CASE WHEN (SELECT fhir._session_redacts(fhir._session())) \
        THEN fhir._redact((SELECT fhir._session()), r.resource_type, r.tokens, r.content) ELSE r.content END";
    let mut sql = format!("SELECT {CONTENT} AS content FROM fhir.resource r WHERE r.resource_type = $1 AND NOT r.deleted");
    if q.criteria.params.iter().any(|p| touches_hidden(&p.code)) {
        // A parameter over a hidden field filters what the session sees, the
        // redacted document, never the stored tokens.
        sql.push_str(&format!(" AND fhir._query_match_content($1, $2, {CONTENT})"));
    } else {
        if !q.matcher.required().is_empty() {
            sql.push_str(" AND r.tokens OPERATOR(fhir.@>) (SELECT fhir._query_required($1, $2))::text[]");
        }
        if !q.criteria.params.is_empty() {
            sql.push_str(" AND fhir._query_match($1, $2, r.tokens)");
        }
    }
    sql.push_str(" AND fhir._session_match((SELECT fhir._session()), 'search', r.resource_type, r.tokens)");
    let (order, limit, offset) = controls(&q.criteria.control, &touches_hidden)?;
    sql.push_str(&order);
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    if let Some(n) = offset {
        sql.push_str(&format!(" OFFSET {n}"));
    }
    Ok(sql)
}

/// The largest `_count` and `_offset` (Medplum's page limit; a deeper page is
/// a scan the server should not be asked for): beyond them 22023.
const MAX_COUNT: u64 = 1000;
const MAX_OFFSET: u64 = 10_000;

/// `_sort`, `_count` and `_offset` as ORDER BY, LIMIT and OFFSET. Every sort
/// code is a known search parameter (so it is safe in SQL text); one over a
/// hidden field does not order (the order would reveal it). Without `_sort`
/// results come in id order, so `_offset` pages are stable.
fn controls(control: &[Param], hidden: &dyn Fn(&str) -> bool) -> Result<(String, Option<u64>, Option<u64>)> {
    let (mut order, mut limit, mut offset) = (Vec::new(), None, None);
    let number = |p: &Param, max: u64| -> Result<u64> {
        match p.values.as_slice() {
            [v] if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.parse().ok().filter(|n| *n <= max),
            _ => None,
        }
        .ok_or_else(|| FhirError::invalid(format!("{} must be an integer from 0 to {max}", p.code)).at(p.code.clone()))
    };
    for p in control {
        match p.code.as_str() {
            "_count" => limit = Some(number(p, MAX_COUNT)?),
            "_offset" => offset = Some(number(p, MAX_OFFSET)?),
            "_sort" => {
                for key in p.values.iter().flat_map(|v| v.split(',')) {
                    let (desc, code) = key.strip_prefix('-').map_or((false, key), |c| (true, c));
                    if hidden(code) {
                        continue;
                    }
                    let expr = match code {
                        "_id" => "r.id".to_owned(),
                        "_lastUpdated" => "r.last_updated".to_owned(),
                        c if c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') && !c.is_empty() => {
                            format!("fhir._sort_key('{c}', r.tokens)")
                        }
                        _ => return Err(FhirError::invalid(format!("Cannot sort by '{code}'"))),
                    };
                    order.push(format!("{expr} {} NULLS LAST", if desc { "DESC" } else { "ASC" }));
                }
            }
            other => return Err(FhirError::invalid(format!("Search parameter {other} is not supported"))),
        }
    }
    order.push("r.id".to_owned());
    Ok((format!(" ORDER BY {}", order.join(", ")), limit, offset))
}

/// Tokens every result carries (a GIN condition), for fhir.search's statement.
#[pg_extern(stable, parallel_safe)]
fn _query_required(resource_type: &str, query: &str) -> Vec<String> {
    compiled(resource_type, query).or_raise().matcher.required()
}

/// The exact check of a search query against a row's tokens.
#[pg_extern(stable, parallel_safe)]
fn _query_match(resource_type: &str, query: &str, tokens: Array<&str>) -> bool {
    let tokens: Vec<&str> = tokens.iter().flatten().collect();
    compiled(resource_type, query).or_raise().matcher.matches(resource_type, &tokens)
}

/// The exact check of a search query against the document the session sees,
/// for queries over hidden fields.
#[pg_extern(stable, parallel_safe)]
fn _query_match_content(resource_type: &str, query: &str, content: Document) -> bool {
    search::matches_resource(&compiled(resource_type, query).or_raise().matcher, &content.0).or_raise()
}

/// A sortable key of a row for one search parameter.
#[pg_extern(immutable, parallel_safe)]
fn _sort_key(code: &str, tokens: Array<&str>) -> Option<String> {
    let tokens: Vec<&str> = tokens.iter().flatten().collect();
    search::sort_key(code, &tokens)
}

/// Does `resource` match the FHIR search `criteria` (`Type?param=value&…`)?
/// The semantics of access policies and fhir.search, evaluated in memory.
#[pg_extern(stable, parallel_safe)]
fn matches(resource: Document, criteria: &str) -> bool {
    let parsed = criteria::parse_criteria(criteria).or_raise();
    let matcher = Matcher::compile(&parsed).or_raise();
    search::matches_resource(&matcher, &resource.0).or_raise()
}
