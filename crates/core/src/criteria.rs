//! FHIR search strings, parsed once: AccessPolicy `criteria` (`Type?a=b&c:not=d`)
//! and the query of `fhir.search(type, 'name=smith&_count=10')`.
//!
//! Values are kept in FHIR's escaped syntax (`\,` `\|` `\$` `\\`): a value is
//! one comma-separated alternative exactly as written, so `system|code` and
//! composite `$` structure survive; [`split_value`] and [`unescape`] interpret it.
//! Nothing is URL-decoded: `%profile` in a policy is a placeholder, not an
//! escape, and callers pass decoded text.

use crate::definitions::{self, SearchParam, SearchParamType};
use crate::outcome::{FhirError, Result};
use std::fmt;

/// A parsed search: filter parameters (ANDed) and result-control parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    /// A resource type, or `*` for the wildcard criteria of a `*` policy entry.
    pub resource_type: String,
    /// Filters, ANDed; a repeated code is several `Param`s.
    pub params: Vec<Param>,
    /// `_count`, `_sort`, `_include`… in order. Always empty for policy criteria.
    pub control: Vec<Param>,
}

/// One `code[:modifier]=v1,v2` parameter: the values are ORed alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub code: String,
    pub modifier: Option<String>,
    /// Each alternative in FHIR's escaped syntax (see the module documentation).
    pub values: Vec<String>,
}

/// Parameters that shape the result rather than select resources.
const CONTROL_PARAMS: [&str; 10] =
    ["_count", "_offset", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude", "_contained", "_containedType"];

fn axp3(message: impl fmt::Display) -> FhirError {
    FhirError::invalid(format!("axp-3: {message}"))
}

/// Parses AccessPolicy criteria, `Type?params` or `*?params`.
///
/// Checks the syntax only; [`Criteria::validate_for`] checks the codes against
/// the policy entry's type.
pub fn parse_criteria(s: &str) -> Result<Criteria> {
    let (resource_type, query) = s.split_once('?').ok_or_else(|| axp3(format!("criteria `{s}` must start with `Type?`")))?;
    if resource_type != "*" && !definitions::is_resource_type(resource_type) {
        return Err(axp3(format!("unknown resource type `{resource_type}` in criteria `{s}`")));
    }
    let criteria = parse_params(resource_type, query)?;
    if criteria.params.is_empty() && criteria.control.is_empty() {
        return Err(axp3(format!("criteria `{s}` has no search parameter")));
    }
    if let Some(p) = criteria.control.first() {
        return Err(axp3(format!("`{}` is not allowed in criteria `{s}`", p.code)));
    }
    Ok(criteria)
}

/// Parses and checks the query of a search on `resource_type` (no `Type?`
/// prefix; empty means no parameters). Result-control parameters go to `control`.
pub fn parse_query(resource_type: &str, query: &str) -> Result<Criteria> {
    if !definitions::is_resource_type(resource_type) {
        return Err(FhirError::invalid(format!("Unknown resource type `{resource_type}`")));
    }
    let criteria = parse_params(resource_type, query)?;
    criteria.validate_params(false)?;
    Ok(criteria)
}

fn parse_params(resource_type: &str, query: &str) -> Result<Criteria> {
    let mut criteria = Criteria { resource_type: resource_type.to_string(), params: Vec::new(), control: Vec::new() };
    // Empty segments (`a=1&&b=2`, a trailing `&`) carry nothing, as in a URL.
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        let (code, modifier) = match name.split_once(':') {
            Some((c, m)) => (c, Some(m.to_string())),
            None => (name, None),
        };
        if code.is_empty() {
            return Err(axp3(format!("empty parameter code in `{segment}`")));
        }
        if code == "_has" || code.contains('.') || modifier.as_deref().is_some_and(|m| m.contains('.')) {
            return Err(axp3(format!("chained and `_has` parameters are not supported: `{name}`")));
        }
        let param = Param { code: code.to_string(), modifier, values: split_value(value, ',').into_iter().map(str::to_string).collect() };
        if CONTROL_PARAMS.contains(&code) {
            criteria.control.push(param);
        } else {
            criteria.params.push(param);
        }
    }
    Ok(criteria)
}

