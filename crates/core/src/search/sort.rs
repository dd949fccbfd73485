//! Sort keys for search results, from the same tokens.

use super::values::Decimal;
use super::{value_of, DATE, EXACT, NUMBER, TEXT};

/// Text whose byte order sorts resources by parameter `code` ascending, from a
/// resource's tokens: dates by their low bound (`_lastUpdated` too), numbers and
/// quantities by value (order-preserving digits), strings lower-cased, exact
/// tokens (`_id`, codes) as written. With several values, the smallest (FHIR
/// sorts ascending by the lowest value); `None` when the resource has none.
pub fn sort_key(code: &str, tokens: &[&str]) -> Option<String> {
    tokens.iter().filter_map(|t| key(t, code)).min()
}

fn key(token: &str, code: &str) -> Option<String> {
    if let Some(range) = value_of(token, code, DATE) {
        return range.get(..range.find('/')?).map(str::to_string);
    }
    if let Some(number) = value_of(token, code, NUMBER) {
        return Decimal::parse(number.split('|').next()?)?.sort_key();
    }
    if let Some(text) = value_of(token, code, TEXT) {
        return Some(text.to_lowercase());
    }
    value_of(token, code, EXACT).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(code: &str, resources: &[&[&str]]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..resources.len()).collect();
        order.sort_by_key(|i| sort_key(code, resources[*i]));
        order
    }

    #[test]
    fn dates_sort_by_their_low_bound() {
        let a: &[&str] = &["birthdate@1970-01-01T00:00:00.000Z/1970-12-31T23:59:59.999Z"];
        let b: &[&str] = &["birthdate@1969-06-01T00:00:00.000Z/1969-06-01T23:59:59.999Z"];
        let c: &[&str] = &["_lastUpdated@2026-01-01T00:00:00.000Z/2026-01-01T00:00:00.000Z"];
        assert_eq!(sorted("birthdate", &[a, b]), [1, 0]);
        assert_eq!(sort_key("_lastUpdated", c).as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(sort_key("birthdate", c), None);
    }

    #[test]
    fn numbers_and_quantities_sort_by_value() {
        let n = |t: &'static str| vec![t];
        let tokens = [n("q#10|s|mg"), n("q#-3.5||"), n("q#9.99|s|mg"), n("q#1e1|s|mg")];
        let refs: Vec<&[&str]> = tokens.iter().map(Vec::as_slice).collect();
        assert_eq!(sorted("q", &refs), [1, 2, 0, 3]);
    }

    #[test]
    fn strings_sort_case_insensitively_by_smallest_value() {
        let a: &[&str] = &["name~smith", "name~Zed"];
        let b: &[&str] = &["name~Adams"];
        assert_eq!(sort_key("name", a).as_deref(), Some("smith"));
        assert_eq!(sorted("name", &[a, b]), [1, 0]);
        assert_eq!(sort_key("_id", &["_id=b2", "name~x"]).as_deref(), Some("b2"));
    }
}
