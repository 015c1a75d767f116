//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Ownership is tracked per leaf field. The keyed lists of the built-in kinds (containers by name,
//! ports, volumes, env...: the strategic-merge keys) are associative: each item is a path segment
//! `k:{"name":"x"}`, so two managers can own different items of one list. Other lists, and every
//! list of a custom resource, are atomic (one leaf).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::clock::now_rfc3339;
use super::patch::merge_key;
use super::resources::is_builtin_api_kind;
use super::status::ApiError;

/// A field path, one segment per map key.
pub(crate) type FieldPath = Vec<String>;

/// Metadata fields that nobody owns.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Leaf paths of an object, without `apiVersion`, `kind` and system metadata.
pub(crate) fn leaf_paths(obj: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let keyed = is_builtin_api_kind(
        obj["apiVersion"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
    );
    if let Value::Object(m) = obj {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    if let Value::Object(meta) = v {
                        for (mk, mv) in meta
                            .iter()
                            .filter(|(mk, _)| !SYSTEM_METADATA.contains(&mk.as_str()))
                        {
                            collect(mv, vec!["metadata".into(), mk.clone()], keyed, &mut out);
                        }
                    }
                }
                _ => collect(v, vec![k.clone()], keyed, &mut out),
            }
        }
    }
    out
}

fn collect(v: &Value, path: FieldPath, keyed: bool, out: &mut BTreeSet<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, keyed, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let key = keyed.then(|| list_key(&path)).flatten();
            match key.filter(|k| items.iter().all(|i| i.get(*k).is_some())) {
                Some(key) => {
                    for item in items {
                        let mut p = path.clone();
                        p.push(item_segment(key, &item[key]));
                        collect(item, p, keyed, out);
                    }
                }
                None => {
                    out.insert(path);
                }
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The merge key of the list at `path` (its field, and the field holding the list's object).
fn list_key(path: &[String]) -> Option<&'static str> {
    let (field, parents) = path.split_last()?;
    let parent = parents
        .iter()
        .rev()
        .find(|s| !s.starts_with("k:"))
        .map_or("", String::as_str);
    merge_key(parent, field)
}

/// `k:{"name":"x"}`: the path segment of a keyed list item.
fn item_segment(key: &str, value: &Value) -> String {
    format!("k:{}", json!({ key: value }))
}

/// The key field and value a `k:{...}` segment names.
fn parse_item_segment(segment: &str) -> Option<(String, Value)> {
    let Value::Object(m) = serde_json::from_str(segment.strip_prefix("k:")?).ok()? else {
        return None;
    };
    m.into_iter().next()
}

fn child<'a>(cur: &'a Value, segment: &str) -> Option<&'a Value> {
    match parse_item_segment(segment) {
        Some((k, v)) => cur.as_array()?.iter().find(|i| i[&k] == v),
        None => cur.get(segment),
    }
}

fn child_mut<'a>(cur: &'a mut Value, segment: &str) -> Option<&'a mut Value> {
    match parse_item_segment(segment) {
        Some((k, v)) => cur.as_array_mut()?.iter_mut().find(|i| i[&k] == v),
        None => cur.get_mut(segment),
    }
}

/// A field path as conflicts name it: `.spec.containers[name="app"].image`.
fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|s| match parse_item_segment(s) {
            Some((k, v)) => format!("[{k}={v}]"),
            None => format!(".{s}"),
        })
        .collect()
}

fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, k| child(cur, k))
}

fn set_at(obj: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for (i, k) in parents.iter().enumerate() {
        let next_is_item = path[i + 1].starts_with("k:");
        if let Some((key, id)) = parse_item_segment(k) {
            if !cur.is_array() {
                *cur = json!([]);
            }
            let items = cur.as_array_mut().unwrap_or_else(|| unreachable!());
            let at = match items.iter().position(|item| item[&key] == id) {
                Some(at) => at,
                None => {
                    items.push(json!({ key: id }));
                    items.len() - 1
                }
            };
            cur = &mut items[at];
            continue;
        }
        let fits = cur.get(k).is_some_and(|v| {
            if next_is_item {
                v.is_array()
            } else {
                v.is_object()
            }
        });
        if !fits {
            cur[k.as_str()] = if next_is_item { json!([]) } else { json!({}) };
        }
        cur = &mut cur[k.as_str()];
    }
    cur[last.as_str()] = value;
}

/// Removes a field; removing the key field of a keyed list item removes the item.
fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some((item, list)) = parents.split_last()
        && let Some((key, id)) = parse_item_segment(item)
        && *last == key
    {
        if let Some(Value::Array(items)) =
            list.iter().try_fold(&mut *obj, |cur, k| child_mut(cur, k))
        {
            items.retain(|i| i[&key] != id);
        }
        return;
    }
    if let Some(Value::Object(m)) = parents
        .iter()
        .try_fold(&mut *obj, |cur, k| child_mut(cur, k))
    {
        m.remove(last);
    }
}

