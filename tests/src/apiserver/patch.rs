//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge (as merge).

use serde_json::Value;

/// The patch types of `Content-Type` on PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`: merge semantics; `$` directives are dropped.
    Strategic,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchType {
    /// From the request's `Content-Type` (parameters ignored).
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/json-patch+json" => Some(Self::Json),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else { return };
    for (k, v) in patch_map {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch, approximated by a merge patch without the `$...` directive keys.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    merge_patch(target, &strip_directives(patch));
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 operations `add`, `remove`, `replace`, `move`, `copy`, `test`.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("operation without a path")?;
        match op["op"].as_str() {
            Some("add") => add(
                target,
                path,
                op.get("value").cloned().ok_or("add without a value")?,
            )?,
            Some("remove") => {
                remove(target, path)?;
            }
            Some("replace") => {
                remove(target, path)?;
                add(
                    target,
                    path,
                    op.get("value").cloned().ok_or("replace without a value")?,
                )?;
            }
            Some("move") => {
                let from = op["from"].as_str().ok_or("move without from")?;
                let v = remove(target, from)?;
                add(target, path, v)?;
            }
            Some("copy") => {
                let from = op["from"].as_str().ok_or("copy without from")?;
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("copy: missing {from}"))?;
                add(target, path, v)?;
            }
            Some("test") => {
                if target.pointer(path) != op.get("value") {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

fn parent_and_key(path: &str) -> Result<(&str, String), String> {
    let (parent, key) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid path {path:?}"))?;
    Ok((parent, key.replace("~1", "/").replace("~0", "~")))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, key) = parent_and_key(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let idx = if key == "-" {
                a.len()
            } else {
                key.parse().map_err(|_| format!("bad index in {path}"))?
            };
            if idx > a.len() {
                return Err(format!("index out of range in {path}"));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(format!("add: missing parent of {path}")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = parent_and_key(path)?;
    let removed = match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&key),
        Some(Value::Array(a)) => key
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| format!("remove: missing {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn strategic_drops_directives() {
        let mut t = json!({"spec": {"x": 1}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [], "y": 2}}),
        );
        assert_eq!(t, json!({"spec": {"x": 1, "y": 2}}));
    }

    #[test]
    fn json_patch_operations() {
        let mut t = json!({"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2]});
        json_patch(
            &mut t,
            &json!([
                {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "remove", "path": "/list/0"},
                {"op": "test", "path": "/list", "value": [2, 3]}
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"labels": {"a/b": "2"}}, "list": [2, 3]})
        );
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
