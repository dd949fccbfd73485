//! Hostile input gives an error, never a crash or a hang.

use fhirpath::{parse, Environment, ErrorKind};
use serde_json::json;
use std::time::{Duration, Instant};

fn eval_error(src: &str) -> ErrorKind {
    let doc = json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]});
    let expr = parse(src).expect("parses");
    expr.evaluate(&doc, &Environment::new()).expect_err("must fail").kind
}

fn syntax_error(src: &str) {
    assert_eq!(parse(src).unwrap_err().kind, ErrorKind::Syntax);
}

fn quickly<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    r
}

#[test]
fn deeply_nested_parentheses_are_a_syntax_error() {
    let src = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    syntax_error(&src);
}

#[test]
fn long_operator_chains_are_a_syntax_error() {
    let src = vec!["1"; 100_000].join(" + ");
    syntax_error(&src);
}

#[test]
fn long_member_paths_are_a_syntax_error() {
    let src = vec!["a"; 100_000].join(".");
    syntax_error(&src);
}

#[test]
fn repeated_unary_minus_is_a_syntax_error() {
    let src = format!("{}1", "-".repeat(100_000));
    syntax_error(&src);
}

#[test]
fn a_realistic_union_of_many_codes_still_parses() {
    let codes: Vec<String> = (0..200).map(|i| format!("'c{i}'")).collect();
    assert!(parse(&format!("code in ({})", codes.join(" | "))).is_ok());
}

#[test]
fn huge_integer_literals_are_a_syntax_error() {
    syntax_error("99999999999999999999999");
}

#[test]
fn huge_decimal_literals_are_a_syntax_error() {
    let src = format!("1.{}", "1".repeat(100));
    syntax_error(&src);
}

#[test]
fn very_long_string_literals_are_a_syntax_error() {
    let src = format!("'{}'", "x".repeat(1_000_000));
    syntax_error(&src);
}

#[test]
fn runaway_repeat_exhausts_the_step_budget() {
    assert_eq!(quickly(|| eval_error("1.repeat($this + 1)")), ErrorKind::Budget);
}

#[test]
fn doubling_strings_hit_the_size_cap() {
    let kind = quickly(|| eval_error("'ab'.repeat($this & $this)"));
    assert_eq!(kind, ErrorKind::Budget);
}

#[test]
fn nested_selects_producing_millions_of_items_exhaust_the_step_budget() {
    let ten = "(1|2|3|4|5|6|7|8|9|10)";
    let src = (0..7).fold("$this".to_string(), |inner, _| format!("{ten}.select({inner})"));
    assert_eq!(quickly(|| eval_error(&src)), ErrorKind::Budget);
}

#[test]
fn a_small_step_budget_stops_simple_evaluation() {
    let doc = json!({"resourceType": "Patient", "name": [{"given": ["a"]}]});
    let env = Environment::new().with_step_budget(3);
    let err = parse("name.given.first().length() + 1").unwrap().evaluate(&doc, &env).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Budget);
}

#[test]
fn catastrophic_backtracking_patterns_match_in_linear_time() {
    let doc = json!({"resourceType": "Patient", "id": format!("{}!", "a".repeat(50_000))});
    let expr = parse("id.matches('^(a+)+$')").unwrap();
    let result = quickly(|| expr.evaluate(&doc, &Environment::new()).unwrap());
    assert_eq!(result.to_json(), json!([false]));
}

#[test]
fn oversized_regular_expressions_are_refused() {
    assert_eq!(eval_error("'a'.matches('(((a{100}){100}){100}){100}')"), ErrorKind::Evaluation);
}

#[test]
fn invalid_regular_expressions_are_an_evaluation_error() {
    assert_eq!(eval_error("'a'.matches('(')"), ErrorKind::Evaluation);
}

#[test]
fn replace_that_would_explode_a_string_is_refused() {
    let doc = json!({"resourceType": "Patient", "id": "x".repeat(100_000)});
    let expr = parse("id.replace('', id)").unwrap();
    let err = quickly(|| expr.evaluate(&doc, &Environment::new()).unwrap_err());
    assert_eq!(err.kind, ErrorKind::Budget);
}

#[test]
fn descendants_of_a_wide_document_exhaust_a_small_budget() {
    let items: Vec<_> = (0..50_000).map(|i| json!({"linkId": i.to_string()})).collect();
    let doc = json!({"resourceType": "Questionnaire", "item": items});
    let env = Environment::new().with_step_budget(10_000);
    let err = quickly(|| parse("descendants().count()").unwrap().evaluate(&doc, &env).unwrap_err());
    assert_eq!(err.kind, ErrorKind::Budget);
}

#[test]
fn integer_overflow_is_an_evaluation_error() {
    assert_eq!(eval_error("9223372036854775807 + 1"), ErrorKind::Evaluation);
}
