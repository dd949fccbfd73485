//! hiddenFields and readonlyFields paths: `name`, `name.given`, `meta.account`,
//! `value[x]`. A path descends through objects and through every element of an
//! array, skips missing parents, and a final `x[x]` segment means every choice
//! key `x<Type>` (`valueQuantity`, `valueString`, ...).

use crate::definitions;
use crate::outcome::{FhirError, Result};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// Does path segment `seg` name object key `key`? A choice `x[x]` names
/// every `x<Type>`, and a segment names the `_key` sibling that holds a
/// primitive's id and extensions too (`_birthDate`, `_given`).
fn names(seg: &str, key: &str) -> bool {
    let key = key.strip_prefix('_').unwrap_or(key);
    match seg.strip_suffix("[x]") {
        Some(base) => key.strip_prefix(base).is_some_and(definitions::is_data_type_suffix),
        None => key == seg,
    }
}

/// The keys of `obj` that segment `seg` names.
fn matching_keys(obj: &Map<String, Value>, seg: &str) -> Vec<String> {
    obj.keys().filter(|k| names(seg, k)).cloned().collect()
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

/// Checks a hiddenFields or readonlyFields path: dot-separated element
/// names, the last of which may be a choice `x[x]`. A malformed path would
/// protect nothing, so it is refused.
pub fn check_path(path: &str) -> Result<()> {
    let well_formed = path.split('.').all(|seg| {
        let name = seg.strip_suffix("[x]").unwrap_or(seg);
        name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if well_formed {
        Ok(())
    } else {
        Err(FhirError::invalid(format!("Invalid field path '{path}'")))
    }
}

/// Paths that identify a version and are columns of `fhir.resources`: hiding
/// them would hide nothing.
pub const UNHIDEABLE: [&str; 6] = ["resourceType", "id", "meta", "meta.versionId", "meta.lastUpdated", "meta.project"];

/// `value` without anything at the `relative` paths.
fn visible_part(value: &Value, relative: &[Vec<&str>]) -> Value {
    let mut out = value.clone();
    for segs in relative {
        remove_segments(&mut out, segs);
    }
    out
}

/// Two array elements are the same when they carry the same element `id`, or
/// are equal once protected values are set aside.
fn same_element(after: &Value, before: &Value, relative: &[Vec<&str>]) -> bool {
    match (after.get("id").and_then(Value::as_str), before.get("id").and_then(Value::as_str)) {
        (Some(a), Some(b)) => a == b,
        _ => visible_part(after, relative) == visible_part(before, relative),
    }
}

/// The protected paths under the object-key path `prefix`, relative to it.
fn relative_to<'p>(paths: &[Vec<&'p str>], prefix: &[String]) -> Vec<Vec<&'p str>> {
    paths
        .iter()
        .filter(|p| p.len() > prefix.len() && p.iter().zip(prefix).all(|(seg, key)| names(seg, key)))
        .map(|p| p[prefix.len()..].to_vec())
        .collect()
}

fn unidentifiable(at: &[String]) -> FhirError {
    let path = at.join(".");
    FhirError::forbidden(format!(
        "The write would change, move or erase protected values under {path}: send its elements unchanged and in place"
    ))
    .at(path)
}

/// Puts back, at every place `segs` names, what `before` had there: `after`
/// loses what the caller added and regains what it removed or changed. Along
/// the path, arrays pair elements by position: every stored element must
/// still be there, the same element (equal but for protected values, or with
/// the same element `id`), and no container may be removed or change its
/// kind. These rules look only at what the caller can see, so a refusal never
/// tells whether a hidden value is there.
fn restore_segments(after: &mut Value, before: Option<&Value>, segs: &[&str], all: &[Vec<&str>], at: &mut Vec<String>) -> Result<()> {
    let Some((first, rest)) = segs.split_first() else { return Ok(()) };
    let before = before.filter(|b| b.is_array() || b.is_object());
    match (after, before) {
        (Value::Array(items), Some(Value::Array(stored))) => {
            let relative = relative_to(all, at);
            if items.len() < stored.len() || stored.iter().zip(items.iter()).any(|(b, a)| !same_element(a, b, &relative)) {
                return Err(unidentifiable(at));
            }
            for (i, item) in items.iter_mut().enumerate() {
                restore_segments(item, stored.get(i), segs, all, at)?;
            }
        }
        (Value::Array(items), None) => {
            for item in items.iter_mut() {
                restore_segments(item, None, segs, all, at)?;
            }
        }
        (Value::Object(obj), before) if before.is_none_or(Value::is_object) => {
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
                    continue;
                }
                at.push(key.clone());
                let result = match (obj.get_mut(&key), old) {
                    (Some(child), old) => restore_segments(child, old, rest, all, at),
                    // `meta` is the server's and always rewritten: bring back
                    // only its protected part.
                    (None, Some(old)) if at.len() == 1 && key == "meta" => {
                        let mut rebuilt = empty_like(old);
                        let r = restore_segments(&mut rebuilt, Some(old), rest, all, at);
                        if !is_empty_container(&rebuilt) {
                            obj.insert(key, rebuilt);
                        }
                        r
                    }
                    (None, Some(old)) if old.is_array() || old.is_object() => Err(unidentifiable(at)),
                    (None, _) => Ok(()),
                };
                at.pop();
                result?;
            }
        }
        (_, Some(_)) => return Err(unidentifiable(at)),
        _ => {}
    }
    Ok(())
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

