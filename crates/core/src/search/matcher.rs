//! Matching: criteria compiled once, then decided from a resource's tokens.
//!
//! One semantics serves reads, searches and writes (FHIR R4 search):
//! * string: case-insensitive prefix by default (Medplum's SQL engine; its
//!   in-memory engine uses "contains", which made writes and reads disagree);
//!   `:exact` is equality, `:contains` a case-insensitive substring. No accent
//!   folding;
//! * token, reference and uri: exact and case-sensitive;
//! * date: the search value's precision is its range, compared with the
//!   target's range per the R4 prefix table; `ap` is overlap (deterministic,
//!   unlike "10 % of the gap to now");
//! * number: points; `eq`/`ne` use the search value's precision (`100` is
//!   `[99.5, 100.5)`), `ap` is ±10 %, `sa`/`eb` are `gt`/`lt`;
//! * quantity: the number as above, then the system and code (code, else unit)
//!   when given; an empty system means any;
//! * `:missing`, `:not` (a resource without the parameter matches `:not`), a
//!   target type on references. Anything else is rejected when compiling: an
//!   unsupported criteria never fails open.

use super::index::index;
use super::values::{date_range, format_instant, relative_reference, Decimal};
use super::{value_of, DATE, EXACT, NUMBER, TEXT};
use crate::criteria::{split_value, unescape, Criteria, Param};
use crate::definitions::{self, SearchParam, SearchParamType};
use crate::outcome::{FhirError, Result};
use crate::resource::is_valid_id;
use serde_json::Value;
use std::cmp::Ordering;
use std::ops::Bound;

/// Compiled criteria: parameters ANDed, each parameter's values ORed.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// A type, or `*` for any.
    resource_type: String,
    tests: Vec<Test>,
}

