//! What a stored resource must look like, and the server-owned parts of it:
//! ids, `meta.versionId`, `meta.lastUpdated`, `meta.project`, `meta.compartment`.

use crate::definitions;
use crate::outcome::{FhirError, Result};
use serde_json::{json, Map, Value};

/// FHIR R4 `id`: 1 to 64 of `A-Z a-z 0-9 - .`
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The deepest nesting a written resource may have: well below what the
/// document parser accepts (128), so that every stored resource, a patch's
/// result included, can always be read, updated and deleted again.
pub const MAX_DEPTH: usize = 100;

/// The largest written resource, as serialized JSON (about).
pub const MAX_BYTES: usize = 64 << 20;

/// The most characters a number may print as. PostgreSQL prints jsonb
/// numbers without exponents, so `1e131000` is 131,001 characters: a few of
/// them would make a small input a document too large to read back.
pub const MAX_NUMBER_CHARS: usize = 1000;

/// A document's size as PostgreSQL prints it (about), its nesting depth (a
/// scalar is 0) and its longest number, measured without recursion.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Size {
    pub bytes: usize,
    pub depth: usize,
    pub longest_number: usize,
}

pub fn measure(value: &Value) -> Size {
    let mut size = Size::default();
    let mut stack = vec![(value, 0)];
    while let Some((v, d)) = stack.pop() {
        size.bytes += match v {
            Value::Array(items) => {
                stack.extend(items.iter().map(|c| (c, d + 1)));
                size.depth = size.depth.max(d + 1);
                2 + items.len()
            }
            Value::Object(obj) => {
                stack.extend(obj.values().map(|c| (c, d + 1)));
                size.depth = size.depth.max(d + 1);
                obj.keys().map(|k| k.len() + 4).sum::<usize>() + 2
            }
            Value::String(text) => text.len() + 2,
            Value::Number(n) => {
                let chars = printed_chars(n.as_str());
                size.longest_number = size.longest_number.max(chars);
                chars
            }
            _ => 5,
        };
    }
    size
}

/// How many characters PostgreSQL prints a JSON number as: its digits
/// written out in full, the exponent applied.
fn printed_chars(number: &str) -> usize {
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => (&number[..at], number[at + 1..].parse::<i64>().unwrap_or(i64::MAX)),
        None => (number, 0),
    };
    let (whole, fraction) = mantissa.trim_start_matches('-').split_once('.').unwrap_or((mantissa.trim_start_matches('-'), ""));
    let (whole, fraction) = (whole.len() as i64, fraction.len() as i64);
    // Digits before the point, after it, the point and a sign.
    let before = (whole + exponent).max(1);
    let after = (fraction - exponent).max(0);
    usize::try_from(before.saturating_add(after).saturating_add(2)).unwrap_or(usize::MAX)
}

/// Refuses a document past the size or depth limit, or with a number too
/// long to print.
pub fn check_limits(size: Size) -> Result<()> {
    if size.depth > MAX_DEPTH {
        return Err(FhirError::invalid(format!("Resource is nested deeper than {MAX_DEPTH} levels")));
    }
    if size.longest_number > MAX_NUMBER_CHARS {
        return Err(FhirError::invalid(format!("A number may have at most {MAX_NUMBER_CHARS} digits written out")));
    }
    if size.bytes > MAX_BYTES {
        return Err(too_large());
    }
    Ok(())
}

/// The refusal of a resource past `MAX_BYTES`.
pub fn too_large() -> FhirError {
    FhirError::invalid(format!("Resource is larger than {} MiB", MAX_BYTES >> 20))
}

/// Checks the shape every written resource must have and returns its type.
pub fn check(resource: &Value) -> Result<&str> {
    let obj = resource.as_object().ok_or_else(|| FhirError::invalid("Resource must be a JSON object"))?;
    check_limits(measure(resource))?;
    let resource_type = match obj.get("resourceType") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(FhirError::invalid("resourceType must be a string").at("resourceType")),
        None => return Err(FhirError::invalid("Missing resourceType").at("resourceType")),
    };
    if !definitions::is_resource_type(resource_type) {
        return Err(FhirError::invalid(format!("Unknown resourceType '{resource_type}'")).at("resourceType"));
    }
    match obj.get("id") {
        None => {}
        Some(Value::String(id)) if is_valid_id(id) => {}
        Some(_) => return Err(FhirError::invalid("Invalid id").at(format!("{resource_type}.id"))),
    }
    match obj.get("meta") {
        None => {}
        Some(Value::Object(meta)) => {
            if let Some(p) = meta.get("project") {
                if !p.as_str().is_some_and(is_valid_id) {
                    return Err(FhirError::invalid("Invalid meta.project").at(format!("{resource_type}.meta.project")));
                }
            }
        }
        Some(_) => return Err(FhirError::invalid("meta must be an object").at(format!("{resource_type}.meta"))),
    }
    Ok(resource_type)
}

