//! A membership's effective AccessPolicy: Medplum's login-time compilation
//! (`buildAccessPolicy` + `applyProjectAdminAccessPolicy`), done in the database.
//!
//! Departing from Medplum, parameters are substituted into parsed structures as
//! whole values (`%name`, `%name.id`, `Type/%name`), never as text, and every
//! criteria is validated: an invalid policy is an error, never wider access.

use crate::criteria::{self, Criteria, Param};
use crate::definitions;
use crate::fields;
use crate::outcome::{FhirError, Result};
use crate::resource::is_valid_id;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// An AccessPolicy interaction; PATCH counts as `Update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Interaction {
    Create,
    Read,
    Vread,
    Update,
    Delete,
    Search,
    History,
}

use Interaction::*;

impl Interaction {
    pub const ALL: [Interaction; 7] = [Create, Read, Vread, Update, Delete, Search, History];
    /// What `readonly: true` grants when `interaction` is absent.
    pub const READ_ONLY: [Interaction; 4] = [Read, Vread, Search, History];

    /// The AccessPolicy code (`vread`, `history`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Create => "create",
            Read => "read",
            Vread => "vread",
            Update => "update",
            Delete => "delete",
            Search => "search",
            History => "history",
        }
    }

    pub fn parse(code: &str) -> Option<Interaction> {
        Self::ALL.into_iter().find(|i| i.as_str() == code)
    }
}

/// Types only admins reach, and never through `*`.
pub const PROJECT_ADMIN_TYPES: [&str; 5] = ["PasswordChangeRequest", "UserSecurityRequest", "Project", "ProjectMembership", "User"];

/// Types only super admins reach.
pub const PROTECTED_TYPES: [&str; 3] = ["DomainConfiguration", "JsonWebKey", "Login"];

fn is_project_admin_type(resource_type: &str) -> bool {
    PROJECT_ADMIN_TYPES.contains(&resource_type)
}

fn is_protected_type(resource_type: &str) -> bool {
    PROTECTED_TYPES.contains(&resource_type)
}

/// A FHIRPath invariant every written after-image must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteConstraint {
    /// Parameters in whole-string literals already substituted.
    pub expression: String,
    pub description: Option<String>,
}

/// One `AccessPolicy.resource` entry, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// A resource type, or `*`.
    pub resource_type: String,
    /// Explicit even where the policy used `readonly` or said nothing.
    pub interactions: BTreeSet<Interaction>,
    /// Validated for `resource_type`, parameters substituted.
    pub criteria: Option<Criteria>,
    /// Deprecated entry-level compartment reference, parameters substituted.
    pub compartment: Option<String>,
    pub hidden_fields: Vec<String>,
    pub readonly_fields: Vec<String>,
    pub write_constraints: Vec<WriteConstraint>,
    /// Index into [`EffectivePolicy::sources`]; `None` for entries the
    /// compilation adds (legacy `*`, defaults, admin entries).
    pub source: Option<usize>,
}

impl Entry {
    fn new(resource_type: &str, interactions: &[Interaction]) -> Entry {
        Entry {
            resource_type: resource_type.to_string(),
            interactions: interactions.iter().copied().collect(),
            criteria: None,
            compartment: None,
            hidden_fields: Vec::new(),
            readonly_fields: Vec::new(),
            write_constraints: Vec::new(),
            source: None,
        }
    }

    /// Does this entry name `resource_type`? `*` names every type except the
    /// project-admin and protected ones (super admins reach protected types
    /// through `*` too: see [`EffectivePolicy::entries_for`]).
    pub fn covers(&self, resource_type: &str) -> bool {
        self.resource_type == resource_type
            || (self.resource_type == "*" && !is_project_admin_type(resource_type) && !is_protected_type(resource_type))
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("resourceType".into(), json!(self.resource_type));
        if let Some(c) = &self.criteria {
            out.insert("criteria".into(), json!(c.to_string()));
        }
        if let Some(c) = &self.compartment {
            out.insert("compartment".into(), json!({ "reference": c }));
        }
        let interactions: Vec<_> = self.interactions.iter().map(|i| i.as_str()).collect();
        out.insert("interaction".into(), json!(interactions));
        for (name, fields) in [("hiddenFields", &self.hidden_fields), ("readonlyFields", &self.readonly_fields)] {
            if !fields.is_empty() {
                out.insert(name.into(), json!(fields));
            }
        }
        if !self.write_constraints.is_empty() {
            let constraints = self.write_constraints.iter().map(|w| {
                let mut c = json!({ "language": "text/fhirpath", "expression": w.expression });
                if let Some(d) = &w.description {
                    c["description"] = json!(d);
                }
                c
            });
            out.insert("writeConstraint".into(), Value::Array(constraints.collect()));
        }
        Value::Object(out)
    }
}

/// The value of an access parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    String(String),
    /// A reference string, `Type/id`.
    Reference(String),
}

impl ParamValue {
    /// The text a FHIRPath variable binds: the string, or the reference string.
    pub fn as_str(&self) -> &str {
        match self {
            ParamValue::String(s) | ParamValue::Reference(s) => s,
        }
    }
}

