//! Persistence through SPI. Every statement is static SQL from `sql/queries`,
//! prepared once per backend and kept. Reads use read-only SPI so that they
//! never allocate a transaction id (hot standbys stay usable).
//!
//! Statements run as one of two roles. The table owner sees everything and
//! does the writes, once the interaction has checked them. `fhir_reader`, which
//! also owns the `fhir.resources` view, is subject to row-level security: a
//! client's reads go through it, so the functions and plain SQL on the view see
//! the same rows.

use crate::jsonb::{to_datum, Document, RawJsonb};
use crate::session::Caller;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys::BuiltinOid::{BOOLOID, INT4OID, JSONBOID, OIDOID, TEXTARRAYOID, TEXTOID};

/// The OID of the view `fhir.resources` in this database, `None` where the
/// extension is not (syscache lookups by name, cheap enough for every plan).
pub(crate) fn resources_view() -> Option<pg_sys::Oid> {
    relation(c"resources")
}

/// The OID of the table `fhir.resource` in this database, as `resources_view`.
pub(crate) fn resource_table() -> Option<pg_sys::Oid> {
    relation(c"resource")
}

fn relation(name: &std::ffi::CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog lookups by name; InvalidOid when absent.
    let relation = unsafe {
        let schema = pg_sys::get_namespace_oid(c"fhir".as_ptr(), true);
        if schema == pg_sys::InvalidOid {
            return None;
        }
        pg_sys::get_relname_relid(name.as_ptr(), schema)
    };
    (relation != pg_sys::InvalidOid).then_some(relation)
}

struct Statement {
    sql: &'static str,
    args: &'static [PgBuiltInOids],
    mutating: bool,
}

macro_rules! statement {
    ($name:literal, [$($arg:expr),*], $mutating:expr) => {
        Statement {
            sql: include_str!(concat!("../sql/queries/", $name, ".sql")),
            args: &[$($arg),*],
            mutating: $mutating,
        }
    };
}

const CURRENT: Statement = statement!("current", [TEXTOID, TEXTOID], false);
const CURRENT_FOR_UPDATE: Statement = statement!("current_for_update", [TEXTOID, TEXTOID], true);
const PROJECT_EXISTS: Statement = statement!("project_exists", [TEXTOID], false);
const INSERT_VERSION: Statement =
    statement!("insert_version", [TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTARRAYOID, JSONBOID], true);
const UPDATE_VERSION: Statement =
    statement!("update_version", [TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTARRAYOID, JSONBOID], true);
const ACCESS_VERSION: Statement = statement!("access_version", [], false);
const BUMP_ACCESS_VERSION: Statement = statement!("bump_access_version", [], true);
const CLIENT: Statement = statement!("client", [OIDOID], false);
const BOUND_MEMBERSHIPS: Statement = statement!("bound_memberships", [OIDOID], false);
const IS_BOUND: Statement = statement!("is_bound", [OIDOID, TEXTOID], false);
const PAGE: Statement = statement!("page", [TEXTOID, TEXTOID, TEXTOID], false);
const REINDEX_ROW: Statement = statement!("reindex_row", [TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID], true);
const VERIFY_HISTORY: Statement = statement!("verify_history", [], false);
const CHECKS_REFERENCES: Statement = statement!("checks_references", [TEXTOID], false);
const USER_BY_EMAIL: Statement = statement!("user_by_email", [TEXTOID, TEXTOID], false);
const VERSION: Statement = statement!("version", [TEXTOID, TEXTOID, TEXTOID], false);
const EXTENSION_SCHEMA: Statement = statement!("extension_schema", [], false);
const HOLDS_RESOURCES: Statement = statement!("holds_resources", [], false);
const HISTORY: Statement = statement!("history", [TEXTOID, TEXTOID], false);
const PROJECT_MEMBERSHIPS: Statement = statement!("project_memberships", [TEXTOID], false);
const TYPE_TOKENS: Statement = statement!("type_tokens", [TEXTOID, TEXTOID], false);
const QUEUE_AUDIT: Statement = statement!("queue_audit", [TEXTOID, TEXTOID], true);
const TAKE_AUDIT: Statement = statement!("take_audit", [INT4OID], true);
const LOCK_AUDIT: Statement = statement!("lock_audit", [BOOLOID], false);

