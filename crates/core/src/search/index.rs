//! Extraction: the search tokens of a resource, from the FHIRPath expressions
//! of its type's search parameters.

use super::values::{date_range, format_instant, is_absolute, relative_reference, MAX_INSTANT, MIN_INSTANT};
use super::{DATE, EXACT, NUMBER, TEXT};
use crate::definitions::{self, SearchParam, SearchParamType};
use crate::outcome::{FhirError, Result};
use crate::resource::is_valid_id;
use fhirpath::{Environment, Expression, Item};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A resource's search tokens and Patient compartment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Sorted and deduplicated; grammar in the [module documentation](super).
    pub tokens: Vec<String>,
    /// `Patient/<id>` of each Patient whose compartment holds the resource, sorted.
    pub patients: Vec<String>,
}

const COMPARTMENT: &str = "_compartment";

/// Parts of a HumanName or an Address that string search looks at.
const NAME_AND_ADDRESS_PARTS: [&str; 11] =
    ["text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country"];

/// The `_compartment` tokens of a compartment the caller knows of (the
/// project, an account): `Type/id` gives `_compartment=Type/id` and
/// `_compartment=id`, exactly as a reference does, so `_compartment=<id>`
/// criteria match by id as in Medplum. Anything but a relative or absolute
/// reference gives none.
pub fn compartment_tokens(reference: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    reference_tokens(COMPARTMENT, reference, &mut out);
    out
}

/// Extracts the search tokens of `resource` (see the [module documentation](super)).
///
/// Only an object without a known `resourceType` is an error. A value that is
/// malformed or of an unexpected shape is skipped, and so is a parameter whose
/// expression fails to evaluate (the step budget, a definitions expression the
/// evaluator does not support): a resource can always be written, it is just
/// not found by that value. `_compartment` is computed, never read from
/// `meta.compartment`.
pub fn index(resource: &Value) -> Result<Index> {
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| definitions::is_resource_type(t))
        .ok_or_else(|| FhirError::invalid("cannot index a resource without a known resourceType"))?;
    let env = Environment::new();
    let mut tokens = Vec::new();
    let mut patients = Vec::new();
    if resource_type == "Patient" {
        if let Some(id) = text(resource.get("id")).filter(|id| is_valid_id(id)) {
            patients.push(format!("Patient/{id}"));
        }
    }
    for planned in plan(resource_type).iter() {
        let Ok(result) = planned.expression.evaluate(resource, &env) else {
            continue;
        };
        for item in result.iter() {
            // Path results borrow the resource; only computed values (`iif`, `exists()`) are converted.
            let computed;
            let value = match item {
                Item::Node(node) => match node.value() {
                    Some(v) => v,
                    None => continue,
                },
                other => {
                    computed = other.to_json();
                    &computed
                }
            };
            extract(planned.param, item, value, &mut tokens);
            if planned.in_patient_compartment {
                if let Some(("Patient", id)) = text(value.get("reference")).and_then(relative_reference) {
                    patients.push(format!("Patient/{id}"));
                }
            }
        }
    }
    patients.sort_unstable();
    patients.dedup();
    for patient in &patients {
        reference_tokens(COMPARTMENT, patient, &mut tokens);
    }
    tokens.sort_unstable();
    tokens.dedup();
    Ok(Index { tokens, patients })
}

/// A search parameter ready to evaluate.
struct Planned {
    param: &'static SearchParam,
    expression: Rc<Expression>,
    in_patient_compartment: bool,
}

thread_local! {
    /// Per type, parsed once per thread (per backend): one lookup per `index()`.
    static PLANS: RefCell<HashMap<String, Rc<[Planned]>>> = RefCell::default();
}

/// The parameters of a known type to extract. Composite and special
/// parameters have no tokens; `_compartment` is computed.
fn plan(resource_type: &str) -> Rc<[Planned]> {
    if let Some(plan) = PLANS.with(|p| p.borrow().get(resource_type).cloned()) {
        return plan;
    }
    let compartment = definitions::patient_compartment_params(resource_type);
    let plan: Rc<[Planned]> = definitions::search_params(resource_type)
        .filter(|p| !matches!(p.kind, SearchParamType::Composite | SearchParamType::Special))
        .filter(|p| p.code != COMPARTMENT)
        .filter_map(|param| {
            Some(Planned {
                param,
                expression: fhirpath::parse_cached(&param.expression).ok()?,
                in_patient_compartment: compartment.contains(&param.code),
            })
        })
        .collect();
    PLANS.with(|p| p.borrow_mut().insert(resource_type.to_string(), plan.clone()));
    plan
}

