//! The access decision of one membership: compiled once from its effective
//! policy, then asked per row and per write. Which entry admits a resource,
//! the row-level security keys, the write checks and the redaction plans all
//! come from here; the PostgreSQL shell only stores and calls.

use crate::definitions;
use crate::outcome::{FhirError, Result};
use crate::policy::{EffectivePolicy, Entry, Interaction};
use crate::redaction::Plan;
use crate::search::{self, Matcher};
use serde_json::Value;
use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A client session's membership, compiled.
pub struct Membership {
    pub id: String,
    pub project_id: String,
    pub policy: EffectivePolicy,
    /// One per policy entry: what a resource must satisfy for the entry to apply.
    arms: Vec<Arm>,
    /// Per interaction, the types some entry grants without conditions.
    open: HashMap<Interaction, HashSet<String>>,
    /// Per interaction, the row-level security keys (see `row_keys`).
    keys: HashMap<Interaction, Vec<String>>,
    /// The arms each prefilter token leads to, and the arms no token narrows:
    /// a row need only be tested against the arms its own tokens reach
    /// (a membership may hold a thousand instances of one policy).
    arms_by_key: HashMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
    /// The effective policy as the host stores it, built on first request.
    policy_bytes: OnceCell<Vec<u8>>,
    /// About how much memory the compiled membership takes (for cache budgets).
    approx_bytes: usize,
    /// Redaction plans by type, made on first use (see `plan`): looked up
    /// per row, so without building a key.
    plans: RefCell<HashMap<String, TypePlans>>,
}

/// One type's redaction plans, and the one read entry that decides every
/// row's plan when there is one (see `read_plan`).
#[derive(Default)]
struct TypePlans {
    by: HashMap<PlanOf, Rc<Plan>>,
    every_row: Option<Option<usize>>,
}

/// What a redaction plan is made of.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum PlanOf {
    /// One entry's hiddenFields.
    Entry(usize),
    /// Every entry covering the type: for a resource no read entry admits.
    AnyEntry,
    /// The entries granting read or search: a search's filters and sort.
    Search,
}

/// An entry's instance-level condition: its criteria and its (deprecated)
/// compartment, both required when both are present. Criteria naming a
/// parameter the type does not have admit nothing.
struct Arm {
    matcher: Option<Matcher>,
    compartment: Option<String>,
    never: bool,
}

impl Arm {
    fn compile(entry: &Entry) -> Result<Arm> {
        let never = entry.criteria.as_ref().is_some_and(|c| c.has_unknown_params());
        Ok(Arm {
            matcher: entry.criteria.as_ref().filter(|_| !never).map(Matcher::compile).transpose()?,
            compartment: entry.compartment.as_ref().map(|c| format!("_compartment={c}")),
            never,
        })
    }

    fn is_open(&self) -> bool {
        !self.never && self.matcher.is_none() && self.compartment.is_none()
    }

    fn satisfied(&self, resource_type: &str, tokens: &[&str]) -> bool {
        !self.never
            && self.compartment.as_ref().is_none_or(|c| tokens.contains(&c.as_str()))
            && self.matcher.as_ref().is_none_or(|m| m.matches(resource_type, tokens))
    }

    /// Tokens of which every resource this arm admits has one (a GIN
    /// prefilter); `None` when no index narrows the arm.
    fn keys(&self) -> Option<Vec<String>> {
        match (&self.compartment, &self.matcher) {
            _ if self.never => Some(Vec::new()),
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(m)) => m.keys(),
            (None, None) => None,
        }
    }
}

impl Membership {
    pub fn new(id: &str, project_id: String, policy: EffectivePolicy) -> Result<Membership> {
        let arms: Vec<Arm> = policy.entries.iter().map(Arm::compile).collect::<Result<_>>()?;
        let open: HashMap<Interaction, HashSet<String>> = Interaction::ALL
            .into_iter()
            .map(|i| {
                let types = definitions::resource_types()
                    .filter(|t| policy.indexed_entries_for(t, i).any(|(k, _)| arms[k].is_open()))
                    .map(str::to_owned)
                    .collect();
                (i, types)
            })
            .collect();
        let (mut arms_by_key, mut unkeyed) = (HashMap::<String, Vec<usize>>::new(), Vec::new());
        for (i, arm) in arms.iter().enumerate() {
            match arm.keys() {
                Some(keys) if !arm.is_open() => keys.into_iter().for_each(|k| arms_by_key.entry(k).or_default().push(i)),
                _ => unkeyed.push(i),
            }
        }
        let keys = Interaction::ALL.into_iter().map(|i| (i, row_keys(&policy, &arms, &open[&i], i))).collect();
        // Compiled arms, keys and plans take a few times the policy's text.
        let approx_bytes = policy.to_json().to_string().len() * 4;
        Ok(Membership {
            approx_bytes,
            id: id.to_owned(),
            project_id,
            policy,
            arms,
            open,
            keys,
            arms_by_key,
            unkeyed,
            policy_bytes: Default::default(),
            plans: Default::default(),
        })
    }

