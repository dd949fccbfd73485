//! The FHIR interactions of API.md: create, read, vread, update, patch,
//! delete and history. Each validates its input before it writes anything,
//! so a refused call leaves no trace.

use crate::errors::OrRaise;
use crate::jsonb::Document;
use crate::session::{self, Caller, Membership};
use crate::storage::{self, Current, NewVersion, Scope};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use fhir_access_core::{definitions, fields, patch, policy, references, resource, time};
use pgrx::prelude::*;
use serde_json::{json, Value};

#[pg_extern]
fn create(resource: Document) -> Document {
    Document(create_resource(&session::caller(), resource.0).or_raise())
}

#[pg_extern(stable)]
fn read(resource_type: &str, id: &str) -> Document {
    Document(read_resource(resource_type, id).or_raise())
}

#[pg_extern(stable)]
fn vread(resource_type: &str, id: &str, version_id: &str) -> Document {
    Document(read_version(resource_type, id, version_id).or_raise())
}

#[pg_extern]
fn update(resource: Document, if_match: default!(Option<&str>, "NULL")) -> Document {
    Document(update_resource(resource.0, if_match).or_raise())
}

#[pg_extern]
fn patch(resource_type: &str, id: &str, patch: Document) -> Document {
    Document(patch_resource(resource_type, id, &patch.0).or_raise())
}

#[pg_extern]
fn delete(resource_type: &str, id: &str) {
    delete_resource(resource_type, id).or_raise()
}

#[pg_extern(stable)]
fn history(resource_type: &str, id: &str) -> SetOfIterator<'static, Document> {
    SetOfIterator::new(read_history(resource_type, id).or_raise().into_iter().map(Document))
}

pub fn create_resource(caller: &Caller, mut resource: Value) -> Result<Value> {
    let resource_type = check_resource(&resource)?.to_owned();
    let membership = caller.require(&resource_type, Interaction::Create)?;
    // Only the system chooses ids; clients always get a new one (as in Medplum).
    let id = match (membership, resource::id(&resource)) {
        (None, Some(id)) => id.to_owned(),
        _ => random_uuid(),
    };
    if storage::current(Scope::All, &resource_type, &id).is_some() {
        return Err(FhirError::invalid(format!("{resource_type}/{id} already exists")).at(format!("{resource_type}.id")));
    }
    let project_id = match membership {
        None => project_of_new(&resource_type, &id, &resource)?,
        Some(m) => project_for_client(m, &resource)?,
    };
    if let Some(m) = membership {
        for path in m.protected_fields(&resource_type, Interaction::Create) {
            fields::remove(&mut resource, &path);
        }
    }
    check_references(&resource_type, &resource, &project_id)?;
    Ok(write_version(&resource_type, &id, &project_id, &mut resource, None, false))
}

fn read_resource(resource_type: &str, id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    let membership = caller.require(resource_type, Interaction::Read)?;
    let current = visible(&caller, resource_type, id)?;
    if current.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(redact(membership, resource_type, current.content))
}

fn read_version(resource_type: &str, id: &str, version_id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    let membership = caller.require(resource_type, Interaction::Vread)?;
    visible(&caller, resource_type, id)?;
    let version = storage::version(resource_type, id, version_id)
        .ok_or_else(|| FhirError::not_found(resource_type, &format!("{id}/_history/{version_id}")))?;
    if version.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(redact(membership, resource_type, version.content))
}

fn update_resource(mut resource: Value, if_match: Option<&str>) -> Result<Value> {
    let resource_type = check_resource(&resource)?.to_owned();
    let id = resource::id(&resource)
        .ok_or_else(|| FhirError::invalid("update requires an id").at(format!("{resource_type}.id")))?
        .to_owned();
    let caller = session::caller();
    let membership = caller.require(&resource_type, Interaction::Update)?;
    let current = current_for_write(&caller, &resource_type, &id)?;
    if let Some(m) = membership {
        keep_protected_fields(m, &resource_type, &current.content, &mut resource);
    }
    if let Some(expected) = if_match {
        if resource::if_match_version(expected) != current.version_id {
            return Err(FhirError::precondition_failed(format!(
                "Version mismatch: {resource_type}/{id} is at version {}",
                current.version_id
            )));
        }
    }
    save_changes(&resource_type, &id, &current, resource)
}

