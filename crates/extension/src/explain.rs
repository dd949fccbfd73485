//! `fhir.explain_access(resource_type, id, interaction, candidate)`: why the
//! session may or may not perform an interaction on a resource. It names
//! entries, criteria, field paths and constraints, never a field's value, and
//! a resource the session cannot see is reported exactly like one that does
//! not exist. With a candidate AccessPolicy or ProjectMembership (not saved),
//! the system or a project admin sees what the candidate would grant, and on
//! how many of the project's resources of the type.

use crate::errors::OrRaise;
use crate::session::{self, Caller, Membership};
use crate::storage::{self, Current};
use fhir_access_core::definitions;
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::{Entry, Interaction};
use pgrx::prelude::*;
use serde_json::{json, Value};

#[pg_extern(stable)]
fn explain_access(resource_type: &str, id: &str, interaction: &str, candidate: default!(Option<pgrx::JsonB>, "NULL")) -> pgrx::JsonB {
    pgrx::JsonB(explain(resource_type, id, interaction, candidate.map(|c| c.0).as_ref()).or_raise())
}

/// The interaction a question about a resource of `resource_type` names
/// (patch is an update, as in AccessPolicy); 22023 for an unknown type or code.
pub(crate) fn asked(resource_type: &str, interaction_code: &str) -> Result<Interaction> {
    if !definitions::is_resource_type(resource_type) {
        return Err(FhirError::invalid(format!("Unknown resource type '{resource_type}'")));
    }
    Interaction::parse(if interaction_code == "patch" { "update" } else { interaction_code })
        .ok_or_else(|| FhirError::invalid(format!("Unknown interaction '{interaction_code}'")))
}

fn explain(resource_type: &str, id: &str, interaction_code: &str, candidate: Option<&Value>) -> Result<Value> {
    let interaction = asked(resource_type, interaction_code)?;
    let caller = session::caller();
    if let Some(candidate) = candidate {
        return what_if(&caller, resource_type, id, interaction, interaction_code, candidate);
    }
    let row = match &*caller {
        Caller::Nobody(_) => None,
        _ => storage::current(storage::Scope::of(&caller), resource_type, id),
    };
    let mut out = json!({
        "resourceType": resource_type,
        "id": id,
        "interaction": interaction_code,
        "visible": row.is_some(),
    });
    match &*caller {
        Caller::System => {
            out["caller"] = json!("system");
            out["allowed"] = json!(true);
            out["reason"] = json!("The system (a superuser or BYPASSRLS role) bypasses access policies.");
        }
        Caller::Nobody(why) => {
            out["caller"] = Value::Null;
            out["allowed"] = json!(false);
            out["reason"] = json!(why);
        }
        Caller::Member(m) => explain_membership(m, resource_type, interaction, row.as_ref(), Sees::OwnRights, &mut out),
    }
    Ok(out)
}

/// What a candidate would grant on the resource, as the system or an admin of
/// its project sees it, and how many of the project's resources of the type
/// it would admit (the decision `who_can_access` reports).
fn what_if(caller: &Caller, resource_type: &str, id: &str, interaction: Interaction, code: &str, candidate: &Value) -> Result<Value> {
    let admin_of = session::admin_scope(caller, "explain_access with a candidate")?;
    let row = storage::current(storage::Scope::All, resource_type, id)
        .filter(|r| !r.deleted && admin_of.as_ref().is_none_or(|p| *p == r.project_id));
    let project_id =
        admin_of.or_else(|| row.as_ref().map(|r| r.project_id.clone())).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    let m = session::compile_candidate(&project_id, candidate)?;
    let mut out = json!({ "resourceType": resource_type, "id": id, "interaction": code, "visible": row.is_some(), "candidate": true });
    explain_membership(&m, resource_type, interaction, row.as_ref(), Sees::Everything, &mut out);
    let rows = storage::type_tokens(&project_id, resource_type);
    let admitted = rows
        .iter()
        .filter(|tokens| m.grant(interaction, resource_type, &tokens.iter().map(String::as_str).collect::<Vec<_>>()).is_some())
        .count();
    out["admits"] = json!({ "resources": admitted, "of": rows.len() });
    Ok(out)
}

/// Who reads the explanation: a session, which may not learn through it
/// whether criteria on fields hidden from it hold, or the system or an admin
/// trying a candidate, who sees the whole project anyway.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sees {
    OwnRights,
    Everything,
}

