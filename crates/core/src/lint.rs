//! `fhir.lint_policy`: what an AccessPolicy gets wrong although it may be
//! written. Every warning holds for every membership under this extension's
//! semantics (the compilation in `policy`, the decisions in `access`): a lint
//! that cries wolf is ignored, so what the policy alone cannot decide is left out.

use crate::criteria::{self, Criteria};
use crate::definitions;
use crate::outcome::{FhirError, Result};
use crate::policy::{self, EffectivePolicy, Entry, Interaction, PROJECT_ADMIN_TYPES, PROTECTED_TYPES};
use crate::search::Matcher;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The policy, or every membership using it, is refused.
    Error,
    /// Part of the policy certainly does not do what it says, or is a risk.
    Warning,
    /// Worth knowing; often intended.
    Information,
}

impl Severity {
    /// The OperationOutcome issue severity.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable, kebab-case: what clients match on.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The index in `resource[]`; `None` for the policy as a whole.
    pub entry: Option<usize>,
}

impl Warning {
    fn new(code: &'static str, severity: Severity, entry: Option<usize>, message: String) -> Warning {
        Warning { code, severity, message, entry }
    }

    /// One row of `fhir.lint_policy`: `{code, severity, message, entry}`.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code, "severity": self.severity.as_str(), "message": self.message, "entry": self.entry })
    }
}

/// Policies with more entries are not reviewed: the review compares entries
/// pairwise, and any role may ask for it.
pub const MAX_ENTRIES: usize = 1000;

/// The warnings of `policy` (an AccessPolicy), policy-wide ones first, then by entry.
pub fn lint(policy: &Value) -> Vec<Warning> {
    let raw_entries = match &policy["resource"] {
        Value::Array(entries) => entries.as_slice(),
        Value::Null => &[],
        _ => return policy::validate(policy).err().map(|e| invalid(None, &e)).into_iter().collect(),
    };
    if raw_entries.len() > MAX_ENTRIES {
        let why = format!("the policy has {} entries; only policies of at most {MAX_ENTRIES} are reviewed", raw_entries.len());
        return vec![Warning::new("not-reviewed", Severity::Information, None, why)];
    }
    let mut out = Vec::new();
    // Each entry is checked alone, so one invalid entry does not hide the others' warnings.
    let mut valid: Vec<(usize, &Value)> = Vec::new();
    for (i, raw) in raw_entries.iter().enumerate() {
        match policy::validate(&json!({ "resource": [raw] })) {
            Ok(()) => valid.push((i, raw)),
            Err(e) => out.push(invalid(Some(i), &e)),
        }
    }
    let entries = match plain_entries(&valid) {
        Ok(entries) => entries,
        Err(e) => {
            out.push(invalid(None, &e));
            return out;
        }
    };
    let conditional: Vec<bool> = valid.iter().map(|(_, raw)| raw["criteria"].is_string() || has_compartment(raw)).collect();
    for (k, ((i, raw), entry)) in valid.iter().zip(&entries).enumerate() {
        let at = Some(*i);
        if let Some(why) = grants_nothing(entry) {
            out.push(Warning::new("grants-nothing", Severity::Warning, at, why));
            continue;
        }
        if !conditional[k] {
            out.extend(unrestricted(entry, at));
        }
        for (field, paths) in [("hiddenFields", &entry.hidden_fields), ("readonlyFields", &entry.readonly_fields)] {
            for path in paths {
                if let Some(why) = no_such_field(&entry.resource_type, field, path) {
                    out.push(Warning::new("no-such-field", Severity::Warning, at, why));
                }
            }
        }
        if let Some(c) = raw["criteria"].as_str().and_then(|c| criteria::parse_criteria(c).ok()) {
            out.extend(criteria_warnings(&c, at));
        }
        for (n, w) in raw["writeConstraint"].as_array().into_iter().flatten().enumerate() {
            let expression = w["expression"].as_str().unwrap_or_default();
            if let Some(outcome) = never_true(&entry.resource_type, expression) {
                let message = format!(
                    "writeConstraint[{n}] `{expression}` does not depend on the resource, %before, %after or any parameter, and {outcome}: \
                     every create and update this entry is the first to admit is refused"
                );
                out.push(Warning::new("never-true-write-constraint", Severity::Warning, at, message));
            }
        }
        out.extend(admin_warnings(entry, conditional[k], at));
        if let Some((j, earlier)) = entries[..k].iter().enumerate().find(|(j, e)| !conditional[*j] && shadows(e, entry)) {
            out.push(Warning::new("shadowed-entry", Severity::Warning, at, shadowed_message(valid[j].0, earlier, entry)));
        }
    }
    out.extend(parameter_warnings(policy, &valid));
    // Stable: within one entry, warnings keep the order above.
    out.sort_by_key(|w| w.entry.map_or(0, |i| i + 1));
    out
}

fn invalid(entry: Option<usize>, e: &FhirError) -> Warning {
    // Per-entry checks locate errors in a one-entry policy: name the field only.
    let field = e.expression.first().and_then(|x| x.split_once("].")).map(|(_, field)| field);
    let message = match field {
        Some(field) => format!("{field}: {}", e.message),
        None => e.message.clone(),
    };
    let message = format!("{message} (writing the policy is refused, and so is every membership using it)");
    Warning::new("invalid-policy", Severity::Error, entry, message)
}

