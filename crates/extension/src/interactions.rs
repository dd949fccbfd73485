//! The FHIR interactions of API.md: create, read, vread, update, patch,
//! delete and history. Each validates its input and the caller's access
//! before it writes anything, so a refused call leaves no trace.
//!
//! Access follows Medplum: a type or interaction the policy does not grant is
//! 403; a resource row-level security hides is 404; a visible resource that no
//! entry granting the interaction admits (before or after the write) is 403.

use crate::audit::{audited, Subject};
use crate::errors::OrRaise;
use crate::jsonb::Document;
use crate::session::{self, Actor, Caller, Membership};
use crate::storage::{self, Current, Scope};
use crate::versions::{self, Accounts, Version};
use fhir_access_core::audit::{self, Action};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use fhir_access_core::redaction::Plan;
use fhir_access_core::{definitions, fields, patch, policy, references, resource};
use pgrx::prelude::*;
use serde_json::{json, Value};

#[pg_extern]
fn create(resource: Document) -> Document {
    let created = create_resource(&session::caller(), resource.0);
    Document(written(audited(Action::Interaction(Interaction::Create), Subject::default, created, Subject::version).or_raise()))
}

/// A written version, after the review of an AccessPolicy's content as
/// NOTICEs (only once the write succeeded: a refused caller gets no review).
fn written(version: Value) -> Value {
    notify_findings(&version);
    version
}

/// A written AccessPolicy's lint findings, as NOTICEs.
pub fn notify_findings(version: &Value) {
    if version["resourceType"] == "AccessPolicy" {
        crate::lint::notify(version);
    }
}

#[pg_extern]
fn read(resource_type: &str, id: &str) -> Document {
    let result = read_resource(resource_type, id);
    Document(audited(Action::Interaction(Interaction::Read), || Subject::named(resource_type, id), result, Subject::version).or_raise())
}

#[pg_extern]
fn vread(resource_type: &str, id: &str, version_id: &str) -> Document {
    let result = read_version(resource_type, id, version_id);
    let attempted = || Subject::named(resource_type, &format!("{id}/_history/{version_id}"));
    Document(audited(Action::Interaction(Interaction::Vread), attempted, result, Subject::version).or_raise())
}

#[pg_extern]
fn update(resource: Document, if_match: default!(Option<&str>, "NULL")) -> Document {
    let attempted = Subject::named(resource.0["resourceType"].as_str().unwrap_or_default(), resource::id(&resource.0).unwrap_or_default());
    let result = update_resource(resource.0, if_match);
    Document(written(audited(Action::Interaction(Interaction::Update), || attempted, result, Subject::version).or_raise()))
}

#[pg_extern]
fn patch(resource_type: &str, id: &str, patch: Document) -> Document {
    let result = patch_resource(resource_type, id, &patch.0);
    Document(written(audited(Action::Patch, || Subject::named(resource_type, id), result, Subject::version).or_raise()))
}

#[pg_extern]
fn delete(resource_type: &str, id: &str) {
    let named = || Subject::named(resource_type, id);
    audited(Action::Interaction(Interaction::Delete), named, delete_resource(resource_type, id), |_| named()).or_raise()
}

#[pg_extern]
fn history(resource_type: &str, id: &str) -> SetOfIterator<'static, Document> {
    let named = || Subject::named(resource_type, id);
    let versions = audited(Action::Interaction(Interaction::History), named, read_history(resource_type, id), |_| named()).or_raise();
    SetOfIterator::new(versions.into_iter().map(Document))
}

pub fn create_resource(caller: &Caller, resource: Value) -> Result<Value> {
    let created = prepare_create(caller, resource, versions::random_uuid)?;
    versions::store(&created.resource_type, &created.project_id, &created.version, true, false)?;
    Ok(redact(created.actor, &created.resource_type, &created.version.tokens, created.version.content))
}

/// A create that passed every check, built and not yet stored.
pub struct Prepared<'a> {
    pub actor: Actor<'a>,
    pub resource_type: String,
    pub project_id: String,
    pub version: Version,
}

