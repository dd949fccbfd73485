//! RFC 6902 JSON Patch, applied to a stored resource.

use crate::outcome::{FhirError, Result};
use serde_json::Value;

/// Applies `patch` to a copy of `resource`. A malformed patch, a bad path or a
/// failing `test` operation is a 400; a patch may not change the type or id.
pub fn apply(resource: &Value, patch: &Value) -> Result<Value> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| FhirError::invalid(format!("Invalid JSON Patch: {e}")))?;
    let mut patched = resource.clone();
    json_patch::patch(&mut patched, &ops).map_err(|e| FhirError::invalid(format!("JSON Patch failed: {e}")))?;
    for key in ["resourceType", "id"] {
        if patched.get(key) != resource.get(key) {
            return Err(FhirError::invalid(format!("JSON Patch may not change {key}")).at(key));
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient() -> Value {
        json!({"resourceType": "Patient", "id": "p1", "active": true, "name": [{"family": "Smith"}]})
    }

    #[test]
    fn applies_add_replace_and_remove() {
        let p = apply(
            &patient(),
            &json!([
                {"op": "replace", "path": "/active", "value": false},
                {"op": "add", "path": "/name/0/given", "value": ["Ann"]},
                {"op": "remove", "path": "/name/0/family"}
            ]),
        )
        .unwrap();
        assert_eq!(p, json!({"resourceType": "Patient", "id": "p1", "active": false, "name": [{"given": ["Ann"]}]}));
    }

    #[test]
    fn failing_test_operation_is_invalid() {
        let e = apply(&patient(), &json!([{"op": "test", "path": "/active", "value": false}])).unwrap_err();
        assert_eq!(e.kind, crate::outcome::ErrorKind::Invalid);
    }

    #[test]
    fn bad_path_is_invalid() {
        let e = apply(&patient(), &json!([{"op": "remove", "path": "/nope/0"}])).unwrap_err();
        assert_eq!(e.kind, crate::outcome::ErrorKind::Invalid);
    }

    #[test]
    fn malformed_patch_document_is_invalid() {
        for bad in [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}]), json!([{"path": "/a"}])] {
            assert_eq!(apply(&patient(), &bad).unwrap_err().kind, crate::outcome::ErrorKind::Invalid);
        }
    }

    #[test]
    fn patch_may_not_change_id_or_type() {
        let e = apply(&patient(), &json!([{"op": "replace", "path": "/id", "value": "p2"}])).unwrap_err();
        assert!(e.message.contains("id"));
        let e = apply(&patient(), &json!([{"op": "replace", "path": "/resourceType", "value": "Group"}])).unwrap_err();
        assert!(e.message.contains("resourceType"));
    }
}
