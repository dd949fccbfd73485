//! Bulk loading (`fhir.import`): the lines of an NDJSON text, and the ids and
//! references of the resources one import creates together.
//!
//! An import is read twice: once for each line's type and id (nothing kept
//! but those), then line by line to create. Between the two, every id the
//! import gives a resource is known, so a reference from one imported
//! resource to another (`Patient/old`, or `urn:uuid:old` as in bundles) is
//! rewritten to the id the resource gets, wherever the two lines are.

use crate::outcome::{FhirError, Result};
use crate::resource::{self, MAX_BYTES};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// One non-blank line, numbered from 1 as an editor does.
pub struct Line<'a> {
    pub number: usize,
    pub text: &'a str,
}

/// The non-blank lines of `ndjson` (`\n` or `\r\n` separated; a leading
/// byte order mark is not part of the first).
pub fn lines(ndjson: &str) -> impl Iterator<Item = Line<'_>> {
    ndjson
        .strip_prefix('\u{feff}')
        .unwrap_or(ndjson)
        .split('\n')
        .enumerate()
        .map(|(i, text)| Line { number: i + 1, text: text.strip_suffix('\r').unwrap_or(text) })
        .filter(|l| !l.text.trim().is_empty())
}

/// A refusal about one line: the line's number leads its message.
pub fn at_line(number: usize, mut e: FhirError) -> FhirError {
    e.message = format!("NDJSON line {number}: {}", e.message);
    e
}

/// A line's resource. jsonb cannot hold `\u0000`, so a document with it is
/// refused here rather than by the store, as `create` never receives one.
pub fn parse(line: &Line) -> Result<Value> {
    // Parsed JSON takes several times its text's memory: no line past twice
    // the largest resource (which a line may exceed by its whitespace only) is parsed.
    if line.text.len() > 2 * MAX_BYTES {
        return Err(at_line(line.number, resource::too_large()));
    }
    let value: Value =
        serde_json::from_str(line.text).map_err(|e| at_line(line.number, FhirError::invalid(format!("Invalid JSON: {e}"))))?;
    if holds_nul(&value) {
        return Err(at_line(line.number, FhirError::invalid("Invalid JSON: \\u0000 cannot be stored")));
    }
    Ok(value)
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(obj) => obj.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    id: Option<String>,
}

/// A line's type and id, as its full parse will see them (a repeated key,
/// which the quick parse refuses, has its last value there too).
fn head(text: &str) -> Option<(String, String)> {
    match serde_json::from_str::<Head>(text) {
        Ok(Head { resource_type: Some(t), id: Some(id) }) => Some((t, id)),
        Ok(_) => None,
        Err(_) => match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(obj) => match (obj.get("resourceType"), obj.get("id")) {
                (Some(Value::String(t)), Some(Value::String(id))) => Some((t.clone(), id.clone())),
                _ => None,
            },
            _ => None,
        },
    }
}

/// The ids of one import: for each resource that came with an id, the id
/// it is created with, by its type and old id.
pub struct Ids {
    new: HashMap<(String, String), String>,
    /// Old ids by themselves, for `urn:uuid:` references (which name no type):
    /// the type, or `None` when two types share the old id.
    untyped: HashMap<String, Option<String>>,
}

impl Ids {
    /// Reads every line's type and id. `keep` keeps the ids (the system's
    /// import, as its creates do); otherwise `new_id` gives each a new one
    /// (a client's, as `create` does). An id twice for one type is refused:
    /// the second line would not be a create.
    pub fn read(ndjson: &str, keep: bool, mut new_id: impl FnMut() -> String) -> Result<Ids> {
        let mut ids = Ids { new: HashMap::new(), untyped: HashMap::new() };
        let mut first_line: HashMap<(String, String), usize> = HashMap::new();
        for line in lines(ndjson) {
            // A line that is not a resource is refused when it is created, in line order.
            let Some((resource_type, id)) = head(line.text) else { continue };
            let key = (resource_type, id);
            if let Some(first) = first_line.get(&key) {
                return Err(at_line(
                    line.number,
                    FhirError::invalid(format!("{}/{} is already on line {first}", key.0, key.1)).at(format!("{}.id", key.0)),
                ));
            }
            first_line.insert(key.clone(), line.number);
            ids.untyped
                .entry(key.1.clone())
                .and_modify(|t| {
                    if t.as_deref() != Some(key.0.as_str()) {
                        *t = None;
                    }
                })
                .or_insert_with(|| Some(key.0.clone()));
            let new = if keep { key.1.clone() } else { new_id() };
            ids.new.insert(key, new);
        }
        Ok(ids)
    }

