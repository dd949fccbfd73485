//! `fhir.who_can_access(resource_type, id, interaction)`: every membership of
//! the resource's project (or of a super-admin project) that may perform the
//! interaction on it, with the entry that grants it. Each is decided by the membership's compiled policy,
//! the very decision its row-level security and interactions make, not by
//! impersonating it. For the system and the project's admins only.

use crate::errors::OrRaise;
use crate::session;
use crate::storage::{self, Scope};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use pgrx::prelude::*;
use serde_json::Value;

#[pg_extern(stable)]
fn who_can_access(resource_type: &str, id: &str, interaction: default!(&str, "'read'")) -> SetOfIterator<'static, pgrx::JsonB> {
    SetOfIterator::new(who(resource_type, id, interaction).or_raise().into_iter().map(pgrx::JsonB))
}

fn who(resource_type: &str, id: &str, interaction_code: &str) -> Result<Vec<Value>> {
    let interaction = crate::explain::asked(resource_type, interaction_code)?;
    if interaction == Interaction::Create {
        return Err(FhirError::invalid("create is no interaction on an existing resource"));
    }
    let caller = session::caller();
    let admin_of = session::admin_scope(&caller, "fhir.who_can_access")?;
    // Another project's resource is reported to an admin exactly as a missing one.
    let row = storage::current(Scope::All, resource_type, id)
        .filter(|r| admin_of.as_ref().is_none_or(|p| *p == r.project_id))
        .ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if row.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    let tokens: Vec<&str> = row.tokens.iter().map(String::as_str).collect();
    // The project's members, and those of super-admin projects, which reach every project.
    Ok(storage::project_memberships(&row.project_id)
        .iter()
        // A membership that cannot act (inactive, its policy missing or invalid) may do nothing.
        .filter_map(|m| session::load_membership(m).ok())
        .filter_map(|m| m.grant(interaction, resource_type, &tokens))
        .collect())
}