/// Appends the tokens of one result `value` (`item` gives its FHIR type).
fn extract(param: &SearchParam, item: &Item, value: &Value, out: &mut Vec<String>) {
    let code = param.code.as_str();
    match (param.kind, value) {
        // A canonical or uri; a string where a Reference object belongs is not one.
        (SearchParamType::Reference, Value::String(canonical)) if item.type_name().1 != "Reference" => {
            reference_tokens(code, canonical, out)
        }
        (SearchParamType::Reference, Value::Object(o)) => {
            if let Some(reference) = text(o.get("reference")) {
                reference_tokens(code, reference, out);
            }
        }
        (SearchParamType::Token, Value::Object(o)) => token_object(code, item, o, out),
        (SearchParamType::Token, Value::Bool(b)) => push(out, code, EXACT, if *b { "true" } else { "false" }),
        (SearchParamType::Token | SearchParamType::Uri, Value::String(s)) if !s.is_empty() => push(out, code, EXACT, s),
        (SearchParamType::String, Value::String(s)) if !s.is_empty() => push(out, code, TEXT, s),
        (SearchParamType::String, Value::Object(o)) => {
            for part in NAME_AND_ADDRESS_PARTS.iter().filter_map(|k| o.get(*k)) {
                for s in strings(part) {
                    push(out, code, TEXT, s);
                }
            }
        }
        (SearchParamType::Date, Value::String(s)) => {
            if let Some((low, high)) = date_range(s) {
                push_date(out, code, low, high);
            }
        }
        (SearchParamType::Date, Value::Object(o)) => date_object(code, o, out),
        (SearchParamType::Number, Value::Number(n)) => push(out, code, NUMBER, &n.to_string()),
        (SearchParamType::Quantity, Value::Object(o)) => {
            if let Some(Value::Number(n)) = o.get("value") {
                let system = text(o.get("system")).unwrap_or_default();
                let unit = text(o.get("code")).or(text(o.get("unit"))).unwrap_or_default();
                push(out, code, NUMBER, &format!("{n}|{system}|{unit}"));
            }
        }
        // Ranges, SampledData and other shapes are not indexed.
        _ => {}
    }
}

/// `Type/id` gives both `code=Type/id` and `code=id`, an absolute reference
/// itself; contained (`#x`) and unparseable references give nothing.
fn reference_tokens(code: &str, reference: &str, out: &mut Vec<String>) {
    if let Some((resource_type, id)) = relative_reference(reference) {
        out.push(format!("{code}{EXACT}{resource_type}/{id}"));
        push(out, code, EXACT, id);
    } else if is_absolute(reference) {
        push(out, code, EXACT, reference);
    }
}

/// CodeableConcept, Coding, Identifier or ContactPoint.
fn token_object(code: &str, item: &Item, o: &Map<String, Value>, out: &mut Vec<String>) {
    if let Some(codings) = o.get("coding") {
        for coding in codings.as_array().into_iter().flatten() {
            system_and_code(code, text(coding.get("system")), text(coding.get("code")), out);
        }
    } else if item.type_name().1 == "ContactPoint" {
        // A ContactPoint's system (phone, email) is not a namespace of its value.
        if let Some(value) = text(o.get("value")) {
            push(out, code, EXACT, value);
        }
    } else if o.contains_key("value") {
        system_and_code(code, text(o.get("system")), text(o.get("value")), out);
    } else {
        system_and_code(code, text(o.get("system")), text(o.get("code")), out);
    }
}

/// `c`, `s|c` and `s|` with a system; `c` and `|c` without.
fn system_and_code(code: &str, system: Option<&str>, value: Option<&str>, out: &mut Vec<String>) {
    if let Some(v) = value {
        push(out, code, EXACT, v);
    }
    match (system, value) {
        (Some(s), Some(v)) => out.push(format!("{code}{EXACT}{s}|{v}")),
        (None, Some(v)) => out.push(format!("{code}{EXACT}|{v}")),
        _ => {}
    }
    if let Some(s) = system {
        out.push(format!("{code}{EXACT}{s}|"));
    }
}

