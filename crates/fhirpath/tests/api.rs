//! The public API as the extension uses it: parsing, caching, variables,
//! results as JSON, and the FHIR-specific behaviour search parameters rely on.

use fhirpath::{parse, parse_cached, Environment, ErrorKind};
use serde_json::{json, Value};

fn eval(src: &str, doc: &Value) -> Value {
    parse(src).unwrap().evaluate(doc, &Environment::new()).unwrap().to_json()
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "subject": {"reference": "Patient/123"},
        "performer": [{"reference": "Practitioner/9"}, {"reference": "#p1"}],
        "contained": [{"resourceType": "Patient", "id": "p1", "gender": "female"}],
        "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"},
        "effectiveDateTime": "2020-01-01T10:00:00Z"
    })
}

#[test]
fn syntax_errors_name_the_character_position() {
    let err = parse("name.where(use = 'official'").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert_eq!(err.position, Some(27));
    assert!(err.to_string().contains("at character 27"), "{err}");
}

#[test]
fn syntax_error_positions_count_characters_not_bytes() {
    let err = parse("'é' + #").unwrap_err();
    assert_eq!(err.position, Some(6));
}

#[test]
fn unknown_functions_are_syntax_errors() {
    assert_eq!(parse("name.frobnicate()").unwrap_err().kind, ErrorKind::Syntax);
}

#[test]
fn parse_cached_returns_the_same_expression_for_the_same_text() {
    let a = parse_cached("status = 'final'").unwrap();
    let b = parse_cached("status = 'final'").unwrap();
    assert!(std::rc::Rc::ptr_eq(&a, &b));
}

#[test]
fn an_undefined_variable_is_an_evaluation_error() {
    let doc = observation();
    let err = parse("%nope.exists()").unwrap().evaluate(&doc, &Environment::new()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Evaluation);
}

#[test]
fn before_is_empty_on_create_so_the_implication_holds() {
    let after = observation();
    let env = Environment::new().with_variable("before", []).with_variable("after", [&after]);
    let expr = parse("%before.exists() implies %before.status != 'final'").unwrap();
    assert!(expr.evaluate(&after, &env).unwrap().is_single_true());
}

#[test]
fn a_final_before_fails_the_write_constraint() {
    let before = observation();
    let env = Environment::new().with_variable("before", [&before]).with_variable("after", [&before]);
    let expr = parse("%before.exists() implies %before.status != 'final'").unwrap();
    assert!(!expr.evaluate_to_bool(&before, &env));
}

#[test]
fn resource_and_context_default_to_the_focus() {
    assert_eq!(eval("%resource.id | %context.id | %rootResource.id", &observation()), json!(["o1"]));
}

