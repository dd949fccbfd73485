//! Who is asking: the system, or a client role acting as one ProjectMembership.
//!
//! The membership lives in the `fhir.membership` setting. The library defines
//! it as superuser-only, so a client's plain `SET` (or `set_config`, or a
//! connection option) is refused by PostgreSQL; only `fhir.set_membership`
//! changes it, after checking the caller may act as that membership. Keeping it
//! in a setting gives transaction-local scope, rollback, `DISCARD ALL` /
//! `RESET ALL` and parallel workers for free. The setting is re-checked at
//! every statement against the bindings and the stored membership, so a
//! deactivated membership or a changed policy applies from the next statement.

use crate::audit::{self, Subject};
use crate::errors::{self, OrRaise};
use crate::jsonb::{self, without_keys, Document, RawJsonb};
use crate::storage::{self, Scope};
pub use fhir_access_core::access::{Actor, Caller, Membership};
use fhir_access_core::audit::Action;
use fhir_access_core::definitions;
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::{self, EffectivePolicy, Interaction};
use fhir_access_core::search;
use fhirpath::BoundedCache;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::rc::Rc;

pub static MEMBERSHIP: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// The client's address as the gateway gave it to `set_membership`, for the
/// audit trail; it lasts as long as the membership setting.
pub static CLIENT_ADDRESS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn define_settings() {
    GucRegistry::define_string_guc(
        c"fhir.membership",
        c"The ProjectMembership this session acts as.",
        c"Set it with fhir.set_membership(); a plain SET is refused for non-superusers.",
        &MEMBERSHIP,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"fhir.client_address",
        c"The client's address, as the gateway gave it to fhir.set_membership.",
        c"Set with fhir.set_membership(..., client_address => ...); a plain SET is refused for non-superusers.",
        &CLIENT_ADDRESS,
        GucContext::Suset,
        GucFlags::default(),
    );
}

struct Cached {
    outer: pg_sys::Oid,
    setting: String,
    version: i64,
    handle: String,
    caller: Rc<Caller>,
}

thread_local! {
    static CACHED: RefCell<Option<Cached>> = const { RefCell::new(None) };
    /// The access version last read, and the snapshot it was read in.
    static VERSION_SEEN: RefCell<Option<(SnapshotKey, i64)>> = const { RefCell::new(None) };
}

/// The role behind this call, as set by login or `SET ROLE`; unaffected by
/// SECURITY DEFINER functions and by our own switches to fhir_reader.
fn outer_role() -> pg_sys::Oid {
    // SAFETY: reads a backend global.
    unsafe { pg_sys::GetOuterUserId() }
}

fn is_system(role: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups by OID; a missing role is neither.
    unsafe { pg_sys::superuser_arg(role) || pg_sys::has_bypassrls_privilege(role) }
}

fn setting() -> String {
    MEMBERSHIP.get().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The transactions a snapshot sees as in progress, and its bounds: equal
/// for two snapshots exactly when no transaction completed between them.
type SnapshotKey = (u32, u32, Vec<u32>);

fn snapshot_key() -> Option<SnapshotKey> {
    // SAFETY: the active snapshot, when set, is valid for this call; xip holds xcnt ids.
    unsafe {
        let snapshot = pg_sys::GetActiveSnapshot();
        if snapshot.is_null() {
            return None;
        }
        let s = &*snapshot;
        let mut running: Vec<u32> = if s.xcnt == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(s.xip, s.xcnt as usize).iter().map(|x| u32::from(*x)).collect()
        };
        running.sort_unstable();
        Some((u32::from(s.xmin), u32::from(s.xmax), running))
    }
}

/// The access version, read again whenever a transaction may have committed
/// since it was last read (the statement's snapshot differs), so that a
/// revocation takes effect at the next statement, even among statements sent
/// in one message. Without a snapshot it is always read.
fn access_version() -> i64 {
    let key = snapshot_key();
    if let Some(v) = VERSION_SEEN.with(|c| c.borrow().as_ref().filter(|(seen, _)| key.as_ref() == Some(seen)).map(|(_, v)| *v)) {
        return v;
    }
    let v = storage::access_version();
    VERSION_SEEN.with(|c| *c.borrow_mut() = key.map(|k| (k, v)));
    v
}

