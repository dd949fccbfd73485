//! Per-thread (per Postgres backend) cache of parsed expressions.

use crate::error::Result;
use crate::Expression;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Entries kept before the cache is cleared. Policies have tens of expressions;
/// the bound only matters when callers send ad-hoc expressions.
const CAPACITY: usize = 4096;

thread_local! {
    static CACHE: RefCell<HashMap<Box<str>, Rc<Expression>>> = RefCell::new(HashMap::new());
}

/// Parses `src`, or returns the expression parsed earlier on this thread.
/// Syntax errors are not cached.
pub fn parse_cached(src: &str) -> Result<Rc<Expression>> {
    if let Some(hit) = CACHE.with(|c| c.borrow().get(src).cloned()) {
        return Ok(hit);
    }
    let parsed = Rc::new(crate::parse(src)?);
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(src.into(), parsed.clone());
    });
    Ok(parsed)
}