/// A Period (open ends are the first and last instants), or a Timing's events.
fn date_object(code: &str, o: &Map<String, Value>, out: &mut Vec<String>) {
    if let Some(events) = o.get("event") {
        for (low, high) in strings(events).filter_map(date_range) {
            push_date(out, code, low, high);
        }
        return;
    }
    let (start, end) = (o.get("start"), o.get("end"));
    if start.is_none() && end.is_none() {
        return;
    }
    // A present but malformed end skips the Period rather than opening it.
    let low = match start {
        Some(s) => text(Some(s)).and_then(date_range).map(|r| r.0),
        None => Some(MIN_INSTANT),
    };
    let high = match end {
        Some(e) => text(Some(e)).and_then(date_range).map(|r| r.1),
        None => Some(MAX_INSTANT),
    };
    if let (Some(low), Some(high)) = (low, high) {
        push_date(out, code, low, high);
    }
}

fn push(out: &mut Vec<String>, code: &str, sep: char, value: &str) {
    let mut token = String::with_capacity(code.len() + 1 + value.len());
    token.push_str(code);
    token.push(sep);
    token.push_str(value);
    out.push(token);
}

fn push_date(out: &mut Vec<String>, code: &str, low: i64, high: i64) {
    out.push(format!("{code}{DATE}{}/{}", format_instant(low), format_instant(high)));
}