const PROBE_POLICY: &str = "AccessPolicy/lint";

/// Compiles `policy` as the only source of a membership with profile
/// `Practitioner/lint` and these access parameters. The project is a
/// super-admin one so that entries for admin types are compiled and kept.
fn compile(policy: &Value, parameters: &[Value]) -> Result<EffectivePolicy> {
    let membership = json!({
        "resourceType": "ProjectMembership",
        "project": { "reference": "Project/lint" },
        "profile": { "reference": "Practitioner/lint" },
        "access": [{ "policy": { "reference": PROBE_POLICY }, "parameter": parameters }],
    });
    let project = json!({ "resourceType": "Project", "id": "lint", "superAdmin": true });
    EffectivePolicy::compile(&membership, &project, &|r| (r == PROBE_POLICY).then(|| policy.clone()))
}

/// The valid entries as compiled, without their parameter-dependent parts
/// (criteria, compartment, writeConstraint), which the lints read raw.
fn plain_entries(valid: &[(usize, &Value)]) -> Result<Vec<Entry>> {
    let plain: Vec<Value> = valid
        .iter()
        .map(|(_, raw)| {
            let mut entry = json!({});
            for key in ["resourceType", "interaction", "readonly", "hiddenFields", "readonlyFields"] {
                if let Some(v) = raw.get(key) {
                    entry[key] = v.clone();
                }
            }
            entry
        })
        .collect();
    let compiled = compile(&json!({ "resourceType": "AccessPolicy", "resource": plain }), &[])?;
    Ok(compiled.entries.into_iter().filter(|e| e.source.is_some()).collect())
}

/// As the compilation reads it: an empty reference is no compartment.
fn has_compartment(raw: &Value) -> bool {
    raw["compartment"]["reference"].as_str().is_some_and(|r| !r.is_empty())
}

fn interactions(entry: &Entry) -> String {
    entry.interactions.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ")
}

fn grants_nothing(entry: &Entry) -> Option<String> {
    let t = &entry.resource_type;
    if t != "*" && !definitions::is_resource_type(t) {
        return Some(format!("`{t}` is not a resource type: the entry covers no resource"));
    }
    entry.interactions.is_empty().then(|| format!("the entry for {t} lists no interaction, so it grants nothing"))
}

/// A grant without criteria or compartment: `*` always; a concrete type only
/// when it holds patient data (a Patient, or a type in the Patient compartment),
/// since shared reference data (Questionnaire, ValueSet…) is meant to be open.
fn unrestricted(entry: &Entry, at: Option<usize>) -> Option<Warning> {
    let t = &entry.resource_type;
    if t == "*" {
        let message = format!(
            "`*` without criteria or compartment grants {} on every resource of every type in the project, AccessPolicy, \
             ClientApplication and Bot included (only the project-admin and protected types are left out)",
            interactions(entry)
        );
        return Some(Warning::new("unrestricted-grant", Severity::Warning, at, message));
    }
    if definitions::patient_compartment_params(t).is_empty() {
        return None;
    }
    let whose = if t == "Patient" { "" } else { ", whichever patient it belongs to" };
    let message = format!("{t} without criteria or compartment grants {} on every {t} in the project{whose}", interactions(entry));
    Some(Warning::new("unrestricted-grant", Severity::Information, at, message))
}

/// A field path that can match no key of a valid resource of the type. Only
/// choice elements are known per type (`definitions::choice_types`): a choice
/// element has no key of its bare name, and only keys for the types it allows.
/// `x[x]` where the type has no choice `x` is not reported: it still matches
/// ordinary elements named `x<Type>` (`reason[x]` matches `reasonCode`).
const MAX_PATH_BYTES: usize = 256;
const MAX_PATH_SEGMENTS: usize = 16;

fn no_such_field(resource_type: &str, field: &str, path: &str) -> Option<String> {
    if resource_type == "*" {
        return None;
    }
    // No element path of the model is longer: such a path is left to validation.
    if path.len() > MAX_PATH_BYTES || path.split('.').nth(MAX_PATH_SEGMENTS).is_some() {
        return None;
    }
    let effect = if field == "hiddenFields" { "hides" } else { "protects" };
    let mut prefix = String::new();
    for seg in path.split('.') {
        let at = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };
        if seg.ends_with("[x]") {
            return None;
        }
        if let Some(allowed) = definitions::choice_types(resource_type, &at(seg)) {
            let keys: Vec<String> = allowed.iter().map(|s| format!("{seg}{s}")).collect();
            return Some(format!(
                "{field} `{path}`: {resource_type}.{} is a choice element: a valid resource holds it as {}, never `{seg}`, so the path \
                 {effect} nothing; write `{}[x]`",
                at(seg),
                keys.join(", "),
                at(seg)
            ));
        }
        // A choice key (`valueQuantity`): under it lies a data type, of which nothing is known.
        let mut wrong = None;
        for (i, _) in seg.char_indices().skip(1) {
            let (base, suffix) = seg.split_at(i);
            match definitions::choice_types(resource_type, &at(base)) {
                Some(allowed) if allowed.iter().any(|s| s == suffix) => return None,
                Some(allowed) if definitions::is_data_type_suffix(suffix) => wrong = Some((base, suffix, allowed)),
                _ => {}
            }
        }
        if let Some((base, suffix, allowed)) = wrong {
            return Some(format!(
                "{field} `{path}`: {resource_type}.{}[x] does not allow {suffix} (only {}), so no valid resource has `{seg}` and the \
                 path {effect} nothing",
                at(base),
                allowed.join(", ")
            ));
        }
        prefix = at(seg);
    }
    None
}

