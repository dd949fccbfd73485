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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