/// Gives `after` back, at every protected path, what `before` had: a write
/// never changes, moves or erases a protected value. Where the elements
/// holding protected values cannot be paired with the stored ones (an array
/// reordered, shortened or replaced by an object), the write is refused (403).
pub fn protect(after: &mut Value, before: &Value, paths: &[String]) -> Result<()> {
    let all: Vec<Vec<&str>> = paths.iter().map(|p| p.split('.').collect()).collect();
    // A path under another (`valueQuantity.unit` under `value[x]`) is put
    // back with it; walking it on its own first would find its parent missing
    // where the caller could not see it, and refuse because of a hidden value.
    let covered = |p: &Vec<&str>| all.iter().any(|q| q.len() < p.len() && q.iter().zip(p).all(|(q, p)| *q == *p || names(q, p)));
    for segs in all.iter().filter(|p| !covered(p)) {
        restore_segments(after, Some(before), segs, &all, &mut Vec::new())?;
    }
    Ok(())
}

/// Whether evaluating a search parameter's FHIRPath `expression` can depend
/// on anything at, under or above the field `path`, whatever the
/// expression's text looks like (`iif`, `|`, `ofType`, `where`, `resolve()`):
/// filtering or sorting on it could then reveal a hidden value. An expression
/// that does not parse touches everything.
pub fn expression_touches(expression: &str, path: &str) -> bool {
    let Some(dependencies) = dependencies(expression) else { return true };
    let field: Vec<&str> = path.split('.').collect();
    fhirpath::depends_on(&dependencies, &field)
}

type Dependencies = Rc<Vec<Vec<fhirpath::Step>>>;

thread_local! {
    /// The analysis of each expression, once per backend: plans are made per
    /// membership, type and entry, over the same few thousand expressions.
    static DEPENDENCIES: RefCell<fhirpath::BoundedCache<String, Dependencies>> =
        RefCell::new(fhirpath::BoundedCache::new(4096, 16 << 20));
}