    /// The effective policy in the host's own binary form (jsonb), which the
    /// host makes once, on first request.
    pub fn policy_bytes(&self, make: impl FnOnce(&EffectivePolicy) -> Vec<u8>) -> &[u8] {
        self.policy_bytes.get_or_init(|| make(&self.policy))
    }

    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// The row-level security keys for `interaction` (see `row_keys`).
    pub fn keys(&self, interaction: Interaction) -> &[String] {
        &self.keys[&interaction]
    }

    /// The types some entry grants `interaction` on without conditions.
    pub fn open_types(&self, interaction: Interaction) -> impl Iterator<Item = &String> {
        self.open.get(&interaction).into_iter().flatten()
    }

    /// True when some entry grants `interaction` on every resource of the type.
    pub fn type_open(&self, interaction: Interaction, resource_type: &str) -> bool {
        self.open.get(&interaction).is_some_and(|types| types.contains(resource_type))
    }

    /// The first entry granting `interaction` that the resource satisfies:
    /// it decides whether the resource is admitted and supplies its fields.
    pub fn first_entry<'a>(&'a self, interaction: Interaction, resource_type: &'a str, tokens: &[&str]) -> Option<&'a Entry> {
        self.first_index(interaction, resource_type, tokens).map(|i| &self.policy.entries[i])
    }

    fn first_index(&self, interaction: Interaction, resource_type: &str, tokens: &[&str]) -> Option<usize> {
        let mut candidates: Vec<usize> = self.unkeyed.clone();
        candidates.extend(tokens.iter().filter_map(|t| self.arms_by_key.get(*t)).flatten());
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().find(|&i| self.policy.grants(i, resource_type, interaction) && self.arms[i].satisfied(resource_type, tokens))
    }

    /// Whether entry `index`'s criteria and compartment admit the resource.
    pub fn entry_admits(&self, index: usize, resource_type: &str, tokens: &[&str]) -> bool {
        self.arms[index].satisfied(resource_type, tokens)
    }

    /// What row-level security and search evaluate for this type: whether
    /// every row is granted, and the index keys and row check otherwise.
    pub fn predicate(&self, resource_type: &str, interaction: Interaction) -> Value {
        let arms: Vec<&Arm> = self.policy.indexed_entries_for(resource_type, interaction).map(|(i, _)| &self.arms[i]).collect();
        let mut keys: Vec<String> = arms.iter().filter_map(|a| a.keys()).flatten().collect();
        keys.sort();
        keys.dedup();
        serde_json::json!({
            "allRows": self.type_open(interaction, resource_type),
            "indexKeys": keys,
            "rowByRow": arms.iter().any(|a| !a.is_open() && a.keys().is_none()),
        })
    }

    pub fn admits(&self, interaction: Interaction, resource_type: &str, tokens: &[&str]) -> bool {
        self.first_entry(interaction, resource_type, tokens).is_some()
    }

    /// What `fhir.who_can_access` reports when this membership may perform
    /// `interaction` on a resource with these tokens: the first entry granting
    /// it that the resource satisfies (the decision of every other route), the
    /// policy and parameters it came from, and what a read of it hides. Every
    /// interaction but create acts on a resource the membership must also be
    /// able to read.
    pub fn grant(&self, interaction: Interaction, resource_type: &str, tokens: &[&str]) -> Option<serde_json::Value> {
        let index = self.first_index(interaction, resource_type, tokens)?;
        if !matches!(interaction, Interaction::Read | Interaction::Create) {
            self.first_index(Interaction::Read, resource_type, tokens)?;
        }
        let source = self.policy.entries[index].source.map(|s| &self.policy.sources[s]);
        let mut parameters = serde_json::Map::new();
        for (name, value) in source.into_iter().flat_map(|s| &s.parameters) {
            parameters.entry(name.clone()).or_insert_with(|| value.as_str().into());
        }
        Some(serde_json::json!({
            "membership": format!("ProjectMembership/{}", self.id),
            "profile": self.policy.profile,
            "entry": index,
            "basedOn": source.map(|s| s.policy.clone()),
            "parameters": parameters,
            "hiddenFields": self.read_plan(resource_type, tokens).paths(),
        }))
    }

