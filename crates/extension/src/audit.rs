//! The audit trail of client interactions (the record's shape is core
//! `audit`). `fhir.audit` (superuser-only) chooses what is recorded.
//!
//! A successful interaction's record is queued in the same transaction
//! (`fhir.audit_queue`, one narrow row): it commits and rolls back with the
//! interaction. The audit writer, a background worker the committing backend
//! starts when none of its own is running, moves committed records into
//! `fhir.resource` as AuditEvents of the membership's project, indexed like
//! any resource, within about a tenth of a second; whoever the policy lets
//! read AuditEvent reads them through `fhir.read`, `fhir.search` and the view.
//! `fhir.flush_audit()` moves them at once (and waits for a writer at work).
//! Indexing an AuditEvent costs several times a read, so it is kept off the
//! interaction's path. A refusal cannot
//! be stored (its transaction is aborted), nor can anything in a read-only
//! transaction (a hot standby): those records go to the server log, one line
//! each, `fhir_access audit: <AuditEvent>`, at LOG_SERVER_ONLY so that the
//! client never receives it, written before the error is raised.

use crate::session::{self, Caller};
use crate::storage;
use crate::versions::{self, Accounts};
use fhir_access_core::audit::{self, Action, Agent, Level, Record};
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::Interaction;
use fhir_access_core::time;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, BgWorkerStartTime, DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgList, PgMemoryContexts, PgXactCallbackEvent};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::time::Duration;

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

