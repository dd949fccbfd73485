//! The audit trail of client interactions (the record's shape is core
//! `audit`). `fhir.audit` (superuser-only) chooses what is recorded.
//!
//! A successful interaction's AuditEvent is stored like any resource, in the
//! membership's project and in the same transaction: it commits and rolls
//! back with the interaction, and whoever the policy lets read AuditEvent
//! reads it through `fhir.read`, `fhir.search` and the view. A refusal cannot
//! be stored (its transaction is aborted), nor can anything in a read-only
//! transaction (a hot standby): those records go to the server log, one line
//! each, `fhir_access audit: <AuditEvent>`, at LOG_SERVER_ONLY so that the
//! client never receives it, written before the error is raised.

use crate::errors::OrRaise;
use crate::session::{self, Caller};
use crate::versions::{self, Accounts};
use fhir_access_core::audit::{self, Action, Agent, Level, Record};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use fhir_access_core::time;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::Value;
use std::ffi::CStr;

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Setting {
    #[name = c"off"]
    Off,
    #[name = c"writes"]
    Writes,
    #[name = c"all"]
    All,
}

static AUDIT: GucSetting<Setting> = GucSetting::<Setting>::new(Setting::Writes);

pub fn define_setting() {
    GucRegistry::define_enum_guc(
        c"fhir.audit",
        c"What the audit trail records of client interactions: off, writes or all.",
        c"Superuser-only. Set it per database with ALTER DATABASE ... SET fhir.audit.",
        &AUDIT,
        GucContext::Suset,
        GucFlags::default(),
    );
}

fn level() -> Level {
    match AUDIT.get() {
        Setting::Off => Level::Off,
        Setting::Writes => Level::Writes,
        Setting::All => Level::All,
    }
}

/// What an interaction was about.
#[derive(Default)]
pub struct Subject {
    resources: Vec<String>,
    patients: Vec<String>,
    query: Option<(String, String)>,
}

impl Subject {
    /// A resource named by type and id (what a refused call asked for).
    pub fn named(resource_type: &str, id: &str) -> Subject {
        Subject { resources: vec![format!("{resource_type}/{id}")], ..Subject::default() }
    }

    /// A version read or written, and the Patients it is about.
    pub fn version(content: &Value) -> Subject {
        Subject { resources: audit::reference_of(content).into_iter().collect(), patients: audit::patients_of(content), query: None }
    }

    pub fn search(resource_type: &str, query: &str, ids: &[String]) -> Subject {
        Subject {
            resources: ids.iter().map(|id| format!("{resource_type}/{id}")).collect(),
            patients: Vec::new(),
            query: Some((resource_type.to_owned(), query.to_owned())),
        }
    }
}

/// Records the outcome of the session's `action` (for a client, when
/// `fhir.audit` covers it) and passes it on: `attempted` says what a refused
/// call asked for, `done` what a successful one read or wrote.
pub fn audited<T>(action: Action, attempted: impl FnOnce() -> Subject, result: Result<T>, done: impl FnOnce(&T) -> Subject) -> Result<T> {
    if level().records(action) {
        let caller = session::caller();
        match &result {
            Ok(value) => record(&caller, action, done(value), None),
            Err(e) => record(&caller, action, attempted(), Some(e)),
        }
    }
    result
}

/// Records a refusal of the session's `action`; its success is recorded elsewhere.
pub fn refused<T>(action: Action, attempted: impl FnOnce() -> Subject, result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        record(&session::caller(), action, attempted(), Some(e));
    }
    result
}

/// Records what `caller` did, unless it is the system or `fhir.audit` leaves it out.
pub fn record(caller: &Caller, action: Action, subject: Subject, refusal: Option<&FhirError>) {
    if !level().records(action) {
        return;
    }
    let member = match caller {
        Caller::System => return,
        Caller::Member(m) => Some(m),
        Caller::Nobody(_) => None,
    };
    let policies: Vec<String> = member.map(|m| m.policy.sources.iter().map(|s| s.policy.clone()).collect()).unwrap_or_default();
    let (role, address, database) = (role_name(), client_address(), database_name());
    // SAFETY: reads the backend's clock.
    let recorded = time::instant(unsafe { pg_sys::GetCurrentTimestamp() });
    let event = audit::audit_event(&Record {
        action,
        recorded: &recorded,
        agent: Agent {
            membership: member.map(|m| m.id.as_str()),
            profile: member.and_then(|m| m.policy.profile.as_deref()),
            user: member.and_then(|m| m.policy.user.as_deref()),
            policies: &policies,
            role: &role,
            address: address.as_deref(),
        },
        resources: subject.resources,
        patients: subject.patients,
        query: subject.query.as_ref().map(|(t, q)| (t.as_str(), q.as_str())),
        refusal,
        database: &database,
    });
    // SAFETY: reads a backend global.
    let read_only = unsafe { pg_sys::XactReadOnly };
    match member {
        Some(m) if refusal.is_none() && !read_only => store(&m.project_id, event).or_raise(),
        _ => log(&event),
    }
}

/// Stores an AuditEvent as the system would create it.
fn store(project_id: &str, event: Value) -> Result<()> {
    let id = versions::random_uuid();
    let version = versions::build(&id, project_id, event, None, Accounts::Given(Vec::new()), None)?;
    versions::store("AuditEvent", project_id, &version, true, false)
}

fn log(event: &Value) {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION, format!("fhir_access audit: {event}"), "fhir_access")
        .report(PgLogLevel::LOG_SERVER_ONLY);
}

/// The role behind the call, as the client connected or `SET ROLE`.
fn role_name() -> String {
    // SAFETY: a syscache lookup by OID; NULL for a dropped role.
    let name = unsafe { pg_sys::GetUserNameFromId(pg_sys::GetOuterUserId(), true) };
    if name.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated name from the catalog.
    unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

thread_local! {
    /// The connection's client address, fixed for the backend's life.
    static ADDRESS: std::cell::OnceCell<Option<String>> = const { std::cell::OnceCell::new() };
}

/// The client's IP address, `inet_client_addr()` (none over a Unix socket).
fn client_address() -> Option<String> {
    ADDRESS.with(|a| {
        a.get_or_init(|| {
            // SAFETY: inet_client_addr takes no arguments and returns NULL without
            // an address; inet_out turns the inet it returns into a C string.
            unsafe {
                let inet = pgrx::direct_function_call_as_datum(pg_sys::inet_client_addr, &[])?;
                let text = pgrx::direct_function_call_as_datum(pg_sys::inet_out, &[Some(inet)])?;
                Some(CStr::from_ptr(text.cast_mut_ptr()).to_string_lossy().into_owned())
            }
        })
        .clone()
    })
}

fn database_name() -> String {
    // SAFETY: a catalog lookup of the current database; NULL only if it was dropped.
    let name = unsafe { pg_sys::get_database_name(pg_sys::MyDatabaseId) };
    if name.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated name in the current memory context.
    unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

/// Whether this session's searches are recorded (fhir.search then collects the ids it returns).
#[pg_extern(stable)]
fn _audits_search() -> bool {
    level().records(Action::Interaction(Interaction::Search)) && !matches!(*session::caller(), Caller::System)
}

/// A search's record: the query and the ids it returned (called by fhir.search only).
#[pg_extern]
fn _audit_search(resource_type: &str, query: &str, ids: Vec<String>) {
    record(&session::caller(), Action::Interaction(Interaction::Search), Subject::search(resource_type, query, &ids), None);
}