#[derive(Debug, Clone)]
struct Test {
    code: String,
    /// `:not`: true when no value of the parameter matches.
    negate: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `:missing=true` (no token of the code at all) or `:missing=false`.
    Missing(bool),
    /// Whole tokens, any of which matches. `rank` is the selectivity order for
    /// [`Matcher::keys`]: `_id`, references, tokens and uris, exact strings.
    Exact {
        tokens: Vec<String>,
        rank: u8,
    },
    /// Lower-cased search text: a prefix, or a substring, of a string token.
    Text {
        values: Vec<String>,
        contains: bool,
    },
    Date(Vec<DateTest>),
    Number(Vec<NumberTest>),
    Quantity(Vec<QuantityTest>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// A date search value: its prefix and range as instant text, which compares
/// with token text without parsing.
#[derive(Debug, Clone)]
struct DateTest {
    prefix: Prefix,
    low: String,
    high: String,
}

/// Numbers inside (or, for `ne`, outside) an interval.
#[derive(Debug, Clone)]
struct NumberTest {
    low: Bound<Decimal>,
    high: Bound<Decimal>,
    inside: bool,
}

#[derive(Debug, Clone)]
struct QuantityTest {
    number: NumberTest,
    system: Option<String>,
    code: Option<String>,
}

impl Matcher {
    /// Compiles `criteria`. Unknown parameters, composite and special ones,
    /// unsupported modifiers and malformed values are `FhirError::invalid`.
    /// Result-control parameters (`_count`, `_sort`…) are not filters and are ignored.
    pub fn compile(criteria: &Criteria) -> Result<Matcher> {
        let tests = criteria.params.iter().map(|p| compile_param(&criteria.resource_type, p)).collect::<Result<_>>()?;
        Ok(Matcher { resource_type: criteria.resource_type.clone(), tests })
    }

    /// Does a resource of `resource_type` with these tokens (any order) match?
    pub fn matches(&self, resource_type: &str, tokens: &[&str]) -> bool {
        (self.resource_type == "*" || self.resource_type == resource_type) && self.tests.iter().all(|t| t.holds(tokens))
    }

    /// Exact tokens of which every matching resource has at least one (a GIN
    /// `&&` prefilter), from the most selective parameter that has them; `None`
    /// when no parameter does (string prefixes, dates, numbers, `:missing`, `:not`).
    pub fn keys(&self) -> Option<Vec<String>> {
        self.tests
            .iter()
            .filter(|t| !t.negate)
            .filter_map(|t| match &t.kind {
                Kind::Exact { tokens, rank } => Some((*rank, tokens)),
                _ => None,
            })
            .min_by_key(|(rank, tokens)| (*rank, tokens.len()))
            .map(|(_, tokens)| tokens.clone())
    }

    /// Exact tokens every matching resource contains (a GIN `@>` condition):
    /// those of parameters with one exact value and no negation. Sorted.
    pub fn required(&self) -> Vec<String> {
        let mut required: Vec<String> = self
            .tests
            .iter()
            .filter(|t| !t.negate)
            .filter_map(|t| match &t.kind {
                Kind::Exact { tokens, .. } if tokens.len() == 1 => Some(tokens[0].clone()),
                _ => None,
            })
            .collect();
        required.sort_unstable();
        required.dedup();
        required
    }
}

/// [`index`] then [`Matcher::matches`]: the check on writes, with the same
/// semantics as reads. The resource's tokens hold its Patient compartment
/// only, so `_compartment` criteria naming a project or an account need the
/// caller's tokens and [`Matcher::matches`].
pub fn matches_resource(matcher: &Matcher, resource: &Value) -> Result<bool> {
    let index = index(resource)?;
    let tokens: Vec<&str> = index.tokens.iter().map(String::as_str).collect();
    let resource_type = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default();
    Ok(matcher.matches(resource_type, &tokens))
}

impl Test {
    fn holds(&self, tokens: &[&str]) -> bool {
        let code = self.code.as_str();
        let values = |sep| tokens.iter().filter_map(move |t| value_of(t, code, sep));
        let found = match &self.kind {
            Kind::Missing(missing) => {
                let present = [EXACT, TEXT, DATE, NUMBER].into_iter().any(|sep| values(sep).next().is_some());
                return present != *missing;
            }
            Kind::Exact { tokens: wanted, .. } => tokens.iter().any(|t| wanted.iter().any(|w| w == t)),
            Kind::Text { values: wanted, contains } => values(TEXT).any(|text| {
                let text = text.to_lowercase();
                wanted.iter().any(|w| if *contains { text.contains(w.as_str()) } else { text.starts_with(w.as_str()) })
            }),
            Kind::Date(tests) => {
                values(DATE).filter_map(|range| range.split_once('/')).any(|(low, high)| tests.iter().any(|d| d.holds(low, high)))
            }
            Kind::Number(tests) => values(NUMBER).filter_map(Decimal::parse).any(|n| tests.iter().any(|t| t.holds(&n))),
            Kind::Quantity(tests) => values(NUMBER).any(|q| tests.iter().any(|t| t.holds(q))),
        };
        found != self.negate
    }
}

impl DateTest {
    /// The R4 prefix table over the search range `[low, high]` and the target
    /// range `[tl, th]` (fixed-width instant text: text order is time order).
    fn holds(&self, tl: &str, th: &str) -> bool {
        let (low, high) = (self.low.as_str(), self.high.as_str());
        let within = low <= tl && th <= high;
        match self.prefix {
            Prefix::Eq => within,
            Prefix::Ne => !within,
            Prefix::Gt => th > high,
            Prefix::Lt => tl < low,
            Prefix::Ge => th > high || within,
            Prefix::Le => tl < low || within,
            Prefix::Sa => tl > high,
            Prefix::Eb => th < low,
            Prefix::Ap => tl <= high && th >= low,
        }
    }
}

impl NumberTest {
    fn new(prefix: Prefix, v: Decimal) -> Option<NumberTest> {
        use Bound::{Excluded, Included, Unbounded};
        let (low, high, inside) = match prefix {
            Prefix::Eq | Prefix::Ne => {
                let (low, high) = v.precision_range()?;
                (Included(low), Excluded(high), prefix == Prefix::Eq)
            }
            Prefix::Gt | Prefix::Sa => (Excluded(v), Unbounded, true),
            Prefix::Lt | Prefix::Eb => (Unbounded, Excluded(v), true),
            Prefix::Ge => (Included(v), Unbounded, true),
            Prefix::Le => (Unbounded, Included(v), true),
            Prefix::Ap => {
                let (low, high) = v.approximate_range()?;
                (Included(low), Included(high), true)
            }
        };
        Some(NumberTest { low, high, inside })
    }

    fn holds(&self, n: &Decimal) -> bool {
        let above = match &self.low {
            Bound::Included(low) => n.compare(low) != Ordering::Less,
            Bound::Excluded(low) => n.compare(low) == Ordering::Greater,
            Bound::Unbounded => true,
        };
        let below = match &self.high {
            Bound::Included(high) => n.compare(high) != Ordering::Greater,
            Bound::Excluded(high) => n.compare(high) == Ordering::Less,
            Bound::Unbounded => true,
        };
        (above && below) == self.inside
    }
}

impl QuantityTest {
    /// Against a token value `N|SYSTEM|CODE`.
    fn holds(&self, quantity: &str) -> bool {
        let mut parts = quantity.splitn(3, '|');
        let (Some(n), Some(system), Some(code)) = (parts.next().and_then(Decimal::parse), parts.next(), parts.next()) else {
            return false;
        };
        self.number.holds(&n) && self.system.as_deref().is_none_or(|s| s == system) && self.code.as_deref().is_none_or(|c| c == code)
    }
}

/// A parameter's definition; for `*`, only the `_` parameters every type has
/// (Patient stands for all of them, as in the criteria module).
fn definition(resource_type: &str, code: &str) -> Result<&'static SearchParam> {
    let owner = match resource_type {
        "*" if code.starts_with('_') => "Patient",
        "*" => "",
        t => t,
    };
    definitions::search_param(owner, code)
        .ok_or_else(|| FhirError::invalid(format!("unknown search parameter `{code}` for {resource_type}")))
}

fn compile_param(resource_type: &str, p: &Param) -> Result<Test> {
    let def = definition(resource_type, &p.code)?;
    let name = p.name();
    if p.values.iter().any(String::is_empty) {
        return Err(FhirError::invalid(format!("parameter `{name}` has an empty value")));
    }
    let (negate, kind) = match p.modifier.as_deref() {
        Some("missing") => match p.values.as_slice() {
            [v] if v == "true" || v == "false" => (false, Kind::Missing(v == "true")),
            _ => return Err(FhirError::invalid(format!("`{name}` takes `true` or `false`"))),
        },
        Some("not") => (true, compile_values(def, None, &p.values)?),
        modifier => (false, compile_values(def, modifier, &p.values)?),
    };
    Ok(Test { code: p.code.clone(), negate, kind })
}

/// The test of one parameter's values under `modifier` (not `missing`/`not`).
fn compile_values(def: &SearchParam, modifier: Option<&str>, values: &[String]) -> Result<Kind> {
    use SearchParamType as T;
    let code = def.code.as_str();
    let exact = |tokens: Result<Vec<String>>, rank| {
        let mut tokens = tokens?;
        tokens.sort_unstable();
        tokens.dedup();
        Ok(Kind::Exact { tokens, rank })
    };
    let text = |contains| Kind::Text { values: values.iter().map(|v| unescape(v).to_lowercase()).collect(), contains };
    match (def.kind, modifier) {
        (T::String, None) => Ok(text(false)),
        (T::String, Some("contains")) => Ok(text(true)),
        (T::String, Some("exact")) => exact(each(values, |v| Ok(token(code, TEXT, &unescape(v)))), 3),
        (T::Reference, None) => exact(each(values, |v| reference_value(code, None, v)), 1),
        (T::Reference, Some(target))
            if definitions::is_resource_type(target) && (def.targets.is_empty() || def.targets.iter().any(|t| t == target)) =>
        {
            exact(each(values, |v| reference_value(code, Some(target), v)), 1)
        }
        (T::Token, None) => exact(each(values, |v| token_value(code, v)), if code == "_id" { 0 } else { 2 }),
        (T::Uri, None) => exact(each(values, |v| Ok(token(code, EXACT, &unescape(v)))), 2),
        (T::Date, None) => each(values, date_value).map(Kind::Date),
        (T::Number, None) => each(values, number_value).map(Kind::Number),
        (T::Quantity, None) => each(values, quantity_value).map(Kind::Quantity),
        (T::Composite | T::Special, _) => Err(FhirError::invalid(format!("search parameter `{code}` ({:?}) is not supported", def.kind))),
        (_, Some(m)) => Err(FhirError::invalid(format!("modifier `:{m}` of `{code}` is not supported"))),
    }
}

/// `f` of every value, or the first error.
fn each<T>(values: &[String], f: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    values.iter().map(|v| f(v)).collect()
}

fn token(code: &str, sep: char, value: &str) -> String {
    format!("{code}{sep}{value}")
}

/// `Type/id` (history dropped), a bare id or a URL; with a target type
/// (`subject:Patient=1`), an id or a `Type/id` of that type.
fn reference_value(code: &str, target: Option<&str>, raw: &str) -> Result<String> {
    let value = unescape(raw);
    let reference = match (target, relative_reference(&value)) {
        (None, Some((t, id))) => format!("{t}/{id}"),
        (None, None) => value,
        (Some(target), Some((t, id))) if t == target => format!("{t}/{id}"),
        (Some(target), None) if is_valid_id(&value) => format!("{target}/{value}"),
        (Some(target), _) => return Err(FhirError::invalid(format!("`{value}` is not a reference to a {target}"))),
    };
    Ok(token(code, EXACT, &reference))
}

/// `code`, `system|code`, `|code` or `system|` (`\|` is a literal bar).
fn token_value(code: &str, raw: &str) -> Result<String> {
    match split_value(raw, '|').as_slice() {
        [value] => Ok(token(code, EXACT, &unescape(value))),
        [system, value] if !(system.is_empty() && value.is_empty()) => Ok(format!("{code}{EXACT}{}|{}", unescape(system), unescape(value))),
        _ => Err(FhirError::invalid(format!("`{raw}` is not `[system|]code`"))),
    }
}

/// A value's two-letter prefix, `eq` when it has none.
fn split_prefix(value: &str) -> (Prefix, &str) {
    let prefix = match value.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, value),
    };
    (prefix, &value[2..])
}

