//! `cargo pgrx test`: the shell's own workings, inside a backend. The SQL
//! specification (tests/sql, run by scripts/test.sh) states the product's
//! behaviour through SQL as client roles; these tests reach below it, into the
//! Rust functions row-level security calls, the session's snapshot, the
//! redaction of one datum, the SPI paths and how errors are reported.

#[pgrx::pg_schema]
mod tests {
    use crate::errors::raise;
    use crate::session;
    use fhir_access_core::outcome::FhirError;
    use pgrx::pg_sys::panic::CaughtError;
    use pgrx::prelude::*;
    use serde_json::Value;

    /// One project with a Patient, a nurse whose policy hides `birthDate`, and
    /// `pt_nurse`, a client role bound to the nurse's membership. Returns the
    /// membership id.
    fn clinic() -> String {
        Spi::run(
            r#"
            SELECT fhir.create('{"resourceType": "Project", "id": "pt", "name": "PT"}');
            SELECT fhir.create('{"resourceType": "Project", "id": "other", "name": "Other"}');
            SELECT fhir.create('{"resourceType": "Patient", "id": "pt1", "birthDate": "1970-01-01", "gender": "female", "meta": {"project": "pt"}}');
            SELECT fhir.create('{"resourceType": "Patient", "id": "elsewhere", "meta": {"project": "other"}}');
            SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "nurse", "meta": {"project": "pt"},
                                 "resource": [{"resourceType": "Patient", "hiddenFields": ["birthDate"]}]}');
            CREATE ROLE pt_nurse;
            SELECT fhir.grant_client('pt_nurse');
            "#,
        )
        .expect("the clinic loads");
        let membership = Spi::get_one::<String>(
            r#"SELECT fhir.invite('pt', '{"resourceType": "Practitioner", "firstName": "Nia", "email": "nia@example.org",
                                          "membership": {"accessPolicy": {"reference": "AccessPolicy/nurse"}}}')->>'id'"#,
        )
        .expect("invite runs")
        .expect("invite returns the membership");
        Spi::run_with_args("SELECT fhir.bind_role('pt_nurse', $1)", &[membership.as_str().into()]).expect("bind_role runs");
        membership
    }

    fn as_nurse<T>(f: impl FnOnce() -> T) -> T {
        Spi::run("SET LOCAL ROLE pt_nurse").expect("SET ROLE");
        let result = f();
        Spi::run("RESET ROLE").expect("RESET ROLE");
        result
    }

    /// The session handle a statement's row-level security would get.
    fn session_handle() -> String {
        Spi::get_one::<String>("SELECT fhir._session()").expect("_session runs").expect("a handle")
    }

    /// The SQLSTATE and DETAIL of the error `sql` raises, caught in a
    /// subtransaction so that the test's transaction goes on.
    fn error_of(sql: &str) -> (String, Value) {
        Spi::run(
            "CREATE OR REPLACE FUNCTION pg_temp.error_of(sql text, OUT state text, OUT detail text)
             LANGUAGE plpgsql AS $$
             BEGIN
                 EXECUTE sql;
             EXCEPTION WHEN OTHERS THEN
                 GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
             END $$",
        )
        .expect("the helper is created");
        let (state, detail) =
            Spi::get_two_with_args::<String, String>("SELECT * FROM pg_temp.error_of($1)", &[sql.into()]).expect("error_of runs");
        let detail = detail.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))).unwrap_or(Value::Null);
        (state.unwrap_or_else(|| "no error".to_owned()), detail)
    }

    #[pg_test]
    fn a_raised_fhir_error_carries_the_api_sqlstate_and_an_operation_outcome() {
        let caught =
            PgTryBuilder::new(|| -> Option<(PgSqlErrorCode, Option<String>)> { raise(FhirError::forbidden("no entry grants it")) })
                .catch_others(|error| match error {
                    CaughtError::ErrorReport(report) | CaughtError::PostgresError(report) => {
                        Some((report.sql_error_code(), report.detail().map(str::to_owned)))
                    }
                    _ => None,
                })
                .execute();
        let (code, detail) = caught.expect("raise reports an error");
        assert_eq!(code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
        let outcome: Value = serde_json::from_str(&detail.expect("a DETAIL")).expect("the DETAIL is JSON");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "forbidden");
        assert_eq!(outcome["issue"][0]["details"]["text"], "no entry grants it");
    }

    #[pg_test]
    fn the_system_session_sees_every_project_and_every_type() {
        let handle = session_handle();
        assert!(session::_session_all_projects(&handle));
        assert!(!session::_session_redacts(&handle));
        assert!(session::_session_keys(&handle, "read").contains(&"_type=Patient".to_owned()));
    }

    #[pg_test]
    fn a_bound_client_session_admits_its_project_only() {
        clinic();
        // A handle answers only for the role that took it: the calls stay inside SET ROLE.
        as_nurse(|| {
            let handle = session_handle();
            assert!(!session::_session_all_projects(&handle));
            assert_eq!(session::_session_projects(&handle), vec!["pt".to_owned()]);
            assert!(session::_session_keys(&handle, "read").contains(&"_type=Patient".to_owned()));
            assert!(session::_session_redacts(&handle), "the nurse's policy hides a field");
        });
    }

    #[pg_test]
    fn a_session_handle_taken_by_a_client_grants_nothing_to_another_role() {
        clinic();
        let handle = as_nurse(session_handle);
        Spi::run("CREATE ROLE pt_other; SELECT fhir.grant_client('pt_other')").expect("another client");
        Spi::run("SET LOCAL ROLE pt_other").expect("SET ROLE");
        assert!(session::_session_projects(&handle).is_empty());
        assert!(session::_session_keys(&handle, "read").is_empty());
        Spi::run("RESET ROLE").expect("RESET ROLE");
    }

    #[pg_test]
    fn an_unknown_interaction_code_is_an_invalid_request() {
        clinic();
        let (state, detail) = as_nurse(|| error_of("SELECT fhir._session_keys(fhir._session(), 'teleport')"));
        assert_eq!(state, "22023");
        assert_eq!(detail["issue"][0]["details"]["text"], "Unknown interaction 'teleport'");
    }

    #[pg_test]
    fn a_bound_membership_is_current_without_asking() {
        let membership = clinic();
        let current = as_nurse(|| Spi::get_one::<String>("SELECT fhir.current_membership()")).expect("current_membership runs");
        assert_eq!(current, Some(format!("ProjectMembership/{membership}")));
    }

    #[pg_test]
    fn set_membership_is_refused_for_a_membership_not_bound_to_the_client() {
        clinic();
        let doctor = Spi::get_one::<String>(
            r#"SELECT fhir.invite('pt', '{"resourceType": "Practitioner", "firstName": "Dee", "email": "dee@example.org"}')->>'id'"#,
        )
        .expect("invite runs")
        .expect("a membership");
        let (state, _) = as_nurse(|| error_of(&format!("SELECT fhir.set_membership('{doctor}')")));
        assert_eq!(state, "42501");
    }

    #[pg_test]
    fn redacting_a_datum_removes_the_hidden_field_and_keeps_the_rest() {
        clinic();
        let (tokens, content) =
            Spi::get_two::<Vec<String>, pgrx::JsonB>("SELECT tokens, content FROM fhir.resource WHERE id = 'pt1'").expect("the stored row");
        let (tokens, content) = (tokens.expect("tokens"), content.expect("content").0);
        let redacted = as_nurse(|| {
            Spi::get_one_with_args::<pgrx::JsonB>(
                "SELECT fhir._redact(fhir._session(), 'Patient', $1, $2)",
                &[tokens.into(), pgrx::JsonB(content.clone()).into()],
            )
        })
        .expect("_redact runs")
        .expect("a document")
        .0;
        assert!(redacted.get("birthDate").is_none());
        assert_eq!(redacted["gender"], "female");
        assert_eq!(content["birthDate"], "1970-01-01", "the stored document keeps it");
    }

    #[pg_test]
    fn reads_through_spi_stop_at_the_project_wall() {
        clinic();
        let own = as_nurse(|| Spi::get_one::<pgrx::JsonB>("SELECT fhir.read('Patient', 'pt1')")).expect("read runs").expect("a document").0;
        assert_eq!(own["id"], "pt1");
        assert!(own.get("birthDate").is_none(), "read redacts as the view does");
        let (state, detail) = as_nurse(|| error_of("SELECT fhir.read('Patient', 'elsewhere')"));
        assert_eq!(state, "P0002", "another project's resource is not found");
        assert_eq!(detail["issue"][0]["code"], "not-found");
        let seen = as_nurse(|| Spi::get_one::<i64>("SELECT count(*) FROM fhir.resources WHERE id = 'elsewhere'")).expect("count runs");
        assert_eq!(seen, Some(0));
    }

    #[pg_test]
    fn explain_analyze_is_refused_to_a_client() {
        clinic();
        let (state, _) = as_nurse(|| error_of("EXPLAIN ANALYZE SELECT 1"));
        assert_eq!(state, "42501");
    }

    #[pg_test]
    fn the_installed_extension_matches_the_library() {
        let installed =
            Spi::get_one::<String>("SELECT extversion FROM pg_extension WHERE extname = 'fhir_access'").expect("the catalog answers");
        assert_eq!(installed.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }
}
