//! The resources a resource points at: every `reference` of the form `Type/id`.

use crate::definitions;
use crate::resource::is_valid_id;
use serde_json::Value;

/// Relative references (`Patient/123`, `Patient/123/_history/2`) to known
/// resource types, as (type, id), without duplicates. Contained (`#x`),
/// absolute and `urn:` references are not stored resources and are skipped.
/// `meta` is the server's (author, accounts, compartments) and is skipped.
pub fn relative_references(resource: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match resource {
        Value::Object(obj) => obj.iter().filter(|(k, _)| *k != "meta").for_each(|(_, v)| collect(v, &mut out)),
        other => collect(other, &mut out),
    }
    out.sort();
    out.dedup();
    out
}

fn collect(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get("reference") {
                if let Some(pair) = parse(r) {
                    out.push(pair);
                }
            }
            obj.values().for_each(|v| collect(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

fn parse(reference: &str) -> Option<(String, String)> {
    let mut parts = reference.split('/');
    let (resource_type, id) = (parts.next()?, parts.next()?);
    let rest: Vec<&str> = parts.collect();
    let versioned = matches!(rest.as_slice(), [] | ["_history", _]);
    (versioned && definitions::is_resource_type(resource_type) && is_valid_id(id)).then(|| (resource_type.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_references_at_any_depth_once() {
        let obs = json!({
            "resourceType": "Observation",
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d1"}, {"reference": "Patient/p1/_history/3"}],
            "extension": [{"valueReference": {"reference": "Organization/o1"}}]
        });
        assert_eq!(
            relative_references(&obs),
            vec![("Organization".into(), "o1".into()), ("Patient".into(), "p1".into()), ("Practitioner".into(), "d1".into())]
        );
    }

    #[test]
    fn skips_contained_absolute_and_urn_references() {
        let r = json!({"a": {"reference": "#c1"}, "b": {"reference": "http://x.org/fhir/Patient/1"},
                       "c": {"reference": "urn:uuid:1234"}, "d": {"reference": "Nonsense/1"}, "e": {"reference": "Patient/bad id"}});
        assert!(relative_references(&r).is_empty());
    }

    #[test]
    fn skips_the_server_owned_meta() {
        let r = json!({"meta": {"author": {"reference": "Practitioner/d1"}, "accounts": [{"reference": "Organization/o1"}]}});
        assert!(relative_references(&r).is_empty());
    }
}
