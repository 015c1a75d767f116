//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (the built-in
//! kinds' merge keys and the `$patch`, `$setElementOrder`, `$retainKeys` and
//! `$deleteFromPrimitiveList` directives).

use serde_json::{Map, Value};

/// The patch types of `Content-Type` on PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
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

/// The merge key of the list `field` of the built-in kinds (None: the list is replaced whole);
/// `parent` is the field holding the object the list is in (container and Service `ports`
/// differ).
pub(crate) fn merge_key(parent: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            "containerPort"
        }
        "ports" => "port",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars merged as sets rather than replaced.
fn is_merged_scalar_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch of a built-in object.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    smp_value(target, patch, "");
}

fn smp_value(target: &mut Value, patch: &Value, field: &str) {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                *target = strip_directives(patch);
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            smp_object(target, p, field);
        }
        other => *target = strip_directives(other),
    }
}

fn smp_object(target: &mut Value, patch: &Map<String, Value>, field: &str) {
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        let Some(map) = target.as_object_mut() else {
            return;
        };
        match v {
            Value::Null => {
                map.remove(k);
            }
            Value::Object(item) if item.get("$patch").and_then(Value::as_str) == Some("delete") => {
                map.remove(k);
            }
            Value::Array(items) => {
                let current = map.remove(k).unwrap_or(Value::Null);
                let merged = smp_list(current, items, field, k);
                map.insert(k.clone(), merged);
            }
            _ => smp_value(map.entry(k.clone()).or_insert(Value::Null), v, k),
        }
    }
    for (k, v) in patch {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(have)), Value::Array(gone)) = (target.get_mut(list), v)
        {
            have.retain(|x| !gone.contains(x));
        }
    }
    for (k, v) in patch {
        if let (Some(list), Value::Array(order)) = (k.strip_prefix("$setElementOrder/"), v)
            && let Some(Value::Array(items)) = target.get_mut(list)
        {
            reorder(items, order, merge_key(field, list));
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys")
        && let Some(map) = target.as_object_mut()
    {
        map.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k)));
    }
}

fn smp_list(current: Value, items: &[Value], parent: &str, field: &str) -> Value {
    let replace = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let items: Vec<&Value> = items
        .iter()
        .filter(|i| i.get("$patch").is_none_or(|p| p != "replace"))
        .collect();
    let fresh = || {
        let kept = items
            .iter()
            .filter(|i| i.get("$patch").is_none_or(|p| p != "delete"));
        Value::Array(kept.map(|i| strip_directives(i)).collect())
    };
    let Value::Array(mut have) = current else {
        return fresh();
    };
    if replace {
        return fresh();
    }
    if is_merged_scalar_list(field) {
        for i in items {
            if !have.contains(i) {
                have.push(i.clone());
            }
        }
        return Value::Array(have);
    }
    let Some(key) = merge_key(parent, field) else {
        return Value::Array(items.iter().map(|i| strip_directives(i)).collect());
    };
    for item in items {
        let id = &item[key];
        let found = have.iter().position(|h| &h[key] == id);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (found, delete) {
            (Some(at), true) => {
                have.remove(at);
            }
            (None, true) => {}
            (Some(at), false) => smp_value(&mut have[at], item, field),
            (None, false) => have.push(strip_directives(item)),
        }
    }
    Value::Array(have)
}

/// Orders `items` as `order` lists them (by merge key, or by value for scalars); items the order
/// does not name keep their relative place after the named ones.
fn reorder(items: &mut [Value], order: &[Value], key: Option<&str>) {
    let rank = |item: &Value| {
        order
            .iter()
            .position(|o| match key {
                Some(k) => o[k] == item[k],
                None => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    items.sort_by_key(rank);
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
    fn strategic_merges_containers_by_name_and_orders_them() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"},
        ]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                "containers": [
                    {"name": "a", "env": [{"name": "Y", "value": "2"}]},
                    {"name": "b", "$patch": "delete"},
                    {"name": "c", "image": "c:1"},
                ],
            }}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "c", "image": "c:1"},
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            ]}})
        );
    }

    #[test]
    fn strategic_ports_key_on_container_port_and_service_port() {
        let mut t = json!({"spec": {
            "ports": [{"port": 80, "name": "http"}],
            "containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}],
        }});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {
                "ports": [{"port": 443, "name": "https"}],
                "containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
            }}),
        );
        assert_eq!(
            t["spec"]["ports"],
            json!([{"port": 80, "name": "http"}, {"port": 443, "name": "https"}])
        );
        assert_eq!(
            t["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
        );
    }

    #[test]
    fn strategic_replace_retain_keys_and_primitive_lists() {
        let mut t = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "args": ["x", "y"],
            "selector": {"matchLabels": {"a": "1", "b": "2"}},
        }});
        strategic_merge_patch(
            &mut t,
            &json!({
                "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                "spec": {
                    "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                    "args": ["z"],
                    "selector": {"$patch": "replace", "matchLabels": {"c": "3"}},
                },
            }),
        );
        assert_eq!(
            t,
            json!({"metadata": {"finalizers": ["b", "c"]}, "spec": {
                "strategy": {"type": "Recreate"},
                "args": ["z"],
                "selector": {"matchLabels": {"c": "3"}},
            }})
        );
    }

    #[test]
    fn strategic_delete_of_an_item_in_a_missing_list_adds_nothing() {
        let mut t = json!({"spec": {}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"volumes": [{"name": "v", "$patch": "delete"}, {"name": "w"}]}}),
        );
        assert_eq!(t, json!({"spec": {"volumes": [{"name": "w"}]}}));
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