fn define_setting() {
    GucRegistry::define_enum_guc(
        c"fhir.audit",
        c"What the audit trail records of client interactions: off, writes or all.",
        c"Superuser-only. Set it per database with ALTER DATABASE ... SET fhir.audit.",
        &AUDIT,
        GucContext::Suset,
        // RESET ALL and DISCARD ALL would otherwise let a client undo a
        // superuser's session-level SET.
        GucFlags::NO_RESET_ALL,
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
    query: Option<String>,
    returned: Option<usize>,
}

impl Subject {
    /// A resource named by type and id (what a refused call asked for).
    pub fn named(resource_type: &str, id: &str) -> Subject {
        Subject { resources: vec![format!("{resource_type}/{id}")], ..Subject::default() }
    }

    /// A version read or written, and the Patients it is about.
    pub fn version(content: &Value) -> Subject {
        Subject {
            resources: audit::reference_of(content).into_iter().collect(),
            patients: audit::patients_of(content),
            ..Subject::default()
        }
    }

    /// A search asked for.
    pub fn search(resource_type: &str, query: &str) -> Subject {
        Subject { query: Some(format!("{resource_type}?{query}")), ..Subject::default() }
    }

    /// A search and the ids it returned.
    pub fn found(resource_type: &str, query: &str, ids: &[String]) -> Subject {
        Subject {
            resources: ids.iter().take(audit::MAX_LISTED).map(|id| format!("{resource_type}/{id}")).collect(),
            returned: Some(ids.len()),
            ..Subject::search(resource_type, query)
        }
    }

    /// One record of resources created together (an import).
    pub fn created(record: audit::CreatedRecord) -> Subject {
        Subject { resources: record.resources, patients: record.patient.into_iter().collect(), ..Subject::default() }
    }

    /// More resources concerned (an invite's profile and User).
    pub fn and(mut self, references: impl IntoIterator<Item = String>) -> Subject {
        self.resources.extend(references);
        self
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
    // SAFETY: reads the backend's clock.
    let recorded = time::instant_micros(unsafe { pg_sys::GetCurrentTimestamp() });
    let record = Record {
        action,
        recorded,
        agent: Agent {
            membership: member.map(|m| m.id.clone()),
            profile: member.and_then(|m| m.policy.profile.clone()),
            user: member.and_then(|m| m.policy.user.clone()),
            policies: member.map(|m| m.policy.sources.iter().map(|s| s.policy.clone()).collect()).unwrap_or_default(),
            // SAFETY: reads a backend global: the role the client connected or `SET ROLE` as.
            role: session::role_name(unsafe { pg_sys::GetOuterUserId() }),
            address: client_address(),
        },
        resources: subject.resources,
        patients: subject.patients,
        query: subject.query.as_deref().map(audit::bounded_query),
        returned: subject.returned,
        refusal: refusal.map(audit::refusal),
        database: database_name(),
    };
    // SAFETY: backend globals; a parallel worker cannot write either.
    let read_only = unsafe { pg_sys::XactReadOnly || pg_sys::ParallelWorkerNumber >= 0 };
    match member {
        Some(m) if refusal.is_none() && !read_only => {
            let queued = serde_json::to_string(&record).expect("a record serializes");
            queue(&m.project_id, &queued);
            if !action.writes() {
                keep_until_commit(queued);
            }
        }
        _ => log(&record),
    }
}

fn log(record: &Record) {
    for event in audit::audit_events(record) {
        ErrorReport::new(PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION, format!("fhir_access audit: {event}"), "fhir_access")
            .report(PgLogLevel::LOG_SERVER_ONLY);
    }
}

// A write's record goes with the write: both commit, or neither happened.
// What a read, a search or a login showed the client stays shown if its
// transaction rolls back (the client decides that), so their queued records
// are kept here until commit and logged if the (sub)transaction that queued
// them aborts.

thread_local! {
    /// Queued records of this transaction that show something, with the
    /// subtransaction that queued them.
    static SHOWN: RefCell<Vec<(pg_sys::SubTransactionId, String)>> = const { RefCell::new(Vec::new()) };
}

fn keep_until_commit(queued: String) {
    // SAFETY: reads the current subtransaction's id.
    let subtransaction = unsafe { pg_sys::GetCurrentSubTransactionId() };
    SHOWN.with(|s| s.borrow_mut().push((subtransaction, queued)));
}

/// Logs and forgets the kept records `aborted` selects.
fn log_aborted(aborted: impl Fn(pg_sys::SubTransactionId) -> bool) {
    let lost: Vec<String> = SHOWN.with(|s| {
        let mut s = s.borrow_mut();
        let (lost, kept) = s.drain(..).partition(|(sub, _)| aborted(*sub));
        *s = kept;
        lost.into_iter().map(|(_, event)| event).collect()
    });
    for queued in lost {
        log(&serde_json::from_str(&queued).expect("queued by this backend"));
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn at_transaction_end(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        // A prepared transaction may be rolled back later, by anyone: its
        // records are logged now (and also stored if it commits).
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT | pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE => {
            log_aborted(|_| true)
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT => SHOWN.with(|s| s.borrow_mut().clear()),
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn at_subtransaction_end(
    event: pg_sys::SubXactEvent::Type,
    subtransaction: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => log_aborted(|sub| sub == subtransaction),
        // A released savepoint's records now roll back with its parent.
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => SHOWN.with(|s| {
            for (sub, _) in s.borrow_mut().iter_mut().filter(|(sub, _)| *sub == subtransaction) {
                *sub = parent;
            }
        }),
        _ => {}
    }
}

/// Installs what the audit trail needs in every backend (from _PG_init).
pub fn install() {
    define_setting();
    // SAFETY: registered once per backend, before any transaction; the
    // callbacks live as long as the library.
    unsafe {
        pg_sys::RegisterXactCallback(Some(at_transaction_end), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(at_subtransaction_end), std::ptr::null_mut());
        PREVIOUS_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

thread_local! {
    /// This transaction queued a record (the writer is seen to at commit).
    static QUEUED: Cell<bool> = const { Cell::new(false) };
    /// The audit writer this backend started last.
    static WRITER: RefCell<Option<DynamicBackgroundWorker>> = const { RefCell::new(None) };
}

fn queue(project_id: &str, event: &str) {
    storage::queue_audit(project_id, event);
    if !QUEUED.with(|q| q.replace(true)) {
        pgrx::register_xact_callback(PgXactCallbackEvent::PreCommit, start_writer);
        for end in [PgXactCallbackEvent::Commit, PgXactCallbackEvent::Abort] {
            pgrx::register_xact_callback(end, || QUEUED.with(|q| q.set(false)));
        }
    }
}

/// Starts an audit writer for this database unless the one this backend
/// started is still at work. Without a free worker slot the records wait for
/// the next commit's attempt, or for `fhir.flush_audit()`.
fn start_writer() {
    let running = WRITER.with(|w| w.borrow().as_ref().is_some_and(|h| !matches!(h.pid(), Err(BackgroundWorkerStatus::Stopped))));
    if running {
        return;
    }
    // SAFETY: the handle PostgreSQL allocates must outlive the transaction.
    let started = unsafe {
        PgMemoryContexts::TopMemoryContext.switch_to(|_| {
            BackgroundWorkerBuilder::new("fhir_access audit writer")
                .set_type("fhir_access audit writer")
                .set_library("fhir_access")
                .set_function("fhir_access_audit_writer")
                .set_argument(Some(pg_sys::Datum::from(pg_sys::MyDatabaseId.to_u32())))
                .enable_spi_access()
                .set_start_time(BgWorkerStartTime::RecoveryFinished)
                .set_restart_time(None)
                .load_dynamic()
        })
    };
    WRITER.with(|w| *w.borrow_mut() = started.ok());
}

/// Records moved per transaction (each makes at most `MAX_PATIENT_EVENTS`
/// AuditEvents), and how long the writer waits for more before it exits (so
/// that it never holds a database others want to drop).
const BATCH: i32 = 100;
const POLL: Duration = Duration::from_millis(50);
const IDLE_POLLS: u32 = 10;

/// Moves up to `BATCH` queued records into AuditEvents; the caller holds the lock.
fn materialize() -> usize {
    let taken = storage::take_audit(BATCH);
    for (project_id, queued) in &taken {
        // A terminate request ends the writer here.
        pg_sys::check_for_interrupts!();
        // A record that does not read (queued by another version) or does not
        // store is logged rather than left to block the queue.
        let stored = serde_json::from_str::<Record>(queued)
            .map_err(|e| FhirError::invalid(format!("a queued audit record does not read: {e}")))
            .and_then(|record| {
                audit::audit_events(&record).into_iter().try_for_each(|event| {
                    let id = versions::random_uuid();
                    let version = versions::build(&id, project_id, event, None, Accounts::Given(Vec::new()), None)?;
                    versions::store(audit::AUDIT_EVENT, project_id, &version, true, false)
                })
            });
        if let Err(e) = stored {
            let line = format!("fhir_access audit: not stored ({}): {queued}", e.message);
            ErrorReport::new(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, line, "fhir_access").report(PgLogLevel::WARNING);
        }
    }
    taken.len()
}

/// The audit writer: started by a committing backend with its database's
/// OID, it moves the queue while records arrive and exits once idle, or at
/// once if another writer holds the lock.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn fhir_access_audit_writer(database: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    #[cfg(not(feature = "pg18"))]
    use pg_sys::pqsignal;
    #[cfg(feature = "pg18")]
    use pg_sys::pqsignal_be as pqsignal;
    // SAFETY: installs a signal handler that only sets flags (see `terminate`).
    unsafe { pqsignal(pg_sys::SIGTERM as i32, Some(terminate)) };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database.value() as u32)), None);
    let mut idle = 0;
    while idle < IDLE_POLLS {
        let moved = BackgroundWorker::transaction(|| storage::lock_audit(false).then(materialize));
        match moved {
            None => return,
            Some(0) => idle += 1,
            Some(_) => idle = 0,
        }
        if moved != Some(BATCH as usize) && !BackgroundWorker::wait_latch(Some(POLL)) {
            return;
        }
    }
}

/// SIGTERM for the writer, as a backend's `die`: pg_terminate_backend, DROP
/// DATABASE ... WITH (FORCE) and shutdown end it at its next interrupt check
/// (its transaction rolls back; the records stay queued).
unsafe extern "C-unwind" fn terminate(_signal: i32) {
    // SAFETY: sets only the sig_atomic_t flags and the latch a handler may touch.
    unsafe {
        (&raw mut pg_sys::InterruptPending).write_volatile(1);
        (&raw mut pg_sys::ProcDiePending).write_volatile(1);
        pg_sys::SetLatch(pg_sys::MyLatch);
    }
}

/// Moves every queued audit record into AuditEvents now, after any writer at
/// work; the number moved. Superuser-only (sql/audit.sql revokes it).
#[pg_extern]
fn flush_audit() -> i64 {
    storage::lock_audit(true);
    let mut moved = 0;
    loop {
        match materialize() {
            0 => return moved,
            n => moved += n as i64,
        }
    }
}

thread_local! {
    /// The connection's client address, fixed for the backend's life.
    static ADDRESS: std::cell::OnceCell<Option<String>> = const { std::cell::OnceCell::new() };
}

/// The client's IP address: as the gateway gave it to `set_membership`, else
/// the connection's, `inet_client_addr()` (none over a Unix socket).
fn client_address() -> Option<String> {
    if let Some(given) = session::CLIENT_ADDRESS.get().filter(|a| !a.is_empty()) {
        return Some(given.to_string_lossy().into_owned());
    }
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
    record(&session::caller(), Action::Interaction(Interaction::Search), Subject::found(resource_type, query, &ids), None);
}

// Plain SQL on the view: at `all`, every statement of a client that reads
// `fhir.resources` (a SELECT, COPY, a cursor, INSERT ... SELECT, the view's
// own UPDATE and DELETE) is recorded with its text as it starts, before it
// returns a row; the rows it returns are not listed.

static mut PREVIOUS_START: pg_sys::ExecutorStart_hook_type = None;

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, flags: i32) {
    // SAFETY: the arguments are passed through unchanged.
    unsafe {
        match PREVIOUS_START {
            Some(previous) => previous(query, flags),
            None => pg_sys::standard_ExecutorStart(query, flags),
        }
    }
    let explain_only = flags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0;
    if explain_only || !level().records(Action::Sql) || !unsafe { reads_view((*query).plannedstmt) } {
        return;
    }
    // SAFETY: backend globals. A parallel worker runs the leader's statement
    // (whose text it was given as debug_query_string), which the leader
    // records; a statement the worker starts itself (in a parallel-safe
    // function) is its own, and is logged, since a worker cannot write.
    let (worker, leaders) = unsafe { (pg_sys::ParallelWorkerNumber >= 0, (*query).sourceText == pg_sys::debug_query_string) };
    if worker && leaders {
        return;
    }
    let text = unsafe { CStr::from_ptr((*query).sourceText) }.to_string_lossy().into_owned();
    record(&session::caller(), Action::Sql, Subject { query: Some(text), ..Subject::default() }, None);
}

/// Whether a plan reads the view `fhir.resources` (its range table keeps the view's entry).
///
/// SAFETY: `plan` is a valid PlannedStmt.
unsafe fn reads_view(plan: *mut pg_sys::PlannedStmt) -> bool {
    let Some(view) = storage::resources_view() else { return false };
    // SAFETY: the range table is a List of RangeTblEntry.
    let rtable = unsafe { PgList::<pg_sys::RangeTblEntry>::from_pg((*plan).rtable) };
    let reads = rtable.iter_ptr().any(|rte| unsafe { (*rte).relid } == view);
    reads
}