/// Criteria the engine cannot use: a parameter the type does not have makes
/// the entry admit nothing (`Criteria::has_unknown_params`, as `access` decides);
/// otherwise a literal value the matcher refuses makes every membership fail
/// to compile. Values holding a parameter depend on the membership: not judged.
fn criteria_warnings(c: &Criteria, at: Option<usize>) -> Vec<Warning> {
    let unknown: Vec<String> = c.params.iter().filter(|p| c.definition(&p.code).is_none()).map(|p| format!("`{}`", p.code)).collect();
    if !unknown.is_empty() {
        let unknown = unknown.join(", ");
        let message = match c.resource_type.as_str() {
            "*" => format!(
                "criteria `{c}`: `*` criteria can only use the parameters every type has (`_id`, `_compartment`, `_tag`…), not \
                 {unknown}: the entry admits no resource, so it grants nothing"
            ),
            "Binary" => format!(
                "criteria `{c}`: Binary has no search parameters: the entry admits no Binary, so it grants nothing (Medplum instead \
                 ignores criteria on Binary and admits every one)"
            ),
            t => format!("criteria `{c}`: {t} has no search parameter {unknown}: the entry admits no resource, so it grants nothing"),
        };
        return vec![Warning::new("unknown-search-parameter", Severity::Warning, at, message)];
    }
    c.params
        .iter()
        .filter(|p| !p.values.iter().any(|v| v.contains('%')))
        .filter_map(|p| {
            let one = Criteria { resource_type: c.resource_type.clone(), params: vec![p.clone()], control: Vec::new() };
            let e = Matcher::compile(&one).err()?;
            let message = format!(
                "criteria `{c}`: {}: the policy can be written, but every membership using it is refused when its session starts",
                e.message
            );
            Some(Warning::new("unusable-criteria", Severity::Error, at, message))
        })
        .collect()
}

/// How a writeConstraint that can never be exactly `true` fails, or `None`.
/// Only expressions whose value is fixed are judged: no dependency on the
/// resource (the sound analysis of `fhirpath`, which counts every caller-bound
/// variable as the resource), no `%` (a parameter in a string literal is
/// substituted per membership), no clock.
fn never_true(resource_type: &str, expression: &str) -> Option<String> {
    if expression.contains('%') || ["now", "today", "timeOfDay"].iter().any(|f| expression.contains(f)) {
        return None;
    }
    let parsed = fhirpath::parse(expression).ok()?;
    if !parsed.dependencies().is_empty() {
        return None;
    }
    let stub = json!({ "resourceType": resource_type });
    match parsed.evaluate(&stub, &fhirpath::Environment::new()) {
        Ok(result) if result.is_single_true() => None,
        Ok(result) if result.is_empty() => Some("is always empty".to_owned()),
        Ok(result) => Some(format!("is always {}", result.to_json())),
        Err(e) => Some(format!("always fails ({e})")),
    }
}

/// Types whose writes change who may do what, and why.
const ACCESS_CONTROL_TYPES: [(&str, &str); 3] = [
    ("AccessPolicy", "an AccessPolicy decides what memberships may do"),
    ("ClientApplication", "a ClientApplication is an identity with its own membership"),
    ("Bot", "a Bot is an identity with its own membership"),
];

fn admin_warnings(entry: &Entry, conditional: bool, at: Option<usize>) -> Vec<Warning> {
    let t = entry.resource_type.as_str();
    let mut out = Vec::new();
    if PROJECT_ADMIN_TYPES.contains(&t) {
        let message = format!(
            "{t} is a project-admin type: compiling a membership drops this entry (non-admins never reach {t}; project admins get \
             fixed entries instead), except in a super-admin project, where it grants what it says"
        );
        out.push(Warning::new("admin-type-entry", Severity::Warning, at, message));
    }
    if PROTECTED_TYPES.contains(&t) {
        let message =
            format!("{t} is a protected type: only members of a super-admin project reach it; elsewhere the entry grants nothing");
        out.push(Warning::new("protected-type-entry", Severity::Warning, at, message));
    }
    let writes: Vec<&str> = [Interaction::Create, Interaction::Update, Interaction::Delete]
        .into_iter()
        .filter(|i| entry.interactions.contains(i))
        .map(|i| i.as_str())
        .collect();
    // `*` with conditions writes only what they admit: not judged.
    let targets: Vec<(&str, &str)> = ACCESS_CONTROL_TYPES.into_iter().filter(|(a, _)| *a == t || (t == "*" && !conditional)).collect();
    if !writes.is_empty() && !targets.is_empty() {
        let (names, why): (Vec<&str>, Vec<&str>) = targets.into_iter().unzip();
        let message = format!(
            "the entry grants {} on {}; {}: members could widen access, their own included",
            writes.join(", "),
            names.join(", "),
            why.join("; ")
        );
        out.push(Warning::new("access-control-write", Severity::Warning, at, message));
    }
    out
}