/// One access source: a policy and the parameters it was instantiated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `AccessPolicy/<id>`.
    pub policy: String,
    /// The entry's own parameters in order, then `profile`, then `patient`
    /// (unless given): the first of a name wins. For binding as FHIRPath variables.
    pub parameters: Vec<(String, ParamValue)>,
}

/// What a membership may do: the compiled, AccessPolicy-shaped union of its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    pub project_id: String,
    /// `ProjectMembership.admin`.
    pub admin: bool,
    /// The project is a super-admin project: all projects are reachable.
    pub super_admin: bool,
    /// `ProjectMembership.profile` reference.
    pub profile: Option<String>,
    /// `ProjectMembership.user` reference.
    pub user: Option<String>,
    /// The last non-empty policy `compartment`, parameters substituted.
    pub compartment: Option<String>,
    /// `basedOn`: one per `accessPolicy` / `access[]` occurrence, in order.
    pub sources: Vec<Source>,
    pub entries: Vec<Entry>,
}

impl EffectivePolicy {
    /// Compiles `membership` of `project`; `resolve` reads `AccessPolicy/<id>`.
    ///
    /// A policy that cannot be resolved is Forbidden; an invalid one (bad
    /// criteria, unknown parameter…) is Invalid: the caller refuses either way.
    pub fn compile(membership: &Value, project: &Value, resolve: &dyn Fn(&str) -> Option<Value>) -> Result<EffectivePolicy> {
        let project_id =
            project["id"].as_str().filter(|id| is_valid_id(id)).ok_or_else(|| FhirError::invalid("Project has no valid id"))?;
        if membership["project"]["reference"].as_str() != Some(&format!("Project/{project_id}")) {
            return Err(FhirError::invalid(format!("Membership is not in Project/{project_id}")));
        }
        let profile = membership["profile"]["reference"].as_str();

        // `accessPolicy` is the first source, without parameters.
        let access = membership
            .get("accessPolicy")
            .filter(|policy| !policy.is_null())
            .map(|policy| (policy, &Value::Null))
            .into_iter()
            .chain(membership["access"].as_array().into_iter().flatten().map(|a| (&a["policy"], &a["parameter"])));

        let mut policy = EffectivePolicy {
            project_id: project_id.to_string(),
            admin: membership["admin"] == true,
            super_admin: project["superAdmin"] == true,
            profile: profile.map(str::to_string),
            user: membership["user"]["reference"].as_str().map(str::to_string),
            compartment: None,
            sources: Vec::new(),
            entries: Vec::new(),
        };
        for (index, (policy_ref, parameters)) in access.enumerate() {
            let source = Source { policy: resolvable(policy_ref)?.to_string(), parameters: parameters_of(parameters, profile)? };
            let raw = resolve(&source.policy).filter(|p| p["resourceType"] == "AccessPolicy").ok_or_else(invalid_configuration)?;
            let in_source = |e: FhirError| FhirError { message: format!("{}: {}", source.policy, e.message), ..e };
            let scope = Scope(Some(&source.parameters));
            if let Some(c) = scope.reference(&raw["compartment"]).map_err(in_source)? {
                policy.compartment = Some(c);
            }
            for (i, entry) in raw["resource"].as_array().into_iter().flatten().enumerate() {
                let entry = compile_entry(entry, &scope, index, &format!("AccessPolicy.resource[{i}]"));
                policy.entries.push(entry.map_err(in_source)?);
            }
            policy.sources.push(source);
        }
        if policy.sources.is_empty() {
            // Medplum's "legacy behaviour": no policy at all means everything.
            policy.entries.push(Entry::new("*", &Interaction::ALL));
        }
        // Clients depend on reading these definitions (Medplum's addDefaultResourceTypes).
        for t in ["SearchParameter", "StructureDefinition"] {
            if !policy.names(t) {
                policy.entries.push(Entry::new(t, &Interaction::READ_ONLY));
            }
        }
        policy.apply_admin_rules(project);
        Ok(policy)
    }

    fn names(&self, resource_type: &str) -> bool {
        self.entries.iter().any(|e| e.resource_type == resource_type)
    }

    /// Medplum's applyProjectAdminAccessPolicy: super-admin projects keep their
    /// entries for admin types and get the missing ones unrestricted; others lose
    /// them, and admins get fixed ones scoped to their own project.
    fn apply_admin_rules(&mut self, project: &Value) {
        if self.super_admin {
            for t in PROJECT_ADMIN_TYPES {
                if !self.names(t) {
                    self.entries.push(Entry::new(t, &Interaction::ALL));
                }
            }
            return;
        }
        self.entries.retain(|e| !is_project_admin_type(&e.resource_type));
        if !self.admin {
            return;
        }
        let own = || vec![self.project_id.clone()];
        let mut add = Vec::new();
        // Own project: no create, no delete; Medplum's wider "all visible
        // projects" entry is the own and linked entries together.
        add.push(synthetic(
            "Project",
            ("_id", own()),
            &[Read, Vread, Update, History, Search],
            &["features", "link", "systemSetting"],
            &["superAdmin", "systemSecret", "strictMode"],
        ));
        let linked: Vec<String> = project["link"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["project"]["reference"].as_str()?.strip_prefix("Project/"))
            .filter(|id| is_valid_id(id))
            .map(str::to_string)
            .collect();
        if !linked.is_empty() {
            add.push(synthetic(
                "Project",
                ("_id", linked),
                &Interaction::READ_ONLY,
                &[],
                &["superAdmin", "setting", "systemSetting", "secret", "systemSecret", "strictMode"],
            ));
        }
        add.push(synthetic("ProjectMembership", ("_project", own()), &Interaction::ALL, &["project", "user"], &[]));
        add.push(synthetic("UserSecurityRequest", ("_project", own()), &Interaction::READ_ONLY, &[], &[]));
        // As Medplum: all interactions; the admin API still governs user creation.
        add.push(synthetic(
            "User",
            ("_project", own()),
            &Interaction::ALL,
            &["email", "emailVerified", "mfaEnrolled", "project"],
            &["passwordHash", "mfaSecret"],
        ));
        self.entries.extend(add);
        for t in ["Package", "PackageRelease", "PackageInstallation"] {
            self.entries.push(Entry::new(t, &Interaction::READ_ONLY));
        }
    }

