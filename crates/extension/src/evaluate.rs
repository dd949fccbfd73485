//! `fhir.fhirpath(resource, expression, variables)`: the FHIRPath engine as SQL.

use crate::errors::raise;
use crate::jsonb::Document;
use fhir_access_core::outcome::FhirError;
use pgrx::prelude::*;
use serde_json::Value;

/// Evaluates `expression` over `resource` and returns the result collection as
/// a JSON array. `variables` binds `%name`: `{"before": {...}}` gives `%before`;
/// a JSON array binds a collection (`[]` is empty) and `null` binds empty.
/// Stable, not immutable: `now()` and `today()` read the clock.
#[pg_extern(stable, parallel_safe)]
fn fhirpath(resource: Document, expression: &str, variables: default!(Document, "'{}'")) -> Document {
    let expr =
        fhirpath::parse_cached(expression).unwrap_or_else(|e| raise(FhirError::invalid(format!("Invalid FHIRPath expression: {e}"))));
    let Value::Object(vars) = &variables.0 else {
        raise(FhirError::invalid("FHIRPath variables must be a JSON object"));
    };
    let mut env = fhirpath::Environment::new();
    for (name, value) in vars {
        match value {
            Value::Array(items) => env.set_variable(name, items),
            Value::Null => env.set_variable(name, []),
            single => env.set_variable(name, [single]),
        }
    }
    let result = expr.evaluate(&resource.0, &env).unwrap_or_else(|e| raise(FhirError::invalid(format!("FHIRPath evaluation failed: {e}"))));
    Document(result.to_json())
}
