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

use crate::errors::OrRaise;
use crate::storage::{self, Scope};
use crate::versions;
use crate::jsonb::{self, without_keys, Document, RawJsonb};
use fhir_access_core::definitions;
use fhir_access_core::outcome::{FhirError, Result};
use fhir_access_core::policy::{EffectivePolicy, Entry, Interaction};
use fhir_access_core::redaction::Plan;
use fhir_access_core::search::Matcher;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::rc::Rc;

pub static MEMBERSHIP: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn define_settings() {
    GucRegistry::define_string_guc(
        c"fhir.membership",
        c"The ProjectMembership this session acts as.",
        c"Set it with fhir.set_membership(); a plain SET is refused for non-superusers.",
        &MEMBERSHIP,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// A client session's membership, compiled.
pub struct Membership {
    pub id: String,
    pub project_id: String,
    pub policy: EffectivePolicy,
    /// One per policy entry: what a resource must satisfy for the entry to apply.
    arms: Vec<Arm>,
    /// Per interaction, the types some entry grants without conditions.
    open: HashMap<Interaction, HashSet<String>>,
    /// Per interaction, the row-level security keys (see `row_keys`).
    keys: HashMap<Interaction, Vec<String>>,
    /// The arms each prefilter token leads to, and the arms no token narrows:
    /// a row need only be tested against the arms its own tokens reach
    /// (a membership may hold a thousand instances of one policy).
    arms_by_key: HashMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
    /// The effective policy as jsonb, built on first request.
    policy_jsonb: std::cell::OnceCell<Vec<u8>>,
    /// Redaction plans by type and entry, made on first use (see `plan`).
    plans: RefCell<HashMap<(String, PlanOf), Rc<Plan>>>,
}

/// What a redaction plan is made of.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum PlanOf {
    /// One entry's hiddenFields.
    Entry(usize),
    /// Every entry covering the type: for a resource no read entry admits.
    AnyEntry,
    /// The entries granting read or search: a search's filters and sort.
    Search,
}

/// An entry's instance-level condition: its criteria and its (deprecated)
/// compartment, both required when both are present. Criteria naming a
/// parameter the type does not have admit nothing.
struct Arm {
    matcher: Option<Matcher>,
    compartment: Option<String>,
    never: bool,
}

impl Arm {
    fn compile(entry: &Entry) -> Result<Arm> {
        let never = entry.criteria.as_ref().is_some_and(|c| c.has_unknown_params());
        Ok(Arm {
            matcher: entry.criteria.as_ref().filter(|_| !never).map(Matcher::compile).transpose()?,
            compartment: entry.compartment.as_ref().map(|c| format!("_compartment={c}")),
            never,
        })
    }

    fn is_open(&self) -> bool {
        !self.never && self.matcher.is_none() && self.compartment.is_none()
    }

    fn satisfied(&self, resource_type: &str, tokens: &[&str]) -> bool {
        !self.never
            && self.compartment.as_ref().is_none_or(|c| tokens.contains(&c.as_str()))
            && self.matcher.as_ref().is_none_or(|m| m.matches(resource_type, tokens))
    }

    /// Tokens of which every resource this arm admits has one (a GIN
    /// prefilter); `None` when no index narrows the arm.
    fn keys(&self) -> Option<Vec<String>> {
        match (&self.compartment, &self.matcher) {
            _ if self.never => Some(Vec::new()),
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(m)) => m.keys(),
            (None, None) => None,
        }
    }
}

impl Membership {
    fn new(id: &str, project_id: String, policy: EffectivePolicy) -> Result<Membership> {
        let arms: Vec<Arm> = policy.entries.iter().map(Arm::compile).collect::<Result<_>>()?;
        let open: HashMap<Interaction, HashSet<String>> = Interaction::ALL
            .into_iter()
            .map(|i| {
                let types = definitions::resource_types()
                    .filter(|t| policy.indexed_entries_for(t, i).any(|(k, _)| arms[k].is_open()))
                    .map(str::to_owned)
                    .collect();
                (i, types)
            })
            .collect();
        let (mut arms_by_key, mut unkeyed) = (HashMap::<String, Vec<usize>>::new(), Vec::new());
        for (i, arm) in arms.iter().enumerate() {
            match arm.keys() {
                Some(keys) if !arm.is_open() => keys.into_iter().for_each(|k| arms_by_key.entry(k).or_default().push(i)),
                _ => unkeyed.push(i),
            }
        }
        let keys = Interaction::ALL.into_iter().map(|i| (i, row_keys(&policy, &arms, &open[&i], i))).collect();
        Ok(Membership {
            id: id.to_owned(),
            project_id,
            policy,
            arms,
            open,
            keys,
            arms_by_key,
            unkeyed,
            policy_jsonb: Default::default(),
            plans: Default::default(),
        })
    }

