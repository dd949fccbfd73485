//! Runs the HL7 FHIRPath R4 suite (tests/r4, Apache-2.0, see tests/r4/LICENSE.txt).
//!
//! Fails when fewer tests pass than `tests/r4/expected-pass-count` records, when a
//! test fails that `tests/r4/known-failures.txt` does not list, or when a listed
//! test passes (so the list stays honest).
//!
//! Comparison: outputs must match in order, count, type and value. Types are
//! checked as the suite names them (`code` is a FHIR code node, `integer` a system
//! Integer...); outputs without a type compare by value (numbers numerically).
//! An `invalid` test passes when parsing or evaluation fails, of whatever kind:
//! which errors are static ("semantic") is implementation-defined.

use fhirpath::{Environment, Item};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The suite's files, found at run time: a test binary reused from another
/// checkout (a shared target directory) must not read that checkout's files.
fn dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("tests/r4")
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strip_temporal(s: &str) -> &str {
    let s = s.strip_prefix('@').unwrap_or(s);
    s.strip_prefix('T').unwrap_or(s)
}

fn numeric_eq(a: &str, b: &str) -> bool {
    matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}

/// The item's value as the suite writes it.
fn rendered(item: &Item) -> String {
    match item.to_json() {
        Value::String(s) => s,
        Value::Object(o) if o.contains_key("unit") => format!("{} '{}'", o["value"], o["unit"].as_str().unwrap_or("")),
        other => other.to_string(),
    }
}

fn system_name(expected: &str) -> Option<&'static str> {
    Some(match expected {
        "boolean" => "Boolean",
        "integer" => "Integer",
        "decimal" => "Decimal",
        "string" => "String",
        "date" => "Date",
        "dateTime" => "DateTime",
        "time" => "Time",
        "Quantity" => "Quantity",
        _ => return None,
    })
}

fn matches_output(item: &Item, expected: &Value) -> Result<(), String> {
    let want = expected["value"].as_str().unwrap_or("");
    let (namespace, name) = item.type_name();
    let got = match item {
        Item::Dec(d) => d.to_string(),
        Item::Quantity(q) => q.to_string(),
        _ => rendered(item),
    };
    let numeric = matches!(expected["type"].as_str(), None | Some("decimal" | "Quantity"));
    let value_ok = got == strip_temporal(want) || got == want || (numeric && (numeric_eq(&got, want) || quantity_eq(&got, want)));
    if !value_ok {
        return Err(format!("value {got:?} != expected {want:?}"));
    }
    if let Some(ty) = expected["type"].as_str() {
        let type_ok = match namespace {
            "FHIR" => name == ty || (ty == "string" && item.to_json().is_string() && name == "string"),
            _ => system_name(ty) == Some(name),
        };
        if !type_ok {
            return Err(format!("type {namespace}.{name} != expected {ty}"));
        }
    }
    Ok(())
}

fn quantity_eq(got: &str, want: &str) -> bool {
    match (got.split_once(' '), want.split_once(' ')) {
        (Some((gv, gu)), Some((wv, wu))) => numeric_eq(gv, wv) && gu == wu,
        _ => false,
    }
}

fn run_case(case: &Value, inputs: &HashMap<String, Value>) -> Result<(), String> {
    let expression = case["expression"].as_str().unwrap();
    let invalid = case.get("invalid").is_some();
    let empty = Value::Object(Default::default());
    let input = case["inputfile"].as_str().map_or(&empty, |file| &inputs[file]);
    let result = fhirpath::parse(expression).and_then(|e| e.evaluate(input, &Environment::new()));
    let items = match (result, invalid) {
        (Err(_), true) => return Ok(()),
        (Ok(items), true) => return Err(format!("expected an error, got {}", items.to_json())),
        (Err(e), false) => return Err(e.to_string()),
        (Ok(items), false) => items,
    };
    let expected = case["outputs"].as_array().unwrap();
    if case.get("predicate").and_then(Value::as_bool) == Some(true) {
        let want = expected.first().and_then(|o| o["value"].as_str()) == Some("true");
        return if items.is_empty() != want { Ok(()) } else { Err("predicate mismatch".into()) };
    }
    if items.len() != expected.len() {
        return Err(format!("got {}, expected {} item(s)", items.to_json(), expected.len()));
    }
    for (item, want) in items.iter().zip(expected) {
        matches_output(item, want)?;
    }
    Ok(())
}

#[test]
fn hl7_fhirpath_r4_suite() {
    let suite = load(&dir().join("tests-fhir-r4.json"));
    let known: BTreeMap<String, String> = std::fs::read_to_string(dir().join("known-failures.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, reason) = l.split_once(" — ").unwrap_or((l, ""));
            (name.trim().to_string(), reason.to_string())
        })
        .collect();
    let expected_count: usize = std::fs::read_to_string(dir().join("expected-pass-count")).map_or(0, |s| s.trim().parse().unwrap());
    let inputs: HashMap<String, Value> = std::fs::read_dir(dir().join("input"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), load(&p)))
        .collect();
    let cases = suite["tests"].as_array().unwrap();
    let (mut passed, mut unexpected, mut stale) = (0, Vec::new(), Vec::new());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        match run_case(case, &inputs) {
            Ok(()) => {
                passed += 1;
                if known.contains_key(name) {
                    stale.push(name.to_string());
                }
            }
            Err(why) if !known.contains_key(name) => unexpected.push(format!("{name}: {} => {why}", case["expression"])),
            Err(_) => {}
        }
    }
    println!("conformance: {passed}/{} passed", cases.len());
    for u in &unexpected {
        println!("UNEXPECTED FAILURE {u}");
    }
    for s in &stale {
        println!("NOW PASSING (remove from known-failures.txt) {s}");
    }
    assert!(passed >= expected_count, "{passed} passed, fewer than the recorded {expected_count}");
    assert!(unexpected.is_empty(), "{} failures not listed in known-failures.txt", unexpected.len());
    assert!(stale.is_empty(), "{} listed failures now pass", stale.len());
}
