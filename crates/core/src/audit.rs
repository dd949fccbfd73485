//! The audit trail: what each client interaction records, as a FHIR R4
//! AuditEvent in the shape of IHE Basic Audit Log Patterns (BALP): the REST
//! interaction as type and subtype, the person (the membership's profile),
//! the membership, the User and the database role as agents, the resources
//! and Patients concerned and, for a search, the query as entities.

use crate::outcome::FhirError;
use crate::policy::Interaction;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The resource type of the audit trail's records.
pub const AUDIT_EVENT: &str = "AuditEvent";

/// The `fhir.audit` setting: what is recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Off,
    /// Creates, updates, patches and deletes, refused ones included.
    Writes,
    /// Also reads, vreads, histories, searches and `set_membership`.
    All,
}

impl Level {
    pub fn records(self, action: Action) -> bool {
        match self {
            Level::Off => false,
            Level::Writes => action.writes(),
            Level::All => true,
        }
    }
}

/// What a client did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Action {
    Interaction(Interaction),
    /// `fhir.patch` (an update for access policies, its own REST interaction).
    Patch,
    /// `fhir.set_membership`: the session starts acting as a membership.
    Login,
    /// A SQL statement reading the view `fhir.resources`.
    Sql,
}

impl Action {
    pub fn writes(self) -> bool {
        matches!(self, Action::Patch | Action::Interaction(Interaction::Create | Interaction::Update | Interaction::Delete))
    }

    /// The http://hl7.org/fhir/restful-interaction code.
    fn rest_code(self) -> Option<&'static str> {
        Some(match self {
            Action::Interaction(Interaction::History) => "history-instance",
            Action::Interaction(Interaction::Search) => "search-type",
            Action::Interaction(i) => i.as_str(),
            Action::Patch => "patch",
            Action::Sql => "search-system",
            Action::Login => return None,
        })
    }

    /// AuditEvent.action: create, read, update, delete or execute.
    fn crud(self) -> &'static str {
        match self {
            Action::Interaction(Interaction::Create) => "C",
            Action::Interaction(Interaction::Read | Interaction::Vread | Interaction::History) => "R",
            Action::Interaction(Interaction::Update) | Action::Patch => "U",
            Action::Interaction(Interaction::Delete) => "D",
            Action::Interaction(Interaction::Search) | Action::Login | Action::Sql => "E",
        }
    }

    /// The BALP profile the event follows.
    fn profile(self) -> Option<String> {
        let name = match (self, self.crud()) {
            (Action::Login, _) => return None,
            (Action::Interaction(Interaction::Search) | Action::Sql, _) => "Query",
            (_, "C") => "Create",
            (_, "R") => "Read",
            (_, "U") => "Update",
            _ => "Delete",
        };
        Some(format!("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.{name}"))
    }
}

/// Who acted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// The ProjectMembership id; `None` when the client had none it may act as.
    pub membership: Option<String>,
    /// `Practitioner/…`, `Patient/…`: the membership's profile.
    pub profile: Option<String>,
    /// `User/…`.
    pub user: Option<String>,
    /// The AccessPolicies the membership acts under (`AccessPolicy/…`).
    pub policies: Vec<String>,
    /// The database role the client connected or `SET ROLE` as.
    pub role: String,
    /// The client's network address, when it has one.
    pub address: Option<String>,
}

/// One audit record: what the AuditEvents are made from, compact enough to
/// queue (serde) and build later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub action: Action,
    /// FHIR instant.
    pub recorded: String,
    pub agent: Agent,
    /// References of the resources read or written (`Type/id/_history/v` when
    /// the version is known), in the order returned; at most `MAX_LISTED`.
    pub resources: Vec<String>,
    /// `Patient/…` references of the Patient compartments they are in.
    pub patients: Vec<String>,
    /// A search's query (`Type?params`), or a statement's SQL text, as
    /// `bounded_query` keeps it.
    pub query: Option<String>,
    /// How many resources a search returned or an import created (all of
    /// them, even past the entities listed); `None` when not known.
    pub returned: Option<usize>,
    /// A refusal: its SQLSTATE and reason; `None` for success.
    pub refusal: Option<String>,
    /// The database (AuditEvent.source.site).
    pub database: String,
}

