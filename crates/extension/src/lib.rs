//! fhir_access: Medplum-style FHIR access control enforced inside PostgreSQL.
//!
//! The pure logic lives in the `fhir_access_core` and `fhirpath` crates; this
//! crate is the PostgreSQL shell around it: storage through SPI, the session's
//! membership, the SQL functions of API.md, and errors raised with API.md's
//! SQLSTATEs.

mod audit;
mod content_index;
mod drop_guard;
mod errors;
mod evaluate;
mod explain;
mod explain_guard;
mod import;
mod interactions;
mod invite;
mod jsonb;
mod lint;
mod maintenance;
mod operators;
#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;
mod search;
mod session;
mod storage;
mod unique_lookup;
mod version_gate;
mod versions;
mod who;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
pgrx::extension_sql_file!(
    "../sql/access.sql",
    name = "access",
    requires = [
        session::_session,
        session::_session_all_projects,
        session::_session_projects,
        session::_session_keys,
        session::_session_open_types,
        session::_session_match
    ]
);
pgrx::extension_sql_file!("../sql/clients.sql", name = "clients", requires = ["access"]);
pgrx::extension_sql_file!("../sql/view.sql", name = "view", finalize);
pgrx::extension_sql_file!("../sql/drop_guard.sql", name = "drop_guard", requires = ["access"]);
pgrx::extension_sql_file!(
    "../sql/search.sql",
    name = "search",
    requires = ["access", search::_search_sql, audit::_audits_search, audit::_audit_search]
);
pgrx::extension_sql_file!("../sql/content_index.sql", name = "content_index", requires = ["schema", content_index::_content_contains_sel]);
pgrx::extension_sql_file!("../sql/audit.sql", name = "audit", requires = ["access", audit::flush_audit]);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    session::define_settings();
    audit::install();
    content_index::install();
    unique_lookup::install();
    explain_guard::install();
    version_gate::install();
}

/// What `cargo pgrx test` needs: the library preloaded, as in production.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'fhir_access'"]
    }
}