impl Criteria {
    /// Medplum's `axp-3` for a policy entry of type `entry_resource_type` (or
    /// `*`): the criteria name that same type, and every parameter is one the
    /// criteria engine evaluates.
    pub fn validate_for(&self, entry_resource_type: &str) -> Result<()> {
        self.check_entry(entry_resource_type)?;
        self.validate_params(false)
    }

    /// As [`Criteria::validate_for`], for AccessPolicy criteria: a parameter
    /// the type does not have is accepted, as Medplum accepts it, and the
    /// entry then admits nothing (see [`Criteria::has_unknown_params`]).
    pub fn validate_policy(&self, entry_resource_type: &str) -> Result<()> {
        self.check_entry(entry_resource_type)?;
        self.validate_params(true)
    }

    /// True when a parameter is not a search parameter of the type.
    pub fn has_unknown_params(&self) -> bool {
        self.params.iter().any(|p| self.definition(&p.code).is_none())
    }

    fn check_entry(&self, entry_resource_type: &str) -> Result<()> {
        if self.resource_type != entry_resource_type {
            return Err(axp3(format!("criteria `{self}` must start with `{entry_resource_type}?`")));
        }
        if let Some(p) = self.control.first() {
            return Err(axp3(format!("`{}` is not allowed in criteria `{self}`", p.code)));
        }
        Ok(())
    }

    fn validate_params(&self, allow_unknown: bool) -> Result<()> {
        for p in &self.params {
            let name = p.name();
            let Some(def) = self.definition(&p.code) else {
                if allow_unknown {
                    continue;
                }
                return Err(axp3(format!("unknown search parameter `{}` for {}", p.code, self.resource_type)));
            };
            // The modifiers the criteria engine evaluates.
            let modifier_ok = match p.modifier.as_deref() {
                None | Some("missing" | "not") => true,
                Some("exact" | "contains") => def.kind == SearchParamType::String,
                // `subject:Patient=…` restricts the target type; a chain it is not.
                Some(m) => {
                    def.kind == SearchParamType::Reference
                        && definitions::is_resource_type(m)
                        && (def.targets.is_empty() || def.targets.iter().any(|t| t == m))
                }
            };
            if !modifier_ok {
                return Err(axp3(format!("modifier of `{name}` is not supported (missing, not, exact, contains or a target type)")));
            }
            if p.values.iter().any(String::is_empty) {
                return Err(axp3(format!("parameter `{name}` has an empty value")));
            }
            if p.modifier.as_deref() == Some("missing") && !p.values.iter().all(|v| v == "true" || v == "false") {
                return Err(axp3(format!("`{name}` takes `true` or `false`")));
            }
        }
        Ok(())
    }

    /// A parameter's definition; for `*` only the `_` parameters every type has.
    pub(crate) fn definition(&self, code: &str) -> Option<&'static SearchParam> {
        // Definitions give every searchable type the same `_` parameters:
        // Patient stands for all of them.
        let owner = match self.resource_type.as_str() {
            "*" if code.starts_with('_') => "Patient",
            "*" => return None,
            t => t,
        };
        definitions::search_param(owner, code)
    }
}

impl Param {
    /// `code` or `code:modifier`, as written.
    pub fn name(&self) -> String {
        match &self.modifier {
            Some(m) => format!("{}:{m}", self.code),
            None => self.code.clone(),
        }
    }
}