/// A refusal as a record states it.
pub fn refusal(e: &FhirError) -> String {
    format!("{} {}", e.kind.sqlstate(), e.message)
}

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const AGENT_TYPES: &str = "https://github.com/fhir-access/fhir-access/audit-agent";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// Resources listed in one record (a search may return more: `returned`
/// counts them all), and the bytes of query text kept: a client's query
/// must not make an unbounded record.
pub const MAX_LISTED: usize = 1000;
pub const MAX_QUERY_BYTES: usize = 4096;

/// A query's text as a record keeps it: cut at a character boundary past
/// `MAX_QUERY_BYTES`, saying how long it was.
pub fn bounded_query(query: &str) -> String {
    if query.len() <= MAX_QUERY_BYTES {
        return query.to_owned();
    }
    let mut end = MAX_QUERY_BYTES;
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &query[..end], query.len())
}

/// Past this many Patients, a record is one event that lists none of them.
pub const MAX_PATIENT_EVENTS: usize = 20;

/// What one AuditEvent names: resources and the Patients whose compartments
/// put it there (a listed Patient resource puts it in that one's too).
struct Named<'r> {
    resources: Vec<&'r str>,
    patients: Vec<&'r str>,
    unlisted_patients: usize,
}

/// `Patient/<id>` of a reference to a Patient (`Patient/<id>/_history/<v>` too).
fn patient_of(reference: &str) -> Option<&str> {
    let rest = reference.strip_prefix("Patient/")?;
    Some(&reference[..("Patient/".len() + rest.find('/').unwrap_or(rest.len()))])
}

/// The record's AuditEvents (without id and meta; storage stamps them): one
/// per Patient it concerns, each naming no other Patient, so that a patient
/// who reads her trail through her compartment sees no other (BALP's
/// advice); past `MAX_PATIENT_EVENTS` Patients, one event that lists none.
pub fn audit_events(r: &Record) -> Vec<Value> {
    let mut concerned: Vec<&str> = r.patients.iter().map(String::as_str).collect();
    for p in r.resources.iter().filter_map(|res| patient_of(res)) {
        if !concerned.contains(&p) {
            concerned.push(p);
        }
    }
    let others = |keep: Option<&str>| -> Vec<&str> {
        r.resources.iter().map(String::as_str).filter(|res| patient_of(res).is_none_or(|p| Some(p) == keep)).collect()
    };
    let listed = |p: &str| r.patients.iter().any(|q| q == p);
    match concerned.len() {
        0 | 1 => vec![audit_event(
            r,
            &Named {
                resources: r.resources.iter().map(String::as_str).collect(),
                patients: r.patients.iter().map(String::as_str).collect(),
                unlisted_patients: 0,
            },
        )],
        n if n <= MAX_PATIENT_EVENTS => concerned
            .iter()
            .map(|p| {
                audit_event(
                    r,
                    &Named { resources: others(Some(p)), patients: if listed(p) { vec![p] } else { vec![] }, unlisted_patients: 0 },
                )
            })
            .collect(),
        n => vec![audit_event(r, &Named { resources: others(None), patients: Vec::new(), unlisted_patients: n })],
    }
}

fn audit_event(r: &Record, named: &Named) -> Value {
    let mut event = json!({
        "resourceType": AUDIT_EVENT,
        "type": match r.action {
            Action::Login => coding(DCM, "110114", "User Authentication"),
            _ => coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"),
        },
        "subtype": [match r.action.rest_code() {
            Some(code) => coding("http://hl7.org/fhir/restful-interaction", code, code),
            None => coding(DCM, "110122", "Login"),
        }],
        "action": r.action.crud(),
        "recorded": r.recorded,
        "outcome": if r.refusal.is_some() { "4" } else { "0" },
        "agent": agents(&r.agent, r.action),
        "source": {
            "site": r.database,
            "observer": { "display": "fhir_access" },
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
        },
    });
    if let Some(profile) = r.action.profile() {
        event["meta"] = json!({ "profile": [profile] });
    }
    if let Some(e) = &r.refusal {
        event["outcomeDesc"] = json!(e);
    }
    let entities = entities(r, named);
    if !entities.is_empty() {
        event["entity"] = Value::Array(entities);
    }
    event
}