fn dependencies(expression: &str) -> Option<Dependencies> {
    if let Some(hit) = DEPENDENCIES.with(|d| d.borrow().get(expression)) {
        return Some(hit);
    }
    let found: Dependencies = Rc::new(fhirpath::parse_cached(expression).ok()?.dependencies());
    let bytes = found.iter().map(|p| p.len() * 32).sum::<usize>() + expression.len();
    DEPENDENCIES.with(|d| d.borrow_mut().insert(expression.to_owned(), Rc::clone(&found), bytes));
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_parameter_touches_a_hidden_field_at_above_or_below_its_path() {
        assert!(expression_touches("Patient.birthDate", "birthDate"));
        assert!(expression_touches("Patient.name", "name.given"));
        assert!(expression_touches("Patient.address.state", "address"));
        assert!(!expression_touches("Patient.name.family", "name.given"));
        assert!(expression_touches("(Observation.value as Quantity)", "value[x]"));
        assert!(expression_touches("Observation.value.ofType(Quantity)", "valueQuantity"));
        assert!(expression_touches("Patient.meta.lastUpdated", "meta"));
        assert!(!expression_touches("Patient.gender", "birthDate"));
        assert!(expression_touches("Condition.subject.where(resolve() is Patient)", "subject"));
        assert!(expression_touches("iif(Patient.gender.exists(), 'x', 'y')", "gender"));
        assert!(expression_touches("Patient.gender | Patient.birthDate", "birthDate"));
        assert!(expression_touches("Patient.name.where(given = 'A').family", "name.given"));
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

    fn protected(after: &mut Value, before: &Value, paths: &[&str]) -> Result<()> {
        protect(after, before, &paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn protecting_undoes_an_added_changed_or_removed_field() {
        let before = json!({"superAdmin": false, "name": "P"});
        let mut added = json!({"name": "P", "superAdmin": true, "features": ["x"]});
        protected(&mut added, &before, &["superAdmin", "features"]).unwrap();
        assert_eq!(added, json!({"name": "P", "superAdmin": false}));
        let mut removed = json!({"name": "Q"});
        protected(&mut removed, &before, &["superAdmin"]).unwrap();
        assert_eq!(removed, json!({"name": "Q", "superAdmin": false}));
    }

    #[test]
    fn protecting_keeps_nested_and_falsy_values() {
        let before = json!({"name": [{"given": ["A"], "family": "F"}, {"family": "X"}], "active": false, "multipleBirthInteger": 0});
        let mut after = json!({"name": [{"given": ["B"], "family": "F"}, {"family": "X"}]});
        protected(&mut after, &before, &["name.given", "active", "multipleBirth[x]"]).unwrap();
        assert_eq!(after, json!({"name": [{"given": ["A"], "family": "F"}, {"family": "X"}], "active": false, "multipleBirthInteger": 0}));
    }

    #[test]
    fn protecting_a_nested_field_under_a_removed_parent_brings_back_only_that_field() {
        let before = json!({"meta": {"account": {"reference": "Organization/1"}, "tag": [1]}});
        let mut after = json!({});
        protected(&mut after, &before, &["meta.account"]).unwrap();
        assert_eq!(after, json!({"meta": {"account": {"reference": "Organization/1"}}}));
    }

    #[test]
    fn an_element_holding_a_protected_value_may_not_be_reordered() {
        let before = json!({"name": [{"family": "A", "given": ["a"]}, {"family": "B", "given": ["b"]}]});
        let mut swapped = json!({"name": [{"family": "B"}, {"family": "A"}]});
        let e = protected(&mut swapped, &before, &["name.given"]).unwrap_err();
        assert_eq!(e.kind, crate::outcome::ErrorKind::Forbidden);
    }

    #[test]
    fn an_element_holding_a_protected_value_may_not_be_removed_or_shifted() {
        let before = json!({"name": [{"family": "A"}, {"family": "B", "given": ["b"]}]});
        for after in
            [json!({"name": [{"family": "B"}]}), json!({"name": []}), json!({"name": [{"family": "N"}, {"family": "A"}, {"family": "B"}]})]
        {
            assert!(protected(&mut after.clone(), &before, &["name.given"]).is_err(), "{after}");
        }
    }

    #[test]
    fn an_object_or_a_scalar_may_not_replace_an_array_holding_protected_values() {
        let before = json!({"name": [{"family": "A", "given": ["a"]}]});
        for after in [json!({"name": {"family": "A"}}), json!({"name": "A"}), json!({"name": [["A"]]})] {
            assert!(protected(&mut after.clone(), &before, &["name.given"]).is_err(), "{after}");
        }
    }

    #[test]
    fn elements_may_be_appended_but_not_edited_in_place_whatever_they_hold() {
        let before = json!({"name": [{"family": "A", "given": ["a"]}, {"family": "B"}]});
        let mut appended = json!({"name": [{"family": "A"}, {"family": "B"}, {"family": "D", "given": ["forged"]}]});
        protected(&mut appended, &before, &["name.given"]).unwrap();
        assert_eq!(appended, json!({"name": [{"family": "A", "given": ["a"]}, {"family": "B"}, {"family": "D"}]}));
        // Element 1 holds nothing hidden, but the caller cannot know that: refused alike.
        let mut edited = json!({"name": [{"family": "A"}, {"family": "C"}]});
        assert!(protected(&mut edited, &before, &["name.given"]).is_err());
    }

    #[test]
    fn a_container_on_a_protected_path_may_not_be_removed() {
        let before = json!({"name": [{"family": "A"}]});
        assert!(protected(&mut json!({}), &before, &["name.given"]).is_err());
    }

    #[test]
    fn a_path_under_another_protected_path_is_kept_with_it() {
        let before = json!({"status": "final", "valueQuantity": {"value": 1, "unit": "mg"}});
        let mut after = json!({"status": "amended"});
        protected(&mut after, &before, &["valueQuantity.unit", "value[x]"]).unwrap();
        assert_eq!(after, json!({"status": "amended", "valueQuantity": {"value": 1, "unit": "mg"}}));
    }

    #[test]
    fn a_primitive_extension_goes_with_its_element() {
        let mut p = json!({"birthDate": "1970", "_birthDate": {"id": "x"}, "name": [{"given": ["A"], "_given": [{"id": "y"}]}], "_multipleBirthBoolean": {"id": "z"}});
        for path in ["birthDate", "name.given", "multipleBirth[x]"] {
            remove(&mut p, path);
        }
        assert_eq!(p, json!({"name": [{}]}));
    }

    #[test]
    fn an_element_id_establishes_identity_for_an_edit_in_place() {
        let before = json!({"name": [{"id": "n1", "family": "A", "given": ["a"]}]});
        let mut after = json!({"name": [{"id": "n1", "family": "Z"}]});
        protected(&mut after, &before, &["name.given"]).unwrap();
        assert_eq!(after, json!({"name": [{"id": "n1", "family": "Z", "given": ["a"]}]}));
    }

    #[test]
    fn malformed_field_paths_are_refused() {
        for bad in ["", "name..given", "name.", "na me", "value[y]", "1name", "name/given"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in ["name", "name.given", "value[x]", "component.value[x]", "meta.account"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
    }
}