/// Does the unconditional `earlier` entry shadow `later`? It covers every
/// resource `later` covers and grants every interaction `later` grants, so it
/// is the first entry admitting each such resource: `later` never decides
/// access, and never supplies hiddenFields, readonlyFields or writeConstraints.
fn shadows(earlier: &Entry, later: &Entry) -> bool {
    earlier.covers(&later.resource_type) && earlier.interactions.is_superset(&later.interactions)
}

fn shadowed_message(earlier_index: usize, earlier: &Entry, later: &Entry) -> String {
    let t = &later.resource_type;
    let mut message = format!(
        "resource[{earlier_index}] comes first, covers every {} without criteria or compartment and grants {}: this entry never \
         applies (its criteria, hiddenFields, readonlyFields and writeConstraints are never used)",
        if t == "*" { "resource" } else { t },
        interactions(earlier)
    );
    let hidden = |e: &Entry| e.hidden_fields.iter().cloned().collect::<BTreeSet<String>>();
    if !hidden(earlier).is_empty() {
        message.push_str(&format!("; reads are redacted by resource[{earlier_index}]'s hiddenFields"));
    }
    let own: Vec<String> = hidden(later).difference(&hidden(earlier)).cloned().collect();
    if !own.is_empty() {
        message.push_str(&format!(
            "; its hiddenFields {} are not applied to what is returned, yet searches on them filter the redacted document",
            own.join(", ")
        ));
    }
    message
}

/// What the probe learnt one parameter must be.
struct Need {
    name: String,
    /// Not `profile` or `patient`, which every membership supplies.
    custom: bool,
    /// Used as `%name.id`.
    reference: bool,
    /// The types `Type/%name` asked for when the value was a reference of another.
    types: BTreeSet<String>,
    entry: Option<usize>,
    place: String,
}

impl Need {
    /// The value that satisfies everything learnt so far: text unless a reference is needed.
    fn parameter(&self) -> Value {
        match self.types.first().filter(|_| self.reference) {
            Some(t) => json!({ "name": self.name, "valueReference": { "reference": format!("{t}/lint") } }),
            None if self.reference => json!({ "name": self.name, "valueReference": { "reference": "Patient/lint" } }),
            None => json!({ "name": self.name, "valueString": "lint" }),
        }
    }
}

/// A compilation failure that names a parameter (the messages of `policy`).
enum Failure<'a> {
    Unknown(&'a str),
    NeedsReference(&'a str),
    /// `Type/%name` against a reference of another type.
    WrongType(&'a str, &'a str),
}

fn failure(message: &str) -> Option<Failure<'_>> {
    if let Some(rest) = message.strip_prefix("Unknown access parameter `%") {
        return rest.strip_suffix('`').map(Failure::Unknown);
    }
    if let Some(name) = message.strip_prefix("`%").and_then(|m| m.strip_suffix(".id` needs a reference parameter")) {
        return Some(Failure::NeedsReference(name));
    }
    let (used, _) = message.strip_prefix('`')?.split_once("` but access parameter `")?;
    let (t, name) = used.split_once("/%")?;
    Some(Failure::WrongType(t, name))
}

/// The entry (original index) and field a compilation error is about.
fn locate(e: &FhirError, valid: &[(usize, &Value)]) -> (Option<usize>, String) {
    let Some(x) = e.expression.first().and_then(|x| x.strip_prefix("AccessPolicy.resource[")) else {
        return (None, "compartment".to_owned());
    };
    let (k, field) = x.split_once("].").unwrap_or((x, ""));
    let entry = k.parse::<usize>().ok().and_then(|k| valid.get(k)).map(|(i, _)| *i);
    (entry, entry.map_or_else(|| field.to_owned(), |i| format!("resource[{i}].{field}")))
}

/// Bound on compilations: each one learns a name, that a name is a reference,
/// or a type; a policy needing more is linted no further.
const MAX_PROBES: usize = 64;

