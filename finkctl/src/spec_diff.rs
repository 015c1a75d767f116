//! What applying a rendered SparkApplication would change in the live one (`run --diff`),
//! computed locally from a GET, as server-side apply would merge it: every field of the
//! rendered object is set (added or changed), and a field finkctl's field manager set before
//! (`metadata.managedFields`) that the rendered object no longer has is removed. Fields other
//! managers own (the operator's defaults, `spec.suspend`) are left alone, as apply leaves them.
//! Lists are atomic (as in the SparkApplication CRD). Any change under `spec` restarts the
//! application: the operator invalidates and resubmits it (kubeflow/spark-operator #345).

use serde::Serialize;
use serde_json::{Map, Value};

/// What happens to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Op {
    /// Set where there was nothing.
    Add,
    /// Set to another value.
    Change,
    /// Removed (it was finkctl's, and is no longer rendered).
    Remove,
}

/// One field that would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Change {
    /// `spec.driver.memory`, `spec.sparkConf["spark.hadoop.fs.s3a.endpoint"]`.
    pub(crate) path: String,
    /// What happens to it.
    pub(crate) op: Op,
    /// The live value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) live: Option<Value>,
    /// The rendered value.
    #[serde(skip_serializing_if = "Option::is_none", rename = "new")]
    pub(crate) rendered: Option<Value>,
    /// Whether the change restarts the application.
    pub(crate) restarts: bool,
}

/// The changes from `live` (None: it does not exist) to `rendered`, for the fields under
/// `metadata.labels`, `metadata.annotations` and `spec`; `manager` is finkctl's field manager.
pub(crate) fn diff(live: Option<&Value>, rendered: &Value, manager: &str) -> Vec<Change> {
    let empty = Value::Null;
    let live = live.unwrap_or(&empty);
    let mut changes = Vec::new();
    let mut rendered_leaves = Vec::new();
    for root in [
        &["metadata", "labels"][..],
        &["metadata", "annotations"],
        &["spec"],
    ] {
        let path: Vec<String> = root.iter().map(|s| s.to_string()).collect();
        leaves(at(rendered, &path), &path, &mut rendered_leaves);
    }
    for (path, value) in &rendered_leaves {
        let op = match at(live, path) {
            Value::Null => Op::Add,
            old if old == *value => continue,
            _ => Op::Change,
        };
        let old = at(live, path);
        changes.push(change(
            path,
            op,
            (!old.is_null()).then(|| old.clone()),
            Some((*value).clone()),
        ));
    }
    let owned = owned_fields(live, manager);
    let mut owned_leaves = Vec::new();
    field_leaves(&owned, &mut Vec::new(), &mut owned_leaves);
    for path in owned_leaves {
        let in_scope = path.first().is_some_and(|p| p == "spec")
            || (path.first().is_some_and(|p| p == "metadata")
                && path
                    .get(1)
                    .is_some_and(|p| p == "labels" || p == "annotations"));
        let old = at(live, &path);
        if in_scope && !old.is_null() && at(rendered, &path).is_null() {
            changes.push(change(&path, Op::Remove, Some(old.clone()), None));
        }
    }
    changes
}

fn change(path: &[String], op: Op, live: Option<Value>, rendered: Option<Value>) -> Change {
    Change {
        path: show_path(path),
        op,
        live,
        rendered,
        restarts: path.first().is_some_and(|p| p == "spec"),
    }
}

fn at<'a>(value: &'a Value, path: &[String]) -> &'a Value {
    static NULL: Value = Value::Null;
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .unwrap_or(&NULL)
}

/// Every leaf (scalar or list) under `value`, with its path.
fn leaves<'a>(value: &'a Value, path: &[String], out: &mut Vec<(Vec<String>, &'a Value)>) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let mut deeper = path.to_vec();
                deeper.push(key.clone());
                leaves(inner, &deeper, out);
            }
        }
        _ => out.push((path.to_vec(), value)),
    }
}

/// The `fieldsV1` of `manager`'s apply entries in the live object's `managedFields`.
fn owned_fields(live: &Value, manager: &str) -> Map<String, Value> {
    let mut owned = Map::new();
    for entry in live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if entry["manager"] == manager
            && entry["operation"] == "Apply"
            && let Some(fields) = entry["fieldsV1"].as_object()
        {
            owned.extend(fields.clone());
        }
    }
    owned
}

/// The leaf paths of a `fieldsV1` set (`f:<name>` keys; a leaf has no `f:` child).
fn field_leaves(fields: &Map<String, Value>, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, inner) in fields {
        let Some(name) = key.strip_prefix("f:") else {
            continue;
        };
        path.push(name.to_string());
        match inner.as_object() {
            Some(map) if map.keys().any(|k| k.starts_with("f:")) => field_leaves(map, path, out),
            _ => out.push(path.clone()),
        }
        path.pop();
    }
}

/// `spec.driver.memory`; keys with dots or slashes in brackets.
fn show_path(path: &[String]) -> String {
    let mut text = String::new();
    for key in path {
        if key.contains(['.', '/']) {
            text.push_str(&format!("[{key:?}]"));
        } else {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(key);
        }
    }
    text
}

/// The changes as lines: `~ spec.image: "a" -> "b"  (restarts)`.
pub(crate) fn lines(changes: &[Change]) -> Vec<String> {
    let show = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    changes
        .iter()
        .map(|c| {
            let text = match c.op {
                Op::Add => format!("+ {}: {}", c.path, show(&c.rendered)),
                Op::Change => format!("~ {}: {} -> {}", c.path, show(&c.live), show(&c.rendered)),
                Op::Remove => format!("- {}: {}", c.path, show(&c.live)),
            };
            if c.restarts {
                format!("{text}  (restarts)")
            } else {
                text
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_changes_and_removes_only_what_the_manager_owned() {
        let live = json!({
            "metadata": {"labels": {"fink.astrolabsoftware.org/task": "distribution"},
                "managedFields": [
                    {"manager": "fm", "operation": "Apply", "fieldsV1": {"f:spec": {
                        "f:image": {}, "f:volumes": {}, "f:sparkConf": {".": {}, "f:spark.a": {}}}}},
                    {"manager": "other", "operation": "Apply", "fieldsV1": {"f:spec": {"f:suspend": {}}}},
                ]},
            "spec": {"image": "img:1", "volumes": [1], "mode": "cluster", "suspend": true,
                     "sparkConf": {"spark.a": "1"}},
        });
        let rendered = json!({
            "metadata": {"labels": {"fink.astrolabsoftware.org/task": "distribution"}},
            "spec": {"image": "img:2", "sparkConf": {"spark.a": "1"}, "driver": {"memory": "2Gi"}},
        });
        let changes = diff(Some(&live), &rendered, "fm");
        assert_eq!(
            lines(&changes),
            [
                "+ spec.driver.memory: \"2Gi\"  (restarts)",
                "~ spec.image: \"img:1\" -> \"img:2\"  (restarts)",
                "- spec.volumes: [1]  (restarts)",
            ]
        );
        assert!(diff(Some(&rendered), &rendered, "fm").is_empty());
        let created = diff(None, &rendered, "fm");
        assert!(created.iter().all(|c| c.op == Op::Add));
        assert_eq!(
            created[0].path,
            "metadata.labels[\"fink.astrolabsoftware.org/task\"]"
        );
        assert!(!created[0].restarts);
    }
}