    /// The id the resource of this type and old id is created with.
    pub fn new_id(&self, resource_type: &str, old: &str) -> Option<&str> {
        self.new.get(&(resource_type.to_owned(), old.to_owned())).map(String::as_str)
    }

    /// The reference that replaces `reference`, when it names a resource of
    /// this import by an id it does not keep: `Type/old` (a version suffix
    /// is dropped: the new resource has versions of its own) or `urn:uuid:old`.
    fn replace(&self, reference: &str) -> Option<String> {
        if let Some(old) = reference.strip_prefix("urn:uuid:") {
            let resource_type = self.untyped.get(old)?.as_deref()?;
            return Some(format!("{resource_type}/{}", self.new_id(resource_type, old)?));
        }
        let mut parts = reference.splitn(3, '/');
        let (resource_type, old, rest) = (parts.next()?, parts.next()?, parts.next());
        if rest.is_some_and(|r| !r.starts_with("_history/")) {
            return None;
        }
        let new = self.new_id(resource_type, old)?;
        (new != old).then(|| format!("{resource_type}/{new}"))
    }

    /// Rewrites the references of `resource` to resources of this import:
    /// everywhere but in `meta`, which the server owns, except the accounts
    /// (an admin's import names them, an Organization of the import too).
    pub fn rewrite(&self, resource: &mut Value) {
        if self.new.is_empty() {
            return;
        }
        if let Value::Object(obj) = resource {
            for (key, value) in obj.iter_mut() {
                match (key.as_str(), value) {
                    ("meta", Value::Object(meta)) => {
                        meta.iter_mut().filter(|(k, _)| *k == "account" || *k == "accounts").for_each(|(_, v)| self.rewrite_within(v))
                    }
                    ("meta", _) => {}
                    (_, value) => self.rewrite_within(value),
                }
            }
        }
    }

    fn rewrite_within(&self, value: &mut Value) {
        match value {
            Value::Object(obj) => {
                if let Some(Value::String(r)) = obj.get_mut("reference") {
                    if let Some(new) = self.replace(r) {
                        *r = new;
                    }
                }
                obj.values_mut().for_each(|v| self.rewrite_within(v));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite_within(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn counter() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("new{n}")
        }
    }

    #[test]
    fn lines_skip_blanks_and_keep_editor_numbers() {
        let found: Vec<(usize, &str)> = lines("{\"a\":1}\r\n\n  \n{\"b\":2}").map(|l| (l.number, l.text)).collect();
        assert_eq!(found, vec![(1, "{\"a\":1}"), (4, "{\"b\":2}")]);
    }

    #[test]
    fn invalid_json_is_refused_with_its_line() {
        let line = lines("\n{\"resourceType\": ").next().unwrap();
        let e = parse(&line).unwrap_err();
        assert_eq!(e.kind.sqlstate(), "22023");
        assert!(e.message.starts_with("NDJSON line 2: Invalid JSON"), "{}", e.message);
    }

    #[test]
    fn a_nul_character_is_refused_anywhere() {
        for text in [r#"{"a":"x\u0000"}"#, r#"{"a\u0000":1}"#, r#"{"a":[{"b":"\u0000"}]}"#] {
            let line = lines(text).next().unwrap();
            assert!(parse(&line).unwrap_err().message.contains("\\u0000"), "{text}");
        }
    }

    #[test]
    fn a_client_import_gives_new_ids_and_rewrites_references_between_its_resources() {
        let ndjson = "{\"resourceType\":\"Patient\",\"id\":\"p\"}\n{\"resourceType\":\"Observation\",\"id\":\"o\"}";
        let ids = Ids::read(ndjson, false, counter()).unwrap();
        assert_eq!(ids.new_id("Patient", "p"), Some("new1"));
        let mut obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p"},
            "focus": [{"reference": "urn:uuid:p"}, {"reference": "Patient/p/_history/3"}, {"reference": "Patient/other"}],
            "meta": {"author": {"reference": "Patient/p"}}});
        ids.rewrite(&mut obs);
        assert_eq!(obs["subject"]["reference"], "Patient/new1");
        assert_eq!(obs["focus"], json!([{"reference": "Patient/new1"}, {"reference": "Patient/new1"}, {"reference": "Patient/other"}]));
        assert_eq!(obs["meta"]["author"]["reference"], "Patient/p", "meta is the server's");
    }