/// Checks and builds a create; `new_id` names the resource unless the
/// system chose its id.
pub fn prepare_create(caller: &Caller, mut resource: Value, new_id: impl FnOnce() -> String) -> Result<Prepared<'_>> {
    let resource_type = check_resource(&resource)?.to_owned();
    refuse_audit_change(caller, &resource_type)?;
    let actor = caller.require(&resource_type, Interaction::Create)?;
    // Only the system chooses ids; clients always get a new one (as in Medplum).
    let id = match (actor, resource::id(&resource)) {
        (Actor::System, Some(id)) => id.to_owned(),
        _ => new_id(),
    };
    // A server-generated UUID is new; an id the system chose may not be.
    if resource::id(&resource) == Some(id.as_str()) && storage::current(Scope::All, &resource_type, &id).is_some() {
        return Err(FhirError::invalid(format!("{resource_type}/{id} already exists")).at(format!("{resource_type}.id")));
    }
    let project_id = match actor {
        Actor::System => project_of_new(&resource_type, &id, &resource)?,
        Actor::Member(m) => project_for_client(m, &resource)?,
    };
    match actor {
        Actor::Member(m) if m.protects_fields(Interaction::Create, &resource_type) => {
            // Hidden and read-only fields cannot be written; the entry is chosen by the input.
            let submitted = versions::build(&id, &project_id, resource.clone(), None, Accounts::Given(Vec::new()), None)?;
            for path in m.protected_fields(Interaction::Create, &resource_type, &submitted.tokens, None) {
                fields::remove(&mut resource, &path);
            }
        }
        _ => {}
    }
    check_references(caller, &resource, &project_id)?;
    let accounts = accounts_for_write(actor, &resource_type, &resource, None);
    let version = versions::build(&id, &project_id, resource, None, accounts, author(actor).as_deref())?;
    if let Actor::Member(m) = actor {
        m.authorize_write(Interaction::Create, &resource_type, &version.tokens, None, &version.content)?;
    }
    Ok(Prepared { actor, resource_type, project_id, version })
}

fn read_resource(resource_type: &str, id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    let actor = caller.require(resource_type, Interaction::Read)?;
    let current = visible(&caller, resource_type, id)?;
    if current.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(redact(actor, resource_type, &current.tokens, current.content))
}

fn read_version(resource_type: &str, id: &str, version_id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    let actor = caller.require(resource_type, Interaction::Vread)?;
    let current = visible(&caller, resource_type, id)?;
    check_instance(actor, Interaction::Vread, resource_type, &current)?;
    let version = storage::version(resource_type, id, version_id)
        .ok_or_else(|| FhirError::not_found(resource_type, &format!("{id}/_history/{version_id}")))?;
    if version.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(redact_version(actor, resource_type, &current, version.content))
}

fn read_history(resource_type: &str, id: &str) -> Result<Vec<Value>> {
    check_type(resource_type)?;
    let caller = session::caller();
    let actor = caller.require(resource_type, Interaction::History)?;
    let current = visible(&caller, resource_type, id)?;
    check_instance(actor, Interaction::History, resource_type, &current)?;
    Ok(storage::history(resource_type, id)
        .into_iter()
        .map(|v| if v.deleted { deletion_entry(&v.content) } else { redact_version(actor, resource_type, &current, v.content) })
        .collect())
}

fn update_resource(mut resource: Value, if_match: Option<&str>) -> Result<Value> {
    let resource_type = check_resource(&resource)?.to_owned();
    let id =
        resource::id(&resource).ok_or_else(|| FhirError::invalid("update requires an id").at(format!("{resource_type}.id")))?.to_owned();
    let caller = session::caller();
    refuse_audit_change(&caller, &resource_type)?;
    let actor = caller.require(&resource_type, Interaction::Update)?;
    let current = current_for_write(&caller, actor, &resource_type, &id)?;
    if let Some(expected) = if_match {
        if resource::if_match_version(expected) != current.version_id {
            return Err(FhirError::precondition_failed(format!(
                "Version mismatch: {resource_type}/{id} is at version {}",
                current.version_id
            )));
        }
    }
    if let Actor::Member(m) = actor {
        keep_protected_fields(m, &resource_type, &current, &mut resource)?;
    }
    save_changes(&caller, &resource_type, &id, &current, resource)
}