/// Parameters are not declared: memberships supply them
/// (`ProjectMembership.access[].parameter`; `%profile` and `%patient`
/// always, and nothing else through `ProjectMembership.accessPolicy`). So
/// the policy is compiled with what each failure asks for until it compiles:
/// the parameters found are the ones a membership must supply, and one asked
/// to be a reference of two types can never be supplied.
fn parameter_warnings(policy: &Value, valid: &[(usize, &Value)]) -> Vec<Warning> {
    let probed = json!({
        "resourceType": "AccessPolicy",
        "compartment": policy["compartment"],
        "resource": valid.iter().map(|(_, raw)| (*raw).clone()).collect::<Vec<_>>(),
    });
    let mut needs: Vec<Need> = Vec::new();
    for _ in 0..MAX_PROBES {
        let supplied: Vec<Value> = needs.iter().map(Need::parameter).collect();
        let Err(e) = compile(&probed, &supplied) else { break };
        let (entry, place) = locate(&e, valid);
        let message = e.message.strip_prefix(&format!("{PROBE_POLICY}: ")).unwrap_or(&e.message);
        let Some(f) = failure(message) else {
            let message = format!("{place}: {message}: every membership using this policy is refused");
            return vec![Warning::new("invalid-policy", Severity::Error, entry, message)];
        };
        let name = match f {
            Failure::Unknown(n) | Failure::NeedsReference(n) | Failure::WrongType(_, n) => n,
        };
        let index = needs.iter().position(|n| n.name == name).unwrap_or_else(|| {
            let custom = matches!(f, Failure::Unknown(_));
            needs.push(Need { name: name.to_owned(), custom, reference: false, types: BTreeSet::new(), entry, place: place.clone() });
            needs.len() - 1
        });
        let need = &mut needs[index];
        match f {
            Failure::Unknown(_) => {}
            Failure::NeedsReference(_) => need.reference = true,
            Failure::WrongType(t, _) => {
                need.types.insert(t.to_owned());
            }
        }
        if need.reference && need.types.len() > 1 {
            let types: Vec<String> = need.types.iter().map(|t| format!("`{t}/%{name}`")).collect();
            let message = format!(
                "`%{name}` must be a reference (`%{name}.id`) and is used as {}: no reference is of both types, so every membership \
                 using this policy is refused",
                types.join(" and ")
            );
            return vec![Warning::new("unsatisfiable-parameter", Severity::Error, entry, message)];
        }
    }
    let mut out: Vec<Warning> = needs
        .iter()
        .filter(|n| n.custom)
        .map(|n| {
            let message = format!(
                "{} uses the parameter `%{}`: memberships must supply it in ProjectMembership.access[].parameter; one that does not \
                 (any naming this policy in ProjectMembership.accessPolicy, which supplies only %profile and %patient) is refused",
                n.place, n.name
            );
            Warning::new("required-parameter", Severity::Information, n.entry, message)
        })
        .collect();
    let mut bound: Vec<String> = ["profile", "patient"].into_iter().map(str::to_owned).chain(needs.into_iter().map(|n| n.name)).collect();
    for (i, raw) in valid {
        for (n, w) in raw["writeConstraint"].as_array().into_iter().flatten().enumerate() {
            for name in unbound_variables(raw, w["expression"].as_str().unwrap_or_default(), &mut bound) {
                let message = format!(
                    "resource[{i}].writeConstraint[{n}] reads the variable `%{name}`, bound from the membership's parameter `{name}`: \
                     a membership that does not supply it fails the constraint, so every create and update this entry is the first to \
                     admit is refused"
                );
                out.push(Warning::new("required-parameter", Severity::Information, Some(*i), message));
            }
        }
    }
    out
}