/// Forgets what this backend compiled.
fn invalidate() {
    CACHED.with(|c| *c.borrow_mut() = None);
    VERSION_SEEN.with(|c| *c.borrow_mut() = None);
    COMPILED.with(|c| c.borrow_mut().clear());
    RESOLVED.with(|c| c.borrow_mut().clear());
}

thread_local! {
    /// This transaction wrote something that can change somebody's access.
    static CHANGED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// After a write that can change somebody's access. The access version moves
/// when the transaction commits (a pre-commit callback), so that the row it
/// lives in is locked only for the commit: a transaction that writes a
/// policy and stays open never makes other tenants' writers wait. Until the
/// transaction ends, this backend compiles afresh at every statement (what
/// it compiled may yet be rolled back, to a savepoint too) and caches nothing.
pub fn access_changed() {
    invalidate();
    crate::storage::forget_reads();
    if CHANGED.with(|c| c.replace(true)) {
        return;
    }
    // A prepared transaction (two-phase commit) carries the bump with it.
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::PreCommit, bump_at_commit);
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::PrePrepare, bump_at_commit);
    for end in [pgrx::PgXactCallbackEvent::Commit, pgrx::PgXactCallbackEvent::Abort] {
        pgrx::register_xact_callback(end, || {
            CHANGED.with(|c| c.set(false));
            invalidate();
        });
    }
}

/// Moves the access version as the transaction commits. The transaction is
/// still open, but its statements are done: SPI needs a snapshot of its own.
fn bump_at_commit() {
    // SAFETY: at pre-commit a transaction is in progress; the snapshot pushed is popped below.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
    storage::bump_access_version();
    // SAFETY: pops the snapshot pushed above.
    unsafe { pg_sys::PopActiveSnapshot() };
}

/// Whether compiled memberships may be kept (see `access_changed`).
fn caching() -> bool {
    !CHANGED.with(std::cell::Cell::get)
}

/// The caller of the current statement. The statement (or the cursor) that
/// asks keeps this snapshot alive, so that no other membership can be set
/// while it runs (see `register`).
pub fn caller() -> Rc<Caller> {
    let (handle, caller) = current();
    // SAFETY: reads a backend global; NULL outside a portal.
    register(handle, &caller, unsafe { pg_sys::PortalContext });
    caller
}

/// The caller the session's role and setting give now, and its handle.
fn current() -> (String, Rc<Caller>) {
    let outer = outer_role();
    if is_system(outer) {
        return (SYSTEM.to_owned(), Rc::new(Caller::System));
    }
    let setting = setting();
    let version = access_version();
    if let Some(hit) = caching()
        .then(|| {
            CACHED.with(|c| {
                c.borrow()
                    .as_ref()
                    .filter(|k| k.outer == outer && k.setting == setting && k.version == version)
                    .map(|k| (k.handle.clone(), Rc::clone(&k.caller)))
            })
        })
        .flatten()
    {
        return hit;
    }
    let caller = Rc::new(resolve_caller(outer, &setting));
    let handle = match &*caller {
        Caller::Member(m) => format!("{MEMBER}{version}:{}", m.id),
        _ => NOBODY.to_owned(),
    };
    if caching() {
        CACHED.with(|c| *c.borrow_mut() = Some(Cached { outer, setting, version, handle: handle.clone(), caller: Rc::clone(&caller) }));
    }
    (handle, caller)
}

// Statement snapshots. Row-level security and the view take one snapshot of
// the session per statement, `fhir._session()` (called in InitPlans, each call
// of a statement answering the same handle), which every other session
// function of that statement receives: the project
// wall, the keys, the open types, the row check and the redaction all decide
// with the same membership, at the same policy version, for as long as the
// query or cursor runs. A snapshot stays registered until the query that took
// it ends (its executor's memory goes away; a cursor's at CLOSE), and one an
// interaction function took until its portal (the statement) is dropped;
// while one is, setting another membership is refused, so no query mixes two.

