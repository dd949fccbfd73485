//! hiddenFields and readonlyFields paths: `name`, `name.given`, `meta.account`,
//! `value[x]`. A path descends through objects and through every element of an
//! array, skips missing parents, and a final `x[x]` segment means every choice
//! key `x<Type>` (`valueQuantity`, `valueString`, ...).

use crate::definitions;
use serde_json::{Map, Value};

/// The keys of `obj` that segment `seg` names.
fn matching_keys(obj: &Map<String, Value>, seg: &str) -> Vec<String> {
    match seg.strip_suffix("[x]") {
        Some(base) => obj
            .keys()
            .filter(|k| k.strip_prefix(base).is_some_and(definitions::is_data_type_suffix))
            .cloned()
            .collect(),
        None => obj.contains_key(seg).then(|| seg.to_owned()).into_iter().collect(),
    }
}

fn remove_segments(value: &mut Value, segs: &[&str]) {
    let Some((first, rest)) = segs.split_first() else { return };
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| remove_segments(item, segs)),
        Value::Object(obj) => {
            for key in matching_keys(obj, first) {
                if rest.is_empty() {
                    obj.remove(&key);
                } else if let Some(child) = obj.get_mut(&key) {
                    remove_segments(child, rest);
                }
            }
        }
        _ => {}
    }
}

/// Removes every value at `path`.
pub fn remove(resource: &mut Value, path: &str) {
    let segs: Vec<&str> = path.split('.').collect();
    remove_segments(resource, &segs);
}

/// Puts back, at every place `path` names, what `before` had there: `after`
/// loses what the caller added and regains what the caller removed or changed.
/// Arrays are walked element by element, so nested paths (`name.given`) and
/// falsy values (`false`, `0`, `""`) are kept, never erased.
fn restore_segments(after: &mut Value, before: Option<&Value>, segs: &[&str]) {
    let Some((first, rest)) = segs.split_first() else { return };
    match after {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                restore_segments(item, before.and_then(|b| b.get(i)), segs);
            }
        }
        Value::Object(obj) => {
            let before_obj = before.and_then(Value::as_object);
            let mut keys = matching_keys(obj, first);
            if let Some(b) = before_obj {
                keys.extend(matching_keys(b, first).into_iter().filter(|k| !obj.contains_key(k)));
            }
            for key in keys {
                let old = before_obj.and_then(|b| b.get(&key));
                if rest.is_empty() {
                    match old {
                        Some(v) => obj.insert(key, v.clone()),
                        None => obj.remove(&key),
                    };
                } else if let Some(child) = obj.get_mut(&key) {
                    restore_segments(child, old, rest);
                } else if let Some(old) = old {
                    // The caller removed the parent: bring back only the protected part.
                    let mut rebuilt = empty_like(old);
                    restore_segments(&mut rebuilt, Some(old), rest);
                    if !is_empty_container(&rebuilt) {
                        obj.insert(key, rebuilt);
                    }
                }
            }
        }
        _ => {}
    }
}

fn empty_like(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(empty_like).collect()),
        _ => Value::Object(Map::new()),
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(is_empty_container),
        Value::Object(obj) => obj.is_empty(),
        _ => false,
    }
}

pub fn restore(after: &mut Value, before: &Value, path: &str) {
    let segs: Vec<&str> = path.split('.').collect();
    restore_segments(after, Some(before), &segs);
}

/// Whether a search parameter's FHIRPath `expression` (`Patient.name.family`,
/// `(Observation.value as Quantity)`) reads anything at or under the field
/// `path`, or above it: filtering or sorting on it could then reveal a hidden
/// value. Conservative: any element path of the expression that is a prefix of
/// `path`, or that `path` is a prefix of, touches it.
pub fn expression_touches(expression: &str, resource_type: &str, path: &str) -> bool {
    let hidden: Vec<&str> = path.split('.').collect();
    element_paths(expression, resource_type).iter().any(|segments| {
        segments.iter().zip(&hidden).all(|(seg, h)| segment_matches(seg, h))
    })
}

/// `value` or `valueQuantity` against `value[x]`, and a polymorphic `value`
/// against `valueQuantity`; otherwise equality.
fn segment_matches(segment: &str, field: &str) -> bool {
    match field.strip_suffix("[x]") {
        Some(base) => segment == base || segment.strip_prefix(base).is_some_and(definitions::is_data_type_suffix),
        None => segment == field || field.strip_prefix(segment).is_some_and(definitions::is_data_type_suffix),
    }
}