    /// The effective policy as a jsonb datum (a fresh copy in the caller's memory).
    fn policy_datum(&self) -> RawJsonb {
        let bytes = self.policy_jsonb.get_or_init(|| {
            let datum = Document(self.policy.to_json()).into_datum().expect("a document is not null");
            let ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
            unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), pgrx::varlena::varsize_any(ptr)) }.to_vec()
        });
        let copy = unsafe { pg_sys::palloc(bytes.len()) }.cast::<u8>();
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len()) };
        RawJsonb(pg_sys::Datum::from(copy))
    }

    /// True when some entry grants `interaction` on every resource of the type.
    fn type_open(&self, interaction: Interaction, resource_type: &str) -> bool {
        self.open.get(&interaction).is_some_and(|types| types.contains(resource_type))
    }

    /// The first entry granting `interaction` that the resource satisfies:
    /// it decides whether the resource is admitted and supplies its fields.
    pub fn first_entry<'a>(&'a self, interaction: Interaction, resource_type: &'a str, tokens: &[&str]) -> Option<&'a Entry> {
        self.first_index(interaction, resource_type, tokens).map(|i| &self.policy.entries[i])
    }

    fn first_index(&self, interaction: Interaction, resource_type: &str, tokens: &[&str]) -> Option<usize> {
        let mut candidates: Vec<usize> = self.unkeyed.clone();
        candidates.extend(tokens.iter().filter_map(|t| self.arms_by_key.get(*t)).flatten());
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .find(|&i| self.policy.grants(i, resource_type, interaction) && self.arms[i].satisfied(resource_type, tokens))
    }

    /// Whether entry `index`'s criteria and compartment admit the resource.
    pub fn entry_admits(&self, index: usize, resource_type: &str, tokens: &[&str]) -> bool {
        self.arms[index].satisfied(resource_type, tokens)
    }

    /// What row-level security and search evaluate for this type: whether
    /// every row is granted, and the index keys and row check otherwise.
    pub fn predicate(&self, resource_type: &str, interaction: Interaction) -> Value {
        let arms: Vec<&Arm> = self.policy.indexed_entries_for(resource_type, interaction).map(|(i, _)| &self.arms[i]).collect();
        let mut keys: Vec<String> = arms.iter().filter_map(|a| a.keys()).flatten().collect();
        keys.sort();
        keys.dedup();
        serde_json::json!({
            "allRows": self.type_open(interaction, resource_type),
            "indexKeys": keys,
            "rowByRow": arms.iter().any(|a| !a.is_open() && a.keys().is_none()),
        })
    }

    pub fn admits(&self, interaction: Interaction, resource_type: &str, tokens: &[&str]) -> bool {
        self.first_entry(interaction, resource_type, tokens).is_some()
    }

    /// A resource the session can see must also satisfy an entry granting the
    /// interaction (403), e.g. a write's before-image.
    pub fn check_write(&self, interaction: Interaction, resource_type: &str, tokens: &[String]) -> Result<()> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        if self.admits(interaction, resource_type, &tokens) {
            Ok(())
        } else {
            Err(FhirError::forbidden(format!("Forbidden: {} of this {resource_type}", interaction.as_str())))
        }
    }

    /// The after-image of a create or update must satisfy an entry granting the
    /// interaction, and every writeConstraint of the first such entry must be
    /// exactly `true`, with `%before` (empty on create), `%after` and the
    /// policy's parameters bound; otherwise 403 naming the constraint.
    pub fn authorize_write(
        &self,
        interaction: Interaction,
        resource_type: &str,
        tokens: &[String],
        before: Option<&Value>,
        after: &Value,
    ) -> Result<()> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let entry = self
            .first_entry(interaction, resource_type, &tokens)
            .ok_or_else(|| FhirError::forbidden(format!("Forbidden: {} of this {resource_type}", interaction.as_str())))?;
        if entry.write_constraints.is_empty() {
            return Ok(());
        }
        let parameters: Vec<(&str, Value)> = entry
            .source
            .map(|i| &self.policy.sources[i].parameters[..])
            .unwrap_or_default()
            .iter()
            .map(|(name, value)| (name.as_str(), Value::String(value.as_str().to_owned())))
            .collect();
        let mut env = fhirpath::Environment::new().with_variable("before", before).with_variable("after", [after]);
        for (name, value) in &parameters {
            env.set_variable(name, [value]);
        }
        for c in &entry.write_constraints {
            let passed = fhirpath::parse_cached(&c.expression)
                .and_then(|expr| expr.evaluate(after, &env))
                .is_ok_and(|result| result.is_single_true());
            if !passed {
                let what = c.description.as_ref().map_or_else(|| format!("`{}`", c.expression), |d| format!("`{}` ({d})", c.expression));
                return Err(FhirError::forbidden(format!("Write constraint violated: {what}")).at(c.expression.clone()));
            }
        }
        Ok(())
    }

    /// Whether any entry granting `interaction` on the type hides or protects fields.
    pub fn protects_fields(&self, interaction: Interaction, resource_type: &str) -> bool {
        self.policy.entries_for(resource_type, interaction).any(|e| !e.hidden_fields.is_empty() || !e.readonly_fields.is_empty())
    }

    /// What this session may not write: the hiddenFields and readonlyFields
    /// of the entry that applies, and whatever the session cannot see of the
    /// stored version (`seen`, its read plan), which it cannot mean to erase.
    pub fn protected_fields(&self, interaction: Interaction, resource_type: &str, tokens: &[String], seen: Option<&Plan>) -> Vec<String> {
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let entry = self.first_entry(interaction, resource_type, &tokens).or_else(|| self.policy.entries_for(resource_type, interaction).next());
        let mut paths: Vec<String> = entry.map(|e| e.hidden_fields.iter().chain(&e.readonly_fields).cloned().collect()).unwrap_or_default();
        paths.extend(seen.into_iter().flat_map(|p| p.paths().iter().cloned()));
        paths.sort();
        paths.dedup();
        paths
    }

    /// The redaction plan of one entry, of every entry of the type, or of a search.
    fn plan(&self, resource_type: &str, of: PlanOf) -> Rc<Plan> {
        let key = (resource_type.to_owned(), of);
        if let Some(hit) = self.plans.borrow().get(&key) {
            return Rc::clone(hit);
        }
        let interactions: &[Interaction] = match of {
            PlanOf::Entry(_) => &[],
            PlanOf::AnyEntry => &Interaction::ALL,
            PlanOf::Search => &[Interaction::Read, Interaction::Search],
        };
        let mut hidden: Vec<String> = interactions
            .iter()
            .flat_map(|&i| self.policy.entries_for(resource_type, i))
            .flat_map(|e| e.hidden_fields.iter().cloned())
            .collect();
        if let PlanOf::Entry(i) = of {
            hidden.clone_from(&self.policy.entries[i].hidden_fields);
        }
        let plan = Rc::new(Plan::new(resource_type, &hidden));
        self.plans.borrow_mut().insert(key, Rc::clone(&plan));
        plan
    }

    /// How a resource with these tokens is redacted for this session: by the
    /// first entry granting read that admits it, or, when none does (a
    /// create-only entry), by every entry of the type.
    pub fn read_plan(&self, resource_type: &str, tokens: &[&str]) -> Rc<Plan> {
        let entries: Vec<usize> = self.policy.indexed_entries_for(resource_type, Interaction::Read).map(|(i, _)| i).collect();
        let uniform = entries.windows(2).all(|w| self.policy.entries[w[0]].hidden_fields == self.policy.entries[w[1]].hidden_fields);
        let of = match entries.first() {
            // Every entry hides the same fields: no need to find the one that admits the row.
            Some(&first) if uniform => PlanOf::Entry(first),
            _ => self.first_index(Interaction::Read, resource_type, tokens).map_or(PlanOf::AnyEntry, PlanOf::Entry),
        };
        self.plan(resource_type, of)
    }

    /// What a search may not filter or sort on by the stored tokens.
    pub fn search_plan(&self, resource_type: &str) -> Rc<Plan> {
        self.plan(resource_type, PlanOf::Search)
    }

}