fn patch_resource(resource_type: &str, id: &str, ops: &Value) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    refuse_audit_change(&caller, resource_type)?;
    let actor = caller.require(resource_type, Interaction::Update)?;
    let current = current_for_write(&caller, actor, resource_type, id)?;
    // The patch sees the document as the caller may: `test`, `copy` and
    // `move` cannot reach a hidden value.
    let seen = redact(actor, resource_type, &current.tokens, current.content.clone());
    let mut patched = patch::apply(&seen, ops)?;
    check_resource(&patched)?;
    if let Actor::Member(m) = actor {
        keep_protected_fields(m, resource_type, &current, &mut patched)?;
    }
    save_changes(&caller, resource_type, id, &current, patched)
}

fn delete_resource(resource_type: &str, id: &str) -> Result<()> {
    check_type(resource_type)?;
    let caller = session::caller();
    refuse_audit_change(&caller, resource_type)?;
    let actor = caller.require(resource_type, Interaction::Delete)?;
    let visible_row = visible(&caller, resource_type, id)?;
    check_instance(actor, Interaction::Delete, resource_type, &visible_row)?;
    let current = storage::current_for_update(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if !current.deleted {
        let accounts = Accounts::Given(resource::accounts(&current.content));
        let tombstone =
            versions::build(id, &current.project_id, current.content.clone(), Some(&current), accounts, author(actor).as_deref())?;
        versions::store(resource_type, &current.project_id, &tombstone, false, true)?;
    }
    Ok(())
}

/// The current row as the caller may see it: 404 when row-level security hides it.
fn visible(caller: &Caller, resource_type: &str, id: &str) -> Result<Current> {
    storage::current(Scope::of(caller), resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))
}

/// A visible resource must also satisfy an entry granting the interaction: 403 otherwise.
fn check_instance(actor: Actor, interaction: Interaction, resource_type: &str, current: &Current) -> Result<()> {
    match actor {
        Actor::Member(m) => m.check_write(interaction, resource_type, &current.tokens),
        Actor::System => Ok(()),
    }
}