/// Which rows a read may see.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every row: the system, and the checks an interaction makes on its own
    /// (run as `fhir_writer`, which bypasses row-level security).
    All,
    /// The rows the session's row-level security admits (run as `fhir_reader`).
    Session,
}

impl Scope {
    /// Everything for the system, the session's rows for anyone else.
    pub fn of(caller: &Caller) -> Scope {
        match caller {
            Caller::System => Scope::All,
            _ => Scope::Session,
        }
    }
}

thread_local! {
    static ROLES: std::cell::Cell<Option<(pg_sys::Oid, pg_sys::Oid)>> = const { std::cell::Cell::new(None) };
}

/// The OIDs of `fhir_writer` and `fhir_reader` (see sql/access.sql).
fn roles() -> (pg_sys::Oid, pg_sys::Oid) {
    ROLES.with(|r| {
        r.get().unwrap_or_else(|| {
            // SAFETY: get_role_oid reads the catalog by a NUL-terminated name;
            // with missing_ok = false it raises a PostgreSQL ERROR instead of returning.
            let oids =
                unsafe { (pg_sys::get_role_oid(c"fhir_writer".as_ptr(), false), pg_sys::get_role_oid(c"fhir_reader".as_ptr(), false)) };
            r.set(Some(oids));
            oids
        })
    })
}

/// Runs `f` as `role`, like a SECURITY DEFINER function would, as a
/// security-restricted operation (no SET ROLE, no temporary objects), with
/// the search_path pinned to `pg_catalog, pg_temp`: nothing a client created
/// in its own schemas or in pg_temp can be resolved by our statements. An
/// error inside `f` aborts the (sub)transaction, which restores both.
fn as_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0);
    // SAFETY: both calls only read and write the backend's current user id and
    // security context, as fmgr_security_definer does.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
        pg_sys::SetUserIdAndSecContext(role, context | restricted);
    }
    // SAFETY: a new GUC nest level with search_path saved in it, undone by
    // AtEOXact_GUC below or by the (sub)transaction abort on error, exactly as
    // a function's `SET search_path` clause is.
    let level = unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        level
    };
    let result = f();
    // SAFETY: undoes exactly the nest level and user switch made above.
    unsafe {
        pg_sys::AtEOXact_GUC(true, level);
        pg_sys::SetUserIdAndSecContext(user, context);
    }
    result
}

fn scoped<R>(scope: Scope, f: impl FnOnce() -> R) -> R {
    let (writer, reader) = roles();
    match scope {
        Scope::All => as_role(writer, f),
        Scope::Session => as_role(reader, f),
    }
}

