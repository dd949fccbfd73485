//! Containment documents implied by a client's predicates on `content`.
//!
//! Row-level security lets only leakproof conditions reach an index, and
//! jsonb's operators are not leakproof. The planner hook therefore adds, next
//! to a client's `content->'a'->>'b' = v`, a leakproof containment
//! `content @> {"a": {"b": v}}` that every row satisfying the original also
//! satisfies: the index narrows the rows, the original still decides. Each
//! document here must be implied by its predicate (a wider match is fine, a
//! narrower one would lose rows).

use serde_json::Value;

/// Paths longer than this imply nothing (the document would nest as deep).
pub const MAX_STEPS: usize = 64;
/// Keys longer than this (in bytes) imply nothing: they are never copied.
pub const MAX_KEY: usize = 1 << 12;
/// Leaves longer than this (in bytes of JSON text) are not copied into a
/// document: the object or array holding them is implied instead, a wider match.
pub const MAX_LEAF: usize = 1 << 20;

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `-> 'key'`: a member of an object.
    Key(String),
    /// `-> 0`: an element of an array, any position (a wider match).
    Index,
}

/// The step a `#>` / `#>>` path element takes, or `None` when it could be an
/// array index as well as a key (PostgreSQL reads such an element as an
/// index when the value there is an array): no one document is implied then.
pub fn path_element(element: &str) -> Option<Step> {
    // strtol skips what the locale calls space: every control byte, to be safe.
    let unsigned = element.trim_start_matches(|c: char| c <= ' ').trim_start_matches(['+', '-']);
    let numeric = !unsigned.is_empty() && unsigned.bytes().next().is_some_and(|b| b.is_ascii_digit());
    (!numeric).then(|| Step::Key(element.to_owned()))
}

/// Whether an equality at `steps` implies a containment: a last step into an
/// array implies nothing, since `5 -> 0` is `5` itself.
pub fn equality_path(steps: &[Step]) -> bool {
    !steps.is_empty() && steps.len() <= MAX_STEPS && steps.last() != Some(&Step::Index)
}

/// The document `content->…->… = leaf` implies, `leaf_len` the length of the
/// leaf's JSON text (built only when it is not too long).
pub fn equality_document(steps: &[Step], leaf_len: usize, leaf: impl FnOnce() -> String) -> String {
    if leaf_len > MAX_LEAF {
        return holder(steps);
    }
    wrap(steps, &leaf())
}

/// The document `content->…->>… = text` implies for one kind of leaf, or
/// `None` when no value of that kind prints as `text`.
pub fn text_document(steps: &[Step], text: &str, leaf: Leaf) -> Option<String> {
    if text.len() > MAX_LEAF {
        return Some(holder(steps));
    }
    text_leaf(text, leaf).map(|leaf| wrap(steps, &leaf))
}

/// The container the last step reaches into: an object for a key.
fn holder(steps: &[Step]) -> String {
    match steps.split_last() {
        Some((Step::Key(_), parent)) => wrap(parent, "{}"),
        Some((Step::Index, parent)) => wrap(parent, "[]"),
        None => "{}".to_owned(),
    }
}

/// The JSON text of `leaf` placed at `steps`: `{"a": [{"b": leaf}]}`.
/// `leaf` is JSON text already (a jsonb's output, or `text_leaf`'s).
pub fn wrap(steps: &[Step], leaf: &str) -> String {
    let mut out = String::with_capacity(leaf.len() + 16 * steps.len());
    for step in steps {
        match step {
            Step::Key(key) => {
                out.push('{');
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
            }
            Step::Index => out.push('['),
        }
    }
    out.push_str(leaf);
    for step in steps.iter().rev() {
        out.push(if *step == Step::Index { ']' } else { '}' });
    }
    out
}

/// Which value a text compared with `->>` / `#>>` may have come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// A JSON string with that text: always possible.
    String,
    /// A number, boolean, object or array whose output is that text.
    Other,
}

/// The JSON text of a leaf that `->>` could have turned into `text`, or
/// `None` when no such value exists. Numbers print as numeric_out does
/// (digits without leading zeros, an optional fraction, no exponent); objects and arrays are
/// matched by shape only (`{}` and `[]` contain every object and array).
fn text_leaf(text: &str, leaf: Leaf) -> Option<String> {
    match leaf {
        Leaf::String => Some(Value::from(text).to_string()),
        Leaf::Other => match text {
            "true" | "false" => Some(text.to_owned()),
            _ if text.starts_with('{') => Some("{}".to_owned()),
            _ if text.starts_with('[') => Some("[]".to_owned()),
            _ => is_numeric_output(text).then(|| text.to_owned()),
        },
    }
}