/// Whether applying `p` takes over a field `q` someone owns: the same field, an ancestor or a
/// descendant, except that applying an empty map keeps the owned fields inside it.
fn contends(applied: &Value, p: &[String], q: &[String]) -> bool {
    let empty_map = value_at(applied, p)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty);
    overlaps(p, q) && !(empty_map && q.len() > p.len())
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: BTreeSet<FieldPath>,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj["metadata"]["managedFields"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let mut fields = BTreeSet::new();
            decode_fields(&e["fieldsV1"], Vec::new(), &mut fields);
            Entry {
                manager: e["manager"].as_str().unwrap_or_default().into(),
                operation: e["operation"].as_str().unwrap_or("Update").into(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
                time: e["time"].as_str().unwrap_or_default().into(),
                subresource: e["subresource"].as_str().map(String::from),
                fields,
            }
        })
        .collect()
}

fn decode_fields(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    let Value::Object(m) = v else { return };
    let leaf = m.is_empty()
        || m.keys()
            .any(|k| k == "." || k.starts_with("v:") || k.starts_with("i:"));
    if leaf && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, child) in m {
        let segment = match k.strip_prefix("f:") {
            Some(name) => name.to_string(),
            None if k.starts_with("k:") => k.clone(),
            None => continue,
        };
        let mut p = path.clone();
        p.push(segment);
        decode_fields(child, p, out);
    }
}

fn encode_fields(fields: &BTreeSet<FieldPath>) -> Value {
    let mut root = Value::Object(Map::new());
    for path in fields {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .as_object_mut()
                .map(|m| {
                    let segment = if k.starts_with("k:") {
                        k.clone()
                    } else {
                        format!("f:{k}")
                    };
                    m.entry(segment).or_insert_with(|| json!({}))
                })
                .unwrap_or_else(|| unreachable!());
        }
    }
    root
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode_fields(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(list);
    }
}

/// Who writes, and through which API version and subresource.
#[derive(Debug, Clone)]
pub(crate) struct Writer<'a> {
    pub(crate) manager: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) subresource: Option<&'a str>,
}