fn patch_resource(resource_type: &str, id: &str, ops: &Value) -> Result<Value> {
    check_type(resource_type)?;
    let caller = session::caller();
    let membership = caller.require(resource_type, Interaction::Update)?;
    let current = current_for_write(&caller, resource_type, id)?;
    let mut patched = patch::apply(&current.content, ops)?;
    check_resource(&patched)?;
    if let Some(m) = membership {
        keep_protected_fields(m, resource_type, &current.content, &mut patched);
    }
    save_changes(resource_type, id, &current, patched)
}

fn delete_resource(resource_type: &str, id: &str) -> Result<()> {
    check_type(resource_type)?;
    let caller = session::caller();
    caller.require(resource_type, Interaction::Delete)?;
    visible(&caller, resource_type, id)?;
    let current = storage::current_for_update(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if !current.deleted {
        let mut tombstone = current.content.clone();
        write_version(resource_type, id, &current.project_id, &mut tombstone, Some(&current), true);
    }
    Ok(())
}

fn read_history(resource_type: &str, id: &str) -> Result<Vec<Value>> {
    check_type(resource_type)?;
    let caller = session::caller();
    let membership = caller.require(resource_type, Interaction::History)?;
    visible(&caller, resource_type, id)?;
    let versions = storage::history(resource_type, id);
    Ok(versions
        .into_iter()
        .map(|v| if v.deleted { deletion_entry(&v.content) } else { redact(membership, resource_type, v.content) })
        .collect())
}

/// The current row as the caller may see it: 404 when row-level security hides it.
fn visible(caller: &Caller, resource_type: &str, id: &str) -> Result<Current> {
    storage::current(caller.scope(), resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))
}

/// On update, the stored values of protected fields win over what the client sent.
fn keep_protected_fields(m: &Membership, resource_type: &str, before: &Value, after: &mut Value) {
    for path in m.protected_fields(resource_type, Interaction::Update) {
        fields::restore(after, before, &path);
    }
}

/// Removes the hiddenFields that apply to the caller.
fn redact(m: Option<&Membership>, resource_type: &str, content: Value) -> Value {
    match m {
        Some(m) => m.redact(resource_type, content),
        None => content,
    }
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

/// Projects are hard walls: a resource may not point at another project's resources.
fn check_references(resource_type: &str, resource: &Value, project_id: &str) -> Result<()> {
    let refs = references::relative_references(resource);
    if refs.is_empty() {
        return Ok(());
    }
    match storage::foreign_references(&refs, project_id).first() {
        None => Ok(()),
        Some(r) => Err(FhirError::invalid(format!("{resource_type} may not reference {r}, which belongs to another project"))),
    }
}

/// The shape every written resource must have; an AccessPolicy must also compile.
fn check_resource(resource: &Value) -> Result<&str> {
    let resource_type = resource::check(resource)?;
    if resource_type == "AccessPolicy" {
        policy::validate(resource)?;
    }
    Ok(resource_type)
}

fn check_type(resource_type: &str) -> Result<()> {
    if definitions::is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(FhirError::invalid(format!("Unknown resource type '{resource_type}'")))
    }
}