pub fn id(resource: &Value) -> Option<&str> {
    resource.get("id").and_then(Value::as_str)
}

pub fn meta_project(resource: &Value) -> Option<&str> {
    resource.get("meta")?.get("project")?.as_str()
}

/// The server-assigned parts of a version.
pub struct Stamp<'a> {
    pub id: &'a str,
    pub version_id: &'a str,
    pub last_updated: &'a str,
    pub project_id: &'a str,
    /// `meta.author` as a reference, set by the server for a client; `None`
    /// keeps what was written (the system's writes).
    pub author: Option<&'a str>,
}

/// Writes the server-owned fields into the resource, replacing what the client sent.
pub fn stamp(resource: &mut Value, s: &Stamp) {
    let obj = resource.as_object_mut().expect("checked resource is an object");
    obj.insert("id".into(), Value::String(s.id.into()));
    let meta = obj.entry("meta").or_insert_with(|| Value::Object(Map::new()));
    let meta = meta.as_object_mut().expect("checked meta is an object");
    meta.insert("versionId".into(), Value::String(s.version_id.into()));
    meta.insert("lastUpdated".into(), Value::String(s.last_updated.into()));
    meta.insert("project".into(), Value::String(s.project_id.into()));
    if let Some(author) = s.author {
        meta.insert("author".into(), json!({ "reference": author }));
    }
}

/// Writes `meta.compartment`: references such as `Project/<id>`, `Patient/<id>`.
pub fn set_compartments(resource: &mut Value, compartments: &[String]) {
    let meta = resource["meta"].as_object_mut().expect("stamped meta is an object");
    if compartments.is_empty() {
        meta.remove("compartment");
    } else {
        meta.insert("compartment".into(), compartments.iter().map(|c| json!({ "reference": c })).collect());
    }
}

/// `meta.accounts` and `meta.account` merged into one list of references,
/// `meta.account` first (Medplum's normalisation), without duplicates.
pub fn accounts(resource: &Value) -> Vec<String> {
    let meta = &resource["meta"];
    let mut out: Vec<String> = Vec::new();
    let refs = meta["account"]
        .get("reference")
        .into_iter()
        .chain(meta["accounts"].as_array().into_iter().flatten().filter_map(|a| a.get("reference")));
    for r in refs.filter_map(Value::as_str) {
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    out
}

/// Writes `meta.accounts` (and `meta.account`, its first element), or removes both.
pub fn set_accounts(resource: &mut Value, accounts: &[String]) {
    let meta = resource.as_object_mut().expect("checked resource is an object").entry("meta").or_insert_with(|| json!({}));
    let meta = meta.as_object_mut().expect("checked meta is an object");
    match accounts.first() {
        None => {
            meta.remove("account");
            meta.remove("accounts");
        }
        Some(first) => {
            meta.insert("account".into(), json!({ "reference": first }));
            meta.insert("accounts".into(), accounts.iter().map(|a| json!({ "reference": a })).collect());
        }
    }
}

/// True when two versions differ only in `meta.versionId`, `meta.lastUpdated`
/// and `meta.author`: such an update makes no new version.
pub fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    let empty = Map::new();
    let meta_of = |o: &Map<String, Value>| -> Map<String, Value> {
        let mut m = o.get("meta").and_then(Value::as_object).unwrap_or(&empty).clone();
        m.remove("versionId");
        m.remove("lastUpdated");
        m.remove("author");
        m
    };
    a.len() == b.len()
        && a.iter().all(|(k, v)| k == "meta" || b.get(k) == Some(v))
        && b.contains_key("meta") == a.contains_key("meta")
        && meta_of(a) == meta_of(b)
}