fn date_value(raw: &str) -> Result<DateTest> {
    let value = unescape(raw);
    let (prefix, date) = split_prefix(&value);
    let (low, high) = date_range(date).ok_or_else(|| FhirError::invalid(format!("`{value}` is not a date search value")))?;
    Ok(DateTest { prefix, low: format_instant(low), high: format_instant(high) })
}

fn number_value(raw: &str) -> Result<NumberTest> {
    let value = unescape(raw);
    let (prefix, number) = split_prefix(&value);
    Decimal::parse(number)
        .and_then(|n| NumberTest::new(prefix, n))
        .ok_or_else(|| FhirError::invalid(format!("`{value}` is not a number search value")))
}

/// `[prefix]number`, or `[prefix]number|system|code` with either part empty.
fn quantity_value(raw: &str) -> Result<QuantityTest> {
    let part = |p: &str| Some(unescape(p)).filter(|p| !p.is_empty());
    let (number, system, code) = match split_value(raw, '|').as_slice() {
        [number] => (number_value(number)?, None, None),
        [number, system, code] => (number_value(number)?, part(system), part(code)),
        _ => return Err(FhirError::invalid(format!("`{raw}` is not `number[|system|code]`"))),
    };
    Ok(QuantityTest { number, system, code })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::{parse_criteria, parse_query};
    use crate::search::compartment_tokens;
    use serde_json::json;

    fn compile(criteria: &str) -> Matcher {
        Matcher::compile(&parse_criteria(criteria).unwrap()).unwrap()
    }

    fn hit(criteria: &str, resource: &Value) -> bool {
        matches_resource(&compile(criteria), resource).unwrap()
    }

    fn error(criteria: &str) -> FhirError {
        Matcher::compile(&parse_criteria(criteria).unwrap()).unwrap_err()
    }

    fn patient() -> Value {
        json!({"resourceType": "Patient", "id": "p1", "active": true,
            "name": [{"given": ["Ann"], "family": "Smith-Jones"}],
            "address": [{"state": "CA", "city": "San Francisco"}],
            "generalPractitioner": [{"reference": "Practitioner/1"}],
            "managingOrganization": {"reference": "Organization/A"},
            "identifier": [{"system": "urn:mrn", "value": "a,b"}],
            "birthDate": "1970-06-15"})
    }

    #[test]
    fn seed_criteria_match_their_patient() {
        let p = patient();
        assert!(hit("Patient?address-state=CA", &p));
        assert!(hit("Patient?general-practitioner=Practitioner/1", &p));
        assert!(hit("Patient?organization=Organization/A&address-state=CA", &p));
        assert!(!hit("Patient?organization=Organization/B&address-state=CA", &p));
        assert!(!hit("Patient?organization=Organization/A&address-state=NY", &p));
        assert!(!hit("Practitioner?_id=p1", &p), "another type never matches");
    }

    #[test]
    fn observation_subject_matches_typed_and_bare_forms() {
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/1"}});
        for criteria in [
            "Observation?subject=Patient/1",
            "Observation?subject=1",
            "Observation?subject:Patient=1",
            "Observation?subject:Patient=Patient/1",
            "Observation?subject=Patient/1/_history/4",
            "Observation?patient=1",
        ] {
            assert!(hit(criteria, &obs), "{criteria}");
        }
        assert!(!hit("Observation?subject=Patient/2", &obs));
        assert!(!hit("Observation?subject:Group=1", &obs));
        assert!(!hit("Observation?subject=Group/1", &obs));
    }

    #[test]
    fn compartment_criteria_match_caller_compartments_and_the_patient_compartment() {
        let m = compile("Questionnaire?_compartment=Organization/1");
        let mut tokens = compartment_tokens("Organization/1");
        tokens.push("_id=q1".into());
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        assert!(m.matches("Questionnaire", &refs));
        assert!(compile("Questionnaire?_compartment=1").matches("Questionnaire", &refs));
        assert!(!m.matches("Questionnaire", &["_compartment=Organization/2", "_compartment=2"]));
        let obs = json!({"resourceType": "Observation", "performer": [{"reference": "Patient/7"}]});
        assert!(hit("Observation?_compartment=Patient/7", &obs));
    }

    #[test]
    fn string_is_prefix_by_default_exact_and_contains_on_request() {
        let p = patient();
        assert!(hit("Patient?name=smi", &p) && hit("Patient?name=ANN", &p) && hit("Patient?address-city=san f", &p));
        assert!(!hit("Patient?name=jones", &p), "not a prefix");
        assert!(hit("Patient?name:contains=JONES", &p));
        assert!(hit("Patient?name:exact=Smith-Jones", &p));
        assert!(!hit("Patient?name:exact=smith-jones", &p) && !hit("Patient?name:exact=Smith", &p));
    }

    #[test]
    fn missing_true_and_false() {
        let p = patient();
        assert!(hit("Patient?gender:missing=true", &p) && !hit("Patient?gender:missing=false", &p));
        assert!(hit("Patient?birthdate:missing=false", &p) && !hit("Patient?birthdate:missing=true", &p));
        assert!(hit("Patient?name:missing=false", &p));
    }

    #[test]
    fn not_matches_when_no_value_matches_including_none() {
        let p = patient();
        assert!(hit("Patient?organization:not=Organization/B", &p));
        assert!(!hit("Patient?organization:not=Organization/A", &p));
        assert!(!hit("Patient?organization:not=Organization/B,Organization/A", &p));
        assert!(hit("Patient?gender:not=male", &p), "missing counts as not");
        assert!(!hit("Patient?name:not=ann", &p));
    }

    #[test]
    fn token_forms_and_escapes() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}, {"code": "x|y"}]}});
        for criteria in [
            "Observation?code=1234-5",
            "Observation?code=http://loinc.org|1234-5",
            "Observation?code=http://loinc.org|",
            "Observation?code=|x\\|y",
            "Observation?status=final",
        ] {
            assert!(hit(criteria, &obs), "{criteria}");
        }
        for criteria in ["Observation?code=|1234-5", "Observation?code=http://snomed.info/sct|1234-5", "Observation?status=FINAL"] {
            assert!(!hit(criteria, &obs), "{criteria}");
        }
        assert!(hit("Patient?identifier=urn:mrn|a\\,b", &patient()), "escaped comma is one value");
        assert!(hit("Patient?active=true", &patient()) && !hit("Patient?active=false", &patient()));
    }

    #[test]
    fn commas_or_and_ampersands_and() {
        let p = patient();
        assert!(hit("Patient?address-state=NY,CA", &p));
        assert!(hit("Patient?address-state=NY,CA&name=ann", &p));
        assert!(!hit("Patient?address-state=NY,CA&name=bob", &p));
        assert!(!hit("Patient?name=ann&name=bob", &p), "repeated codes AND");
    }

    #[test]
    fn date_prefixes_follow_the_r4_table() {
        // birthDate 1970-06-15 is one day; the search value's precision is its range.
        let p = patient();
        let cases = [
            ("1970", true),
            ("1970-06", true),
            ("1970-06-15", true),
            ("1970-06-15T10:00Z", false),
            ("eq1971", false),
            ("ne1971", true),
            ("ne1970", false),
            ("ge1970-06-15", true),
            ("ge1970-06-16", false),
            ("ge1970", true),
            ("gt1970-06-14", true),
            ("gt1970", false),
            ("lt1970-06-16", true),
            ("lt1970-06-15", false),
            ("le1970-06-15", true),
            ("sa1970-06-14", true),
            ("sa1970-06-15", false),
            ("sa1969", true),
            ("eb1970-06-16", true),
            ("eb1970", false),
            ("ap1970-06-15T12:00Z", true),
            ("ap1971", false),
        ];
        for (value, expected) in cases {
            assert_eq!(hit(&format!("Patient?birthdate={value}"), &p), expected, "birthdate={value}");
        }
        // A Period target: ends outside a day search value are not `eq`, but overlap is `ap`.
        let enc = json!({"resourceType": "Encounter", "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-03"}});
        assert!(hit("Encounter?date=2020-01", &enc) && !hit("Encounter?date=2020-01-02", &enc));
        assert!(hit("Encounter?date=ap2020-01-02", &enc) && hit("Encounter?date=gt2020-01-02", &enc));
        assert!(hit("Encounter?date=lt2020-01-02", &enc) && !hit("Encounter?date=sa2020-01-02", &enc));
        let open = json!({"resourceType": "Encounter", "period": {"start": "2020-01-01"}});
        assert!(hit("Encounter?date=gt2100", &open) && !hit("Encounter?date=lt2020", &open));
    }

    #[test]
    fn last_updated_is_a_date() {
        let p = json!({"resourceType": "Patient", "meta": {"lastUpdated": "2026-11-22T18:16:00.123Z"}});
        assert!(hit("Patient?_lastUpdated=ge2026-11-22", &p) && !hit("Patient?_lastUpdated=lt2026-11-22", &p));
    }

    #[test]
    fn number_eq_uses_the_precision_of_the_search_value() {
        let seq = |n: &str| {
            serde_json::from_str::<Value>(&format!(r#"{{"resourceType": "MolecularSequence", "variant": [{{"start": {n}}}]}}"#)).unwrap()
        };
        assert!(hit("MolecularSequence?variant-start=100", &seq("100")));
        assert!(!hit("MolecularSequence?variant-start=100", &seq("101")));
        assert!(hit("MolecularSequence?variant-start=1e2", &seq("100")));
        assert!(hit("MolecularSequence?variant-start=gt99", &seq("100")));
        assert!(!hit("MolecularSequence?variant-start=lt100", &seq("100")));
        assert!(hit("MolecularSequence?variant-start=le100", &seq("100")));
        assert!(hit("MolecularSequence?variant-start=ap110", &seq("100")));
        assert!(!hit("MolecularSequence?variant-start=ap112", &seq("100")));
        assert!(hit("MolecularSequence?variant-start=ne101", &seq("100")));
        // Decimal targets against a precision range: [99.5, 100.5).
        let m = compile("ChargeItem?factor-override=100");
        assert!(m.matches("ChargeItem", &["factor-override#99.5"]));
        assert!(m.matches("ChargeItem", &["factor-override#100.49"]));
        assert!(!m.matches("ChargeItem", &["factor-override#100.5"]));
        assert!(compile("ChargeItem?factor-override=100.0").matches("ChargeItem", &["factor-override#100.04"]));
        assert!(!compile("ChargeItem?factor-override=100.0").matches("ChargeItem", &["factor-override#100.05"]));
    }

    #[test]
    fn quantity_with_and_without_units() {
        let obs = json!({"resourceType": "Observation",
            "valueQuantity": {"value": 5.4, "unit": "milligram", "system": "http://unitsofmeasure.org", "code": "mg"}});
        for criteria in [
            "Observation?value-quantity=5.4",
            "Observation?value-quantity=5.4|http://unitsofmeasure.org|mg",
            "Observation?value-quantity=5.4||mg",
            "Observation?value-quantity=gt5|http://unitsofmeasure.org|",
            "Observation?value-quantity=5.4||",
        ] {
            assert!(hit(criteria, &obs), "{criteria}");
        }
        for criteria in [
            "Observation?value-quantity=5.4||g",
            "Observation?value-quantity=5.4|http://other|mg",
            "Observation?value-quantity=lt5",
            "Observation?value-quantity=5.4||milligram",
        ] {
            assert!(!hit(criteria, &obs), "{criteria}");
        }
    }

    #[test]
    fn keys_take_the_most_selective_exact_parameter() {
        let keys = |c: &str| compile(c).keys();
        assert_eq!(keys("Patient?organization=Organization/X"), Some(vec!["organization=Organization/X".to_string()]));
        assert_eq!(keys("Observation?_compartment=Patient/1"), Some(vec!["_compartment=Patient/1".to_string()]));
        assert_eq!(keys("Patient?name=smith"), None);
        assert_eq!(keys("Patient?birthdate=1970&gender:missing=false&organization:not=Organization/1"), None);
        assert_eq!(keys("Patient?gender=male&_id=a,b&organization=O/1"), Some(vec!["_id=a".into(), "_id=b".into()]));
        assert_eq!(
            keys("Patient?gender=male,female&general-practitioner=Practitioner/1"),
            Some(vec!["general-practitioner=Practitioner/1".to_string()])
        );
        assert_eq!(keys("Patient?name:exact=Ann&name=x"), Some(vec!["name~Ann".to_string()]));
    }

    #[test]
    fn required_lists_single_exact_values() {
        let m = compile("Patient?organization=Organization/A&address-state=CA&gender=male,female&_id:not=x&active=true");
        assert_eq!(m.required(), ["active=true", "organization=Organization/A"]);
        assert!(compile("Patient?name=smith").required().is_empty());
    }

    #[test]
    fn wildcard_criteria_apply_to_every_type() {
        let m = compile("*?_compartment=Patient/1");
        assert!(m.matches("Observation", &["_compartment=Patient/1"]) && m.matches("Patient", &["_compartment=Patient/1"]));
    }

    #[test]
    fn unsupported_criteria_are_invalid_at_compile_time() {
        for criteria in [
            "Observation?code-value-quantity=http://loinc.org|1$5",
            "Location?near=1|2|3",
            "Patient?nope=1",
            "Patient?name:above=x",
            "Patient?identifier:exact=x",
            "Patient?organization:Practitioner=1",
            "Patient?organization:Organization=Practitioner/1",
            "Patient?birthdate=yesterday",
            "Patient?birthdate=xx1970",
            "MolecularSequence?variant-start=ten",
            "Observation?value-quantity=5|mg",
            "Patient?gender:missing=maybe",
            "Patient?identifier=|",
            "Patient?identifier=a|b|c",
            "Patient?name=",
        ] {
            let e = error(criteria);
            assert_eq!(e.kind.sqlstate(), "22023", "{criteria}: {}", e.message);
        }
        assert!(Matcher::compile(&parse_query("Patient", "name=a&_count=1").unwrap()).is_ok());
    }
}