    #[test]
    fn the_systems_import_keeps_ids_and_resolves_urn_uuid_references() {
        let ids = Ids::read("{\"resourceType\":\"Patient\",\"id\":\"p\"}", true, || unreachable!()).unwrap();
        let mut obs = json!({"subject": {"reference": "urn:uuid:p"}, "performer": [{"reference": "Patient/p"}]});
        ids.rewrite(&mut obs);
        assert_eq!(obs, json!({"subject": {"reference": "Patient/p"}, "performer": [{"reference": "Patient/p"}]}));
    }

    #[test]
    fn a_urn_uuid_two_types_share_resolves_to_neither() {
        let ids =
            Ids::read("{\"resourceType\":\"Patient\",\"id\":\"x\"}\n{\"resourceType\":\"Group\",\"id\":\"x\"}", true, || unreachable!())
                .unwrap();
        let mut r = json!({"subject": {"reference": "urn:uuid:x"}});
        ids.rewrite(&mut r);
        assert_eq!(r["subject"]["reference"], "urn:uuid:x");
    }

    #[test]
    fn an_id_twice_for_one_type_is_refused_at_the_second_line() {
        let ndjson = "{\"resourceType\":\"Patient\",\"id\":\"p\"}\n\n{\"resourceType\":\"Patient\",\"id\":\"p\"}";
        let e = Ids::read(ndjson, true, || unreachable!()).err().unwrap();
        assert_eq!(e.message, "NDJSON line 3: Patient/p is already on line 1");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_line() {
        assert_eq!(lines("\u{feff}{\"a\":1}").next().unwrap().text, "{\"a\":1}");
    }

    #[test]
    fn a_line_past_twice_the_largest_resource_is_refused_unparsed() {
        let text = " ".repeat(2 * MAX_BYTES + 1);
        let e = parse(&Line { number: 3, text: &text }).unwrap_err();
        assert!(e.message.starts_with("NDJSON line 3: Resource is larger than"), "{}", e.message);
    }

    #[test]
    fn accounts_naming_an_imported_resource_follow_its_new_id() {
        let ids = Ids::read("{\"resourceType\":\"Organization\",\"id\":\"o\"}", false, counter()).unwrap();
        let mut patient = json!({"resourceType": "Patient", "meta": {"accounts": [{"reference": "Organization/o"}], "account": {"reference": "Organization/o"}}});
        ids.rewrite(&mut patient);
        assert_eq!(
            patient["meta"],
            json!({"accounts": [{"reference": "Organization/new1"}], "account": {"reference": "Organization/new1"}})
        );
    }

    #[test]
    fn a_line_that_repeats_its_id_key_is_known_by_its_last_id() {
        let ids = Ids::read("{\"resourceType\":\"Patient\",\"id\":\"a\",\"id\":\"b\"}", false, counter()).unwrap();
        assert_eq!((ids.new_id("Patient", "a"), ids.new_id("Patient", "b")), (None, Some("new1")));
    }
}