/// The current version of a resource about to be changed, locked; one the
/// caller cannot see is not found, a deleted one is gone, and one no update
/// entry admits is forbidden.
fn current_for_write(caller: &Caller, actor: Actor, resource_type: &str, id: &str) -> Result<Current> {
    if Scope::of(caller) == Scope::Session {
        visible(caller, resource_type, id)?;
    }
    let current = storage::current_for_update(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if current.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    check_instance(actor, Interaction::Update, resource_type, &current)?;
    Ok(current)
}

/// On update, the stored values of protected fields win over what the client
/// sent; the entry is chosen by the stored version. What the caller could not
/// see of it is protected too.
fn keep_protected_fields(m: &Membership, resource_type: &str, current: &Current, after: &mut Value) -> Result<()> {
    let seen = m.read_plan(resource_type, &token_refs(&current.tokens));
    fields::protect(after, &current.content, &m.protected_fields(Interaction::Update, resource_type, &current.tokens, Some(&seen)))
}

/// Writes `candidate` as the next version of `current`, unless it changes nothing.
fn save_changes(caller: &Caller, resource_type: &str, id: &str, current: &Current, candidate: Value) -> Result<Value> {
    let actor = caller.actor()?;
    if let Some(p) = resource::meta_project(&candidate) {
        if p != current.project_id {
            return Err(FhirError::invalid("A resource cannot move to another project").at(format!("{resource_type}.meta.project")));
        }
    }
    check_references(caller, &candidate, &current.project_id)?;
    let accounts = accounts_for_write(actor, resource_type, &candidate, Some(current));
    let version = versions::build(id, &current.project_id, candidate, Some(current), accounts, author(actor).as_deref())?;
    if resource::same_content(&current.content, &version.content) {
        return Ok(redact(actor, resource_type, &current.tokens, current.content.clone()));
    }
    if let Actor::Member(m) = actor {
        m.authorize_write(Interaction::Update, resource_type, &version.tokens, Some(&current.content), &version.content)?;
        check_reveals_nothing(m, resource_type, &current.tokens, &version)?;
    }
    versions::store(resource_type, &current.project_id, &version, false, false)?;
    let Version { content, tokens } = version;
    Ok(redact(actor, resource_type, &tokens, content))
}

/// `meta.accounts` of a new version, by Medplum's rules: the system and
/// admins write them as sent; for anyone else they are computed and whatever
/// was sent is ignored: on create the policy's compartment, on update the
/// stored accounts (a client cannot erase them, as Medplum's PR 9255 has it),
/// and for other types than Patient the accounts of the Patients the
/// resource is about.
fn accounts_for_write<'a>(actor: Actor<'a>, resource_type: &str, submitted: &Value, previous: Option<&Current>) -> Accounts<'a> {
    let m = match actor {
        Actor::Member(m) if !m.policy.admin && !m.policy.super_admin => m,
        _ => return Accounts::Given(resource::accounts(submitted)),
    };
    let own: Vec<String> = match previous {
        None => m.policy.compartment.iter().cloned().collect(),
        Some(p) => resource::accounts(&p.content),
    };
    if resource_type == "Patient" {
        return Accounts::Given(own);
    }
    Accounts::Inherited(own, Box::new(move |ids, project_id| visible_patient_accounts(m, ids, project_id)))
}

/// The accounts of these Patients of the project as the writer sees them:
/// a Patient it cannot read, or accounts its policy hides from it, give
/// nothing, so a write tells it nothing it could not read.
fn visible_patient_accounts(m: &Membership, ids: &[String], project_id: &str) -> Vec<String> {
    ids.iter()
        .filter_map(|id| storage::current(Scope::Session, "Patient", id))
        .filter(|p| !p.deleted && p.project_id == project_id)
        .flat_map(|p| {
            let mut seen = p.content;
            m.read_plan("Patient", &token_refs(&p.tokens)).apply(&mut seen);
            resource::accounts(&seen)
        })
        .collect()
}

/// `meta.author` of a client's write: its profile (Medplum's rule), or its
/// membership when it has none; whatever the client sent is replaced. The
/// system's writes keep the author it supplies.
fn author(actor: Actor) -> Option<String> {
    match actor {
        Actor::Member(m) => Some(m.policy.profile.clone().unwrap_or_else(|| format!("ProjectMembership/{}", m.id))),
        Actor::System => None,
    }
}

fn token_refs(tokens: &[String]) -> Vec<&str> {
    tokens.iter().map(String::as_str).collect()
}

/// Removes what the caller may not see of a resource with these tokens.
fn redact(actor: Actor, resource_type: &str, tokens: &[String], mut content: Value) -> Value {
    if let Actor::Member(m) = actor {
        m.read_plan(resource_type, &token_refs(tokens)).apply(&mut content);
    }
    content
}

/// A write may move a resource to another entry, but not to one that hides
/// less from this session than the stored version's entry: the values it
/// could not see are kept, so they would show. The rule compares the plans,
/// never the content, so the refusal tells nothing about hidden values (403).
fn check_reveals_nothing(m: &Membership, resource_type: &str, before: &[String], after: &Version) -> Result<()> {
    let was = m.read_plan(resource_type, &token_refs(before));
    if m.read_plan(resource_type, &token_refs(&after.tokens)).hides_all_of(&was) {
        return Ok(());
    }
    Err(FhirError::forbidden(format!(
        "Forbidden: this update would move the {resource_type} to an access policy entry that shows values hidden from this session"
    )))
}