    /// The AccessPolicy-shaped view (`fhir.effective_policy()`).
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "resourceType": "AccessPolicy",
            "basedOn": self.sources.iter().map(|s| json!({ "reference": s.policy })).collect::<Vec<_>>(),
            "resource": self.entries.iter().map(Entry::to_json).collect::<Vec<_>>(),
        });
        if let Some(c) = &self.compartment {
            out["compartment"] = json!({ "reference": c });
        }
        out
    }

    /// Type-level check (Medplum's 403 decision); criteria are not consulted.
    pub fn allows(&self, resource_type: &str, interaction: Interaction) -> bool {
        self.entries_for(resource_type, interaction).next().is_some()
    }

    /// The entries that may grant `interaction` on resources of `resource_type`,
    /// in policy order (the first one a resource satisfies supplies its fields).
    pub fn entries_for<'a>(&'a self, resource_type: &'a str, interaction: Interaction) -> impl Iterator<Item = &'a Entry> + 'a {
        self.indexed_entries_for(resource_type, interaction).map(|(_, e)| e)
    }

    /// `entries_for` with each entry's position in `entries`.
    pub fn indexed_entries_for<'a>(
        &'a self,
        resource_type: &'a str,
        interaction: Interaction,
    ) -> impl Iterator<Item = (usize, &'a Entry)> + 'a {
        (0..self.entries.len()).filter(move |&i| self.grants(i, resource_type, interaction)).map(|i| (i, &self.entries[i]))
    }

    /// Whether entry `index` may grant `interaction` on `resource_type`.
    pub fn grants(&self, index: usize, resource_type: &str, interaction: Interaction) -> bool {
        let e = &self.entries[index];
        let reachable = if is_protected_type(resource_type) {
            // As Medplum: super admins only, through `*` as well.
            self.super_admin && (e.resource_type == resource_type || e.resource_type == "*")
        } else {
            e.covers(resource_type)
        };
        reachable && e.interactions.contains(&interaction)
    }
}

/// An admin entry restricted by one parameter of its own type.
fn synthetic(
    resource_type: &str,
    (code, values): (&str, Vec<String>),
    interactions: &[Interaction],
    readonly_fields: &[&str],
    hidden_fields: &[&str],
) -> Entry {
    let param = Param { code: code.to_string(), modifier: None, values };
    Entry {
        criteria: Some(Criteria { resource_type: resource_type.to_string(), params: vec![param], control: Vec::new() }),
        readonly_fields: readonly_fields.iter().map(|f| f.to_string()).collect(),
        hidden_fields: hidden_fields.iter().map(|f| f.to_string()).collect(),
        ..Entry::new(resource_type, interactions)
    }
}

/// Medplum's wording: login details stay hidden from the user.
/// Checks an AccessPolicy as it is written (Medplum's `axp-3` and more): every
/// entry's type, interactions, criteria (with parameters left open) and write
/// constraints must compile, so an invalid policy is refused, never stored.
pub fn validate(policy: &Value) -> Result<()> {
    let entries = match &policy["resource"] {
        Value::Null => return Ok(()),
        Value::Array(entries) => entries,
        _ => return Err(FhirError::invalid("AccessPolicy.resource must be an array").at("AccessPolicy.resource")),
    };
    for (i, raw) in entries.iter().enumerate() {
        compile_entry(raw, &Scope(None), 0, &format!("AccessPolicy.resource[{i}]"))?;
    }
    Ok(())
}

fn invalid_configuration() -> FhirError {
    FhirError::forbidden("Invalid access policy configuration")
}

fn resolvable(policy_ref: &Value) -> Result<&str> {
    policy_ref["reference"].as_str().filter(|r| r.strip_prefix("AccessPolicy/").is_some_and(is_valid_id)).ok_or_else(invalid_configuration)
}

