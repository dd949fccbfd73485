//! `fhir.invite(project_id, invite)`: Medplum's invite, in one statement.
//! Finds or creates the User, creates the profile and the ProjectMembership.

use crate::audit::{audited, Subject};
use crate::errors::OrRaise;
use crate::interactions::create_resource;
use crate::session::{self, Caller};
use crate::storage::{self, Scope};
use fhir_access_core::audit::Action;
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use pgrx::prelude::*;
use serde_json::{json, Map, Value};

/// Profile types a membership may be created for.
const PROFILE_TYPES: [&str; 3] = ["Patient", "Practitioner", "RelatedPerson"];

#[pg_extern]
fn invite(project_id: &str, invite: pgrx::JsonB) -> pgrx::JsonB {
    let invited = invite_member(project_id, &invite.0);
    let attempted = || Subject::named("Project", project_id);
    // The record names the membership, its profile and its User.
    let done = |m: &Value| {
        let others = ["profile", "user"].into_iter().filter_map(|k| m[k]["reference"].as_str().map(str::to_owned));
        Subject::version(m).and(others.collect::<Vec<_>>())
    };
    pgrx::JsonB(audited(Action::Interaction(Interaction::Create), attempted, invited, done).or_raise())
}

fn invite_member(project_id: &str, invite: &Value) -> Result<Value> {
    // The system and the project's own admins invite.
    match &*session::caller() {
        Caller::System => {}
        Caller::Member(m) if m.policy.admin && m.project_id == project_id => {}
        Caller::Member(_) => return Err(FhirError::forbidden("Only project admins invite members")),
        Caller::Nobody(why) => return Err(FhirError::forbidden(why.clone())),
    }
    let profile_type = invite["resourceType"].as_str().unwrap_or("Practitioner");
    if !PROFILE_TYPES.contains(&profile_type) {
        return Err(
            FhirError::invalid(format!("Cannot invite a {profile_type}: use Patient, Practitioner or RelatedPerson")).at("resourceType")
        );
    }
    let email =
        invite["email"].as_str().filter(|e| e.contains('@')).ok_or_else(|| FhirError::invalid("An invite needs an email").at("email"))?;
    if !storage::project_exists(project_id) {
        return Err(FhirError::invalid(format!("Project {project_id} does not exist")));
    }
    check_policies(project_id, invite)?;
    let first = invite["firstName"].as_str().unwrap_or_default();
    let last = invite["lastName"].as_str().unwrap_or_default();
    let system = Caller::System;

    // Patients' users belong to their project; other users are global and may join several.
    let user_project = if profile_type == "Patient" { project_id } else { "" };
    let user_id = match storage::user_by_email(email, user_project) {
        Some(id) => id,
        None => {
            let mut user = json!({"resourceType": "User", "firstName": first, "lastName": last, "email": email});
            if profile_type == "Patient" {
                user["project"] = json!({"reference": format!("Project/{project_id}")});
                user["meta"] = json!({"project": project_id});
            }
            id_of(&create_resource(&system, user)?)
        }
    };

    let name = json!([{"given": [first], "family": last}]);
    let profile = create_resource(
        &system,
        json!({"resourceType": profile_type, "name": name, "telecom": [{"system": "email", "use": "work", "value": email}],
               "meta": {"project": project_id}}),
    )?;

    let requested = invite["membership"].as_object().cloned().unwrap_or_default();
    let mut membership = Map::new();
    for key in ["admin", "access", "accessPolicy"] {
        if let Some(v) = requested.get(key) {
            membership.insert(key.into(), v.clone());
        }
    }
    membership.insert("resourceType".into(), json!("ProjectMembership"));
    membership.insert("project".into(), json!({"reference": format!("Project/{project_id}")}));
    membership.insert("user".into(), json!({"reference": format!("User/{user_id}"), "display": email}));
    membership.insert(
        "profile".into(),
        json!({"reference": format!("{profile_type}/{}", id_of(&profile)), "display": format!("{first} {last}").trim()}),
    );
    membership.insert("meta".into(), json!({"project": project_id}));
    create_resource(&system, Value::Object(membership))
}

/// Every policy the membership names must be one of the project's; one of
/// another project is refused exactly as one that does not exist.
fn check_policies(project_id: &str, invite: &Value) -> Result<()> {
    let membership = &invite["membership"];
    let named = membership["access"].as_array().into_iter().flatten().map(|a| &a["policy"]).chain([&membership["accessPolicy"]]);
    for reference in named.filter_map(|p| p["reference"].as_str()) {
        let own = reference
            .strip_prefix("AccessPolicy/")
            .and_then(|id| storage::current(Scope::All, "AccessPolicy", id))
            .is_some_and(|p| !p.deleted && p.project_id == project_id);
        if !own {
            return Err(FhirError::invalid(format!("{reference} is not an AccessPolicy of this project")).at("membership"));
        }
    }
    Ok(())
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("stored resources have an id").to_owned()
}