/// A non-empty string.
fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A string, or each string of an array.
fn strings(value: &Value) -> impl Iterator<Item = &str> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    items.iter().filter_map(|v| text(Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokens(resource: Value) -> Vec<String> {
        index(&resource).unwrap().tokens
    }

    /// The tokens of one parameter code, any separator.
    fn of(resource: Value, code: &str) -> Vec<String> {
        let prefix = |t: &String| t.strip_prefix(code).is_some_and(|r| r.starts_with(['=', '~', '@', '#']));
        tokens(resource).into_iter().filter(prefix).collect()
    }

    #[test]
    fn observation_subject_gives_typed_and_bare_reference_tokens() {
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/1/_history/3"}});
        assert_eq!(of(obs.clone(), "subject"), ["subject=1", "subject=Patient/1"]);
        assert_eq!(of(obs, "patient"), ["patient=1", "patient=Patient/1"]);
    }

    #[test]
    fn condition_patient_excludes_a_group_subject() {
        let group = json!({"resourceType": "Condition", "subject": {"reference": "Group/g"}});
        assert!(of(group.clone(), "patient").is_empty());
        assert_eq!(of(group, "subject"), ["subject=Group/g", "subject=g"]);
        let patient = json!({"resourceType": "Condition", "subject": {"reference": "Patient/p"}});
        assert_eq!(of(patient, "patient"), ["patient=Patient/p", "patient=p"]);
    }

    #[test]
    fn contained_and_absolute_references() {
        let obs = json!({"resourceType": "Observation", "performer": [
            {"reference": "#p1"}, {"reference": "https://x.org/fhir/Practitioner/9"}, {"display": "no reference"}
        ]});
        assert_eq!(of(obs, "performer"), ["performer=https://x.org/fhir/Practitioner/9"]);
        let response = json!({"resourceType": "QuestionnaireResponse", "questionnaire": "http://q.org/intake|2"});
        assert_eq!(of(response, "questionnaire"), ["questionnaire=http://q.org/intake|2"]);
    }

    #[test]
    fn codeable_concept_gives_every_coding_form() {
        let obs = json!({"resourceType": "Observation", "code": {"text": "Glucose", "coding": [
            {"system": "http://loinc.org", "code": "15074-8"}, {"code": "local"}
        ]}});
        assert_eq!(
            of(obs, "code"),
            ["code=15074-8", "code=http://loinc.org|", "code=http://loinc.org|15074-8", "code=local", "code=|local"]
        );
    }

    #[test]
    fn identifier_gives_value_forms_and_contact_point_only_its_value() {
        let patient = json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:mrn", "value": "42"}],
            "telecom": [{"system": "email", "value": "a@b.org"}]});
        assert_eq!(of(patient.clone(), "identifier"), ["identifier=42", "identifier=urn:mrn|", "identifier=urn:mrn|42"]);
        assert_eq!(of(patient.clone(), "email"), ["email=a@b.org"]);
        assert_eq!(of(patient, "telecom"), ["telecom=a@b.org"]);
    }

    #[test]
    fn booleans_and_computed_booleans_are_tokens() {
        let patient = json!({"resourceType": "Patient", "active": false, "deceasedBoolean": true});
        assert_eq!(of(patient.clone(), "active"), ["active=false"]);
        assert_eq!(of(patient, "deceased"), ["deceased=true"]);
    }

    #[test]
    fn human_name_and_address_parts_are_strings_as_written() {
        let patient = json!({"resourceType": "Patient",
            "name": [{"given": ["Ann", "Marie"], "family": "Smith", "prefix": ["Dr"], "text": "Dr Ann Smith"}],
            "address": [{"line": ["1 Main St"], "city": "Springfield", "state": "CA", "postalCode": "90001", "country": "US"}]});
        assert_eq!(of(patient.clone(), "name"), ["name~Ann", "name~Dr", "name~Dr Ann Smith", "name~Marie", "name~Smith"]);
        assert_eq!(of(patient.clone(), "address-state"), ["address-state~CA"]);
        assert_eq!(of(patient, "address"), ["address~1 Main St", "address~90001", "address~CA", "address~Springfield", "address~US"]);
    }

    #[test]
    fn dates_expand_to_their_precision_and_periods_to_their_ends() {
        let patient = json!({"resourceType": "Patient", "birthDate": "1970"});
        assert_eq!(of(patient, "birthdate"), ["birthdate@1970-01-01T00:00:00.000Z/1970-12-31T23:59:59.999Z"]);
        let obs = json!({"resourceType": "Observation", "effectiveDateTime": "2020-03-01T10:00:00+01:00"});
        assert_eq!(of(obs, "date"), ["date@2020-03-01T09:00:00.000Z/2020-03-01T09:00:00.999Z"]);
        let open = json!({"resourceType": "Observation", "effectivePeriod": {"start": "2020-03-01"}});
        assert_eq!(of(open, "date"), ["date@2020-03-01T00:00:00.000Z/9999-12-31T23:59:59.999Z"]);
        let closed = json!({"resourceType": "Encounter", "period": {"start": "2020", "end": "2021-06"}});
        assert_eq!(of(closed, "date"), ["date@2020-01-01T00:00:00.000Z/2021-06-30T23:59:59.999Z"]);
        let meta = json!({"resourceType": "Patient", "meta": {"lastUpdated": "2026-11-22T18:16:00.123Z"}});
        assert_eq!(of(meta, "_lastUpdated"), ["_lastUpdated@2026-11-22T18:16:00.123Z/2026-11-22T18:16:00.123Z"]);
    }

    #[test]
    fn quantities_carry_system_and_code_else_unit() {
        // Parsed from text: the decimal keeps its scale, as jsonb gives it.
        let obs: Value = serde_json::from_str(
            r#"{"resourceType": "Observation",
            "valueQuantity": {"value": 5.40, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}"#,
        )
        .unwrap();
        assert_eq!(of(obs, "value-quantity"), ["value-quantity#5.40|http://unitsofmeasure.org|mg/dL"]);
        let unit_only = json!({"resourceType": "Observation", "valueQuantity": {"value": 5.4, "unit": "mg"}});
        assert_eq!(of(unit_only, "value-quantity"), ["value-quantity#5.4||mg"]);
    }

    #[test]
    fn numbers_are_written_as_they_are() {
        let task = json!({"resourceType": "Task", "priority": "urgent"});
        assert_eq!(of(task, "priority-order"), ["priority-order#30"]);
        let seq = json!({"resourceType": "MolecularSequence", "variant": [{"start": 12}]});
        assert_eq!(of(seq, "variant-start"), ["variant-start#12"]);
    }

    #[test]
    fn common_parameters_id_project_tag_and_profile() {
        let patient = json!({"resourceType": "Patient", "id": "p1", "meta": {
            "project": "pr1", "tag": [{"system": "s", "code": "t"}], "profile": ["http://p"],
            "compartment": [{"reference": "Patient/forged"}]}});
        let t = tokens(patient);
        for expected in ["_id=p1", "_project=pr1", "_tag=s|t", "_tag=t", "_profile=http://p"] {
            assert!(t.contains(&expected.to_string()), "{expected} in {t:?}");
        }
        assert!(!t.iter().any(|t| t.contains("forged")), "meta.compartment is not trusted");
    }

    #[test]
    fn a_patient_is_in_its_own_compartment() {
        let i = index(&json!({"resourceType": "Patient", "id": "p1", "link": [{"other": {"reference": "Patient/p2"}}]})).unwrap();
        assert_eq!(i.patients, ["Patient/p1", "Patient/p2"]);
        assert!(i.tokens.contains(&"_compartment=Patient/p1".into()) && i.tokens.contains(&"_compartment=p1".into()));
    }

    #[test]
    fn observation_compartment_comes_from_subject_and_performer() {
        let obs = json!({"resourceType": "Observation",
            "subject": {"reference": "Patient/a"},
            "performer": [{"reference": "Patient/b"}, {"reference": "Practitioner/c"}],
            "focus": [{"reference": "Patient/not-in-compartment"}]});
        let i = index(&obs).unwrap();
        assert_eq!(i.patients, ["Patient/a", "Patient/b"]);
        assert_eq!(of(obs, "_compartment"), ["_compartment=Patient/a", "_compartment=Patient/b", "_compartment=a", "_compartment=b"]);
    }

    #[test]
    fn task_focus_puts_it_in_the_patient_compartment() {
        let task = json!({"resourceType": "Task", "focus": {"reference": "Patient/f"}, "for": {"reference": "Patient/p"}});
        assert_eq!(index(&task).unwrap().patients, ["Patient/f", "Patient/p"]);
    }

    #[test]
    fn compartment_tokens_have_the_reference_forms() {
        assert_eq!(compartment_tokens("Project/x1"), ["_compartment=Project/x1", "_compartment=x1"]);
        assert!(compartment_tokens("#x").is_empty());
    }

    #[test]
    fn weird_data_is_skipped_not_an_error() {
        let obs = json!({"resourceType": "Observation", "id": 7, "status": {"odd": true},
            "subject": {"reference": 5}, "code": {"coding": "x"}, "effectiveDateTime": "yesterday",
            "valueQuantity": {"value": "5"}, "performer": "Patient/1", "identifier": [null, 3, []],
            "effectivePeriod": {"start": "2020", "end": "soon"}});
        assert_eq!(tokens(obs), Vec::<String>::new());
        assert!(index(&json!({"resourceType": "Nope"})).is_err());
        assert!(index(&json!([1])).is_err());
        assert!(tokens(json!({"resourceType": "Binary", "id": "b"})).is_empty());
    }

    #[test]
    fn every_extracted_definitions_expression_parses() {
        for resource_type in definitions::resource_types() {
            let expected = definitions::search_params(resource_type)
                .filter(|p| !matches!(p.kind, SearchParamType::Composite | SearchParamType::Special))
                .filter(|p| p.code != COMPARTMENT)
                .count();
            assert_eq!(plan(resource_type).len(), expected, "{resource_type}");
        }
    }

    /// `cargo test -p fhir_access_core --release -- --ignored --nocapture index_speed`
    #[test]
    #[ignore]
    fn index_speed() {
        let obs = json!({
            "resourceType": "Observation", "id": "0f4e6c1a-0b8e-4d8e-9b0a-3d2c1b0a9f8e",
            "meta": {"versionId": "1", "lastUpdated": "2026-11-22T18:16:00.123Z", "project": "p-1",
                     "tag": [{"system": "http://example.org/tags", "code": "lab"}]},
            "identifier": [{"system": "http://hospital.example.org/obs", "value": "OBS-12345"}],
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory", "display": "Laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": "Glucose [Moles/volume] in Blood"}],
                     "text": "Glucose"},
            "subject": {"reference": "Patient/5a2b3c4d-1111-2222-3333-444455556666", "display": "Ann Smith"},
            "encounter": {"reference": "Encounter/e-778"},
            "effectiveDateTime": "2026-11-20T09:30:00+01:00",
            "issued": "2026-11-20T10:00:00Z",
            "performer": [{"reference": "Practitioner/pr-1"}, {"reference": "Organization/org-1"}],
            "valueQuantity": {"value": 6.3, "unit": "mmol/l", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H"}]}],
            "referenceRange": [{"low": {"value": 3.1, "unit": "mmol/l"}, "high": {"value": 6.2, "unit": "mmol/l"}}]
        });
        eprintln!("{} bytes, {} tokens", obs.to_string().len(), index(&obs).unwrap().tokens.len());
        let rounds = 20_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(index(std::hint::black_box(&obs)).unwrap());
        }
        eprintln!("index(): {:.1} µs", start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
    }
}