fn parameters_of(raw: &Value, profile: Option<&str>) -> Result<Vec<(String, ParamValue)>> {
    let mut out = Vec::new();
    for p in raw.as_array().into_iter().flatten() {
        let name = p["name"]
            .as_str()
            .filter(|n| is_parameter_name(n))
            .ok_or_else(|| FhirError::invalid(format!("Invalid access parameter name {}", p["name"])))?;
        let value = match (p["valueString"].as_str(), p["valueReference"]["reference"].as_str()) {
            (Some(s), _) => ParamValue::String(s.to_string()),
            (None, Some(r)) => ParamValue::Reference(r.to_string()),
            (None, None) => {
                return Err(FhirError::invalid(format!("Access parameter `{name}` has no value")));
            }
        };
        out.push((name.to_string(), value));
    }
    if let Some(profile) = profile {
        let patient_given = out.iter().any(|(n, _)| n == "patient");
        out.push(("profile".into(), ParamValue::Reference(profile.into())));
        if !patient_given {
            out.push(("patient".into(), ParamValue::Reference(profile.into())));
        }
    }
    Ok(out)
}

fn is_parameter_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Does `text` mention a parameter, i.e. contain `%` followed by a name?
fn mentions_parameter(text: &str) -> bool {
    text.match_indices('%').any(|(i, _)| text[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
}

/// A parameter standing for a whole value: `[Type/]%name[.id]`.
struct Placeholder<'a> {
    type_prefix: Option<&'a str>,
    name: &'a str,
    id: bool,
}

fn placeholder(text: &str) -> Option<Placeholder<'_>> {
    let (prefix, rest) = text.split_once('%')?;
    let type_prefix = match prefix {
        "" => None,
        p => Some(p.strip_suffix('/').filter(|t| definitions::is_resource_type(t))?),
    };
    let (name, id) = rest.strip_suffix(".id").map_or((rest, false), |n| (n, true));
    is_parameter_name(name).then_some(Placeholder { type_prefix, name, id })
}

/// The parameters of one source, substituted into its policy. `None` when an
/// AccessPolicy is checked on write: any parameter may then stand anywhere a
/// parameter may, since memberships supply the values later.
struct Scope<'a>(Option<&'a [(String, ParamValue)]>);

impl Scope<'_> {
    /// The value `p` stands for; `id_only` where a bare id is expected (`_id`).
    fn resolve(&self, p: &Placeholder, id_only: bool) -> Result<String> {
        let Some(parameters) = self.0 else {
            return Ok(p.type_prefix.map_or_else(|| "x".to_string(), |t| format!("{t}/x")));
        };
        let value = parameters
            .iter()
            .find(|(n, _)| n == p.name)
            .map(|(_, v)| v)
            .ok_or_else(|| FhirError::invalid(format!("Unknown access parameter `%{}`", p.name)))?;
        let reference = match value {
            ParamValue::String(_) if p.id => {
                return Err(FhirError::invalid(format!("`%{}.id` needs a reference parameter", p.name)));
            }
            ParamValue::String(s) => {
                return Ok(p.type_prefix.map_or_else(|| s.clone(), |t| format!("{t}/{s}")));
            }
            ParamValue::Reference(r) if p.type_prefix.is_none() && !p.id && !id_only => return Ok(r.clone()),
            ParamValue::Reference(r) => r,
        };
        let (ref_type, id) = reference
            .split_once('/')
            .filter(|(t, id)| definitions::is_resource_type(t) && is_valid_id(id))
            .ok_or_else(|| FhirError::invalid(format!("Access parameter `{}` = `{reference}` is not Type/id", p.name)))?;
        match p.type_prefix {
            None => Ok(id.to_string()),
            Some(t) if t == ref_type => Ok(reference.clone()),
            Some(t) => Err(FhirError::invalid(format!("`{t}/%{}` but access parameter `{}` is `{reference}`", p.name, p.name))),
        }
    }

    /// The value a criteria or reference text stands for: `None` for literal
    /// text; a parameter anywhere but as the whole value is an error, not text.
    fn substitute(&self, text: &str, id_only: bool) -> Result<Option<String>> {
        match placeholder(text) {
            Some(p) => self.resolve(&p, id_only).map(Some),
            None if mentions_parameter(text) => Err(FhirError::invalid(format!(
                "`{text}`: an access parameter must be the whole value (`%name`, `%name.id` or `Type/%name`)"
            ))),
            None => Ok(None),
        }
    }

    /// `{reference}` with parameters substituted; `None` when absent or empty.
    fn reference(&self, value: &Value) -> Result<Option<String>> {
        let Some(text) = value["reference"].as_str().filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(self.substitute(text, false)?.unwrap_or_else(|| text.to_string())))
    }

    /// Parses criteria, substitutes each value token, validates for the entry type.
    fn criteria(&self, text: &str, entry_type: &str) -> Result<Criteria> {
        let mut c = criteria::parse_criteria(text)?;
        for p in &mut c.params {
            let id_only = p.code == "_id";
            for v in &mut p.values {
                if let Some(s) = self.substitute(v, id_only)? {
                    // Criteria text has no way to carry `&`: its canonical form would change meaning.
                    if s.contains('&') {
                        return Err(FhirError::invalid(format!("Access parameter value `{s}` contains `&`")));
                    }
                    *v = criteria::escape_alternative(&s);
                }
            }
        }
        c.validate_policy(entry_type)?;
        Ok(c)
    }

    /// Substitutes FHIRPath string literals whose whole content is a
    /// placeholder (`author.reference = '%profile'`), as Medplum's textual
    /// replacement would; then checks the expression parses.
    fn fhirpath(&self, expression: &str) -> Result<String> {
        let b = expression.as_bytes();
        let mut out = String::with_capacity(expression.len());
        let (mut i, mut copied) = (0, 0);
        while i < b.len() {
            i = match (b[i], b.get(i + 1)) {
                (b'/', Some(b'/')) => find(expression, i, "\n").map_or(b.len(), |e| e + 1),
                (b'/', Some(b'*')) => find(expression, i + 2, "*/").map_or(b.len(), |e| e + 2),
                (q @ (b'\'' | b'`'), _) => {
                    let end = closing_quote(b, i);
                    // `%'name'` is a variable, not a string.
                    let is_string = q == b'\'' && (i == 0 || b[i - 1] != b'%') && end < b.len();
                    if let Some(p) = placeholder(&expression[i + 1..end.min(b.len())]).filter(|_| is_string) {
                        out.push_str(&expression[copied..i]);
                        out.push_str(&fhirpath_string(&self.resolve(&p, false)?));
                        copied = end + 1;
                    }
                    end + 1
                }
                _ => i + 1,
            };
        }
        out.push_str(&expression[copied.min(b.len())..]);
        fhirpath::parse(&out).map_err(|e| FhirError::invalid(format!("writeConstraint `{out}` does not parse: {e}")))?;
        Ok(out)
    }
}