/// Tokens one of which every row a membership may use for `interaction`
/// carries: `_type=<Type>` for types granted outright and for types whose
/// conditions no index narrows, and the conditional entries' prefilter keys.
/// Fixed once the membership is compiled.
fn row_keys(policy: &EffectivePolicy, arms: &[Arm], open: &HashSet<String>, interaction: Interaction) -> Vec<String> {
    let unindexed = definitions::resource_types().filter(|t| {
        policy.indexed_entries_for(t, interaction).any(|(i, _)| !arms[i].is_open() && arms[i].keys().is_none())
    });
    let mut keys: Vec<String> = open.iter().map(|t| versions::type_token(t)).chain(unindexed.map(versions::type_token)).collect();
    keys.extend(
        policy
            .entries
            .iter()
            .zip(arms)
            .filter(|(e, arm)| e.interactions.contains(&interaction) && !arm.is_open())
            .filter_map(|(_, arm)| arm.keys())
            .flatten(),
    );
    keys.sort();
    keys.dedup();
    keys
}

pub enum Caller {
    /// A superuser or a BYPASSRLS role: sees and writes everything.
    System,
    Member(Rc<Membership>),
    /// A role that is not a client, or a client without a usable membership.
    Nobody(String),
}

impl Caller {
    /// The membership a write or an interaction needs; 403 without one.
    pub fn membership(&self) -> Result<Option<&Membership>> {
        match self {
            Caller::System => Ok(None),
            Caller::Member(m) => Ok(Some(m)),
            Caller::Nobody(why) => Err(FhirError::forbidden(why.clone())),
        }
    }

