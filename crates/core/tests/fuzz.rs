//! Fuzzing with proptest over everything a client controls: criteria and
//! search query strings, FHIRPath, JSON Patch and resources. The properties:
//! no panic, no stack overflow, and bounded time (each case must finish
//! within a second). `cargo test` runs a few hundred cases per target; a long
//! run is `FUZZ_SECONDS=600 cargo test --release -p fhir_access_core --test fuzz -- --ignored`,
//! which runs every target for that many seconds (see README: Fuzzing).

use fhir_access_core::access::Membership;
use fhir_access_core::policy::EffectivePolicy;
use fhir_access_core::{criteria, patch, redaction, resource, search};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Text made of the pieces these languages are built from, so that cases go
/// deep into the parsers rather than failing on the first character.
fn fragments(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![prop::sample::select(pieces).prop_map(str::to_owned), any::<char>().prop_map(String::from)], 0..40)
        .prop_map(|parts| parts.concat())
}

const CRITERIA: &[&str] = &[
    "Patient?",
    "Observation?",
    "name",
    "=",
    "&",
    ",",
    ":missing",
    ":not",
    ":exact",
    ":contains",
    "true",
    "ge",
    "lt",
    "eq",
    "2020-01-01",
    "Patient/",
    "%profile",
    "%patient.id",
    "|",
    "_compartment",
    "_id",
    "_count",
    "_sort",
    "-",
    "birthdate",
    "subject",
    "code",
    "http://loinc.org",
    "\\",
    "$",
    "%",
    "_has:",
    "subject:Patient.name",
];

const FHIRPATH: &[&str] = &[
    "Patient",
    ".",
    "name",
    "given",
    "where(",
    "select(",
    "repeat(",
    "iif(",
    "exists()",
    "resolve()",
    "ofType(Quantity)",
    " as ",
    " is ",
    "|",
    " and ",
    " or ",
    "=",
    "!=",
    "(",
    ")",
    "'",
    "1",
    "2.5",
    "@2020",
    "$this",
    "%resource",
    "%after",
    "[0]",
    "+",
    "*",
    "descendants()",
    "children()",
    "aggregate(",
    "count()",
    ",",
    "{}",
    "`",
    "//",
    "/*",
];

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(&["Patient", "x", "Patient/p1", "2020-01-01", "final", "#c1", ""][..]).prop_map(|s| json!(s)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &[
                        "name",
                        "given",
                        "subject",
                        "reference",
                        "value",
                        "valueQuantity",
                        "_given",
                        "id",
                        "meta",
                        "code",
                        "extension",
                        "contained"
                    ][..]
                )
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn a_resource() -> impl Strategy<Value = Value> {
    (prop::sample::select(&["Patient", "Observation", "Condition", "Basic"][..]), json_value()).prop_map(|(t, body)| {
        let mut r = match body {
            Value::Object(m) => Value::Object(m),
            other => json!({ "extension": other }),
        };
        r["resourceType"] = json!(t);
        r
    })
}

fn patch_ops() -> impl Strategy<Value = Value> {
    let pointer = prop::sample::select(&["/name", "/name/0", "/name/-", "/name/0/given", "/x", "", "/", "/~1", "/meta/tag"][..]);
    let op = (prop::sample::select(&["add", "remove", "replace", "move", "copy", "test"][..]), pointer.clone(), pointer, json_value())
        .prop_map(|(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}));
    prop::collection::vec(op, 0..12).prop_map(Value::Array)
}