/// An RFC 4122 version-4 UUID from 16 random bytes.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// `if_match` as a bare version id: accepts `3`, `"3"` and the ETag form `W/"3"`.
pub fn if_match_version(if_match: &str) -> &str {
    let s = if_match.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(v: Value) -> crate::outcome::ErrorKind {
        check(&v).unwrap_err().kind
    }

    #[test]
    fn ids_follow_the_fhir_id_pattern() {
        assert!(is_valid_id("abc-123.DEF"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("é"));
    }

    #[test]
    fn a_resource_must_be_an_object_with_a_known_type() {
        use crate::outcome::ErrorKind::Invalid;
        assert_eq!(kind_of(json!([1])), Invalid);
        assert_eq!(kind_of(json!({"id": "x"})), Invalid);
        assert_eq!(kind_of(json!({"resourceType": "Nonsense"})), Invalid);
        assert_eq!(kind_of(json!({"resourceType": 7})), Invalid);
        assert_eq!(kind_of(json!({"resourceType": "Patient", "id": "bad id"})), Invalid);
        assert_eq!(kind_of(json!({"resourceType": "Patient", "meta": []})), Invalid);
        assert_eq!(kind_of(json!({"resourceType": "Patient", "meta": {"project": 1}})), Invalid);
        assert_eq!(check(&json!({"resourceType": "Patient", "id": "p1"})).unwrap(), "Patient");
    }

    #[test]
    fn stamping_overwrites_client_meta_and_lists_compartments() {
        let mut r = json!({"resourceType": "Patient", "id": "client", "meta": {"versionId": "x", "tag": [1]}});
        let comps = vec!["Project/p1".to_string()];
        stamp(&mut r, &Stamp { id: "p", version_id: "v", last_updated: "t", project_id: "p1", author: None });
        set_compartments(&mut r, &comps);
        assert_eq!(r["id"], "p");
        assert_eq!(r["meta"]["versionId"], "v");
        assert_eq!(r["meta"]["tag"], json!([1]));
        assert_eq!(r["meta"]["compartment"], json!([{"reference": "Project/p1"}]));
    }

    #[test]
    fn versions_differing_only_in_version_and_time_are_the_same_content() {
        let a = json!({"resourceType": "Patient", "active": true, "meta": {"versionId": "1", "lastUpdated": "a", "project": "p"}});
        let b = json!({"resourceType": "Patient", "active": true, "meta": {"versionId": "2", "lastUpdated": "b", "project": "p"}});
        let c = json!({"resourceType": "Patient", "active": false, "meta": {"versionId": "2", "lastUpdated": "b", "project": "p"}});
        let d =
            json!({"resourceType": "Patient", "active": true, "meta": {"versionId": "2", "lastUpdated": "b", "project": "p", "tag": []}});
        assert!(same_content(&a, &b));
        assert!(!same_content(&a, &c));
        assert!(!same_content(&a, &d));
    }

    #[test]
    fn accounts_merge_account_first_without_duplicates() {
        let r = json!({"meta": {"account": {"reference": "Organization/b"},
                                "accounts": [{"reference": "Organization/a"}, {"reference": "Organization/b"}]}});
        assert_eq!(accounts(&r), vec!["Organization/b", "Organization/a"]);
        let mut r = json!({"resourceType": "Patient"});
        set_accounts(&mut r, &["Organization/a".to_string()]);
        assert_eq!(r["meta"]["account"], json!({"reference": "Organization/a"}));
        assert_eq!(accounts(&r), vec!["Organization/a"]);
        set_accounts(&mut r, &[]);
        assert_eq!(r["meta"], json!({}));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert!(is_valid_id(&u));
    }

    #[test]
    fn if_match_accepts_weak_etags_and_quotes() {
        assert_eq!(if_match_version("W/\"3\""), "3");
        assert_eq!(if_match_version("\"3\""), "3");
        assert_eq!(if_match_version("3"), "3");
    }

    #[test]
    fn a_resource_nested_deeper_than_the_limit_is_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(check(&json!({"resourceType": "Basic", "extension": deep.clone()})).is_err());
        assert!(check(&json!({"resourceType": "Basic", "extension": deep[0].clone()})).is_ok());
    }

    fn number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_number_is_measured_as_postgresql_prints_it() {
        assert_eq!(measure(&number("1e131000")).longest_number, 131_003);
        assert_eq!(measure(&number("-2.50")).longest_number, 5);
        assert_eq!(measure(&number("1.5e-3")).longest_number, 7);
    }

    #[test]
    fn a_number_that_prints_as_a_thousand_digits_is_refused() {
        let basic = |v: &str| json!({"resourceType": "Basic", "extension": [{"url": "x", "valueDecimal": number(v)}]});
        let err = check(&basic("1e131000")).unwrap_err();
        assert!(err.message.contains("at most 1000 digits"), "{}", err.message);
        assert!(check(&basic("1e-2000")).is_err());
        assert!(check(&basic("1e900")).is_ok());
    }
}
