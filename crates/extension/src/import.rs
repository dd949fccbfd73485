//! `fhir.import(ndjson)`: bulk loading. Each line is created exactly as
//! `fhir.create` creates it (validation, policy, ids, accounts, versions,
//! tokens, compartments), in line order, in the caller's transaction: a line
//! that is refused aborts the whole import, so nothing of it stays. The
//! audit trail records the import per Patient, not per line.

use crate::audit::{self, Subject};
use crate::errors::OrRaise;
use crate::interactions::{notify_findings, prepare_create};
use crate::session::{self, Caller};
use crate::{storage, versions};
use fhir_access_core::audit::{patients_of, reference_of, Action, CreatedTogether};
use fhir_access_core::import::{self, Ids};
use fhir_access_core::outcome::Result;
use fhir_access_core::policy::Interaction;
use pgrx::prelude::*;

/// A progress NOTICE every this many lines.
const PROGRESS_EVERY: usize = 10_000;

const CREATE: Action = Action::Interaction(Interaction::Create);

#[pg_extern]
fn import(ndjson: &str) -> i64 {
    let caller = session::caller();
    let imported = storage::memoized(|| import_all(&caller, ndjson));
    if let Err(e) = &imported {
        audit::record(&caller, CREATE, Subject::default(), Some(e));
    }
    imported.or_raise() as i64
}

fn import_all(caller: &Caller, ndjson: &str) -> Result<usize> {
    let ids = Ids::read(ndjson, matches!(caller, Caller::System), versions::random_uuid)?;
    let (mut count, mut together) = (0, CreatedTogether::default());
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
        let content = &created.version.content;
        notify_findings(content);
        for full in together.add(reference_of(content).expect("stamped"), patients_of(content)) {
            audit::record(caller, CREATE, Subject::created(full), None);
        }
        count += 1;
        if count % PROGRESS_EVERY == 0 {
            notice!("fhir.import: {count} resources created (line {})", line.number);
        }
    }
    for rest in together.finish() {
        audit::record(caller, CREATE, Subject::created(rest), None);
    }
    Ok(count)
}