    /// The type-level check (403): may this caller perform `interaction` on `resource_type` at all?
    pub fn require(&self, resource_type: &str, interaction: Interaction) -> Result<Option<&Membership>> {
        let membership = self.membership()?;
        if let Some(m) = membership {
            if !m.policy.allows(resource_type, interaction) {
                return Err(FhirError::forbidden(format!("Forbidden: {} on {resource_type}", interaction.as_str())));
            }
        }
        Ok(membership)
    }

    /// Which rows reads see: everything for the system, the session's rows otherwise.
    pub fn scope(&self) -> Scope {
        match self {
            Caller::System => Scope::All,
            _ => Scope::Session,
        }
    }
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
    /// The access version seen by the current statement: (xact start, statement start, version).
    static VERSION_SEEN: RefCell<Option<(i64, i64, i64)>> = const { RefCell::new(None) };
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

/// The access version, read once per statement.
fn access_version() -> i64 {
    // SAFETY: both read backend globals.
    let now = unsafe { (pg_sys::GetCurrentTransactionStartTimestamp(), pg_sys::GetCurrentStatementStartTimestamp()) };
    if let Some((x, s, v)) = VERSION_SEEN.with(|c| *c.borrow()) {
        if (x, s) == now {
            return v;
        }
    }
    let v = storage::access_version();
    VERSION_SEEN.with(|c| *c.borrow_mut() = Some((now.0, now.1, v)));
    v
}

/// Forgets what this backend compiled, after a write that changes access.
pub fn invalidate() {
    CACHED.with(|c| *c.borrow_mut() = None);
    VERSION_SEEN.with(|c| *c.borrow_mut() = None);
    COMPILED.with(|c| c.borrow_mut().clear());
    RESOLVED.with(|c| c.borrow_mut().clear());
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
    crate::explain_guard::refuse_if_analyzing().or_raise();
    let setting = setting();
    let version = access_version();
    if let Some(hit) = CACHED.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|k| k.outer == outer && k.setting == setting && k.version == version)
            .map(|k| (k.handle.clone(), Rc::clone(&k.caller)))
    }) {
        return hit;
    }
    let caller = Rc::new(resolve_caller(outer, &setting));
    let handle = match &*caller {
        Caller::Member(m) => format!("{MEMBER}{version}:{}", m.id),
        _ => NOBODY.to_owned(),
    };
    CACHED.with(|c| {
        *c.borrow_mut() = Some(Cached { outer, setting, version, handle: handle.clone(), caller: Rc::clone(&caller) })
    });
    (handle, caller)
}

// Statement snapshots. Row-level security and the view take one snapshot of
// the session per statement, `(SELECT fhir._session())`, an InitPlan whose
// handle every other session function of that statement receives: the project
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
    static RESOLVED: RefCell<HashMap<(pg_sys::Oid, String), Rc<Caller>>> = RefCell::new(HashMap::new());
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
    crate::explain_guard::refuse_if_analyzing().or_raise();
    let key = (outer_role(), handle.to_owned());
    if let Some(hit) = SNAPSHOTS.with(|s| s.borrow().get(&key).map(|e| Rc::clone(&e.caller))) {
        return hit;
    }
    let outer = key.0;
    if let Some(hit) = RESOLVED.with(|r| r.borrow().get(&key).cloned()) {
        return hit;
    }
    let caller = Rc::new(resolve_handle(outer, handle));
    RESOLVED.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() >= 64 {
            r.clear();
        }
        r.insert(key, Rc::clone(&caller));
    });
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