fn is_type_name(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_uppercase()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn find(text: &str, from: usize, needle: &str) -> Option<usize> {
    text[from..].find(needle).map(|i| from + i)
}

/// Index of the quote closing the one at `start` (or the length if unclosed).
fn closing_quote(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() && b[i] != b[start] {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i.min(b.len())
}

fn fhirpath_string(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn compile_entry(raw: &Value, scope: &Scope, source: usize, path: &str) -> Result<Entry> {
    let invalid = |field: &str, message: String| FhirError::invalid(message).at(format!("{path}.{field}"));
    // An unknown type is accepted, as Medplum accepts it (its multi-tenant
    // guide names `CodeSet`): such an entry covers no resource.
    let resource_type = raw["resourceType"]
        .as_str()
        .filter(|t| *t == "*" || is_type_name(t))
        .ok_or_else(|| invalid("resourceType", format!("Invalid resourceType {}", raw["resourceType"])))?;
    // `interaction` wins over `readonly`; neither means everything.
    let interactions = match raw.get("interaction") {
        Some(list) => list
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i.as_str().and_then(Interaction::parse).ok_or_else(|| invalid("interaction", format!("Unknown interaction {i}"))))
            .collect::<Result<_>>()?,
        None if raw["readonly"] == true => Interaction::READ_ONLY.into(),
        None => Interaction::ALL.into(),
    };
    let criteria = match raw["criteria"].as_str() {
        Some(text) => Some(scope.criteria(text, resource_type).map_err(|e| e.at(format!("{path}.criteria")))?),
        None => None,
    };
    let compartment = scope.reference(&raw["compartment"]).map_err(|e| e.at(format!("{path}.compartment")))?;
    let strings = |field: &str| -> Result<Vec<String>> {
        raw[field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let path = f.as_str().ok_or_else(|| invalid(field, format!("Invalid field path {f}")))?;
                fields::check_path(path).map_err(|e| invalid(field, e.message))?;
                if field == "hiddenFields" && fields::UNHIDEABLE.contains(&path) {
                    return Err(invalid(field, format!("'{path}' identifies the version and cannot be hidden")));
                }
                Ok(path.to_string())
            })
            .collect()
    };
    let mut write_constraints = Vec::new();
    for w in raw["writeConstraint"].as_array().into_iter().flatten() {
        let expression = w["expression"].as_str().ok_or_else(|| invalid("writeConstraint", "writeConstraint without expression".into()))?;
        write_constraints.push(WriteConstraint {
            expression: scope.fhirpath(expression).map_err(|e| e.at(format!("{path}.writeConstraint")))?,
            description: w["description"].as_str().map(str::to_string),
        });
    }
    Ok(Entry {
        criteria,
        compartment,
        hidden_fields: strings("hiddenFields")?,
        readonly_fields: strings("readonlyFields")?,
        write_constraints,
        source: Some(source),
        interactions,
        ..Entry::new(resource_type, &[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PROFILE: &str = "Practitioner/pr1";

    fn project() -> Value {
        json!({ "resourceType": "Project", "id": "p1" })
    }

    /// A membership of Project/p1 with profile Practitioner/pr1, plus `extra`.
    fn membership(extra: Value) -> Value {
        let mut m = json!({
            "resourceType": "ProjectMembership",
            "project": { "reference": "Project/p1" },
            "profile": { "reference": PROFILE },
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    fn access(policy: &str, parameters: Value) -> Value {
        json!({ "policy": { "reference": format!("AccessPolicy/{policy}") }, "parameter": parameters })
    }

    fn reference(name: &str, reference: &str) -> Value {
        json!({ "name": name, "valueReference": { "reference": reference } })
    }

    /// Compiles with the given stored policies: `(id, resource[])`.
    fn compile_with(membership: &Value, project: &Value, policies: &[(&str, Value)]) -> Result<EffectivePolicy> {
        let by_ref: HashMap<String, Value> = policies
            .iter()
            .map(|(id, p)| {
                let mut policy = json!({ "resourceType": "AccessPolicy", "id": id });
                for (k, v) in p.as_object().unwrap() {
                    policy[k] = v.clone();
                }
                (format!("AccessPolicy/{id}"), policy)
            })
            .collect();
        EffectivePolicy::compile(membership, project, &|r| by_ref.get(r).cloned())
    }

    /// Compiles one policy `ap` with `resource` entries, given once with `parameters`.
    fn compile_one(resource: Value, parameters: Value) -> Result<EffectivePolicy> {
        let m = membership(json!({ "access": [access("ap", parameters)] }));
        compile_with(&m, &project(), &[("ap", json!({ "resource": resource }))])
    }

    /// The substituted criteria of a one-entry policy.
    fn substituted(resource_type: &str, criteria: &str, parameters: Value) -> Result<String> {
        let entry = json!([{ "resourceType": resource_type, "criteria": criteria }]);
        Ok(criteria_of(&compile_one(entry, parameters)?).join(" "))
    }

    fn criteria_of(p: &EffectivePolicy) -> Vec<String> {
        let criteria = p.entries.iter().filter_map(|e| e.criteria.as_ref());
        criteria.map(Criteria::to_string).collect()
    }

    #[test]
    fn no_policy_means_full_access_to_non_admin_types() {
        for extra in [json!({}), json!({ "access": [] })] {
            let p = compile_with(&membership(extra), &project(), &[]).unwrap();
            assert_eq!(p.entries[0].resource_type, "*");
            for i in Interaction::ALL {
                assert!(p.allows("Observation", i));
                assert!(!p.allows("User", i));
                assert!(!p.allows("Login", i));
            }
        }
    }

    #[test]
    fn star_never_covers_project_membership() {
        let star = Entry::new("*", &Interaction::ALL);
        assert!(star.covers("Patient"));
        assert!(!star.covers("ProjectMembership"));
        assert!(!star.covers("JsonWebKey"));
    }

    #[test]
    fn non_admins_lose_entries_for_admin_types() {
        let resource = json!([{ "resourceType": "ProjectMembership" }, { "resourceType": "Patient" }]);
        let p = compile_one(resource, json!([])).unwrap();
        assert!(!p.allows("ProjectMembership", Read));
        assert!(p.allows("Patient", Read));
    }

    #[test]
    fn admins_get_the_synthetic_project_entry_without_delete() {
        let m = membership(json!({ "admin": true }));
        let mut proj = project();
        let link = |id: &str| json!({ "project": { "reference": format!("Project/{id}") } });
        proj["link"] = json!([link("p2"), link("p3")]);
        let p = compile_with(&m, &proj, &[]).unwrap();
        let own = p.entries_for("Project", Update).next().unwrap();
        assert_eq!(own.criteria.as_ref().unwrap().to_string(), "Project?_id=p1");
        assert_eq!(own.readonly_fields, ["features", "link", "systemSetting"]);
        assert!(own.hidden_fields.contains(&"superAdmin".to_string()));
        assert!(!p.allows("Project", Delete) && !p.allows("Project", Create));
        let readers = p.entries_for("Project", Read).filter_map(|e| e.criteria.as_ref());
        let readers: Vec<_> = readers.map(Criteria::to_string).collect();
        assert_eq!(readers, ["Project?_id=p1", "Project?_id=p2,p3"]);
        let all = criteria_of(&p);
        assert!(all.contains(&"ProjectMembership?_project=p1".to_string()));
        assert!(all.contains(&"User?_project=p1".to_string()));
        assert!(!p.allows("UserSecurityRequest", Update));
        assert!(!p.allows("PasswordChangeRequest", Read));
    }

    #[test]
    fn super_admin_project_members_get_missing_admin_types_and_protected_ones_via_star() {
        let mut proj = project();
        proj["superAdmin"] = json!(true);
        let restricted = json!({
            "resourceType": "ProjectMembership",
            "criteria": "ProjectMembership?_id:not=x",
        });
        let m = membership(json!({ "access": [access("ap", json!([]))] }));
        let policy = json!({ "resource": [restricted, { "resourceType": "*" }] });
        let p = compile_with(&m, &proj, &[("ap", policy)]).unwrap();
        assert!(p.super_admin);
        assert_eq!(p.entries_for("ProjectMembership", Read).count(), 1, "restricted entry alone");
        assert!(p.allows("User", Delete));
        assert!(p.allows("Login", Read));
        let p = compile_one(json!([{ "resourceType": "*" }]), json!([])).unwrap();
        assert!(!p.allows("Login", Read));
    }

    #[test]
    fn readonly_without_interactions_means_read_vread_history_search() {
        let resource = json!([
            { "resourceType": "Patient", "readonly": true },
            { "resourceType": "Observation", "readonly": true, "interaction": ["create"] },
        ]);
        let p = compile_one(resource, json!([])).unwrap();
        let read_only = BTreeSet::from(Interaction::READ_ONLY);
        assert_eq!(p.entries[0].interactions, read_only);
        assert_eq!(p.entries[1].interactions, BTreeSet::from([Create]));
        let listed = &p.to_json()["resource"][0]["interaction"];
        assert_eq!(*listed, json!(["read", "vread", "search", "history"]));
    }

    #[test]
    fn same_policy_twice_with_different_parameters_keeps_each_instance_separate() {
        let policy = json!({ "resource": [{
            "resourceType": "Patient",
            "criteria": "Patient?organization=%org&address-state=%state",
        }] });
        let param = |org: &str, state: &str| {
            let state = json!({ "name": "state", "valueString": state });
            access("ap", json!([reference("org", org), state]))
        };
        let twice = [param("Organization/A", "CA"), param("Organization/B", "NY")];
        let m = membership(json!({ "access": twice }));
        let p = compile_with(&m, &project(), &[("ap", policy)]).unwrap();
        assert_eq!(
            criteria_of(&p),
            ["Patient?organization=Organization/A&address-state=CA", "Patient?organization=Organization/B&address-state=NY"]
        );
        assert_eq!(p.entries[1].source, Some(1));
        let based_on = json!([{ "reference": "AccessPolicy/ap" }, { "reference": "AccessPolicy/ap" }]);
        assert_eq!(p.to_json()["basedOn"], based_on);
    }

    #[test]
    fn profile_and_patient_default_to_membership_profile() {
        let gp = substituted("Patient", "Patient?general-practitioner=%profile", json!([]));
        assert_eq!(gp.unwrap(), "Patient?general-practitioner=Practitioner/pr1");
        let subject = substituted("Observation", "Observation?subject=%patient", json!([]));
        assert_eq!(subject.unwrap(), "Observation?subject=Practitioner/pr1");
    }

    #[test]
    fn explicit_patient_parameter_wins_over_profile() {
        let params = json!([reference("patient", "Patient/pa1")]);
        let c = substituted("Observation", "Observation?subject=%patient", params.clone());
        assert_eq!(c.unwrap(), "Observation?subject=Patient/pa1");
        let p = compile_one(json!([]), params).unwrap();
        let names: Vec<_> = p.sources[0].parameters.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["patient", "profile"]);
        assert_eq!(p.profile.as_deref(), Some(PROFILE));
    }

    #[test]
    fn reference_parameter_id_form() {
        let c = substituted(
            "Patient",
            "Patient?_id=%patient.id&general-practitioner=Practitioner/%profile.id",
            json!([reference("patient", "Patient/pa1")]),
        );
        assert_eq!(c.unwrap(), "Patient?_id=pa1&general-practitioner=Practitioner/pr1");
    }

    #[test]
    fn compartment_reference_with_type_prefix_uses_the_id() {
        let org = "Organization/%current_organization";
        let resource = json!([{
            "resourceType": "Questionnaire",
            "criteria": format!("Questionnaire?_compartment={org}"),
            "compartment": { "reference": org },
        }]);
        let params = json!([reference("current_organization", "Organization/123")]);
        let p = compile_one(resource, params).unwrap();
        assert_eq!(criteria_of(&p), ["Questionnaire?_compartment=Organization/123"]);
        assert_eq!(p.entries[0].compartment.as_deref(), Some("Organization/123"));
        // A reference of another type is a misconfiguration, not a rewritten reference.
        let other = "Questionnaire?_compartment=Organization/%profile";
        let e = substituted("Questionnaire", other, json!([])).unwrap_err();
        assert!(e.message.contains("Practitioner/pr1"), "{}", e.message);
    }

    #[test]
    fn id_criteria_with_reference_parameter_uses_the_id() {
        let params = json!([reference("current_organization", "Organization/123")]);
        let c = substituted("Organization", "Organization?_id=%current_organization", params);
        assert_eq!(c.unwrap(), "Organization?_id=123");
    }

    #[test]
    fn string_parameter_with_comma_stays_one_value() {
        let resource = json!([{ "resourceType": "Patient", "criteria": "Patient?name=%n,Doe" }]);
        let p = compile_one(resource, json!([{ "name": "n", "valueString": "Smith, John" }]));
        let c = p.unwrap().entries[0].criteria.clone().unwrap();
        assert_eq!(c.params[0].values, ["Smith\\, John", "Doe"]);
        assert_eq!(criteria::unescape(&c.params[0].values[0]), "Smith, John");
        assert_eq!(criteria::parse_criteria(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn parameter_named_pat_does_not_touch_patient() {
        let params = json!([{ "name": "pat", "valueString": "X" }]);
        let c = substituted("Observation", "Observation?subject=%patient&code=%pat", params);
        assert_eq!(c.unwrap(), "Observation?subject=Practitioner/pr1&code=X");
    }

    #[test]
    fn unknown_parameter_is_invalid() {
        for criteria in ["Patient?organization=%org", "Patient?name=Dr %profile"] {
            let e = substituted("Patient", criteria, json!([])).unwrap_err();
            assert_eq!(e.kind.sqlstate(), "22023");
            assert!(e.message.starts_with("AccessPolicy/ap: "), "{}", e.message);
            assert!(e.message.contains('%'), "{}", e.message);
            assert_eq!(e.expression, ["AccessPolicy.resource[0].criteria"]);
        }
    }

    #[test]
    fn invalid_stored_criteria_refuses_the_whole_policy() {
        for (t, criteria) in [
            ("Practitioner", "Patient?name=x"),
            ("*", "Patient?_id=x"),
            ("Observation", "Observation?patient.name=x"),
            ("Patient", "Patient?_has:Observation:subject:code=x"),
        ] {
            let e = substituted(t, criteria, json!([])).unwrap_err();
            assert!(e.message.contains("axp-3"), "{}", e.message);
        }
        let star = substituted("*", "*?_compartment=%patient", json!([]));
        assert_eq!(star.unwrap(), "*?_compartment=Practitioner/pr1");
    }

    #[test]
    fn unresolvable_policy_reference_is_refused() {
        let m = membership(json!({ "accessPolicy": { "reference": "AccessPolicy/missing" } }));
        let e = compile_with(&m, &project(), &[]).unwrap_err();
        assert_eq!(e.kind.sqlstate(), "42501");
        assert_eq!(e.message, "Invalid access policy configuration");
    }

    #[test]
    fn search_parameter_and_structure_definition_are_readable_by_default() {
        let p = compile_one(json!([]), json!([])).unwrap();
        let types: Vec<_> = p.entries.iter().map(|e| e.resource_type.as_str()).collect();
        assert_eq!(types, ["SearchParameter", "StructureDefinition"]);
        assert!(p.allows("StructureDefinition", Search));
        assert!(!p.allows("StructureDefinition", Update));
        assert!(!p.allows("Patient", Read), "an empty policy grants nothing else");
    }

    #[test]
    fn last_policy_compartment_wins() {
        let m = membership(json!({
            "accessPolicy": { "reference": "AccessPolicy/a" },
            "access": [
                access("b", json!([reference("org", "Organization/o2")])),
                access("c", json!([])),
            ],
        }));
        let compartment = |r: &str| json!({ "compartment": { "reference": r } });
        let policies = [("a", compartment("Organization/o1")), ("b", compartment("%org")), ("c", json!({ "resource": [] }))];
        let p = compile_with(&m, &project(), &policies).unwrap();
        assert_eq!(p.compartment.as_deref(), Some("Organization/o2"));
        assert_eq!(p.to_json()["compartment"], json!({ "reference": "Organization/o2" }));
        assert_eq!(p.sources.len(), 3);
    }

    #[test]
    fn write_constraint_string_literals_take_the_parameter() {
        let constraint = |expression: &str| {
            let w = json!({ "expression": expression, "description": "own messages" });
            compile_one(json!([{ "resourceType": "Communication", "writeConstraint": [w] }]), json!([]))
        };
        let p = constraint("sender.reference = '%profile' and %'profile'.exists() // '%nope'");
        let w = &p.unwrap().entries[0].write_constraints[0];
        assert_eq!(w.expression, "sender.reference = 'Practitioner/pr1' and %'profile'.exists() // '%nope'");
        assert_eq!(w.description.as_deref(), Some("own messages"));
        let e = constraint("sender = ").unwrap_err();
        assert!(e.message.contains("does not parse"), "{}", e.message);
    }

    #[test]
    fn unknown_interactions_and_malformed_types_are_invalid() {
        for entry in [json!({ "resourceType": "Patient", "interaction": ["patch"] }), json!({ "resourceType": "not a type" })] {
            let e = compile_one(json!([entry]), json!([])).unwrap_err();
            assert_eq!(e.kind.sqlstate(), "22023");
        }
    }

    #[test]
    fn unknown_types_and_parameters_are_accepted_and_grant_nothing() {
        let p = compile_one(
            json!([{ "resourceType": "CodeSet" }, { "resourceType": "Practitioner", "criteria": "Practitioner?organization=x" }]),
            json!([]),
        )
        .unwrap();
        assert!(!p.allows("Patient", Read));
        assert!(p.entries[1].criteria.as_ref().unwrap().has_unknown_params());
    }

    #[test]
    fn writing_a_policy_checks_every_entry_with_parameters_left_open() {
        let ok = json!({"resourceType": "AccessPolicy", "resource": [
            {"resourceType": "Patient", "criteria": "Patient?general-practitioner=%profile"},
            {"resourceType": "Questionnaire", "criteria": "Questionnaire?_compartment=Organization/%org"},
            {"resourceType": "Observation", "writeConstraint": [{"expression": "subject.reference = '%patient'"}]}
        ]});
        assert!(validate(&ok).is_ok());
        for bad in [
            json!({"resource": [{"resourceType": "Patient", "criteria": "identifier=123"}]}),
            json!({"resource": [{"resourceType": "Practitioner", "criteria": "Patient?name=x"}]}),
            json!({"resource": [{"resourceType": "Observation", "criteria": "Observation?patient.name=x"}]}),
            json!({"resource": [{"resourceType": "Patient", "criteria": "Patient?_has:Observation:subject:code=x"}]}),
            json!({"resource": [{"resourceType": "Patient", "writeConstraint": [{"expression": "name.where("}]}]}),
            json!({"resource": [{"resourceType": "not a type"}]}),
            json!({"resource": {"resourceType": "Patient"}}),
        ] {
            assert_eq!(validate(&bad).unwrap_err().kind, crate::outcome::ErrorKind::Invalid, "{bad}");
        }
    }
}
