//! The FHIR interactions of API.md: create, read, vread, update, patch,
//! delete and history. Each validates its input before it writes anything,
//! so a refused call leaves no trace.

use crate::errors::OrRaise;
use crate::jsonb::Document;
use crate::storage::{self, Current, NewVersion};
use fhir_access_core::definitions;
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::{patch, resource, time};
use pgrx::prelude::*;
use serde_json::{json, Value};

#[pg_extern]
fn create(resource: Document) -> Document {
    Document(create_resource(resource.0).or_raise())
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

fn create_resource(mut resource: Value) -> Result<Value> {
    let resource_type = resource::check(&resource)?.to_owned();
    let id = resource::id(&resource).map_or_else(random_uuid, str::to_owned);
    if storage::current(&resource_type, &id).is_some() {
        return Err(FhirError::invalid(format!("{resource_type}/{id} already exists")).at(format!("{resource_type}.id")));
    }
    let project_id = project_of_new(&resource_type, &id, &resource)?;
    Ok(write_version(&resource_type, &id, &project_id, &mut resource, None, false))
}

fn read_resource(resource_type: &str, id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let current = storage::current(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if current.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(current.content)
}

fn read_version(resource_type: &str, id: &str, version_id: &str) -> Result<Value> {
    check_type(resource_type)?;
    let version = storage::version(resource_type, id, version_id)
        .ok_or_else(|| FhirError::not_found(resource_type, &format!("{id}/_history/{version_id}")))?;
    if version.deleted {
        return Err(FhirError::gone(resource_type, id));
    }
    Ok(version.content)
}

fn update_resource(resource: Value, if_match: Option<&str>) -> Result<Value> {
    let resource_type = resource::check(&resource)?.to_owned();
    let id = resource::id(&resource)
        .ok_or_else(|| FhirError::invalid("update requires an id").at(format!("{resource_type}.id")))?
        .to_owned();
    let current = current_for_write(&resource_type, &id)?;
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
    let current = current_for_write(resource_type, id)?;
    let patched = patch::apply(&current.content, ops)?;
    resource::check(&patched)?;
    save_changes(resource_type, id, &current, patched)
}

fn delete_resource(resource_type: &str, id: &str) -> Result<()> {
    check_type(resource_type)?;
    let current = storage::current_for_update(resource_type, id).ok_or_else(|| FhirError::not_found(resource_type, id))?;
    if !current.deleted {
        let mut tombstone = current.content.clone();
        write_version(resource_type, id, &current.project_id, &mut tombstone, Some(&current), true);
    }
    Ok(())
}

fn read_history(resource_type: &str, id: &str) -> Result<Vec<Value>> {
    check_type(resource_type)?;
    let versions = storage::history(resource_type, id);
    if versions.is_empty() {
        return Err(FhirError::not_found(resource_type, id));
    }
    Ok(versions.into_iter().map(|v| if v.deleted { deletion_entry(&v.content) } else { v.content }).collect())
}

fn check_type(resource_type: &str) -> Result<()> {
    if definitions::is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(FhirError::invalid(format!("Unknown resource type '{resource_type}'")))
    }
}

/// The current version of a resource about to be changed, locked; a deleted one is gone.
fn current_for_write(resource_type: &str, id: &str) -> Result<Current> {
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
    let version = write_version_if_changed(resource_type, id, &current.project_id, &mut candidate, current);
    Ok(version.unwrap_or_else(|| current.content.clone()))
}

/// The project of a new resource: a Project is its own project; anything else
/// names an existing Project in `meta.project`.
fn project_of_new(resource_type: &str, id: &str, resource: &Value) -> Result<String> {
    let named = resource::meta_project(resource);
    if resource_type == "Project" {
        return match named {
            Some(p) if p != id => Err(FhirError::invalid("A Project is its own project").at("Project.meta.project")),
            _ => Ok(id.to_owned()),
        };
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

fn store(resource_type: &str, id: &str, project_id: &str, content: &Value, first: bool, deleted: bool) {
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