fn role_name(role: pg_sys::Oid) -> String {
    storage::role_name(role).unwrap_or_else(|| format!("role {}", role.to_u32()))
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
    static COMPILED: RefCell<HashMap<String, (i64, Rc<Membership>)>> = RefCell::new(HashMap::new());
}

/// A membership compiled at the current access version (see `compile_membership`).
fn load_membership(id: &str) -> Result<Rc<Membership>> {
    let version = access_version();
    if let Some(hit) = COMPILED.with(|c| c.borrow().get(id).filter(|(v, _)| *v == version).map(|(_, m)| Rc::clone(m))) {
        return Ok(hit);
    }
    let compiled = Rc::new(compile_membership(id)?);
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(id.to_owned(), (version, Rc::clone(&compiled)));
    });
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
    let project = storage::current(Scope::All, "Project", &stored.project_id)
        .filter(|p| !p.deleted)
        .ok_or_else(|| FhirError::forbidden(format!("The project of ProjectMembership/{id} does not exist")))?;
    let project_id = stored.project_id.clone();
    let resolve = |reference: &str| -> Option<Value> {
        let policy_id = reference.strip_prefix("AccessPolicy/")?;
        storage::current(Scope::All, "AccessPolicy", policy_id)
            .filter(|p| !p.deleted && p.project_id == project_id)
            .map(|p| p.content)
    };
    let policy = EffectivePolicy::compile(&stored.content, &project.content, &resolve)?;
    Membership::new(id, stored.project_id, policy)
}

/// `'ProjectMembership/<id>'` or `'<id>'` to the id.
fn membership_id(membership: &str) -> &str {
    membership.strip_prefix("ProjectMembership/").unwrap_or(membership)
}

fn set_setting(value: &str, local: bool) {
    let name = c"fhir.membership";
    let value = CString::new(value).expect("membership ids have no NUL");
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
        Caller::Member(m) => Some(m.policy_datum()),
        _ => None,
    }
}

/// Acts as `membership` from now on (or until the transaction ends, with
/// `local`), and returns its effective policy.
#[pg_extern]
fn set_membership(membership: &str, local: default!(bool, false)) -> Option<RawJsonb> {
    let id = membership_id(membership);
    let outer = outer_role();
    if !is_system(outer) {
        let client = client_grant(outer).or_raise();
        membership_for_grant(outer, &client, id).and_then(|_| check_scope(outer, &client, local)).or_raise();
        check_no_mixing(Some(id)).or_raise();
    }
    let loaded = load_membership(id).or_raise();
    set_setting(id, local);
    effective_policy_json(&Caller::Member(loaded))
}

#[pg_extern]
fn clear_membership() {
    if !is_system(outer_role()) {
        check_no_mixing(None).or_raise();
    }
    set_setting("", false);
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
fn _session_all_projects(session: &str) -> bool {
    match &*snapshot(session) {
        Caller::System => true,
        Caller::Member(m) => m.policy.super_admin,
        Caller::Nobody(_) => false,
    }
}

/// The projects whose rows the session may see (besides `_session_all_projects`).
#[pg_extern(stable, parallel_safe)]
fn _session_projects(session: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::Member(m) => vec![m.project_id.clone()],
        _ => Vec::new(),
    }
}

/// Tokens one of which every row the session may use carries (the GIN
/// condition of row-level security); every type's for the system.
#[pg_extern(stable, parallel_safe)]
fn _session_keys(session: &str, interaction_code: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::System => definitions::resource_types().map(versions::type_token).collect(),
        Caller::Member(m) => m.keys[&interaction(interaction_code)].clone(),
        Caller::Nobody(_) => Vec::new(),
    }
}

/// Types the session may use for `interaction` without conditions (all, for the system).
#[pg_extern(stable, parallel_safe)]
fn _session_open_types(session: &str, interaction_code: &str) -> Vec<String> {
    match &*snapshot(session) {
        Caller::System => definitions::resource_types().map(str::to_owned).collect(),
        Caller::Member(m) => m.open.get(&interaction(interaction_code)).into_iter().flatten().cloned().collect(),
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
fn _session_redacts(session: &str) -> bool {
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