    /// A resource the session can see must also satisfy an entry granting the
    /// interaction (403), e.g. a write's before-image.
    pub fn check_write(&self, interaction: Interaction, resource_type: &str, tokens: &[String]) -> Result<()> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        if self.admits(interaction, resource_type, &tokens) {
            Ok(())
        } else {
            Err(FhirError::forbidden(format!("Forbidden: {} of this {resource_type}", interaction.as_str())))
        }
    }

    /// The after-image of a create or update must satisfy an entry granting the
    /// interaction, and every writeConstraint of the first such entry must be
    /// exactly `true`, with `%before` (empty on create), `%after` and the
    /// policy's parameters bound; otherwise 403 naming the constraint.
    pub fn authorize_write(
        &self,
        interaction: Interaction,
        resource_type: &str,
        tokens: &[String],
        before: Option<&Value>,
        after: &Value,
    ) -> Result<()> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let entry = self
            .first_entry(interaction, resource_type, &tokens)
            .ok_or_else(|| FhirError::forbidden(format!("Forbidden: {} of this {resource_type}", interaction.as_str())))?;
        if entry.write_constraints.is_empty() {
            return Ok(());
        }
        let parameters: Vec<(&str, Value)> = entry
            .source
            .map(|i| &self.policy.sources[i].parameters[..])
            .unwrap_or_default()
            .iter()
            .map(|(name, value)| (name.as_str(), Value::String(value.as_str().to_owned())))
            .collect();
        let mut env = fhirpath::Environment::new().with_variable("before", before).with_variable("after", [after]);
        for (name, value) in &parameters {
            env.set_variable(name, [value]);
        }
        for c in &entry.write_constraints {
            let passed = fhirpath::parse_cached(&c.expression)
                .and_then(|expr| expr.evaluate(after, &env))
                .is_ok_and(|result| result.is_single_true());
            if !passed {
                let what = c.description.as_ref().map_or_else(|| format!("`{}`", c.expression), |d| format!("`{}` ({d})", c.expression));
                return Err(FhirError::forbidden(format!("Write constraint violated: {what}")).at(c.expression.clone()));
            }
        }
        Ok(())
    }

    /// Whether any entry granting `interaction` on the type hides or protects fields.
    pub fn protects_fields(&self, interaction: Interaction, resource_type: &str) -> bool {
        self.policy.entries_for(resource_type, interaction).any(|e| !e.hidden_fields.is_empty() || !e.readonly_fields.is_empty())
    }

    /// What this session may not write: the hiddenFields and readonlyFields
    /// of the entry that applies, and whatever the session cannot see of the
    /// stored version (`seen`, its read plan), which it cannot mean to erase.
    pub fn protected_fields(&self, interaction: Interaction, resource_type: &str, tokens: &[String], seen: Option<&Plan>) -> Vec<String> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let entry =
            self.first_entry(interaction, resource_type, &tokens).or_else(|| self.policy.entries_for(resource_type, interaction).next());
        let mut paths: Vec<String> = entry.map(|e| e.hidden_fields.iter().chain(&e.readonly_fields).cloned().collect()).unwrap_or_default();
        paths.extend(seen.into_iter().flat_map(|p| p.paths().iter().cloned()));
        paths.sort();
        paths.dedup();
        paths
    }

    /// The redaction plan of one entry, of every entry of the type, or of a search.
    fn plan(&self, resource_type: &str, of: PlanOf) -> Rc<Plan> {
        if let Some(hit) = self.plans.borrow().get(resource_type).and_then(|t| t.by.get(&of)) {
            return Rc::clone(hit);
        }
        let interactions: &[Interaction] = match of {
            PlanOf::Entry(_) => &[],
            PlanOf::AnyEntry => &Interaction::ALL,
            PlanOf::Search => &[Interaction::Read, Interaction::Search],
        };
        let mut hidden: Vec<String> = interactions
            .iter()
            .flat_map(|&i| self.policy.entries_for(resource_type, i))
            .flat_map(|e| e.hidden_fields.iter().cloned())
            .collect();
        if let PlanOf::Entry(i) = of {
            hidden.clone_from(&self.policy.entries[i].hidden_fields);
        }
        let plan = Rc::new(Plan::new(resource_type, &hidden));
        self.plans.borrow_mut().entry(resource_type.to_owned()).or_default().by.insert(of, Rc::clone(&plan));
        plan
    }

    /// The read entry whose plan is every row's: when every row is admitted
    /// and every read entry hides the same fields, the first of them.
    fn every_row_entry(&self, resource_type: &str) -> Option<usize> {
        if let Some(known) = self.plans.borrow().get(resource_type).and_then(|t| t.every_row) {
            return known;
        }
        let entries: Vec<usize> = self.policy.indexed_entries_for(resource_type, Interaction::Read).map(|(i, _)| i).collect();
        let uniform = entries.windows(2).all(|w| self.policy.entries[w[0]].hidden_fields == self.policy.entries[w[1]].hidden_fields);
        let found = entries.first().copied().filter(|_| uniform && self.type_open(Interaction::Read, resource_type));
        self.plans.borrow_mut().entry(resource_type.to_owned()).or_default().every_row = Some(found);
        found
    }

    /// How a resource with these tokens is redacted for this session: by the
    /// first entry granting read that admits it, or, when none does (a
    /// create-only entry), by every entry of the type.
    pub fn read_plan(&self, resource_type: &str, tokens: &[&str]) -> Rc<Plan> {
        let of = match self.every_row_entry(resource_type) {
            Some(first) => PlanOf::Entry(first),
            None => self.first_index(Interaction::Read, resource_type, tokens).map_or(PlanOf::AnyEntry, PlanOf::Entry),
        };
        self.plan(resource_type, of)
    }

    /// What a search may not filter or sort on by the stored tokens.
    pub fn search_plan(&self, resource_type: &str) -> Rc<Plan> {
        self.plan(resource_type, PlanOf::Search)
    }
}

