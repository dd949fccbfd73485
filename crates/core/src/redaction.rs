//! The one redaction plan: what a session may not see of a resource that one
//! policy entry (or a union of entries) admits, and every value derived from it.
//!
//! Every route redacts with a plan: read, vread, history, search results and
//! filters, the view, write responses and explain_access. A plan is computed
//! once per membership, type and entry, and cached by the membership.

use crate::definitions;
use crate::fields;
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The entries' hiddenFields, sorted and deduplicated.
    hidden_fields: Vec<String>,
    /// What is removed from a document: the hiddenFields, and the elements
    /// derived from them (`meta.compartment` when a hidden element puts the
    /// resource in a Patient compartment).
    paths: Vec<String>,
    /// Search parameters whose values depend on a removed element: a search
    /// filters and sorts on them only against the redacted document.
    hidden_params: BTreeSet<String>,
}

/// The elements that hold a resource's accounts.
const ACCOUNTS: [&str; 2] = ["meta.account", "meta.accounts"];

impl Plan {
    pub fn new(resource_type: &str, hidden_fields: &[String]) -> Plan {
        let mut hidden_fields = hidden_fields.to_vec();
        hidden_fields.sort();
        hidden_fields.dedup();
        if hidden_fields.is_empty() {
            return Plan::default();
        }
        let touches = |expression: &str| hidden_fields.iter().any(|h| fields::expression_touches(expression, h));
        let mut hidden_params: BTreeSet<String> =
            definitions::search_params(resource_type).filter(|p| touches(&p.expression)).map(|p| p.code.clone()).collect();
        let mut paths = hidden_fields.clone();
        let patients_hidden = definitions::patient_compartment_params(resource_type).iter().any(|c| hidden_params.contains(c));
        let accounts_hidden = ACCOUNTS.iter().any(|a| touches(a));
        // `meta.account` is the first of `meta.accounts`: either shows the
        // other. And the accounts a resource inherits from its Patients
        // derive from hidden references.
        if accounts_hidden || (patients_hidden && resource_type != "Patient") {
            paths.extend(ACCOUNTS.map(str::to_owned));
        }
        if patients_hidden || accounts_hidden {
            // The compartments list the Patients and the accounts.
            paths.push("meta.compartment".to_owned());
            hidden_params.insert("_compartment".to_owned());
        }
        paths.sort();
        paths.dedup();
        Plan { hidden_fields, paths, hidden_params }
    }

    /// The plan of several entries at once: it hides what any of them hides.
    pub fn union(resource_type: &str, plans: &[&Plan]) -> Plan {
        let fields: Vec<String> = plans.iter().flat_map(|p| p.hidden_fields.iter().cloned()).collect();
        Plan::new(resource_type, &fields)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The hiddenFields the plan was made of.
    pub fn hidden_fields(&self) -> &[String] {
        &self.hidden_fields
    }

    /// Everything the plan removes, derived elements included.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Whether this plan hides at least what `other` hides.
    pub fn hides_all_of(&self, other: &Plan) -> bool {
        other.paths.iter().all(|p| self.paths.contains(p))
    }

    pub fn hides_param(&self, code: &str) -> bool {
        self.hidden_params.contains(code)
    }

    pub fn apply(&self, document: &mut Value) {
        for path in &self.paths {
            fields::remove(document, path);
        }
    }

    /// The top-level keys the plan removes (`value[x]` as every key a choice
    /// may take), when it removes nothing else: then jsonb's own `-` does it.
    pub fn top_level_keys(&self) -> Option<Vec<String>> {
        let mut keys = Vec::new();
        for path in &self.paths {
            if path.contains('.') {
                return None;
            }
            match path.strip_suffix("[x]") {
                Some(base) => keys.extend(definitions::data_type_suffixes().map(|s| format!("{base}{s}"))),
                None => keys.push(path.clone()),
            }
        }
        // A primitive's id and extensions go with it (`_birthDate`).
        let siblings: Vec<String> = keys.iter().map(|k| format!("_{k}")).collect();
        keys.extend(siblings);
        Some(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(resource_type: &str, hidden: &[&str]) -> Plan {
        Plan::new(resource_type, &hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_hidden_subject_hides_the_compartments_and_accounts_derived_from_it() {
        let p = plan("Observation", &["subject"]);
        assert!(p.hides_param("subject") && p.hides_param("patient") && p.hides_param("_compartment"));
        let mut o = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"},
            "meta": {"compartment": [{"reference": "Patient/p1"}], "accounts": [{"reference": "Organization/o"}]}});
        p.apply(&mut o);
        assert_eq!(o, json!({"resourceType": "Observation", "meta": {}}));
    }

    #[test]
    fn hidden_accounts_hide_the_compartments_that_list_them() {
        let p = plan("Patient", &["meta.accounts", "meta.account"]);
        assert!(p.hides_param("_compartment"));
        assert!(p.paths().contains(&"meta.compartment".to_owned()));
        assert!(plan("Patient", &["meta.accounts"]).paths().contains(&"meta.account".to_owned()));
    }

    #[test]
    fn a_hidden_field_outside_every_compartment_keeps_the_compartments() {
        let p = plan("Observation", &["note"]);
        assert!(!p.hides_param("_compartment") && !p.hides_param("subject"));
        assert_eq!(p.paths(), ["note"]);
    }

    #[test]
    fn a_nested_choice_is_removed_in_every_variant() {
        let p = plan("Observation", &["component.value[x]"]);
        let mut o =
            json!({"resourceType": "Observation", "component": [{"valueQuantity": {"value": 1}, "code": {}}, {"valueString": "s"}]});
        p.apply(&mut o);
        assert_eq!(o, json!({"resourceType": "Observation", "component": [{"code": {}}, {}]}));
        assert!(p.hides_param("component-value-quantity"));
        assert_eq!(p.top_level_keys(), None);
    }

    #[test]
    fn top_level_choice_keys_cover_every_data_type() {
        let keys = plan("Observation", &["value[x]", "note"]).top_level_keys().unwrap();
        for k in ["valueQuantity", "valueString", "valueMoney", "note", "_valueString", "_note"] {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
    }

    #[test]
    fn a_union_hides_what_any_plan_hides() {
        let (a, b) = (plan("Patient", &["birthDate"]), plan("Patient", &["name.given"]));
        let u = Plan::union("Patient", &[&a, &b]);
        assert_eq!(u.hidden_fields(), ["birthDate", "name.given"]);
        assert!(u.hides_param("birthdate") && u.hides_param("given") && !u.hides_param("family"));
    }
}