fn agents(a: &Agent, action: Action) -> Value {
    let (code, display) = if action.crud() == "R" || action.crud() == "E" { ("IRCP", "information recipient") } else { ("AUT", "author") };
    let mut person = json!({
        "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code, display)] },
        "requestor": true,
    });
    match (&a.profile, &a.membership) {
        (Some(profile), _) => person["who"] = json!({ "reference": profile }),
        (None, Some(m)) => person["who"] = json!({ "reference": format!("ProjectMembership/{m}") }),
        (None, None) => person["who"] = json!({ "display": a.role }),
    }
    if !a.policies.is_empty() {
        person["policy"] = json!(a.policies);
    }
    let mut agents = vec![person];
    let mut by = |kind: &str, display: &str, reference: Option<String>| {
        if let Some(reference) = reference {
            agents.push(json!({
                "type": { "coding": [coding(AGENT_TYPES, kind, display)] },
                "who": { "reference": reference },
                "requestor": false,
            }));
        }
    };
    by("membership", "ProjectMembership", a.membership.as_ref().map(|m| format!("ProjectMembership/{m}")));
    by("user", "User", a.user.clone());
    let mut client = json!({
        "type": { "coding": [coding(DCM, "110153", "Source Role ID")] },
        "who": { "display": a.role },
        "altId": a.role,
        "requestor": false,
    });
    if let Some(address) = &a.address {
        client["network"] = json!({ "address": address, "type": "2" });
    }
    agents.push(client);
    Value::Array(agents)
}

fn entities(r: &Record, named: &Named) -> Vec<Value> {
    let mut out: Vec<Value> = named
        .resources
        .iter()
        .take(MAX_LISTED)
        .map(|what| {
            json!({
                "what": { "reference": what },
                "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
            })
        })
        .collect();
    let person = || coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person");
    let patient = || coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient");
    out.extend(named.patients.iter().map(|p| json!({ "what": { "reference": p }, "type": person(), "role": patient() })));
    if named.unlisted_patients > 0 {
        let text = format!("{} Patients, not listed (so that no patient reading this event sees the others)", named.unlisted_patients);
        out.push(json!({ "type": person(), "role": patient(), "description": text }));
    }
    if let Some(text) = &r.query {
        let mut entity = json!({
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
            "description": text,
            "query": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
        });
        if let Some(n) = r.returned {
            entity["detail"] = json!([{ "type": "returned", "valueString": n.to_string() }]);
        }
        out.push(entity);
    } else if let Some(n) = r.returned.filter(|n| *n > named.resources.len().min(MAX_LISTED)) {
        out.push(json!({
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
            "description": format!("{n} resources in all, {} listed", named.resources.len().min(MAX_LISTED)),
        }));
    }
    out
}

/// The Patients a version is about: the `Patient/…` entries of its `meta.compartment`.
pub fn patients_of(content: &Value) -> Vec<String> {
    content["meta"]["compartment"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["reference"].as_str())
        .filter(|r| r.starts_with("Patient/"))
        .map(str::to_owned)
        .collect()
}

/// `Type/id/_history/version` of a stored version (`Type/id` without a version).
pub fn reference_of(content: &Value) -> Option<String> {
    let (t, id) = (content["resourceType"].as_str()?, content["id"].as_str()?);
    Some(match content["meta"]["versionId"].as_str() {
        Some(v) => format!("{t}/{id}/_history/{v}"),
        None => format!("{t}/{id}"),
    })
}

/// One audit record of resources created together (an import): the
/// resources it lists and the Patient they are about, if any.
#[derive(Debug, PartialEq)]
pub struct CreatedRecord {
    pub resources: Vec<String>,
    pub patient: Option<String>,
}