/// Tokens one of which every row a membership may use for `interaction`
/// carries: `_type=<Type>` for types granted outright and for types whose
/// conditions no index narrows, and the conditional entries' prefilter keys.
/// Fixed once the membership is compiled.
fn row_keys(policy: &EffectivePolicy, arms: &[Arm], open: &HashSet<String>, interaction: Interaction) -> Vec<String> {
    let unindexed = definitions::resource_types()
        .filter(|t| policy.indexed_entries_for(t, interaction).any(|(i, _)| !arms[i].is_open() && arms[i].keys().is_none()));
    let mut keys: Vec<String> = open.iter().map(|t| search::type_token(t)).chain(unindexed.map(search::type_token)).collect();
    keys.extend(
        policy
            .entries
            .iter()
            .zip(arms)
            .filter(|(e, arm)| e.interactions.contains(&interaction) && !arm.is_open())
            .filter_map(|(_, arm)| arm.keys())
            .flatten(),
    );
    keys.sort();
    keys.dedup();
    keys
}

pub enum Caller {
    /// A superuser or a BYPASSRLS role: sees and writes everything.
    System,
    Member(Rc<Membership>),
    /// A role that is not a client, or a client without a usable membership.
    Nobody(String),
}

/// What a caller that passed the checks acts as.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    /// Writes and reads everything, and supplies what the server otherwise sets.
    System,
    Member(&'a Membership),
}