#[test]
fn path_results_are_the_original_json_nodes() {
    let doc = observation();
    let result = parse("subject").unwrap().evaluate(&doc, &Environment::new()).unwrap();
    let node = match &result.as_slice()[0] {
        fhirpath::Item::Node(n) => n.value().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(std::ptr::eq(node, &doc["subject"]));
}

#[test]
fn computed_values_convert_to_fhir_json() {
    let doc = json!({});
    assert_eq!(eval("true | 1 | 'a'", &doc), json!([true, 1, "a"]));
    assert_eq!(eval("@2020-01-01 | @T12:00:00 | @2020-01-01T10:00:00Z", &doc), json!(["2020-01-01", "12:00:00", "2020-01-01T10:00:00Z"]));
    let q = eval("10.0 'mg'", &doc);
    assert_eq!((q[0]["value"].as_f64(), q[0]["unit"].as_str()), (Some(10.0), Some("mg")));
    assert_eq!(eval("1.5", &doc)[0].as_f64(), Some(1.5));
}

#[test]
fn polymorphic_elements_are_found_by_their_base_name() {
    assert_eq!(eval("Observation.value.unit", &observation()), json!(["lbs"]));
    assert_eq!(eval("(Observation.value as Quantity).value", &observation()), json!([185]));
    assert_eq!(eval("Observation.effective.as(dateTime)", &observation()), json!(["2020-01-01T10:00:00Z"]));
}

#[test]
fn quantities_compare_across_units() {
    assert_eq!(eval("Observation.value > 80 'kg'", &observation()), json!([true]));
    assert_eq!(eval("4 'g' = 4000 'mg'", &json!({})), json!([true]));
}

#[test]
fn a_plain_reference_resolves_to_its_type() {
    assert_eq!(eval("Observation.subject.where(resolve() is Patient).reference", &observation()), json!(["Patient/123"]));
    assert_eq!(eval("Observation.performer.where(resolve() is Patient).reference", &observation()), json!(["#p1"]));
}

#[test]
fn contained_references_resolve_to_the_contained_resource() {
    assert_eq!(eval("performer[1].resolve().gender", &observation()), json!(["female"]));
}

#[test]
fn bundle_references_resolve_to_the_entry() {
    let bundle = json!({"resourceType": "Bundle", "entry": [
        {"fullUrl": "http://x/Patient/1", "resource": {"resourceType": "Patient", "id": "1", "active": true}},
        {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/1"}}}
    ]});
    assert_eq!(eval("Bundle.entry[1].resource.subject.resolve().active", &bundle), json!([true]));
    assert_eq!(eval("Bundle.entry[0].resource.id", &bundle), json!(["1"]));
}

#[test]
fn deceased_search_expression_works() {
    let alive = json!({"resourceType": "Patient", "deceasedBoolean": false});
    let dead = json!({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"});
    let src = "Patient.deceased.exists() and Patient.deceased != false";
    assert_eq!(eval(src, &alive), json!([false]));
    assert_eq!(eval(src, &dead), json!([true]));
}

#[test]
fn where_on_a_code_then_member_works() {
    let doc = json!({"resourceType": "PlanDefinition", "relatedArtifact": [
        {"type": "documentation", "resource": "http://a"}, {"type": "depends-on", "resource": "http://b"}]});
    assert_eq!(eval("relatedArtifact.where(type='depends-on').resource", &doc), json!(["http://b"]));
}

#[test]
fn condition_onset_as_date_time() {
    let doc = json!({"resourceType": "Condition", "onsetDateTime": "2019-05-01"});
    assert_eq!(eval("Condition.onset.as(dateTime)", &doc), json!(["2019-05-01"]));
}

#[test]
fn primitive_extensions_are_reachable() {
    let doc = json!({"resourceType": "Patient", "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://x", "valueString": "v"}]}});
    assert_eq!(eval("birthDate.extension('http://x').value", &doc), json!(["v"]));
    assert_eq!(eval("birthDate.hasValue()", &doc), json!([true]));
}

#[test]
fn three_valued_logic_keeps_unknown_as_empty() {
    let doc = json!({});
    assert_eq!(eval("{} and true", &doc), json!([]));
    assert_eq!(eval("{} and false", &doc), json!([false]));
    assert_eq!(eval("{} implies true", &doc), json!([true]));
}

#[test]
fn variables_can_be_rebound() {
    let doc = json!({});
    let (a, b) = (json!("x"), json!("y"));
    let mut env = Environment::new().with_variable("v", [&a]);
    env.set_variable("v", [&b]);
    assert_eq!(parse("%v").unwrap().evaluate(&doc, &env).unwrap().to_json(), json!(["y"]));
}

#[test]
fn a_type_outside_the_r4_model_selects_resources_of_that_resource_type() {
    let project = serde_json::json!({"resourceType": "Project", "id": "p1", "name": "Clinic"});
    let result = fhirpath::parse("Project.name").unwrap().evaluate(&project, &fhirpath::Environment::new()).unwrap();
    assert_eq!(result.to_json(), serde_json::json!(["Clinic"]));
}
