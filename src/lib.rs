//! fhir_access: Medplum-style FHIR access control enforced inside PostgreSQL.
//!
//! The pure logic lives in the `fhir_access_core` and `fhirpath` crates; this
//! crate is the PostgreSQL shell around it: storage through SPI, the SQL
//! functions of API.md, and errors raised with API.md's SQLSTATEs.

mod errors;
mod evaluate;
mod interactions;
mod jsonb;
mod storage;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
pgrx::extension_sql_file!("../sql/view.sql", name = "view", finalize);
