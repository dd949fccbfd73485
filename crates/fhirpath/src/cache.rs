//! Per-thread (per Postgres backend) caches, bounded in entries and in bytes.

use crate::error::Result;
use crate::Expression;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

/// A map that forgets everything when it would pass either bound: a backend
/// fed ever new keys (ad-hoc expressions, queries, memberships) keeps a
/// bounded amount of memory, whatever the size of each key.
pub struct BoundedCache<K, V> {
    map: HashMap<K, V>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        BoundedCache { map: HashMap::new(), bytes: 0, max_entries, max_bytes }
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.map.get(key).cloned()
    }

    /// Keeps `value`, which takes about `bytes`; one larger than the whole
    /// budget is not kept at all.
    pub fn insert(&mut self, key: K, value: V, bytes: usize) {
        if bytes > self.max_bytes {
            return;
        }
        if self.map.len() >= self.max_entries || self.bytes + bytes > self.max_bytes {
            self.clear();
        }
        self.bytes += bytes;
        self.map.insert(key, value);
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Parsed expressions kept: policies have tens; the bounds only matter when
/// callers send ad-hoc expressions. A parsed expression takes roughly this
/// many times its text.
const CAPACITY: usize = 4096;
const BUDGET: usize = 16 << 20;
const AST_PER_BYTE: usize = 16;

thread_local! {
    static CACHE: RefCell<BoundedCache<Box<str>, Rc<Expression>>> = RefCell::new(BoundedCache::new(CAPACITY, BUDGET));
}

/// Parses `src`, or returns the expression parsed earlier on this thread.
/// Syntax errors are not cached.
pub fn parse_cached(src: &str) -> Result<Rc<Expression>> {
    if let Some(hit) = CACHE.with(|c| c.borrow().get(src)) {
        return Ok(hit);
    }
    let parsed = Rc::new(crate::parse(src)?);
    CACHE.with(|c| c.borrow_mut().insert(src.into(), parsed.clone(), src.len() * AST_PER_BYTE));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::BoundedCache;

    #[test]
    fn a_cache_forgets_everything_rather_than_pass_its_byte_budget() {
        let mut c = BoundedCache::new(100, 10);
        c.insert("a", 1, 6);
        c.insert("b", 2, 6);
        assert_eq!((c.get("a"), c.get("b")), (None, Some(2)));
        c.insert("huge", 3, 11);
        assert_eq!(c.get("huge"), None);
    }

    #[test]
    fn a_cache_forgets_everything_rather_than_pass_its_entry_bound() {
        let mut c = BoundedCache::new(2, 1000);
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            c.insert(k, v, 1);
        }
        assert_eq!(c.len(), 1);
    }
}