thread_local! {
    static PLANS: RefCell<HashMap<&'static str, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// Runs a statement through its kept plan, preparing it on first use.
fn run<R>(stmt: &Statement, args: &[DatumWithOid], read: impl FnOnce(SpiTupleTable) -> SpiResult<R>) -> R {
    run_as(Scope::All, stmt, args, read)
}

fn run_as<R>(scope: Scope, stmt: &Statement, args: &[DatumWithOid], read: impl FnOnce(SpiTupleTable) -> SpiResult<R>) -> R {
    let result = scoped(scope, || {
        Spi::connect_mut(|client: &mut SpiClient| {
            // The map is not borrowed while the statement runs: a statement may fire
            // triggers that come back here.
            let plan = PLANS.with(|plans| -> SpiResult<Rc<OwnedPreparedStatement>> {
                if let Some(plan) = plans.borrow().get(stmt.sql) {
                    return Ok(Rc::clone(plan));
                }
                let oids: Vec<PgOid> = stmt.args.iter().map(|o| PgOid::BuiltIn(*o)).collect();
                let prepared = if stmt.mutating { client.prepare_mut(stmt.sql, &oids)? } else { client.prepare(stmt.sql, &oids)? };
                let kept = Rc::new(prepared.keep());
                plans.borrow_mut().insert(stmt.sql, Rc::clone(&kept));
                Ok(kept)
            })?;
            let table = if stmt.mutating { client.update(&*plan, None, args)? } else { client.select(&*plan, None, args)? };
            read(table)
        })
    });
    result.unwrap_or_else(|e| panic!("fhir_access storage query failed: {e}"))
}

/// The first column of the first row, or `None` when there is no row.
fn one<T: FromDatum + IntoDatum>(rows: SpiTupleTable) -> SpiResult<Option<T>> {
    if rows.is_empty() {
        Ok(None)
    } else {
        rows.first().get_one::<T>()
    }
}

/// The current version of a resource.
#[derive(Clone)]
pub struct Current {
    pub project_id: String,
    pub version_id: String,
    /// PostgreSQL timestamp (µs since 2000-01-01).
    pub last_updated: i64,
    pub deleted: bool,
    pub tokens: Vec<String>,
    pub content: Value,
}

fn read_current(scope: Scope, stmt: &Statement, resource_type: &str, id: &str) -> Option<Current> {
    run_as(scope, stmt, &[resource_type.into(), id.into()], |mut rows| {
        let Some(row) = rows.next() else { return Ok(None) };
        Ok(Some(Current {
            project_id: row.get(1)?.expect("project_id is NOT NULL"),
            version_id: row.get(2)?.expect("version_id is NOT NULL"),
            last_updated: row.get(3)?.expect("last_updated is NOT NULL"),
            deleted: row.get(4)?.expect("deleted is NOT NULL"),
            tokens: row.get::<Vec<String>>(5)?.expect("tokens is NOT NULL"),
            content: row.get::<Document>(6)?.expect("content is NOT NULL").0,
        }))
    })
}

pub fn current(scope: Scope, resource_type: &str, id: &str) -> Option<Current> {
    remembered(
        |memo| memo.current.get(&(scope, resource_type.to_owned(), id.to_owned())).cloned(),
        || read_current(scope, &CURRENT, resource_type, id),
        |memo, found| {
            if memo.current.len() >= MEMO_SIZE {
                memo.current.clear();
            }
            memo.current.insert((scope, resource_type.to_owned(), id.to_owned()), found);
        },
    )
}

/// The most resources `memoized` remembers; past it, it starts over.
const MEMO_SIZE: usize = 10_000;

/// What `current` and `checks_references` answered while `memoized` runs.
#[derive(Default)]
struct Memo {
    current: HashMap<(Scope, String, String), Option<Current>>,
    checks_references: HashMap<String, bool>,
}

thread_local! {
    static MEMO: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// Runs `f` with reads of current versions remembered, for one statement
/// that looks up the same resources many times (`fhir.import`): what it
/// reads is as of its first look, as in one snapshot. Its own writes forget
/// what they change; a change of access forgets everything (the rows the
/// session sees may change).
pub fn memoized<R>(f: impl FnOnce() -> R) -> R {
    struct Forget;
    impl Drop for Forget {
        fn drop(&mut self) {
            MEMO.with(|m| m.borrow_mut().take());
        }
    }
    MEMO.with(|m| *m.borrow_mut() = Some(Memo::default()));
    let _forget = Forget;
    f()
}

/// `read()`, or what it answered before while `memoized` runs. Outside
/// `memoized` nothing is looked up or kept (every other statement reads).
fn remembered<T: Clone>(known: impl FnOnce(&Memo) -> Option<T>, read: impl FnOnce() -> T, keep: impl FnOnce(&mut Memo, T)) -> T {
    match MEMO.with(|m| m.borrow().as_ref().map(known)) {
        None => read(),
        Some(Some(answer)) => answer,
        Some(None) => {
            // The map is not borrowed while `read` runs: its statement may come back here.
            let answer = read();
            MEMO.with(|m| m.borrow_mut().as_mut().map(|memo| keep(memo, answer.clone())));
            answer
        }
    }
}

/// Forgets every remembered read (see `memoized`).
pub fn forget_reads() {
    MEMO.with(|m| {
        if let Some(memo) = m.borrow_mut().as_mut() {
            *memo = Memo::default();
        }
    });
}

fn forget_current(resource_type: &str, id: &str) {
    MEMO.with(|m| {
        if let Some(memo) = m.borrow_mut().as_mut() {
            for scope in [Scope::All, Scope::Session] {
                memo.current.remove(&(scope, resource_type.to_owned(), id.to_owned()));
            }
            if resource_type == "Project" {
                memo.checks_references.remove(id);
            }
        }
    });
}

/// The current version, locked against concurrent writers until the transaction ends.
pub fn current_for_update(resource_type: &str, id: &str) -> Option<Current> {
    read_current(Scope::All, &CURRENT_FOR_UPDATE, resource_type, id)
}

pub fn project_exists(project_id: &str) -> bool {
    run(&PROJECT_EXISTS, &[project_id.into()], |rows| Ok(one::<bool>(rows)?.unwrap_or(false)))
}

/// A version to write.
pub struct NewVersion<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub project_id: &'a str,
    pub version_id: &'a str,
    /// FHIR instant text, also stored as `meta.lastUpdated`.
    pub last_updated: &'a str,
    pub deleted: bool,
    pub tokens: Vec<String>,
    pub content: &'a Value,
}

/// Writes a version: the current row (inserted for the first version,
/// replaced afterwards) and its history row, in one statement. False when
/// nothing was written: the first version of an id another transaction
/// created meanwhile.
pub fn write(version: NewVersion, first: bool) -> bool {
    refuse_if_read_only();
    let args: [DatumWithOid; 8] = [
        version.resource_type.into(),
        version.id.into(),
        version.project_id.into(),
        version.version_id.into(),
        version.last_updated.into(),
        version.deleted.into(),
        version.tokens.into(),
        RawJsonb(to_datum(version.content)).into(),
    ];
    forget_current(version.resource_type, version.id);
    run(if first { &INSERT_VERSION } else { &UPDATE_VERSION }, &args, one::<i64>).unwrap_or(0) > 0
}

/// A stored version: whether it is a deletion, and its content.
pub struct Version {
    pub deleted: bool,
    pub content: Value,
}

fn read_version(row: pgrx::spi::SpiHeapTupleData<'_>) -> SpiResult<Version> {
    Ok(Version { deleted: row.get(1)?.expect("deleted is NOT NULL"), content: row.get::<Document>(2)?.expect("content is NOT NULL").0 })
}

pub fn version(resource_type: &str, id: &str, version_id: &str) -> Option<Version> {
    run(&VERSION, &[resource_type.into(), id.into(), version_id.into()], |mut rows| rows.next().map(read_version).transpose())
}

/// Every version of a resource, newest first.
pub fn history(resource_type: &str, id: &str) -> Vec<Version> {
    run(&HISTORY, &[resource_type.into(), id.into()], |rows| rows.map(read_version).collect())
}

pub fn access_version() -> i64 {
    run(&ACCESS_VERSION, &[], |rows| Ok(one::<i64>(rows)?.unwrap_or(0)))
}

/// A write in a read-only transaction (on a hot standby every transaction
/// is) is refused as PostgreSQL refuses one, before anything would need a
/// transaction id.
pub fn refuse_if_read_only() {
    // SAFETY: reads a backend global.
    if unsafe { pg_sys::XactReadOnly } {
        crate::errors::raise_with(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "cannot write a resource in a read-only transaction",
            "On a hot standby, write to the primary.",
        );
    }
}

/// After a write that can change somebody's access.
pub fn bump_access_version() {
    run(&BUMP_ACCESS_VERSION, &[], |_| Ok(()))
}

/// A client role's grant.
pub struct Client {
    pub gateway: bool,
    pub session_scope: bool,
}

/// The grant of a client role, `None` for any other role.
pub fn client(role: pg_sys::Oid) -> Option<Client> {
    run(&CLIENT, &[role.into()], |mut rows| {
        let Some(row) = rows.next() else { return Ok(None) };
        Ok(Some(Client {
            gateway: row.get(1)?.expect("gateway is NOT NULL"),
            session_scope: row.get(2)?.expect("session_scope is NOT NULL"),
        }))
    })
}

/// Up to two memberships bound to a role (two is enough to know it is not one).
pub fn bound_memberships(role: pg_sys::Oid) -> Vec<String> {
    run(&BOUND_MEMBERSHIPS, &[role.into()], |rows| rows.map(|row| Ok(row.get::<String>(1)?.expect("membership is NOT NULL"))).collect())
}

/// The ids of the current ProjectMemberships that may reach a project: its own and super-admin projects'.
pub fn project_memberships(project_id: &str) -> Vec<String> {
    run(&PROJECT_MEMBERSHIPS, &[project_id.into()], |rows| rows.map(|row| Ok(row.get::<String>(1)?.expect("id is NOT NULL"))).collect())
}

/// The tokens of every current resource of a type in a project.
pub fn type_tokens(project_id: &str, resource_type: &str) -> Vec<Vec<String>> {
    run(&TYPE_TOKENS, &[project_id.into(), resource_type.into()], |rows| {
        rows.map(|row| Ok(row.get::<Vec<String>>(1)?.unwrap_or_default())).collect()
    })
}

pub fn is_bound(role: pg_sys::Oid, membership: &str) -> bool {
    run(&IS_BOUND, &[role.into(), membership.into()], |rows| Ok(one::<bool>(rows)?.unwrap_or(false)))
}

/// A current row, for maintenance.
pub struct Row {
    pub resource_type: String,
    pub id: String,
    pub current: Current,
}

/// Up to a page of current rows (of one type, or all) in key order after `after`.
pub fn page(resource_type: Option<&str>, after: (&str, &str)) -> Vec<Row> {
    run(&PAGE, &[resource_type.into(), after.0.into(), after.1.into()], |rows| {
        rows.map(|row| {
            Ok(Row {
                resource_type: row.get(1)?.expect("NOT NULL"),
                id: row.get(2)?.expect("NOT NULL"),
                current: Current {
                    project_id: row.get(3)?.expect("NOT NULL"),
                    version_id: row.get(4)?.expect("NOT NULL"),
                    last_updated: 0,
                    deleted: row.get(5)?.expect("NOT NULL"),
                    tokens: row.get::<Vec<String>>(6)?.expect("NOT NULL"),
                    content: row.get::<Document>(7)?.expect("NOT NULL").0,
                },
            })
        })
        .collect()
    })
}

/// Rewrites one version's tokens and compartments in place, unless a writer
/// holds the row or has replaced that version meanwhile. True when rewritten.
pub fn reindex_row(row: &Row, tokens: Vec<String>, compartments: &Value) -> bool {
    let args: [DatumWithOid; 5] = [
        row.resource_type.as_str().into(),
        row.id.as_str().into(),
        row.current.version_id.as_str().into(),
        tokens.into(),
        RawJsonb(to_datum(compartments)).into(),
    ];
    run(&REINDEX_ROW, &args, one::<i64>).unwrap_or(0) > 0
}

/// Current rows and history that disagree: (type, id, problem).
pub fn verify_history() -> Vec<(String, String, String)> {
    run(&VERIFY_HISTORY, &[], |rows| {
        rows.map(|row| Ok((row.get(1)?.expect("NOT NULL"), row.get(2)?.expect("NOT NULL"), row.get(3)?.expect("NOT NULL")))).collect()
    })
}

/// Whether the project sets `checkReferencesOnWrite`.
pub fn checks_references(project_id: &str) -> bool {
    remembered(
        |memo| memo.checks_references.get(project_id).copied(),
        || run(&CHECKS_REFERENCES, &[project_id.into()], |rows| Ok(one::<bool>(rows)?.unwrap_or(false))),
        |memo, checks| {
            memo.checks_references.insert(project_id.to_owned(), checks);
        },
    )
}

/// The User with `email` in `project_id` ('' for global users).
pub fn user_by_email(email: &str, project_id: &str) -> Option<String> {
    run(&USER_BY_EMAIL, &[email.into(), project_id.into()], one::<String>)
}

/// Whether any version of any resource is stored.
pub fn holds_resources() -> bool {
    run(&HOLDS_RESOURCES, &[], |rows| Ok(one::<bool>(rows)?.unwrap_or(false)))
}

/// The name of the extension's schema now.
pub fn extension_schema() -> Option<String> {
    run(&EXTENSION_SCHEMA, &[], one::<String>)
}

/// Queues an audit record (its compact JSON text) of `project_id` for the audit writer.
pub fn queue_audit(project_id: &str, event: &str) {
    run(&QUEUE_AUDIT, &[project_id.into(), event.into()], |_| Ok(()))
}

/// Takes up to `limit` queued audit records: (project, record JSON text).
pub fn take_audit(limit: i32) -> Vec<(String, String)> {
    run(&TAKE_AUDIT, &[limit.into()], |rows| rows.map(|row| Ok((row.get(1)?.expect("NOT NULL"), row.get(2)?.expect("NOT NULL")))).collect())
}

/// The audit writer's lock until the transaction ends; false when `wait` is
/// false and another transaction holds it.
pub fn lock_audit(wait: bool) -> bool {
    run(&LOCK_AUDIT, &[wait.into()], |rows| Ok(one::<bool>(rows)?.unwrap_or(false)))
}
