//! RFC 6902 JSON Patch, applied to a stored resource.

use crate::outcome::{FhirError, Result};
use crate::resource;
use json_patch::PatchOperation;
use serde_json::Value;

/// Applies `patch` to a copy of `resource`. A malformed patch, a bad path or a
/// failing `test` operation is a 400; a patch may not change the type or id.
/// The size and depth limits of a resource hold after every operation, so a
/// few `copy` operations cannot grow a document past memory or the stack.
pub fn apply(resource: &Value, patch: &Value) -> Result<Value> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| FhirError::invalid(format!("Invalid JSON Patch: {e}")))?;
    let mut patched = resource.clone();
    let mut size = resource::measure(resource);
    for op in &ops.0 {
        let placed = match op {
            PatchOperation::Add(a) => Some((resource::measure(&a.value), a.path.as_str(), true)),
            PatchOperation::Replace(r) => Some((resource::measure(&r.value), r.path.as_str(), true)),
            PatchOperation::Copy(c) => patched.pointer(c.from.as_str()).map(|v| (resource::measure(v), c.path.as_str(), true)),
            PatchOperation::Move(m) => patched.pointer(m.from.as_str()).map(|v| (resource::measure(v), m.path.as_str(), false)),
            PatchOperation::Remove(_) | PatchOperation::Test(_) => None,
        };
        if let Some((value, at, grows)) = placed {
            if grows {
                size.bytes += value.bytes;
            }
            size.depth = size.depth.max(at.matches('/').count() + value.depth);
            size.longest_number = size.longest_number.max(value.longest_number);
            resource::check_limits(size)?;
        }
        json_patch::patch(&mut patched, std::slice::from_ref(op)).map_err(|e| FhirError::invalid(format!("JSON Patch failed: {e}")))?;
    }
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

    #[test]
    fn copies_that_double_the_document_stop_at_the_size_limit() {
        let mut ops = vec![json!({"op": "add", "path": "/a", "value": ["x".repeat(1 << 20)]})];
        for _ in 0..80 {
            ops.push(json!({"op": "copy", "from": "/a", "path": "/a/0"}));
        }
        let e = apply(&patient(), &Value::Array(ops)).unwrap_err();
        assert!(e.message.contains("larger than"), "{}", e.message);
    }

    #[test]
    fn a_patch_result_deeper_than_the_limit_is_refused() {
        let mut deep = json!(1);
        for _ in 0..resource::MAX_DEPTH {
            deep = json!([deep]);
        }
        let e = apply(&patient(), &json!([{"op": "add", "path": "/extension", "value": deep}])).unwrap_err();
        assert!(e.message.contains("deeper than"), "{}", e.message);
    }
}