/// Handles: the system, nobody, and `M<access version>:<membership id>`.
const SYSTEM: &str = "S";
const NOBODY: &str = "N";
const MEMBER: &str = "M";

struct Snapshot {
    caller: Rc<Caller>,
    /// The memory contexts (queries, portals) that hold it.
    holders: Vec<pg_sys::MemoryContext>,
}

thread_local! {
    /// Live snapshots by the role that took them and their handle.
    static SNAPSHOTS: RefCell<HashMap<(pg_sys::Oid, String), Snapshot>> = RefCell::new(HashMap::new());
    /// Handles met without a registered snapshot (a parallel worker, or a
    /// client passing one itself), resolved for the role that passed them.
    static RESOLVED: RefCell<BoundedCache<(pg_sys::Oid, String), Rc<Caller>>> =
        RefCell::new(BoundedCache::new(RESOLVED_CAPACITY, MEMBERSHIP_BUDGET));
}

/// Keeps `caller`'s snapshot alive as long as the memory context `holder`.
fn register(handle: String, caller: &Rc<Caller>, holder: pg_sys::MemoryContext) {
    if holder.is_null() {
        return;
    }
    SNAPSHOTS.with(|s| {
        let mut s = s.borrow_mut();
        let entry = s.entry((outer_role(), handle)).or_insert_with(|| Snapshot { caller: Rc::clone(caller), holders: Vec::new() });
        if entry.holders.contains(&holder) {
            return;
        }
        entry.holders.push(holder);
        // SAFETY: the callback is allocated in the holder's own context, so it
        // lives exactly as long as the registration it undoes.
        unsafe {
            let callback = pg_sys::MemoryContextAlloc(holder, std::mem::size_of::<pg_sys::MemoryContextCallback>())
                .cast::<pg_sys::MemoryContextCallback>();
            (*callback).func = Some(release);
            (*callback).arg = holder.cast();
            pg_sys::MemoryContextRegisterResetCallback(holder, callback);
        }
    });
}

/// A holder's context is going away: its snapshots are released.
unsafe extern "C-unwind" fn release(holder: *mut std::ffi::c_void) {
    let holder: pg_sys::MemoryContext = holder.cast();
    SNAPSHOTS.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.retain(|_, e| {
                e.holders.retain(|h| *h != holder);
                !e.holders.is_empty()
            });
        }
    });
}

/// Refuses a membership change that a running statement or an open cursor
/// would see half-way: every live snapshot must already be `next`'s.
fn check_no_mixing(next: Option<&str>) -> Result<()> {
    let mixed = SNAPSHOTS.with(|s| {
        s.borrow().values().any(|e| match &*e.caller {
            Caller::System => false,
            Caller::Member(m) => Some(m.id.as_str()) != next,
            Caller::Nobody(_) => next.is_some(),
        })
    });
    if mixed {
        return Err(FhirError::forbidden(
            "A statement or an open cursor is using the current membership: change it between statements, after closing the cursor",
        ));
    }
    Ok(())
}

/// The caller a handle names. A registered snapshot is used as taken;
/// otherwise the handle is resolved for the current role, which must be
/// allowed to act as that membership, at the version it names.
fn snapshot(handle: &str) -> Rc<Caller> {
    let key = (outer_role(), handle.to_owned());
    if let Some(hit) = SNAPSHOTS.with(|s| s.borrow().get(&key).map(|e| Rc::clone(&e.caller))) {
        return hit;
    }
    let outer = key.0;
    if let Some(hit) = RESOLVED.with(|r| r.borrow().get(&key)).filter(|_| caching()) {
        return hit;
    }
    let caller = Rc::new(resolve_handle(outer, handle));
    let bytes = match &*caller {
        Caller::Member(m) => m.approx_bytes(),
        _ => handle.len(),
    };
    if caching() {
        RESOLVED.with(|r| r.borrow_mut().insert(key, Rc::clone(&caller), bytes));
    }
    caller
}