impl Caller {
    /// What a write or an interaction acts as; 403 for nobody.
    pub fn actor(&self) -> Result<Actor<'_>> {
        match self {
            Caller::System => Ok(Actor::System),
            Caller::Member(m) => Ok(Actor::Member(m)),
            Caller::Nobody(why) => Err(FhirError::forbidden(why.clone())),
        }
    }

    /// The type-level check (403): may this caller perform `interaction` on `resource_type` at all?
    pub fn require(&self, resource_type: &str, interaction: Interaction) -> Result<Actor<'_>> {
        let actor = self.actor()?;
        if let Actor::Member(m) = actor {
            if !m.policy.allows(resource_type, interaction) {
                return Err(FhirError::forbidden(format!("Forbidden: {} on {resource_type}", interaction.as_str())));
            }
        }
        Ok(actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorKind;
    use serde_json::json;

    /// A membership of Project/p1 whose one policy has these entries.
    fn member(entries: Value) -> Membership {
        let policy = json!({"resourceType": "AccessPolicy", "id": "ap", "resource": entries});
        let membership = json!({"resourceType": "ProjectMembership", "project": {"reference": "Project/p1"},
                                "profile": {"reference": "Practitioner/pr1"}, "accessPolicy": {"reference": "AccessPolicy/ap"}});
        let project = json!({"resourceType": "Project", "id": "p1"});
        let compiled = EffectivePolicy::compile(&membership, &project, &|r| (r == "AccessPolicy/ap").then(|| policy.clone())).unwrap();
        Membership::new("m1", "p1".to_owned(), compiled).unwrap()
    }

    /// The tokens a stored resource has (as the shell computes them, minus project and accounts).
    fn tokens(resource: &Value) -> Vec<String> {
        let mut t = search::index(resource).unwrap().tokens;
        t.push(search::type_token(resource["resourceType"].as_str().unwrap()));
        t
    }

    fn refs(tokens: &[String]) -> Vec<&str> {
        tokens.iter().map(String::as_str).collect()
    }

    fn patient(gender: &str) -> Value {
        json!({"resourceType": "Patient", "id": "x", "gender": gender, "birthDate": "1970-01-01"})
    }

    #[test]
    fn an_entry_without_conditions_opens_its_type_and_keys_rows_by_type() {
        let m = member(json!([{"resourceType": "Patient"}, {"resourceType": "Observation", "criteria": "Observation?status=final"}]));
        assert!(m.type_open(Interaction::Read, "Patient"));
        assert!(!m.type_open(Interaction::Read, "Observation"));
        let keys = m.keys(Interaction::Read);
        assert!(keys.contains(&"_type=Patient".to_owned()));
        assert!(keys.iter().any(|k| k.starts_with("status")), "{keys:?}");
        assert!(!keys.contains(&"_type=Observation".to_owned()));
    }

    #[test]
    fn the_first_entry_a_resource_satisfies_applies_in_policy_order() {
        let m = member(json!([{"resourceType": "Patient", "criteria": "Patient?gender=female", "hiddenFields": ["birthDate"]},
                              {"resourceType": "Patient"}]));
        let (female, male) = (tokens(&patient("female")), tokens(&patient("male")));
        assert_eq!(m.first_entry(Interaction::Read, "Patient", &refs(&female)).unwrap().hidden_fields, ["birthDate"]);
        assert!(m.first_entry(Interaction::Read, "Patient", &refs(&male)).unwrap().hidden_fields.is_empty());
        assert!(m.first_entry(Interaction::Read, "Observation", &[]).is_none());
    }

    #[test]
    fn a_write_no_entry_admits_is_forbidden() {
        let m = member(json!([{"resourceType": "Patient", "criteria": "Patient?gender=female"}]));
        let male = patient("male");
        let e = m.authorize_write(Interaction::Create, "Patient", &tokens(&male), None, &male).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let female = patient("female");
        m.authorize_write(Interaction::Create, "Patient", &tokens(&female), None, &female).unwrap();
    }

    #[test]
    fn write_constraints_see_before_and_after() {
        let m = member(json!([{"resourceType": "Patient", "writeConstraint": [
            {"language": "text/fhirpath", "expression": "%before.exists() implies %before.gender = %after.gender"}]}]));
        let (before, after) = (patient("female"), patient("male"));
        m.authorize_write(Interaction::Create, "Patient", &tokens(&after), None, &after).unwrap();
        let e = m.authorize_write(Interaction::Update, "Patient", &tokens(&after), Some(&before), &after).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Forbidden);
        m.authorize_write(Interaction::Update, "Patient", &tokens(&before), Some(&before), &before).unwrap();
    }

    #[test]
    fn protected_fields_are_the_entrys_hidden_and_readonly_and_what_the_writer_could_not_see() {
        let m = member(json!([{"resourceType": "Patient", "interaction": ["read"], "hiddenFields": ["address"]},
                              {"resourceType": "Patient", "hiddenFields": ["birthDate"], "readonlyFields": ["gender"]}]));
        let t = tokens(&patient("female"));
        let seen = m.read_plan("Patient", &refs(&t));
        assert_eq!(m.protected_fields(Interaction::Update, "Patient", &t, Some(&seen)), ["address", "birthDate", "gender"]);
        assert_eq!(m.protected_fields(Interaction::Update, "Patient", &t, None), ["birthDate", "gender"]);
    }

    #[test]
    fn a_resource_no_read_entry_admits_is_redacted_by_every_entry_of_its_type() {
        let m = member(json!([{"resourceType": "Patient", "interaction": ["create"], "hiddenFields": ["birthDate"]},
                              {"resourceType": "Patient", "criteria": "Patient?gender=female", "interaction": ["read"], "hiddenFields": ["name"]}]));
        let plan = m.read_plan("Patient", &refs(&tokens(&patient("male"))));
        assert_eq!(plan.hidden_fields(), ["birthDate", "name"]);
    }

    #[test]
    fn a_search_plan_hides_what_any_read_or_search_entry_hides() {
        let m = member(json!([{"resourceType": "Patient", "interaction": ["read"], "hiddenFields": ["birthDate"]},
                              {"resourceType": "Patient", "interaction": ["search"], "hiddenFields": ["gender"]},
                              {"resourceType": "Patient", "interaction": ["create"], "hiddenFields": ["address"]}]));
        let plan = m.search_plan("Patient");
        assert!(plan.hides_param("birthdate") && plan.hides_param("gender") && !plan.hides_param("address"));
    }

    #[test]
    fn plans_are_made_once_per_type_and_entry() {
        let m = member(json!([{"resourceType": "Patient", "hiddenFields": ["birthDate"]}]));
        let t = tokens(&patient("female"));
        assert!(Rc::ptr_eq(&m.read_plan("Patient", &refs(&t)), &m.read_plan("Patient", &refs(&t))));
    }

    #[test]
    fn nobody_and_ungranted_types_are_forbidden_and_the_system_is_no_member() {
        let nobody = Caller::Nobody("No membership".to_owned());
        assert_eq!(nobody.actor().err().unwrap().kind, ErrorKind::Forbidden);
        let member = Caller::Member(Rc::new(member(json!([{"resourceType": "Patient"}]))));
        assert!(matches!(member.require("Patient", Interaction::Read), Ok(Actor::Member(_))));
        assert_eq!(member.require("Observation", Interaction::Read).err().unwrap().kind, ErrorKind::Forbidden);
        assert!(matches!(Caller::System.require("Observation", Interaction::Delete), Ok(Actor::System)));
    }
    #[test]
    fn a_grant_names_the_first_admitting_entry_its_policy_parameters_and_hidden_fields() {
        let m = member(json!([
            {"resourceType": "Patient", "criteria": "Patient?gender=male"},
            {"resourceType": "Patient", "hiddenFields": ["birthDate"]}
        ]));
        let t = tokens(&patient("female"));
        let grant = m.grant(Interaction::Read, "Patient", &refs(&t)).unwrap();
        assert_eq!(grant["membership"], "ProjectMembership/m1");
        assert_eq!(grant["entry"], 1);
        assert_eq!(grant["basedOn"], "AccessPolicy/ap");
        assert_eq!(grant["profile"], "Practitioner/pr1");
        assert_eq!(grant["parameters"]["profile"], "Practitioner/pr1");
        assert!(grant["hiddenFields"].as_array().unwrap().contains(&json!("birthDate")));
        let male = tokens(&patient("male"));
        assert_eq!(m.grant(Interaction::Read, "Patient", &refs(&male)).unwrap()["entry"], 0);
    }

    #[test]
    fn a_grant_of_a_write_needs_the_resource_readable_too() {
        let m = member(json!([
            {"resourceType": "Patient", "criteria": "Patient?gender=male", "interaction": ["read"]},
            {"resourceType": "Patient", "interaction": ["update"]}
        ]));
        let female = tokens(&patient("female"));
        assert!(m.grant(Interaction::Update, "Patient", &refs(&female)).is_none(), "updatable but not readable");
        let male = tokens(&patient("male"));
        assert_eq!(m.grant(Interaction::Update, "Patient", &refs(&male)).unwrap()["entry"], 1);
        assert!(m.grant(Interaction::Delete, "Patient", &refs(&male)).is_none());
    }
}