/// An earlier version, hidden as the current version is and as it was itself
/// when it was current: no entry change reveals a value hidden before it.
fn redact_version(actor: Actor, resource_type: &str, current: &Current, mut content: Value) -> Value {
    if let Actor::Member(m) = actor {
        let now = m.read_plan(resource_type, &token_refs(&current.tokens));
        let then = m.read_plan(resource_type, &token_refs(&versions::tokens_of(&content, &current.project_id)));
        Plan::union(resource_type, &[&now, &then]).apply(&mut content);
    }
    content
}

/// A client writes into its session's project; members of a super-admin
/// project may name another existing project.
fn project_for_client(m: &Membership, resource: &Value) -> Result<String> {
    match resource::meta_project(resource) {
        Some(p) if m.policy.super_admin && p != m.project_id => {
            if storage::project_exists(p) {
                Ok(p.to_owned())
            } else {
                Err(FhirError::invalid(format!("Project {p} does not exist")))
            }
        }
        _ => Ok(m.project_id.clone()),
    }
}

/// The project of a resource the system creates: a Project is its own
/// project; a User without `meta.project` is global (a practitioner may join
/// several projects); anything else names an existing Project in `meta.project`.
fn project_of_new(resource_type: &str, id: &str, resource: &Value) -> Result<String> {
    let named = resource::meta_project(resource);
    match (resource_type, named) {
        ("Project", Some(p)) if p != id => return Err(FhirError::invalid("A Project is its own project").at("Project.meta.project")),
        ("Project", _) => return Ok(id.to_owned()),
        ("User", None) => return Ok(String::new()),
        _ => {}
    }
    let project = named.ok_or_else(|| FhirError::invalid("meta.project is required").at(format!("{resource_type}.meta.project")))?;
    if !storage::project_exists(project) {
        return Err(FhirError::invalid(format!("Project {project} does not exist")).at(format!("{resource_type}.meta.project")));
    }
    Ok(project.to_owned())
}

/// Medplum's `Project.checkReferencesOnWrite`: every reference must resolve
/// to a resource the writer can read, and one to another project, to an
/// invisible or to a deleted resource fails exactly as one to nothing. Without
/// it nothing is looked up, so a write reveals nothing about other resources.
fn check_references(caller: &Caller, resource: &Value, project_id: &str) -> Result<()> {
    if !storage::checks_references(project_id) {
        return Ok(());
    }
    for (resource_type, id) in references::relative_references(resource) {
        if storage::current(Scope::of(caller), &resource_type, &id).is_none_or(|r| r.deleted) {
            return Err(FhirError::invalid(format!("Invalid reference (Not found): {resource_type}/{id}")));
        }
    }
    Ok(())
}

/// The shape every written resource must have; an AccessPolicy must also compile.
fn check_resource(resource: &Value) -> Result<&str> {
    let resource_type = resource::check(resource)?;
    if resource_type == "AccessPolicy" {
        policy::validate(resource)?;
    }
    Ok(resource_type)
}

/// Clients never write, change or delete the audit trail, admins included (the
/// system purges it by age with fhir.purge_audit). Refused by type, before
/// any lookup, so the refusal says nothing about what exists.
fn refuse_audit_change(caller: &Caller, resource_type: &str) -> Result<()> {
    if resource_type == audit::AUDIT_EVENT && !matches!(caller, Caller::System) {
        return Err(FhirError::forbidden("AuditEvents are recorded by the server: clients cannot write, change or delete them"));
    }
    Ok(())
}

fn check_type(resource_type: &str) -> Result<()> {
    if definitions::is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(FhirError::invalid(format!("Unknown resource type '{resource_type}'")))
    }
}

/// History's entry for a deletion: the resource's identity and version, no content.
fn deletion_entry(tombstone: &Value) -> Value {
    let meta = &tombstone["meta"];
    json!({
        "resourceType": tombstone["resourceType"],
        "id": tombstone["id"],
        "meta": {
            "versionId": meta["versionId"],
            "lastUpdated": meta["lastUpdated"],
            "project": meta["project"],
            "tag": [{ "system": "urn:fhir-access:history", "code": "deleted", "display": "Deleted" }],
        },
    })
}