/// Splits escaped `value` on each `sep` not preceded by an escaping backslash;
/// the parts keep their escapes.
pub fn split_value(value: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = value.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == sep {
            parts.push(&value[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The literal text of an escaped value: `\,` `\|` `\$` `\\` lose their backslash.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

/// Escapes literal text as one alternative: a comma or backslash in it never
/// splits or escapes. `|` and `$` keep their meaning (system|code, composites).
pub fn escape_alternative(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == ',' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Canonical text: `Type?code[:modifier]=v1,v2&…`, filters then control parameters.
impl fmt::Display for Criteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}?", self.resource_type)?;
        for (i, p) in self.params.iter().chain(&self.control).enumerate() {
            let sep = if i == 0 { "" } else { "&" };
            write!(f, "{sep}{}={}", p.name(), p.values.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_criteria(s).and_then(|c| c.validate_for(&c.resource_type)).unwrap_err().message
    }

    #[test]
    fn criteria_round_trip_through_display() {
        for s in [
            "Patient?address-state=CA",
            "Patient?general-practitioner=%profile",
            "Observation?subject=%patient&code=http://loinc.org|1234-5,http://loinc.org|999",
            "Questionnaire?_compartment=Organization/%current_organization",
            "Patient?name:contains=Smith\\, John&_id:not=a,b",
            "Observation?subject:Patient=Patient/1&status:missing=false",
        ] {
            let c = parse_criteria(s).unwrap();
            c.validate_for(&c.resource_type).unwrap();
            assert_eq!(c.to_string(), s);
            assert_eq!(parse_criteria(&c.to_string()).unwrap(), c);
        }
    }

    #[test]
    fn escaped_comma_does_not_split_alternatives() {
        let c = parse_criteria("Patient?name=Smith\\, John,Doe&family=a\\\\,b").unwrap();
        assert_eq!(c.params[0].values, ["Smith\\, John", "Doe"]);
        assert_eq!(unescape(&c.params[0].values[0]), "Smith, John");
        // An escaped backslash does not escape the comma after it.
        assert_eq!(c.params[1].values, ["a\\\\", "b"]);
        assert_eq!(split_value("sys\\|x|code", '|'), ["sys\\|x", "code"]);
        assert_eq!(escape_alternative("a,b\\c|d"), "a\\,b\\\\c|d");
    }

    #[test]
    fn repeated_codes_are_separate_anded_params() {
        let c = parse_criteria("Patient?name=a&name=b").unwrap();
        assert_eq!(c.params.len(), 2);
        assert_eq!(c.params[1].values, ["b"]);
    }

    #[test]
    fn wildcard_criteria_takes_common_parameters_only() {
        let c = parse_criteria("*?_compartment=%patient").unwrap();
        assert_eq!(c.resource_type, "*");
        c.validate_for("*").unwrap();
        assert!(err("*?name=x").contains("unknown search parameter"));
        assert!(parse_criteria("*?_id=1").unwrap().validate_for("Patient").is_err());
    }

    #[test]
    fn criteria_without_type_prefix_or_parameters_are_rejected_axp3() {
        for s in ["identifier=123", "Patient", "Patient?", "Nope?name=x", "Patient?=x"] {
            assert!(err(s).starts_with("axp-3"), "{s}");
        }
    }

    #[test]
    fn criteria_of_another_type_is_rejected_axp3() {
        let c = parse_criteria("Patient?name=x").unwrap();
        let e = c.validate_for("Practitioner").unwrap_err();
        assert!(e.message.contains("axp-3") && e.message.contains("Practitioner?"));
        assert_eq!(e.kind.sqlstate(), "22023");
    }

    #[test]
    fn chained_and_has_criteria_are_rejected() {
        for s in ["Observation?patient.name=x", "Observation?subject:Patient.name=x", "Patient?_has:Observation:subject:code=x"] {
            assert!(err(s).contains("chained"), "{s}");
        }
    }

    #[test]
    fn device_identifier_criteria_is_accepted() {
        parse_criteria("Device?identifier=foo").unwrap().validate_for("Device").unwrap();
    }

    #[test]
    fn unsupported_modifiers_and_values_are_rejected() {
        assert!(err("Patient?name:above=x").contains("modifier"));
        assert!(err("Patient?identifier:exact=x").contains("modifier"));
        assert!(err("Observation?subject:Practitioner=x").contains("modifier"));
        assert!(err("Patient?name:missing=maybe").contains("true"));
        assert!(err("Patient?name=").contains("empty value"));
        assert!(err("Patient?name=a,,b").contains("empty value"));
    }

    #[test]
    fn result_parameters_are_refused_in_criteria_and_kept_apart_in_queries() {
        assert!(err("Patient?name=x&_count=10").contains("_count"));
        let q = parse_query("Patient", "name=smith&_count=10&_sort=-birthdate").unwrap();
        assert_eq!(q.params.len(), 1);
        assert_eq!(q.control.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["_count", "_sort"]);
        assert_eq!(q.to_string(), "Patient?name=smith&_count=10&_sort=-birthdate");
        assert!(parse_query("Patient", "").unwrap().params.is_empty());
        assert!(parse_query("Patient", "nope=1").is_err());
    }
}