/// Runs `property` on cases from `strategy` for `seconds` (or `cases` cases
/// when `seconds` is 0), failing on a panic or a case slower than a second.
fn fuzz<S: Strategy>(strategy: S, cases: u32, property: impl Fn(S::Value)) {
    let seconds: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    loop {
        let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        runner
            .run(&strategy, |value| {
                let start = Instant::now();
                property(value);
                prop_assert!(start.elapsed() < Duration::from_secs(1), "a case took {:?}", start.elapsed());
                Ok(())
            })
            .unwrap();
        runs += u64::from(cases);
        if Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("{runs} cases");
}

fn criteria_strings(text: String) {
    if let Ok(c) = criteria::parse_criteria(&text) {
        let _ = search::Matcher::compile(&c);
    }
    let _ = criteria::parse_query("Patient", &text);
}

fn fhirpath_expressions((expression, focus): (String, Value)) {
    if let Ok(e) = fhirpath::parse(&expression) {
        let env = fhirpath::Environment::new().with_variable("after", [&focus]).with_step_budget(100_000);
        let _ = e.evaluate(&focus, &env);
        let _ = fhirpath::depends_on(&e.dependencies(), &["name", "given"]);
    }
}

fn json_patches((doc, ops): (Value, Value)) {
    if let Ok(patched) = patch::apply(&doc, &ops) {
        let depth = resource::measure(&patched).depth;
        assert!(depth <= resource::MAX_DEPTH + resource::measure(&doc).depth);
    }
}

fn resources(r: Value) {
    if resource::check(&r).is_ok() {
        let _ = search::index(&r);
        let mut redacted = r.clone();
        redaction::Plan::new(r["resourceType"].as_str().unwrap(), &["name.given".into(), "value[x]".into(), "subject".into()])
            .apply(&mut redacted);
        assert!(redacted.get("valueQuantity").is_none() && redacted.get("subject").is_none());
    }
}

/// Policies a client may write, compiled into a membership and asked about a resource.
fn policies((entries, r): (Value, Value)) {
    let policy = json!({"resourceType": "AccessPolicy", "id": "ap", "resource": entries});
    let membership = json!({"resourceType": "ProjectMembership", "project": {"reference": "Project/p1"},
                            "accessPolicy": {"reference": "AccessPolicy/ap"}});
    let project = json!({"resourceType": "Project", "id": "p1"});
    let Ok(compiled) = EffectivePolicy::compile(&membership, &project, &|_| Some(policy.clone())) else { return };
    let Ok(m) = Membership::new("m", "p1".into(), compiled) else { return };
    if let (Ok(t), Ok(index)) = (resource::check(&r), search::index(&r)) {
        let tokens: Vec<&str> = index.tokens.iter().map(String::as_str).collect();
        m.read_plan(t, &tokens).apply(&mut r.clone());
        let _ = m.authorize_write(fhir_access_core::policy::Interaction::Create, t, &index.tokens, None, &r);
    }
}

fn policy_entries() -> impl Strategy<Value = Value> {
    let entry = (
        prop::sample::select(&["Patient", "Observation", "*", "Bogus"][..]),
        fragments(CRITERIA),
        prop::collection::vec(prop::sample::select(&["name", "name.given", "value[x]", "meta.tag", "x..y", "_given"][..]), 0..3),
        fragments(FHIRPATH),
    )
        .prop_map(|(t, criteria, hidden, constraint)| {
            json!({"resourceType": t, "criteria": criteria, "hiddenFields": hidden,
                   "writeConstraint": [{"language": "text/fhirpath", "expression": constraint}]})
        });
    prop::collection::vec(entry, 0..4).prop_map(Value::Array)
}

#[test]
fn criteria_and_queries_never_panic() {
    fuzz(fragments(CRITERIA), 256, criteria_strings);
}

#[test]
fn fhirpath_never_panics() {
    fuzz((fragments(FHIRPATH), json_value()), 256, fhirpath_expressions);
}

#[test]
fn json_patch_never_panics_and_keeps_the_depth_limit() {
    fuzz((json_value(), patch_ops()), 256, json_patches);
}

#[test]
fn resources_never_panic_to_check_index_and_redact() {
    fuzz(a_resource(), 256, resources);
}

#[test]
fn policies_never_panic_to_compile_and_decide() {
    fuzz((policy_entries(), a_resource()), 128, policies);
}

/// The long runs: every target for FUZZ_SECONDS.
#[test]
#[ignore]
fn long_run() {
    criteria_and_queries_never_panic();
    fhirpath_never_panics();
    json_patch_never_panics_and_keeps_the_depth_limit();
    resources_never_panic_to_check_index_and_redact();
    policies_never_panic_to_compile_and_decide();
}
