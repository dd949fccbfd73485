//! Building and storing the next version of a resource: the server-owned
//! meta (id, versionId, lastUpdated, project, accounts, compartment) and the
//! search tokens that access policies and searches run on.

use crate::session;
use crate::storage::{self, Current, NewVersion};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::{resource, search, time};
use pgrx::prelude::*;
use serde_json::Value;

/// A version ready to store.
pub struct Version {
    pub content: Value,
    pub tokens: Vec<String>,
}

/// The accounts (`meta.accounts`) of a new version.
/// The accounts of Patients (by id) of a project, as a writer may inherit them.
pub type Inherit<'a> = Box<dyn Fn(&[String], &str) -> Vec<String> + 'a>;

pub enum Accounts<'a> {
    /// As written: the system's and admins' writes.
    Given(Vec<String>),
    /// Medplum's rule for everyone else: these, then the accounts of the
    /// Patients the resource is about, as the function gives them for their
    /// ids and the resource's project (called once the content is indexed).
    Inherited(Vec<String>, Inherit<'a>),
}

/// Stamps `content` as the version after `previous` (none for a create), in
/// `project_id`, and extracts its search tokens. Compartments: the project,
/// every account that is not a Project, and the Patient compartment the
/// content's references put it in. Nothing indexed depends on the accounts or
/// the compartments, so the content is indexed once, before they are known.
/// `author` is the acting client's reference (`meta.author`), `None` for the system.
pub fn build(
    id: &str,
    project_id: &str,
    mut content: Value,
    previous: Option<&Current>,
    accounts: Accounts,
    author: Option<&str>,
) -> Result<Version> {
    let version_id = random_uuid();
    let last_updated = time::instant(next_timestamp(previous.map(|c| c.last_updated)));
    resource::stamp(&mut content, &resource::Stamp { id, version_id: &version_id, last_updated: &last_updated, project_id, author });
    let index = search::index(&content)?;
    let accounts = match accounts {
        Accounts::Given(given) => given,
        Accounts::Inherited(mut own, inherit) => {
            let patients: Vec<String> = index.patients.iter().filter_map(|p| p.strip_prefix("Patient/")).map(str::to_owned).collect();
            if !patients.is_empty() {
                for a in inherit(&patients, project_id) {
                    if !a.is_empty() && !own.contains(&a) {
                        own.push(a);
                    }
                }
            }
            own
        }
    };
    resource::set_accounts(&mut content, &accounts);
    let (tokens, compartments) = derived(index, project_id, &accounts, &content);
    resource::set_compartments(&mut content, &compartments);
    Ok(Version { content, tokens })
}

/// The project's and the accounts' compartments of a version.
fn own_compartments(project_id: &str, accounts: &[String]) -> Vec<String> {
    let mut compartments = vec![format!("Project/{project_id}")];
    compartments.extend(accounts.iter().filter(|a| !a.starts_with("Project/")).cloned());
    compartments
}

/// A version's index tokens with its compartments' and its type's, sorted.
fn all_tokens(mut tokens: Vec<String>, compartments: &[String], content: &Value) -> Vec<String> {
    tokens.extend(compartments.iter().flat_map(|c| search::compartment_tokens(c)));
    tokens.push(search::type_token(content["resourceType"].as_str().expect("checked resource")));
    tokens.sort();
    tokens.dedup();
    tokens
}

/// The tokens and the compartments (`meta.compartment`) of a version: the
/// index found the Patient compartment (never trusting a submitted
/// meta.compartment); the project's and the accounts' are added here.
fn derived(index: search::Index, project_id: &str, accounts: &[String], content: &Value) -> (Vec<String>, Vec<String>) {
    let mut compartments = own_compartments(project_id, accounts);
    let tokens = all_tokens(index.tokens, &compartments, content);
    compartments.extend(index.patients.into_iter().filter(|p| !compartments.contains(p)).collect::<Vec<_>>());
    (tokens, compartments)
}

/// What a stored version derives, as `build` derived it when it was written:
/// its tokens and compartments; `None` for content that no longer indexes.
pub fn derive(content: &Value, project_id: &str) -> Option<(Vec<String>, Vec<String>)> {
    let index = search::index(content).ok()?;
    Some(derived(index, project_id, &resource::accounts(content), content))
}

/// The tokens a stored version had when it was written (versions keep no
/// tokens of their own).
pub fn tokens_of(content: &Value, project_id: &str) -> Vec<String> {
    derive(content, project_id).map(|(tokens, _)| tokens).unwrap_or_default()
}

/// Types whose writes can change somebody's access.
const ACCESS_TYPES: [&str; 6] = ["Project", "ProjectMembership", "AccessPolicy", "User", "ClientApplication", "Bot"];

/// Stores a built version: inserted for a new resource, replacing the current
/// row otherwise, with its history row.
pub fn store(resource_type: &str, project_id: &str, version: &Version, first: bool, deleted: bool) -> Result<()> {
    if ACCESS_TYPES.contains(&resource_type) {
        session::access_changed();
    }
    let meta = &version.content["meta"];
    let id = version.content["id"].as_str().expect("stamped");
    let written = storage::write(
        NewVersion {
            resource_type,
            id,
            project_id,
            version_id: meta["versionId"].as_str().expect("stamped"),
            last_updated: meta["lastUpdated"].as_str().expect("stamped"),
            deleted,
            tokens: version.tokens.clone(),
            content: &version.content,
        },
        first,
    );
    if written {
        Ok(())
    } else {
        // The same error as for an id that existed before: a concurrent create won.
        Err(FhirError::invalid(format!("{resource_type}/{id} already exists")).at(format!("{resource_type}.id")))
    }
}

/// `meta.lastUpdated` of a new version: now at millisecond precision, and
/// strictly after the previous version so that history has one order.
fn next_timestamp(previous: Option<i64>) -> i64 {
    let now = time::truncate_to_millis(unsafe { pg_sys::GetCurrentTimestamp() });
    previous.map_or(now, |p| now.max(p + 1000))
}

pub fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) } {
        pgrx::error!("could not generate random bytes for an id");
    }
    resource::uuid_v4(bytes)
}