/// Whether `text` is what numeric_out prints for some jsonb number (within
/// numeric's limits: 131,072 digits before the point, 16,383 after).
fn is_numeric_output(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && (whole == "0" || !whole.starts_with('0'))
        && whole.len() <= 131_072
        && all_digits(whole)
        && all_digits(fraction)
        && fraction.len() <= 16_383
        && !(digits.contains('.') && fraction.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    #[test]
    fn a_path_of_keys_nests_objects() {
        assert_eq!(wrap(&[key("subject"), key("reference")], "\"Patient/1\""), r#"{"subject":{"reference":"Patient/1"}}"#);
    }

    #[test]
    fn an_index_step_becomes_an_array_matching_any_position() {
        assert_eq!(wrap(&[key("name"), Step::Index, key("family")], "\"A\""), r#"{"name":[{"family":"A"}]}"#);
    }

    #[test]
    fn keys_are_escaped_as_json() {
        assert_eq!(wrap(&[key("a\"b\\")], "1"), r#"{"a\"b\\":1}"#);
    }

    #[test]
    fn a_path_element_that_could_be_an_index_implies_nothing() {
        for element in ["0", "-1", " 2", "+3", "12abc", "\u{1c}4", "\t5"] {
            assert_eq!(path_element(element), None, "{element}");
        }
        assert_eq!(path_element("subject"), Some(key("subject")));
        assert_eq!(path_element("-"), Some(key("-")));
    }

    #[test]
    fn an_equality_whose_last_step_is_an_array_element_implies_nothing() {
        assert!(!equality_path(&[key("x"), Step::Index]));
        assert!(equality_path(&[key("x"), Step::Index, key("code")]));
        assert!(!equality_path(&[]));
    }

    #[test]
    fn a_path_deeper_than_the_limit_implies_nothing() {
        assert!(equality_path(&vec![key("a"); MAX_STEPS]));
        assert!(!equality_path(&vec![key("a"); MAX_STEPS + 1]));
    }

    #[test]
    fn a_leaf_too_long_to_copy_implies_its_holder() {
        let long = "x".repeat(MAX_LEAF + 1);
        assert_eq!(text_document(&[key("a"), key("b")], &long, Leaf::String).as_deref(), Some(r#"{"a":{}}"#));
        assert_eq!(equality_document(&[key("a"), Step::Index, key("b")], MAX_LEAF + 1, || unreachable!()), r#"{"a":[{}]}"#);
        assert_eq!(equality_document(&[key("status")], MAX_LEAF + 1, || unreachable!()), "{}");
    }

    #[test]
    fn a_compared_text_may_always_be_a_string() {
        assert_eq!(text_leaf("Patient/1", Leaf::String).as_deref(), Some("\"Patient/1\""));
        assert_eq!(text_leaf("a\"\n", Leaf::String).as_deref(), Some(r#""a\"\n""#));
    }

    #[test]
    fn numbers_booleans_objects_and_arrays_are_the_other_leaves() {
        assert_eq!(text_leaf("12.50", Leaf::Other).as_deref(), Some("12.50"));
        assert_eq!(text_leaf("-3", Leaf::Other).as_deref(), Some("-3"));
        assert_eq!(text_leaf("true", Leaf::Other).as_deref(), Some("true"));
        assert_eq!(text_leaf("{\"a\": 1}", Leaf::Other).as_deref(), Some("{}"));
        assert_eq!(text_leaf("[1, 2]", Leaf::Other).as_deref(), Some("[]"));
    }

    #[test]
    fn texts_no_number_prints_as_have_no_other_leaf() {
        for text in ["1e5", "1.", ".5", "01x", "007", "", "-", "null", "Patient/1", "NaN", " 1"] {
            assert_eq!(text_leaf(text, Leaf::Other), None, "{text}");
        }
    }

    #[test]
    fn numbers_beyond_numerics_limits_have_no_leaf() {
        assert_eq!(text_leaf(&"9".repeat(131_073), Leaf::Other), None);
        assert_eq!(text_leaf(&format!("1.{}", "0".repeat(16_384)), Leaf::Other), None);
    }
}