fn resolve_handle(outer: pg_sys::Oid, handle: &str) -> Caller {
    let nobody = || Caller::Nobody("No membership".to_owned());
    if is_system(outer) {
        return if handle == SYSTEM { Caller::System } else { nobody() };
    }
    let Some((version, id)) = handle.strip_prefix(MEMBER).and_then(|h| h.split_once(':')) else { return nobody() };
    if version.parse::<i64>().ok() != Some(access_version()) {
        return nobody();
    }
    match client_membership(outer, id).and_then(|id| load_membership(&id)) {
        Ok(m) => Caller::Member(m),
        Err(e) => Caller::Nobody(e.message),
    }
}

/// A role's name (a syscache lookup), `role <oid>` for one that is gone.
pub(crate) fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: a catalog lookup by OID; NULL (with noerr) for a missing role.
    let name = unsafe { pg_sys::GetUserNameFromId(role, true) };
    if name.is_null() {
        return format!("role {}", role.to_u32());
    }
    // SAFETY: a NUL-terminated name from the catalog.
    unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

fn resolve_caller(outer: pg_sys::Oid, setting: &str) -> Caller {
    match client_membership(outer, setting).and_then(|id| load_membership(&id)) {
        Ok(m) => Caller::Member(m),
        Err(e) => Caller::Nobody(e.message),
    }
}

/// The membership a client role acts as: `requested`, if the role is a
/// gateway or the membership is bound to it; without a request, the one
/// membership bound to it. Anything else is refused (403).
fn client_membership(outer: pg_sys::Oid, requested: &str) -> Result<String> {
    membership_for_grant(outer, &client_grant(outer)?, requested)
}

fn membership_for_grant(outer: pg_sys::Oid, client: &storage::Client, requested: &str) -> Result<String> {
    if requested.is_empty() {
        return match storage::bound_memberships(outer).as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(FhirError::forbidden("No membership: call fhir.set_membership")),
            _ => Err(FhirError::forbidden("Several memberships are bound to this role: call fhir.set_membership")),
        };
    }
    if !client.gateway && !storage::is_bound(outer, requested) {
        return Err(FhirError::forbidden(format!("ProjectMembership/{requested} is not bound to {}", role_name(outer))));
    }
    Ok(requested.to_owned())
}

fn client_grant(role: pg_sys::Oid) -> Result<storage::Client> {
    storage::client(role)
        .ok_or_else(|| FhirError::forbidden(format!("{} is not a fhir_access client (see fhir.grant_client)", role_name(role))))
}

/// A gateway acts for one transaction at a time: behind a transaction pooler
/// a session-long membership would answer the next client's queries.
fn check_scope(outer: pg_sys::Oid, client: &storage::Client, local: bool) -> Result<()> {
    if client.gateway && !local && !client.session_scope {
        return Err(FhirError::forbidden(format!(
            "{} is a gateway: set memberships with local => true, or grant it session_scope",
            role_name(outer)
        )));
    }
    Ok(())
}

thread_local! {
    /// Compiled memberships of this backend, each with the access version it
    /// was compiled at: a newer version recompiles, so a cached policy is never stale.
    static COMPILED: RefCell<BoundedCache<String, (i64, Rc<Membership>)>> =
        RefCell::new(BoundedCache::new(COMPILED_CAPACITY, MEMBERSHIP_BUDGET));
}

/// Compiled memberships and resolved handles kept per backend: a gateway
/// serving many memberships recompiles past these, never grows without bound.
const COMPILED_CAPACITY: usize = 256;
const RESOLVED_CAPACITY: usize = 64;
const MEMBERSHIP_BUDGET: usize = 64 << 20;

/// A membership compiled at the current access version (see `compile_membership`).
pub(crate) fn load_membership(id: &str) -> Result<Rc<Membership>> {
    let version = access_version();
    if let Some((_, hit)) = COMPILED.with(|c| c.borrow().get(id).filter(|(v, _)| *v == version)).filter(|_| caching()) {
        return Ok(hit);
    }
    let compiled = Rc::new(compile_membership(id)?);
    let bytes = compiled.approx_bytes();
    if caching() {
        COMPILED.with(|c| c.borrow_mut().insert(id.to_owned(), (version, Rc::clone(&compiled)), bytes));
    }
    Ok(compiled)
}