/// The current version of a resource about to be changed, locked; one the
/// caller cannot see is not found, a deleted one is gone.
fn current_for_write(caller: &Caller, resource_type: &str, id: &str) -> Result<Current> {
    if caller.scope() == Scope::Session {
        visible(caller, resource_type, id)?;
    }
    let current = storage::current_for_update(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if current.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(current)
}

/// Writes `candidate` as the next version of `current`, unless it changes nothing.
fn save_changes(resource_type: &str, id: &str, current: &Current, mut candidate: Value) -> Result<Value> {
    if let Some(p) = resource::meta_project(&candidate) {
        if p != current.project_id {
            return Err(FhirError::invalid("A resource cannot move to another project").at(format!("{resource_type}.meta.project")));
        }
    }
    check_references(resource_type, &candidate, &current.project_id)?;
    let version = write_version_if_changed(resource_type, id, &current.project_id, &mut candidate, current);
    Ok(version.unwrap_or_else(|| current.content.clone()))
}

/// The project of a resource the system creates: a Project is its own
/// project; a User without `meta.project` is global (a practitioner may join
/// several projects); anything else names an existing Project in `meta.project`.
fn project_of_new(resource_type: &str, id: &str, resource: &Value) -> Result<String> {
    let named = resource::meta_project(resource);
    match (resource_type, named) {
        ("Project", Some(p)) if p != id => {
            return Err(FhirError::invalid("A Project is its own project").at("Project.meta.project"))
        }
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

/// Stamps and stores the next version; returns the stored content.
fn write_version(
    resource_type: &str,
    id: &str,
    project_id: &str,
    content: &mut Value,
    previous: Option<&Current>,
    deleted: bool,
) -> Value {
    stamp_next_version(id, project_id, content, previous);
    store(resource_type, id, project_id, content, previous.is_none(), deleted);
    content.take()
}

/// Like `write_version` for an update, but an update whose result equals the
/// stored version (ignoring versionId and lastUpdated) makes no new version.
fn write_version_if_changed(
    resource_type: &str,
    id: &str,
    project_id: &str,
    content: &mut Value,
    current: &Current,
) -> Option<Value> {
    stamp_next_version(id, project_id, content, Some(current));
    if resource::same_content(&current.content, content) {
        return None;
    }
    store(resource_type, id, project_id, content, false, false);
    Some(content.take())
}

fn stamp_next_version(id: &str, project_id: &str, content: &mut Value, previous: Option<&Current>) {
    let version_id = random_uuid();
    let last_updated = time::instant(next_timestamp(previous.map(|c| c.last_updated)));
    let compartments = compartments_of(project_id);
    resource::stamp(
        content,
        &resource::Stamp { id, version_id: &version_id, last_updated: &last_updated, project_id, compartments: &compartments },
    );
}

/// Types whose writes can change somebody's access.
const ACCESS_TYPES: [&str; 6] = ["Project", "ProjectMembership", "AccessPolicy", "User", "ClientApplication", "Bot"];

fn store(resource_type: &str, id: &str, project_id: &str, content: &Value, first: bool, deleted: bool) {
    if ACCESS_TYPES.contains(&resource_type) {
        storage::bump_access_version();
        session::invalidate();
    }
    let meta = &content["meta"];
    storage::write(
        NewVersion {
            resource_type,
            id,
            project_id,
            version_id: meta["versionId"].as_str().expect("stamped"),
            last_updated: meta["lastUpdated"].as_str().expect("stamped"),
            deleted,
            compartments: compartments_of(project_id),
            content: content.clone(),
        },
        first,
    );
}

/// Compartments a resource belongs to. For now its project; patients and
/// accounts join when access policies need them.
fn compartments_of(project_id: &str) -> Vec<String> {
    vec![format!("Project/{project_id}")]
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

/// `meta.lastUpdated` of a new version: now at millisecond precision, and
/// strictly after the previous version so that history has one order.
fn next_timestamp(previous: Option<i64>) -> i64 {
    let now = time::truncate_to_millis(unsafe { pg_sys::GetCurrentTimestamp() });
    previous.map_or(now, |p| now.max(p + 1000))
}

fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) } {
        pgrx::error!("could not generate random bytes for an id");
    }
    resource::uuid_v4(bytes)
}