/// Records an `Update` (create, PUT, non-apply PATCH): the writer takes the fields it changed.
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let changed: BTreeSet<FieldPath> = leaf_paths(new)
        .into_iter()
        .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .collect();
    for e in entries.iter_mut() {
        e.fields.retain(|p| value_at(new, p).is_some());
        if !e.same_owner(w.manager, "Update", w.subresource) {
            e.fields.retain(|p| !changed.iter().any(|c| overlaps(c, p)));
        }
    }
    if !changed.is_empty() {
        let now = now_rfc3339();
        match entries
            .iter_mut()
            .find(|e| e.same_owner(w.manager, "Update", w.subresource))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now;
                e.api_version = w.api_version.into();
            }
            None => entries.push(Entry {
                manager: w.manager.into(),
                operation: "Update".into(),
                api_version: w.api_version.into(),
                time: now,
                subresource: w.subresource.map(String::from),
                fields: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

/// Server-side apply of `applied` over `current` (None: the object is created).
///
/// Conflicts (a field another manager owns, with a different value) fail with 409 unless `force`,
/// which takes the fields over. Fields this manager applied before and no longer applies are
/// removed unless another manager also owns them.
pub(crate) fn server_side_apply(
    current: Option<&Value>,
    applied: &Value,
    w: &Writer<'_>,
    force: bool,
) -> Result<Value, ApiError> {
    let applied_paths = leaf_paths(applied);
    let mut entries = current.map(read_entries).unwrap_or_default();
    let mut new = current.cloned().unwrap_or_else(|| json!({}));
    if let Some(cur) = current {
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for e in entries
            .iter()
            .filter(|e| !e.same_owner(w.manager, "Apply", w.subresource))
        {
            for p in &applied_paths {
                if e.fields.iter().any(|q| contends(applied, p, q))
                    && value_at(cur, p) != value_at(applied, p)
                {
                    conflicts.push((manager_label(e), display_path(p)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(&conflicts));
        }
        if force {
            for e in entries
                .iter_mut()
                .filter(|e| !e.same_owner(w.manager, "Apply", w.subresource))
            {
                e.fields
                    .retain(|q| !applied_paths.iter().any(|p| contends(applied, p, q)));
            }
        }
        let previous: BTreeSet<FieldPath> = entries
            .iter()
            .find(|e| e.same_owner(w.manager, "Apply", w.subresource))
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        for r in previous.difference(&applied_paths) {
            let kept_by_others = entries
                .iter()
                .filter(|e| !e.same_owner(w.manager, "Apply", w.subresource))
                .any(|e| e.fields.iter().any(|q| overlaps(q, r)));
            if !kept_by_others && !applied_paths.iter().any(|p| p.starts_with(r)) {
                remove_at(&mut new, r);
            }
        }
    }
    for k in ["apiVersion", "kind"] {
        if let Some(v) = applied.get(k) {
            new[k] = v.clone();
        }
    }
    for k in ["name", "namespace", "generateName"] {
        if let Some(v) = applied["metadata"].get(k) {
            new["metadata"][k] = v.clone();
        }
    }
    for p in &applied_paths {
        let Some(v) = value_at(applied, p) else {
            continue;
        };
        let empty_map = v.as_object().is_some_and(Map::is_empty);
        if !(empty_map && value_at(&new, p).is_some_and(Value::is_object)) {
            set_at(&mut new, p, v.clone());
        }
    }
    let now = now_rfc3339();
    match entries
        .iter_mut()
        .find(|e| e.same_owner(w.manager, "Apply", w.subresource))
    {
        Some(e) => {
            if e.fields != applied_paths || value_changed(current, &new) {
                e.time = now;
            }
            e.fields = applied_paths;
            e.api_version = w.api_version.into();
        }
        None => entries.push(Entry {
            manager: w.manager.into(),
            operation: "Apply".into(),
            api_version: w.api_version.into(),
            time: now,
            subresource: w.subresource.map(String::from),
            fields: applied_paths,
        }),
    }
    for e in entries.iter_mut() {
        e.fields.retain(|p| value_at(&new, p).is_some());
    }
    write_entries(&mut new, &entries);
    Ok(new)
}

fn value_changed(current: Option<&Value>, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        v
    };
    current.is_none_or(|c| strip(c) != strip(new))
}

/// How a real server names a conflicting manager: `"name"` for an Apply manager, `"name" using
/// <apiVersion>[ at <time>]` for an Update manager.
fn manager_label(e: &Entry) -> String {
    match (e.operation.as_str(), e.time.as_str()) {
        ("Apply", _) => format!("{:?}", e.manager),
        (_, "") => format!("{:?} using {}", e.manager, e.api_version),
        (_, time) => format!("{:?} using {} at {time}", e.manager, e.api_version),
    }
}

fn conflict_error(conflicts: &[(String, String)]) -> ApiError {
    let n = conflicts.len();
    let mut managers: Vec<&str> = Vec::new();
    for (m, _) in conflicts {
        if !managers.contains(&m.as_str()) {
            managers.push(m);
        }
    }
    let body = if n == 1 {
        let (m, f) = &conflicts[0];
        format!("conflict with {m}: {f}")
    } else {
        managers
            .iter()
            .map(|m| {
                let fields: Vec<String> = conflicts
                    .iter()
                    .filter(|c| c.0 == *m)
                    .map(|c| format!("- {}", c.1))
                    .collect();
                format!("conflicts with {m}:\n{}", fields.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, f)| json!({"type": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": f}))
        .collect();
    ApiError::conflict_with(
        format!(
            "Apply failed with {n} conflict{}: {body}",
            if n == 1 { "" } else { "s" }
        ),
        json!({ "causes": causes }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            subresource: None,
        }
    }

    #[test]
    fn fields_round_trip_through_fields_v1() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
        let paths = leaf_paths(&obj);
        assert_eq!(paths.len(), 2);
        let enc = encode_fields(&paths);
        assert_eq!(
            enc,
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:k": {}}})
        );
        let mut back = BTreeSet::new();
        decode_fields(&enc, Vec::new(), &mut back);
        assert_eq!(back, paths);
    }

    #[test]
    fn two_managers_own_different_containers_of_one_list() {
        let deployment = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let one = deployment(json!([{"name": "app", "image": "app:1"}]));
        let obj = server_side_apply(None, &one, &w("one"), false).unwrap();
        let two = deployment(json!([{"name": "sidecar", "image": "sidecar:1"}]));
        let obj = server_side_apply(Some(&obj), &two, &w("two"), false).unwrap();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "sidecar:1"}])
        );
        assert_eq!(
            obj["metadata"]["managedFields"][1]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
            json!({"k:{\"name\":\"sidecar\"}": {"f:image": {}, "f:name": {}}})
        );
        // "one" changing its own container does not conflict; dropping it removes only it.
        let mut back = BTreeSet::new();
        decode_fields(
            &obj["metadata"]["managedFields"][1]["fieldsV1"],
            Vec::new(),
            &mut back,
        );
        assert_eq!(back.len(), 2);
        let again = deployment(json!([{"name": "app", "image": "app:2"}]));
        let obj = server_side_apply(Some(&obj), &again, &w("one"), false).unwrap();
        let gone = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                          "spec": {"replicas": 1}});
        let obj = server_side_apply(Some(&obj), &gone, &w("one"), false).unwrap();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "sidecar", "image": "sidecar:1"}])
        );
        // The same container from "two" with another image conflicts with its owner.
        let clash = deployment(json!([{"name": "sidecar", "image": "sidecar:9"}]));
        let err = server_side_apply(Some(&obj), &clash, &w("three"), false).unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"two\": .spec.template.spec.containers[name=\"sidecar\"].image"
        );
    }

    #[test]
    fn apply_conflicts_unless_forced_and_prunes_dropped_fields() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let obj = server_side_apply(None, &first, &w("one"), false).unwrap();
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
        let err = server_side_apply(Some(&obj), &second, &w("two"), false).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .data.a"
        );
        let forced = server_side_apply(Some(&obj), &second, &w("two"), true).unwrap();
        assert_eq!(forced["data"], json!({"a": "9", "b": "2"}));
        let dropped =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        let pruned = server_side_apply(Some(&forced), &dropped, &w("one"), false).unwrap();
        assert_eq!(pruned["data"], json!({"a": "9"}));
    }
}