fn explain_membership(m: &Membership, resource_type: &str, interaction: Interaction, row: Option<&Current>, sees: Sees, out: &mut Value) {
    out["caller"] = json!(format!("ProjectMembership/{}", m.id));
    let tokens: Vec<&str> = row.map(|r| r.tokens.iter().map(String::as_str).collect()).unwrap_or_default();
    let grants: Vec<usize> = m.policy.indexed_entries_for(resource_type, interaction).map(|(i, _)| i).collect();
    // An entry whose criteria or compartment read a field hidden from the session:
    // whether the resource satisfies it would tell the hidden value.
    let search_plan = m.search_plan(resource_type);
    let undisclosed = |e: &Entry| {
        sees == Sees::OwnRights
            && (e.criteria.as_ref().is_some_and(|c| c.params.iter().any(|p| search_plan.hides_param(&p.code)))
                || (e.compartment.is_some() && search_plan.hides_param("_compartment")))
    };
    let entries: Vec<Value> = m
        .policy
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.covers(resource_type) || e.resource_type == resource_type)
        .map(|(i, e)| {
            let grants_interaction = grants.contains(&i);
            let satisfied = row.filter(|_| !undisclosed(e)).map(|_| m.entry_admits(i, resource_type, &tokens));
            let reason = match (grants_interaction, satisfied) {
                (false, _) => format!("does not grant {}", interaction.as_str()),
                (true, None) if row.is_some() => "its criteria read a field hidden from this session: not shown".to_owned(),
                (true, None) => "grants the interaction; no visible resource to test".to_owned(),
                (true, Some(true)) => "matches".to_owned(),
                (true, Some(false)) => "the resource does not satisfy its criteria".to_owned(),
            };
            let mut v = describe(m, i, e);
            v["grantsInteraction"] = json!(grants_interaction);
            v["matches"] = json!(satisfied.map(|s| s && grants_interaction));
            v["reason"] = json!(reason);
            v
        })
        .collect();
    let found = row.and_then(|_| grants.iter().copied().find(|&i| m.entry_admits(i, resource_type, &tokens)));
    // Which entry applies is not shown when an entry tried before it, or it, is undisclosed.
    let tried = |last: usize| grants.iter().take_while(|&&i| i <= last).any(|&i| undisclosed(&m.policy.entries[i]));
    let applies = found.filter(|&i| !tried(i));
    // Whether it is allowed is what trying it shows anyway.
    let (allowed, reason) = match (grants.is_empty(), row.is_some(), found, applies) {
        (true, _, _, _) => (false, format!("403: no entry grants {} on {resource_type}", interaction.as_str())),
        (false, false, _, _) => (false, "404: not found, or not visible to this session".to_owned()),
        (false, true, None, _) => (false, format!("403: no entry granting {} admits this resource", interaction.as_str())),
        (false, true, Some(_), None) => (true, "allowed (which entry applies depends on a field hidden from this session)".to_owned()),
        (false, true, Some(_), Some(i)) => (true, format!("allowed by entry {i}")),
    };
    out["allowed"] = json!(allowed);
    out["reason"] = json!(reason);
    out["entries"] = Value::Array(entries);
    out["applies"] = json!(applies);
    let applied = applies.map(|i| &m.policy.entries[i]);
    out["hiddenFields"] = json!(applied.map(|e| e.hidden_fields.clone()).unwrap_or_default());
    out["readonlyFields"] = json!(applied.map(|e| e.readonly_fields.clone()).unwrap_or_default());
    out["writeConstraints"] = json!(applied
        .map(|e| e.write_constraints.iter().map(|c| json!({"expression": c.expression, "description": c.description})).collect::<Vec<_>>())
        .unwrap_or_default());
    // What a read of this resource removes: the read plan, derived values included.
    out["redacted"] = json!(row.map(|_| m.read_plan(resource_type, &tokens).paths().to_vec()).unwrap_or_default());
    out["predicate"] = m.predicate(resource_type, interaction);
}

/// An entry as the policy states it, with the policy it came from.
fn describe(m: &Membership, index: usize, e: &Entry) -> Value {
    json!({
        "entry": index,
        "basedOn": e.source.map(|s| m.policy.sources[s].policy.clone()),
        "resourceType": e.resource_type,
        "criteria": e.criteria.as_ref().map(ToString::to_string),
        "compartment": e.compartment,
        "interaction": e.interactions.iter().map(|i| i.as_str()).collect::<Vec<_>>(),
    })
}