/// The element paths an expression navigates from the resource: the
/// identifier chains after each `Type.` (function calls end a chain).
fn element_paths(expression: &str, resource_type: &str) -> Vec<Vec<String>> {
    let prefix = format!("{resource_type}.");
    let mut paths = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find(&prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let mut segments = Vec::new();
        let mut chain = rest;
        loop {
            let end = chain.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(chain.len());
            let (ident, after) = chain.split_at(end);
            if ident.is_empty() || after.starts_with('(') {
                break;
            }
            segments.push(ident.to_owned());
            match after.strip_prefix('.') {
                Some(next) => chain = next,
                None => break,
            }
        }
        if !segments.is_empty() {
            paths.push(segments);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_parameter_touches_a_hidden_field_at_above_or_below_its_path() {
        assert!(expression_touches("Patient.birthDate", "Patient", "birthDate"));
        assert!(expression_touches("Patient.name", "Patient", "name.given"));
        assert!(expression_touches("Patient.address.state", "Patient", "address"));
        assert!(!expression_touches("Patient.name.family", "Patient", "name.given"));
        assert!(expression_touches("(Observation.value as Quantity)", "Observation", "value[x]"));
        assert!(expression_touches("Observation.value.ofType(Quantity)", "Observation", "valueQuantity"));
        assert!(expression_touches("Patient.meta.lastUpdated", "Patient", "meta"));
        assert!(!expression_touches("Patient.gender", "Patient", "birthDate"));
        assert!(expression_touches("Condition.subject.where(resolve() is Patient)", "Condition", "subject"));
        assert!(!expression_touches("RelatedPerson.patient", "Patient", "patient"));
    }

    #[test]
    fn removing_a_top_level_field() {
        let mut p = json!({"resourceType": "User", "email": "a@b", "passwordHash": "x"});
        remove(&mut p, "passwordHash");
        assert_eq!(p, json!({"resourceType": "User", "email": "a@b"}));
    }

    #[test]
    fn removing_descends_through_arrays_and_skips_missing_parents() {
        let mut p = json!({"name": [{"given": ["A"], "family": "F"}, {"family": "G"}], "telecom": []});
        remove(&mut p, "name.given");
        remove(&mut p, "address.city");
        assert_eq!(p, json!({"name": [{"family": "F"}, {"family": "G"}], "telecom": []}));
    }

    #[test]
    fn removing_a_choice_type_removes_every_variant() {
        let mut o = json!({"valueQuantity": {"value": 1}, "valueString": "x", "valueSet": "not a choice", "status": "final"});
        remove(&mut o, "value[x]");
        assert_eq!(o, json!({"valueSet": "not a choice", "status": "final"}));
    }

    #[test]
    fn restoring_undoes_an_added_changed_or_removed_field() {
        let before = json!({"superAdmin": false, "name": "P"});
        let mut added = json!({"name": "P", "superAdmin": true, "features": ["x"]});
        restore(&mut added, &before, "superAdmin");
        restore(&mut added, &before, "features");
        assert_eq!(added, json!({"name": "P", "superAdmin": false}));
        let mut removed = json!({"name": "Q"});
        restore(&mut removed, &before, "superAdmin");
        assert_eq!(removed, json!({"name": "Q", "superAdmin": false}));
    }

    #[test]
    fn restoring_keeps_nested_and_falsy_values() {
        let before = json!({"name": [{"given": ["A"], "family": "F"}], "active": false, "multipleBirthInteger": 0});
        let mut after = json!({"name": [{"given": ["B"], "family": "G"}]});
        for path in ["name.given", "active", "multipleBirth[x]"] {
            restore(&mut after, &before, path);
        }
        assert_eq!(after, json!({"name": [{"given": ["A"], "family": "G"}], "active": false, "multipleBirthInteger": 0}));
    }

    #[test]
    fn restoring_a_nested_field_under_a_removed_parent_brings_back_only_that_field() {
        let before = json!({"meta": {"account": {"reference": "Organization/1"}, "tag": [1]}});
        let mut after = json!({});
        restore(&mut after, &before, "meta.account");
        assert_eq!(after, json!({"meta": {"account": {"reference": "Organization/1"}}}));
    }
}