/// Reads and compiles a membership. Missing, deleted or inactive memberships,
/// and policies that do not compile, are refusals: an invalid policy never fails open.
fn compile_membership(id: &str) -> Result<Membership> {
    let stored = storage::current(Scope::All, "ProjectMembership", id)
        .filter(|m| !m.deleted)
        .ok_or_else(|| FhirError::not_found("ProjectMembership", id))?;
    if stored.content.get("active") == Some(&Value::Bool(false)) {
        return Err(FhirError::forbidden(format!("ProjectMembership/{id} is not active")));
    }
    compile(id, &stored.content, &stored.project_id, None)
}

/// Who may ask about a whole project (`who_can_access`, a candidate's
/// explanation): the system and admins of a super-admin project about any
/// project (`None`), other admins about their own (`Some(project)`).
pub(crate) fn admin_scope(caller: &Caller, what: &str) -> Result<Option<String>> {
    match caller {
        Caller::System => Ok(None),
        Caller::Member(m) if m.policy.admin && m.policy.super_admin => Ok(None),
        Caller::Member(m) if m.policy.admin => Ok(Some(m.project_id.clone())),
        _ => Err(FhirError::forbidden(format!("{what} is for the system and project admins"))),
    }
}

/// A ProjectMembership or an AccessPolicy not yet saved, compiled as a
/// membership of `project_id` would be (an AccessPolicy as the one policy of
/// a membership without a profile), for `explain_access`'s what-if.
pub(crate) fn compile_candidate(project_id: &str, candidate: &Value) -> Result<Membership> {
    match candidate["resourceType"].as_str() {
        Some("AccessPolicy") => {
            policy::validate(candidate)?;
            let reference = "AccessPolicy/candidate";
            let membership = serde_json::json!({"resourceType": "ProjectMembership", "project": {"reference": format!("Project/{project_id}")},
                                                "accessPolicy": {"reference": reference}});
            compile("candidate", &membership, project_id, Some((reference, candidate)))
        }
        Some("ProjectMembership") if candidate["active"] == false => {
            Err(FhirError::forbidden("The candidate ProjectMembership is not active"))
        }
        Some("ProjectMembership") => compile("candidate", candidate, project_id, None),
        _ => Err(FhirError::invalid("A candidate is an AccessPolicy or a ProjectMembership")),
    }
}

/// Compiles `membership` of `project_id`, its policies read from the project
/// (`candidate`, a reference and its policy, stands in for one not saved).
fn compile(id: &str, membership: &Value, project_id: &str, candidate: Option<(&str, &Value)>) -> Result<Membership> {
    let project = storage::current(Scope::All, "Project", project_id)
        .filter(|p| !p.deleted)
        .ok_or_else(|| FhirError::forbidden(format!("The project of ProjectMembership/{id} does not exist")))?;
    let resolve = |reference: &str| -> Option<Value> {
        if let Some((_, policy)) = candidate.filter(|(r, _)| *r == reference) {
            return Some(policy.clone());
        }
        let policy_id = reference.strip_prefix("AccessPolicy/")?;
        storage::current(Scope::All, "AccessPolicy", policy_id).filter(|p| !p.deleted && p.project_id == project_id).map(|p| p.content)
    };
    let policy = EffectivePolicy::compile(membership, &project.content, &resolve)?;
    Membership::new(id, project_id.to_owned(), policy)
}

/// `'ProjectMembership/<id>'` or `'<id>'` to the id.
fn membership_id(membership: &str) -> &str {
    membership.strip_prefix("ProjectMembership/").unwrap_or(membership)
}

/// Sets one of the superuser-only session settings above.
fn set_setting(name: &std::ffi::CStr, value: &str, local: bool) {
    let value = CString::new(value).expect("membership ids and addresses have no NUL");
    let action = if local { pg_sys::GucAction::GUC_ACTION_LOCAL } else { pg_sys::GucAction::GUC_ACTION_SET };
    // PGC_SUSET: our own privilege to set the superuser-only setting, after the checks above.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            action,
            true,
            PgLogLevel::ERROR as i32,
            false,
        );
    }
}