/// The FHIRPath variables (bound at write time from the membership's
/// parameters) a writeConstraint reads that are not in `bound`, found by
/// evaluating it as the write check does; each found is added to `bound`.
/// Variables evaluation never reaches on an empty resource are not found.
fn unbound_variables(raw: &Value, expression: &str, bound: &mut Vec<String>) -> Vec<String> {
    let Ok(parsed) = fhirpath::parse(expression) else { return Vec::new() };
    let stub = json!({ "resourceType": raw["resourceType"].as_str().filter(|t| *t != "*").unwrap_or("Patient") });
    let text = json!("lint");
    let mut found = Vec::new();
    for _ in 0..MAX_PROBES {
        let mut env = fhirpath::Environment::new().with_variable("before", None).with_variable("after", [&stub]);
        for name in bound.iter() {
            env.set_variable(name, [&text]);
        }
        let Err(e) = parsed.evaluate(&stub, &env) else { break };
        let Some(name) = e.message.strip_prefix("undefined variable %") else { break };
        found.push(name.to_owned());
        bound.push(name.to_owned());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: Value) -> Value {
        json!({ "resourceType": "AccessPolicy", "resource": entries })
    }

    /// `(code, entry)` of every warning of a policy with these entries.
    fn codes(entries: Value) -> Vec<(&'static str, Option<usize>)> {
        lint(&policy(entries)).into_iter().map(|w| (w.code, w.entry)).collect()
    }

    fn only(entries: Value) -> Warning {
        let mut warnings = lint(&policy(entries));
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        warnings.remove(0)
    }

    #[test]
    fn a_policy_of_conditioned_grants_and_shared_reference_data_is_clean() {
        let clean = policy(json!([
            { "resourceType": "Patient", "criteria": "Patient?general-practitioner=%profile", "hiddenFields": ["birthDate", "name.given"] },
            { "resourceType": "Observation", "criteria": "Observation?subject=%patient&status=final,amended", "readonly": true,
              "hiddenFields": ["value[x]", "component.valueQuantity.unit"], "readonlyFields": ["effectiveDateTime"] },
            { "resourceType": "Communication", "compartment": { "reference": "%profile" },
              "writeConstraint": [{ "expression": "sender.reference = '%profile' and %before.exists().not()" }] },
            { "resourceType": "Questionnaire", "readonly": true },
            { "resourceType": "Encounter", "criteria": "Encounter?_compartment=%patient", "hiddenFields": ["reason[x]"] },
        ]));
        assert_eq!(lint(&clean), []);
    }

    #[test]
    fn warnings_are_rows_of_code_severity_message_and_entry() {
        let w = Warning::new("grants-nothing", Severity::Warning, Some(2), "m".into());
        assert_eq!(w.to_json(), json!({ "code": "grants-nothing", "severity": "warning", "message": "m", "entry": 2 }));
        let whole = Warning::new("invalid-policy", Severity::Error, None, "m".into());
        assert_eq!(whole.to_json()["entry"], Value::Null);
    }

    #[test]
    fn an_invalid_entry_is_reported_at_its_index_and_the_others_are_still_linted() {
        let w = codes(json!([
            { "resourceType": "Practitioner", "criteria": "Patient?name=x" },
            { "resourceType": "Observation", "criteria": "Observation?nope=1" },
        ]));
        assert_eq!(w, [("invalid-policy", Some(0)), ("unknown-search-parameter", Some(1))]);
        let e = lint(&json!({ "resource": { "resourceType": "Patient" } }));
        assert_eq!((e[0].code, e[0].severity, e[0].entry), ("invalid-policy", Severity::Error, None));
        let message = &lint(&policy(json!([{ "resourceType": "Patient", "hiddenFields": ["meta"] }])))[0].message;
        assert!(message.starts_with("hiddenFields: 'meta'"), "{message}");
    }

    #[test]
    fn an_unknown_type_or_an_empty_interaction_list_grants_nothing() {
        let w = codes(json!([{ "resourceType": "CodeSet" }, { "resourceType": "Patient", "interaction": [] }]));
        assert_eq!(w, [("grants-nothing", Some(0)), ("grants-nothing", Some(1))]);
    }

    #[test]
    fn a_wildcard_without_criteria_or_compartment_is_an_unrestricted_grant() {
        let w = codes(json!([{ "resourceType": "*", "readonly": true }]));
        assert_eq!(w, [("unrestricted-grant", Some(0))]);
        assert_eq!(only(json!([{ "resourceType": "*", "readonly": true }])).severity, Severity::Warning);
        assert_eq!(codes(json!([{ "resourceType": "*", "readonly": true, "criteria": "*?_compartment=%patient" }])), []);
    }

    #[test]
    fn patient_data_without_criteria_is_noted_but_reference_data_is_not() {
        let w = only(json!([{ "resourceType": "Observation", "interaction": ["read", "search"] }]));
        assert_eq!((w.code, w.severity), ("unrestricted-grant", Severity::Information));
        assert!(w.message.contains("read, search on every Observation"), "{}", w.message);
        assert_eq!(codes(json!([{ "resourceType": "Patient", "compartment": { "reference": "Organization/o1" } }])), []);
        assert_eq!(codes(json!([{ "resourceType": "ValueSet" }, { "resourceType": "Practitioner" }])), []);
    }

    #[test]
    fn a_choice_element_named_without_its_type_hides_nothing() {
        let w = only(json!([{ "resourceType": "Observation", "criteria": "Observation?status=final", "hiddenFields": ["value"] }]));
        assert_eq!((w.code, w.entry), ("no-such-field", Some(0)));
        assert!(w.message.contains("valueQuantity") && w.message.contains("write `value[x]`"), "{}", w.message);
        let nested =
            only(json!([{ "resourceType": "Observation", "criteria": "Observation?status=final", "readonlyFields": ["component.value"] }]));
        assert!(nested.message.contains("protects nothing") && nested.message.contains("`component.value[x]`"), "{}", nested.message);
    }

    #[test]
    fn a_choice_key_for_a_type_the_element_does_not_allow_hides_nothing() {
        let w = only(json!([{ "resourceType": "Patient", "criteria": "Patient?active=true", "hiddenFields": ["deceasedString"] }]));
        assert_eq!(w.code, "no-such-field");
        assert!(w.message.contains("Patient.deceased[x] does not allow String (only Boolean, DateTime)"), "{}", w.message);
    }

    #[test]
    fn fields_the_definitions_cannot_judge_are_not_reported() {
        let entry = json!({ "resourceType": "Observation", "criteria": "Observation?status=final", "hiddenFields": [
            "valueDateTime", "valueQuantity.value", "nonsense", "subject.display", "note.author[x]", "code.coding.display"] });
        assert_eq!(codes(json!([entry])), []);
        let star = json!({ "resourceType": "*", "criteria": "*?_compartment=%patient", "hiddenFields": ["value"] });
        assert_eq!(codes(json!([star])), []);
    }

    #[test]
    fn criteria_naming_a_parameter_the_type_does_not_have_grant_nothing() {
        let w = only(json!([{ "resourceType": "Practitioner", "criteria": "Practitioner?organization=%profile&name=x" }]));
        assert_eq!((w.code, w.severity), ("unknown-search-parameter", Severity::Warning));
        assert!(w.message.contains("Practitioner has no search parameter `organization`"), "{}", w.message);
    }

    #[test]
    fn wildcard_criteria_may_only_use_the_parameters_every_type_has() {
        let w = only(json!([{ "resourceType": "*", "criteria": "*?name=x" }]));
        assert_eq!(w.code, "unknown-search-parameter");
        assert!(w.message.contains("every type has"), "{}", w.message);
    }

    #[test]
    fn criteria_on_binary_grant_nothing_here_unlike_medplum() {
        let w = only(json!([{ "resourceType": "Binary", "criteria": "Binary?_id=b1" }]));
        assert_eq!(w.code, "unknown-search-parameter");
        assert!(w.message.contains("ignores criteria on Binary"), "{}", w.message);
    }

    #[test]
    fn a_literal_criteria_value_the_matcher_refuses_makes_every_membership_fail() {
        for criteria in ["Observation?date=yesterday", "Observation?code-value-quantity=x", "Observation?subject:Patient=Group/g"] {
            assert!(policy::validate(&policy(json!([{ "resourceType": "Observation", "criteria": criteria }]))).is_ok());
            let w = only(json!([{ "resourceType": "Observation", "criteria": criteria }]));
            assert_eq!((w.code, w.severity), ("unusable-criteria", Severity::Error), "{criteria}");
        }
        // A value from a parameter is the membership's: not judged.
        assert_eq!(
            codes(json!([{ "resourceType": "Observation", "criteria": "Observation?date=%when" }])).len(),
            1,
            "required-parameter only"
        );
    }

    #[test]
    fn an_unconditional_earlier_entry_of_the_same_type_shadows_a_later_one() {
        let w = codes(json!([
            { "resourceType": "Questionnaire" },
            { "resourceType": "Questionnaire", "criteria": "Questionnaire?status=active", "readonly": true, "readonlyFields": ["item"] },
        ]));
        assert_eq!(w, [("shadowed-entry", Some(1))]);
    }

    #[test]
    fn a_shadowed_entry_names_the_hidden_fields_it_will_not_apply() {
        let w = lint(&policy(json!([
            { "resourceType": "Patient", "readonly": true },
            { "resourceType": "Patient", "criteria": "Patient?active=true", "interaction": ["read"], "hiddenFields": ["birthDate"] },
        ])));
        let shadowed = w.iter().find(|w| w.code == "shadowed-entry").unwrap();
        assert_eq!(shadowed.entry, Some(1));
        assert!(shadowed.message.contains("hiddenFields birthDate are not applied"), "{}", shadowed.message);
    }

    #[test]
    fn a_wildcard_shadows_later_entries_of_the_types_it_covers_only() {
        let w = codes(json!([
            { "resourceType": "*", "readonly": true },
            { "resourceType": "ValueSet", "interaction": ["read"] },
            { "resourceType": "ProjectMembership", "interaction": ["read"] },
            { "resourceType": "*", "readonly": true, "criteria": "*?_compartment=%patient" },
        ]));
        assert!(w.contains(&("shadowed-entry", Some(1))) && w.contains(&("shadowed-entry", Some(3))), "{w:?}");
        assert!(!w.contains(&("shadowed-entry", Some(2))), "{w:?}");
    }

    #[test]
    fn an_earlier_entry_with_conditions_or_fewer_interactions_does_not_shadow() {
        let w = codes(json!([
            { "resourceType": "ValueSet", "criteria": "ValueSet?status=active" },
            { "resourceType": "ValueSet", "readonly": true },
            { "resourceType": "ValueSet", "compartment": { "reference": "Organization/o1" } },
            { "resourceType": "ValueSet" },
            { "resourceType": "CodeSystem" },
            { "resourceType": "ValueSet", "criteria": "ValueSet?status=draft", "interaction": ["create"] },
        ]));
        // Only the last: entry 3 is unconditional and grants create too.
        assert_eq!(w, [("shadowed-entry", Some(5))]);
    }

    #[test]
    fn a_custom_parameter_must_be_supplied_by_every_membership() {
        let w = only(json!([{ "resourceType": "Patient", "criteria": "Patient?organization=Organization/%org" }]));
        assert_eq!((w.code, w.severity, w.entry), ("required-parameter", Severity::Information, Some(0)));
        assert!(w.message.starts_with("resource[0].criteria uses the parameter `%org`"), "{}", w.message);
        let in_compartment = lint(&json!({ "compartment": { "reference": "%tenant" }, "resource": [] }));
        assert_eq!((in_compartment[0].code, in_compartment[0].entry), ("required-parameter", None));
    }

    #[test]
    fn profile_and_patient_are_always_supplied() {
        let w = codes(json!([
            { "resourceType": "Patient", "criteria": "Patient?_id=%patient.id&general-practitioner=Practitioner/%profile" },
            { "resourceType": "Observation", "criteria": "Observation?subject=Patient/%patient",
              "writeConstraint": [{ "expression": "subject.reference = %patient and '%profile'.exists()" }] },
        ]));
        assert_eq!(w, []);
    }

    #[test]
    fn a_parameter_in_a_write_constraint_is_required_too() {
        let string = only(json!([{ "resourceType": "Task", "criteria": "Task?status=ready",
                                   "writeConstraint": [{ "expression": "owner.reference = '%team'" }] }]));
        assert!(string.message.starts_with("resource[0].writeConstraint uses the parameter `%team`"), "{}", string.message);
        let variable = only(json!([{ "resourceType": "Task", "criteria": "Task?status=ready",
                                     "writeConstraint": [{ "expression": "owner.reference = %team" }] }]));
        assert_eq!(variable.code, "required-parameter");
        assert!(variable.message.contains("reads the variable `%team`"), "{}", variable.message);
    }

    #[test]
    fn a_parameter_needed_as_a_reference_of_two_types_can_never_be_supplied() {
        let ok = codes(json!([
            { "resourceType": "Organization", "criteria": "Organization?_id=%org.id" },
            { "resourceType": "Patient", "criteria": "Patient?organization=Organization/%org" },
        ]));
        assert_eq!(ok, [("required-parameter", Some(0))]);
        let w = only(json!([
            { "resourceType": "Organization", "criteria": "Organization?_id=%who.id" },
            { "resourceType": "Patient", "criteria": "Patient?organization=Organization/%who&general-practitioner=Practitioner/%who" },
        ]));
        assert_eq!((w.code, w.severity), ("unsatisfiable-parameter", Severity::Error));
        assert!(w.message.contains("`Organization/%who` and `Practitioner/%who`"), "{}", w.message);
    }

    #[test]
    fn a_policy_compartment_that_cannot_compile_is_invalid() {
        let w = lint(&json!({ "compartment": { "reference": "Organization/x%org" }, "resource": [] }));
        assert_eq!((w[0].code, w[0].entry), ("invalid-policy", None));
        assert!(w[0].message.starts_with("compartment: "), "{}", w[0].message);
    }

    #[test]
    fn a_constant_write_constraint_that_is_not_true_refuses_every_write() {
        for (expression, outcome) in [
            ("false", "is always [false]"),
            ("{}", "is always empty"),
            ("1 | 2", "is always [1,2]"),
            ("iif(true, false)", "is always [false]"),
            ("exists().not()", "is always [false]"),
        ] {
            let w = only(json!([{ "resourceType": "ValueSet", "criteria": "ValueSet?status=draft",
                                  "writeConstraint": [{ "expression": "true" }, { "expression": expression }] }]));
            assert_eq!(w.code, "never-true-write-constraint", "{expression}");
            assert!(w.message.starts_with(&format!("writeConstraint[1] `{expression}`")), "{}", w.message);
            assert!(w.message.contains(outcome), "{}", w.message);
        }
    }

    #[test]
    fn write_constraints_reading_the_resource_a_variable_a_parameter_or_the_clock_are_not_judged() {
        for expression in ["status = 'draft' and false", "%before.exists() and false", "'%profile' = 'x'", "today() < @2000-01-01"] {
            let entry = json!({ "resourceType": "ValueSet", "criteria": "ValueSet?status=draft", "writeConstraint": [{ "expression": expression }] });
            assert_eq!(codes(json!([entry])), [], "{expression}");
        }
    }

    #[test]
    fn an_entry_for_a_project_admin_type_is_dropped_outside_super_admin_projects() {
        let w = only(json!([{ "resourceType": "ProjectMembership", "criteria": "ProjectMembership?_id=m1", "readonly": true }]));
        assert_eq!((w.code, w.severity), ("admin-type-entry", Severity::Warning));
        assert!(w.message.contains("non-admins never reach ProjectMembership"), "{}", w.message);
    }

    #[test]
    fn an_entry_for_a_protected_type_needs_a_super_admin_project() {
        assert_eq!(codes(json!([{ "resourceType": "Login", "readonly": true }])), [("protected-type-entry", Some(0))]);
    }

    #[test]
    fn writes_on_the_types_that_decide_access_are_a_risk() {
        let w = codes(json!([
            { "resourceType": "AccessPolicy", "criteria": "AccessPolicy?_id=ap1", "interaction": ["read", "update"] },
            { "resourceType": "ClientApplication", "readonly": true },
            { "resourceType": "*", "criteria": "*?_compartment=%patient" },
            { "resourceType": "*" },
        ]));
        assert_eq!(w, [("access-control-write", Some(0)), ("unrestricted-grant", Some(3)), ("access-control-write", Some(3))]);
    }

    #[test]
    fn a_policy_too_large_to_review_says_so_and_nothing_else() {
        let entries: Vec<Value> =
            (0..=MAX_ENTRIES).map(|n| json!({ "resourceType": "Patient", "criteria": format!("Patient?_id={n}") })).collect();
        assert_eq!(codes(Value::Array(entries)), [("not-reviewed", None)]);
    }

    #[test]
    fn a_field_path_longer_than_any_element_path_is_not_judged() {
        let long = format!("name{}", ".given".repeat(5000));
        let started = std::time::Instant::now();
        assert_eq!(codes(json!([{ "resourceType": "Patient", "criteria": "Patient?_id=1", "hiddenFields": [long] }])), []);
        assert!(started.elapsed().as_millis() < 1000, "{:?}", started.elapsed());
    }
}