/// The resources of an import, grouped into its audit records: one per
/// Patient, naming only the resources about that Patient, and one for those
/// about none, each of at most `MAX_LISTED` resources. So every resource is
/// named in an event of each Patient it is about, and an event names no
/// other Patient's resources, however many lines come before.
#[derive(Default)]
pub struct CreatedTogether {
    open: BTreeMap<Option<String>, Vec<String>>,
}

impl CreatedTogether {
    /// Adds a created resource; returns the records it filled.
    pub fn add(&mut self, reference: String, patients: Vec<String>) -> Vec<CreatedRecord> {
        let groups: Vec<Option<String>> = if patients.is_empty() { vec![None] } else { patients.into_iter().map(Some).collect() };
        let mut full = Vec::new();
        for patient in groups {
            let listed = self.open.entry(patient.clone()).or_default();
            listed.push(reference.clone());
            if listed.len() == MAX_LISTED {
                full.push(CreatedRecord { resources: std::mem::take(listed), patient });
            }
        }
        full
    }

    /// The records not yet full.
    pub fn finish(self) -> impl Iterator<Item = CreatedRecord> {
        self.open.into_iter().filter(|(_, r)| !r.is_empty()).map(|(patient, resources)| CreatedRecord { resources, patient })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(r: &Record) -> Value {
        let events = audit_events(r);
        assert_eq!(events.len(), 1);
        events.into_iter().next().unwrap()
    }

    fn agent() -> Agent {
        Agent {
            membership: Some("m1".into()),
            profile: Some("Practitioner/doc".into()),
            user: Some("User/u1".into()),
            policies: Vec::new(),
            role: "gateway".into(),
            address: Some("10.1.2.3".into()),
        }
    }

    fn record(action: Action) -> Record {
        Record {
            action,
            recorded: "2026-12-02T10:00:00.000Z".into(),
            agent: agent(),
            resources: vec!["Observation/o1/_history/v1".into()],
            patients: vec!["Patient/p1".into()],
            query: None,
            returned: None,
            refusal: None,
            database: "clinic".into(),
        }
    }

    #[test]
    fn writes_level_records_writes_only() {
        let writes = [
            Action::Interaction(Interaction::Create),
            Action::Interaction(Interaction::Update),
            Action::Patch,
            Action::Interaction(Interaction::Delete),
        ];
        for a in writes {
            assert!(Level::Writes.records(a), "{a:?}");
        }
        for a in [Action::Interaction(Interaction::Read), Action::Interaction(Interaction::Search), Action::Login] {
            assert!(!Level::Writes.records(a) && Level::All.records(a) && !Level::Off.records(a), "{a:?}");
        }
    }

    #[test]
    fn a_read_is_a_balp_read_with_the_resource_and_its_patient() {
        let e = one(&record(Action::Interaction(Interaction::Read)));
        assert_eq!(e["meta"]["profile"][0], "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read");
        assert_eq!(e["type"]["code"], "rest");
        assert_eq!(e["subtype"][0]["code"], "read");
        assert_eq!((e["action"].as_str(), e["outcome"].as_str()), (Some("R"), Some("0")));
        assert_eq!(e["entity"][0]["what"]["reference"], "Observation/o1/_history/v1");
        assert_eq!(
            (e["entity"][1]["what"]["reference"].as_str(), e["entity"][1]["role"]["code"].as_str()),
            (Some("Patient/p1"), Some("1"))
        );
    }

    #[test]
    fn agents_name_the_profile_membership_user_and_role() {
        let e = one(&record(Action::Interaction(Interaction::Create)));
        let who: Vec<_> =
            e["agent"].as_array().unwrap().iter().map(|a| a["who"]["reference"].as_str().or(a["who"]["display"].as_str())).collect();
        assert_eq!(who, [Some("Practitioner/doc"), Some("ProjectMembership/m1"), Some("User/u1"), Some("gateway")]);
        assert_eq!(e["agent"][0]["requestor"], true);
        assert_eq!(e["agent"][0]["type"]["coding"][0]["code"], "AUT");
        assert_eq!(e["agent"][3]["network"]["address"], "10.1.2.3");
    }

    #[test]
    fn a_search_records_its_query_in_base64_and_as_text() {
        let mut r = record(Action::Interaction(Interaction::Search));
        r.query = Some("Observation?subject=Patient/p1".into());
        r.returned = Some(1);
        let e = one(&r);
        let query = e["entity"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(query["role"]["code"], "24");
        assert_eq!(query["description"], "Observation?subject=Patient/p1");
        assert_eq!(query["query"], "T2JzZXJ2YXRpb24/c3ViamVjdD1QYXRpZW50L3Ax");
        assert_eq!(query["detail"][0]["valueString"], "1");
        assert_eq!((e["action"].as_str(), e["subtype"][0]["code"].as_str()), (Some("E"), Some("search-type")));
    }

    #[test]
    fn a_refusal_is_a_minor_failure_with_its_sqlstate_and_reason() {
        let mut r = record(Action::Interaction(Interaction::Create));
        r.refusal = Some(refusal(&FhirError::forbidden("Observation create is not granted")));
        let e = one(&r);
        assert_eq!(e["outcome"], "4");
        assert_eq!(e["outcomeDesc"], "42501 Observation create is not granted");
    }

    #[test]
    fn a_login_is_a_dicom_user_authentication() {
        let mut r = record(Action::Login);
        r.resources.clear();
        r.patients.clear();
        let e = one(&r);
        assert_eq!((e["type"]["code"].as_str(), e["subtype"][0]["code"].as_str()), (Some("110114"), Some("110122")));
        assert!(e.get("entity").is_none() && e.get("meta").is_none());
    }

    #[test]
    fn without_a_membership_the_role_is_the_requestor() {
        let mut r = record(Action::Interaction(Interaction::Read));
        r.agent = Agent { membership: None, profile: None, user: None, ..agent() };
        let e = one(&r);
        assert_eq!(e["agent"][0]["who"]["display"], "gateway");
        assert_eq!(e["agent"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_record_about_two_patients_is_two_events_each_naming_one() {
        let mut r = record(Action::Interaction(Interaction::Read));
        r.patients.push("Patient/p2".into());
        let events = audit_events(&r);
        let named: Vec<Vec<&str>> = events
            .iter()
            .map(|e| e["entity"].as_array().unwrap().iter().filter_map(|x| x["what"]["reference"].as_str()).collect())
            .collect();
        assert_eq!(named, [["Observation/o1/_history/v1", "Patient/p1"], ["Observation/o1/_history/v1", "Patient/p2"]]);
    }

    #[test]
    fn a_search_returning_patients_is_one_event_per_patient() {
        let mut r = record(Action::Interaction(Interaction::Search));
        r.patients.clear();
        r.resources = vec!["Patient/p1".into(), "Patient/p2".into(), "Organization/o".into()];
        let named: Vec<Vec<String>> = audit_events(&r)
            .iter()
            .map(|e| e["entity"].as_array().unwrap().iter().filter_map(|x| x["what"]["reference"].as_str().map(str::to_owned)).collect())
            .collect();
        assert_eq!(named, [vec!["Patient/p1", "Organization/o"], vec!["Patient/p2", "Organization/o"]]);
    }

    #[test]
    fn past_twenty_patients_one_event_names_none() {
        let mut r = record(Action::Interaction(Interaction::Create));
        r.resources = vec!["Group/g/_history/1".into()];
        r.patients = (0..2000).map(|i| format!("Patient/p{i}")).collect();
        let events = audit_events(&r);
        assert_eq!(events.len(), 1);
        let text = serde_json::to_string(&events[0]).unwrap();
        assert!(!text.contains("Patient/p") && text.contains("2000 Patients, not listed"), "{text}");
    }

    #[test]
    fn a_record_lists_at_most_a_thousand_resources_and_a_bounded_query() {
        let mut r = record(Action::Interaction(Interaction::Search));
        r.patients.clear();
        r.resources = (0..1500).map(|i| format!("Observation/o{i}")).collect();
        let query = format!("Observation?code={}", "é".repeat(3000));
        r.query = Some(bounded_query(&query));
        r.returned = Some(1500);
        let e = one(&r);
        let entities = e["entity"].as_array().unwrap();
        assert_eq!(entities.len(), MAX_LISTED + 1);
        let text = entities[MAX_LISTED]["description"].as_str().unwrap();
        assert!(text.len() < MAX_QUERY_BYTES + 32 && text.ends_with(&format!("… ({} bytes)", query.len())), "{text}");
        assert_eq!(entities[MAX_LISTED]["detail"][0]["valueString"], "1500");
    }

    #[test]
    fn a_record_survives_the_queue() {
        let mut r = record(Action::Interaction(Interaction::Search));
        r.query = Some("Observation?code=x".into());
        r.refusal = Some("22023 bad".into());
        let queued = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&queued).unwrap(), r);
        assert!(queued.len() < 400, "{} bytes: {queued}", queued.len());
    }

    #[test]
    fn a_sql_statement_is_a_system_wide_query() {
        let mut r = record(Action::Sql);
        r.resources.clear();
        r.patients.clear();
        r.query = Some("SELECT content FROM fhir.resources".into());
        let e = one(&r);
        assert_eq!((e["subtype"][0]["code"].as_str(), e["action"].as_str()), (Some("search-system"), Some("E")));
        assert_eq!(e["entity"][0]["description"], "SELECT content FROM fhir.resources");
    }

    #[test]
    fn references_carry_the_version_and_patients_come_from_compartments() {
        let doc = json!({"resourceType": "Observation", "id": "o1", "meta": {"versionId": "v2",
            "compartment": [{"reference": "Project/p"}, {"reference": "Patient/p1"}, {"reference": "Organization/o"}]}});
        assert_eq!(reference_of(&doc).as_deref(), Some("Observation/o1/_history/v2"));
        assert_eq!(patients_of(&doc), ["Patient/p1"]);
    }

    #[test]
    fn an_import_is_recorded_per_patient_naming_only_that_patients_resources() {
        let mut together = CreatedTogether::default();
        assert!(together.add("Patient/a/_history/1".into(), vec!["Patient/a".into()]).is_empty());
        together.add("Observation/1/_history/1".into(), vec!["Patient/a".into()]);
        together.add("Observation/2/_history/1".into(), vec!["Patient/b".into()]);
        together.add("Organization/o/_history/1".into(), vec![]);
        let records: Vec<CreatedRecord> = together.finish().collect();
        assert_eq!(
            records,
            vec![
                CreatedRecord { resources: vec!["Organization/o/_history/1".into()], patient: None },
                CreatedRecord {
                    resources: vec!["Patient/a/_history/1".into(), "Observation/1/_history/1".into()],
                    patient: Some("Patient/a".into())
                },
                CreatedRecord { resources: vec!["Observation/2/_history/1".into()], patient: Some("Patient/b".into()) },
            ]
        );
    }

    #[test]
    fn an_import_record_is_full_at_max_listed_and_the_next_starts_empty() {
        let mut together = CreatedTogether::default();
        let filled: Vec<CreatedRecord> = (0..=MAX_LISTED).flat_map(|n| together.add(format!("Basic/{n}"), vec![])).collect();
        assert_eq!(filled.len(), 1);
        assert_eq!(filled[0].resources.len(), MAX_LISTED);
        let rest: Vec<CreatedRecord> = together.finish().collect();
        assert_eq!(rest, vec![CreatedRecord { resources: vec![format!("Basic/{MAX_LISTED}")], patient: None }]);
    }

    #[test]
    fn a_resource_about_two_patients_is_in_both_records() {
        let mut together = CreatedTogether::default();
        together.add("Group/g".into(), vec!["Patient/a".into(), "Patient/b".into()]);
        let patients: Vec<Option<String>> = together.finish().map(|r| r.patient).collect();
        assert_eq!(patients, vec![Some("Patient/a".into()), Some("Patient/b".into())]);
    }
}