fn effective_policy_json(caller: &Caller) -> Option<RawJsonb> {
    match caller {
        Caller::Member(m) => Some(policy_datum(m)),
        _ => None,
    }
}

/// The effective policy as a jsonb datum (a fresh copy in the caller's
/// memory); the membership keeps its bytes, so it is converted once.
fn policy_datum(m: &Membership) -> RawJsonb {
    let bytes = m.policy_bytes(|policy| {
        let datum = Document(policy.to_json()).into_datum().expect("a document is not null");
        let ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
        // SAFETY: a detoasted jsonb datum we just made; its varlena header gives its length.
        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), pgrx::varlena::varsize_any(ptr)) }.to_vec()
    });
    // SAFETY: palloc in the current context, filled with a complete varlena.
    let copy = unsafe { pg_sys::palloc(bytes.len()) }.cast::<u8>();
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len()) };
    RawJsonb(pg_sys::Datum::from(copy))
}

/// Acts as `membership` from now on (or until the transaction ends, with
/// `local`), and returns its effective policy. A gateway may give the
/// client's address (recorded by the audit trail instead of its own).
/// `scopes` and `on_behalf_of` are API.md's, not built yet: refused, never ignored.
#[pg_extern]
fn set_membership(
    membership: &str,
    local: default!(bool, false),
    scopes: default!(Option<&str>, "NULL"),
    client_address: default!(Option<pgrx::Inet>, "NULL"),
    on_behalf_of: default!(Option<&str>, "NULL"),
) -> Option<RawJsonb> {
    if scopes.is_some() || on_behalf_of.is_some() {
        errors::raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "set_membership's scopes and on_behalf_of are not supported yet",
            "Call it without them.",
        );
    }
    let id = membership_id(membership);
    let login = Action::Login;
    match act_as(id, local, client_address.as_ref().map(|a| a.0.as_str())) {
        Ok(loaded) => {
            let caller = Caller::Member(loaded);
            audit::record(&caller, login, Subject::named("ProjectMembership", id), None);
            effective_policy_json(&caller)
        }
        Err(e) => {
            let caller = if is_system(outer_role()) { Caller::System } else { Caller::Nobody(String::new()) };
            audit::record(&caller, login, Subject::named("ProjectMembership", id), Some(&e));
            errors::raise(e)
        }
    }
}

fn act_as(id: &str, local: bool, client_address: Option<&str>) -> Result<Rc<Membership>> {
    let outer = outer_role();
    if !is_system(outer) {
        let client = client_grant(outer)?;
        membership_for_grant(outer, &client, id).and_then(|_| check_scope(outer, &client, local))?;
        if client_address.is_some() && !client.gateway {
            return Err(FhirError::forbidden("Only a gateway gives the client's address: a client's own is its connection's"));
        }
        check_no_mixing(Some(id))?;
    }
    let loaded = load_membership(id)?;
    set_setting(c"fhir.membership", id, local);
    set_setting(c"fhir.client_address", client_address.unwrap_or_default(), local);
    Ok(loaded)
}

#[pg_extern]
fn clear_membership() {
    if !is_system(outer_role()) {
        check_no_mixing(None).or_raise();
    }
    set_setting(c"fhir.membership", "", false);
    set_setting(c"fhir.client_address", "", false);
}

/// `'ProjectMembership/<id>'` of the session, whether set or bound; NULL without one.
#[pg_extern(stable)]
fn current_membership() -> Option<String> {
    match &*caller() {
        Caller::Member(m) => Some(format!("ProjectMembership/{}", m.id)),
        _ => None,
    }
}

/// The session's effective AccessPolicy (what Medplum's `/auth/me` shows); NULL without a membership.
#[pg_extern(stable)]
fn effective_policy() -> Option<RawJsonb> {
    effective_policy_json(&caller())
}

// Row-level security and the view take the statement's snapshot once
// (`_session`, an InitPlan) and pass its handle to the others, which also run
// once per statement, except `_session_match` and `_redact`, which run per row.

