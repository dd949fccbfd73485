//! `fhir.import(ndjson)`: bulk loading. Each line is created exactly as
//! `fhir.create` creates it (validation, policy, ids, accounts, versions,
//! tokens, compartments), in line order, in the caller's transaction: a line
//! that is refused aborts the whole import, so nothing of it stays. The
//! import is one audit record, not one per line.

use crate::audit::{audited, Subject};
use crate::errors::OrRaise;
use crate::interactions::prepare_create;
use crate::session::{self, Caller};
use crate::versions;
use fhir_access_core::audit::{self, Action};
use fhir_access_core::import::{self, Ids};
use fhir_access_core::outcome::Result;
use fhir_access_core::policy::Interaction;
use pgrx::prelude::*;

/// A progress NOTICE every this many lines.
const PROGRESS_EVERY: usize = 10_000;

#[pg_extern]
fn import(ndjson: &str) -> i64 {
    let caller = session::caller();
    let imported = audited(Action::Interaction(Interaction::Create), Subject::default, import_all(&caller, ndjson), Imported::subject);
    imported.or_raise().count as i64
}

/// What an import created, as its audit record lists it.
#[derive(Default)]
struct Imported {
    count: usize,
    resources: Vec<String>,
    patients: Vec<String>,
}

impl Imported {
    fn subject(&self) -> Subject {
        Subject::created(self.resources.clone(), self.patients.clone(), self.count)
    }

    fn add(&mut self, content: &serde_json::Value) {
        self.count += 1;
        if self.resources.len() < audit::MAX_LISTED {
            self.resources.extend(audit::reference_of(content));
        }
        // Past MAX_PATIENT_EVENTS Patients the record lists none: one more is enough to know.
        for p in audit::patients_of(content) {
            if self.patients.len() <= audit::MAX_PATIENT_EVENTS && !self.patients.contains(&p) {
                self.patients.push(p);
            }
        }
    }
}

fn import_all(caller: &Caller, ndjson: &str) -> Result<Imported> {
    let ids = Ids::read(ndjson, matches!(caller, Caller::System), versions::random_uuid)?;
    let mut imported = Imported::default();
    for line in import::lines(ndjson) {
        let mut resource = import::parse(&line)?;
        ids.rewrite(&mut resource);
        let mapped = match (resource["resourceType"].as_str(), fhir_access_core::resource::id(&resource)) {
            (Some(resource_type), Some(old)) => ids.new_id(resource_type, old).map(str::to_owned),
            _ => None,
        };
        let created = prepare_create(caller, resource, || mapped.unwrap_or_else(versions::random_uuid))
            .map_err(|e| import::at_line(line.number, e))?;
        versions::store(&created.resource_type, &created.project_id, &created.version, true, false)
            .map_err(|e| import::at_line(line.number, e))?;
        imported.add(&created.version.content);
        if imported.count % PROGRESS_EVERY == 0 {
            notice!("fhir.import: {} resources created (line {})", imported.count, line.number);
        }
    }
    Ok(imported)
}