fn interaction(code: &str) -> Interaction {
    Interaction::parse(code).ok_or_else(|| FhirError::invalid(format!("Unknown interaction '{code}'"))).or_raise()
}

/// The query's snapshot of the session, as a handle for the functions below;
/// it lives as long as the query's executor (the function's own memory context).
#[pg_extern(stable, parallel_safe)]
fn _session(fcinfo: pg_sys::FunctionCallInfo) -> String {
    // SAFETY: PostgreSQL calls us with a valid fcinfo whose flinfo lives in the query's context.
    let query = unsafe { (*(*fcinfo).flinfo).fn_mcxt };
    // A query's InitPlans may run at different times (a UNION's second branch,
    // after a SET ROLE between fetches): all of them get the query's first snapshot.
    let taken = SNAPSHOTS.with(|s| s.borrow().iter().find(|(_, e)| e.holders.contains(&query)).map(|((_, h), _)| h.clone()));
    if let Some(handle) = taken {
        return handle;
    }
    let (handle, caller) = current();
    register(handle.clone(), &caller, query);
    handle
}

/// True for the system and for members of a super-admin project.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn _session_all_projects(session: &str) -> bool {
    match &*snapshot(session) {
        Caller::System => true,
        Caller::Member(m) => m.policy.super_admin,
        Caller::Nobody(_) => false,
    }
}

/// The projects whose rows the session may see (besides `_session_all_projects`).
#[pg_extern(stable, parallel_safe)]
pub(crate) fn _session_projects(session: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::Member(m) => vec![m.project_id.clone()],
        _ => Vec::new(),
    }
}

/// Tokens one of which every row the session may use carries (the GIN
/// condition of row-level security); every type's for the system.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn _session_keys(session: &str, interaction_code: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::System => definitions::resource_types().map(search::type_token).collect(),
        Caller::Member(m) => m.keys(interaction(interaction_code)).to_vec(),
        Caller::Nobody(_) => Vec::new(),
    }
}

/// Types the session may use for `interaction` without conditions (all, for the system).
#[pg_extern(stable, parallel_safe)]
fn _session_open_types(session: &str, interaction_code: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::System => definitions::resource_types().map(str::to_owned).collect(),
        Caller::Member(m) => m.open_types(interaction(interaction_code)).cloned().collect(),
        Caller::Nobody(_) => Vec::new(),
    }
}

/// The exact check: does some entry granting `interaction` admit this row?
#[pg_extern(stable, parallel_safe)]
fn _session_match(session: &str, interaction_code: &str, resource_type: &str, tokens: Array<&str>) -> bool {
    match &*snapshot(session) {
        Caller::System => true,
        Caller::Member(m) => {
            let interaction = interaction(interaction_code);
            // Types granted outright answer before the tokens are even read.
            m.type_open(interaction, resource_type) || {
                let tokens: Vec<&str> = tokens.iter().flatten().collect();
                m.admits(interaction, resource_type, &tokens)
            }
        }
        Caller::Nobody(_) => false,
    }
}

/// True when some entry of the session hides fields: only then is content redacted.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn _session_redacts(session: &str) -> bool {
    match &*snapshot(session) {
        Caller::Member(m) => m.policy.entries.iter().any(|e| !e.hidden_fields.is_empty()),
        _ => false,
    }
}

/// Content as the session may see it, when it hides fields. Rows of types with
/// nothing hidden come back untouched; top-level keys are removed by jsonb's
/// own operator, anything nested by the plan on the converted document.
#[pg_extern(stable, parallel_safe)]
fn _redact(session: &str, resource_type: &str, tokens: Array<&str>, content: RawJsonb) -> RawJsonb {
    let caller = snapshot(session);
    let Caller::Member(m) = &*caller else { return content };
    let tokens: Vec<&str> = tokens.iter().flatten().collect();
    let plan = m.read_plan(resource_type, &tokens);
    if plan.is_empty() {
        return content;
    }
    match plan.top_level_keys() {
        Some(keys) => without_keys(content, keys),
        None => {
            let mut document = jsonb::to_value(content);
            plan.apply(&mut document);
            RawJsonb(jsonb::to_datum(&document))
        }
    }
}
