//! Discovery documents: `/version`, `/api`, `/apis`, per-group and per-version resource lists.
//!
//! Only the legacy (non-aggregated) format is served: kubectl and client-go ask for the aggregated
//! `apidiscovery.k8s.io/v2` format first and fall back to this one when the response's
//! `Content-Type` is plain `application/json`, as it is here.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::resources::{Registry, ResourceDef};

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "33",
    })
}

/// `/api`.
pub(crate) fn core_versions(addr: SocketAddr) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string() }],
    })
}

fn group_doc(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = registry
        .group_versions(group)
        .iter()
        .map(|v| json!({ "groupVersion": format!("{group}/{v}"), "version": v }))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub(crate) fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|g| {
            let mut d = group_doc(registry, g);
            if let Some(m) = d.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            d
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/<group>`, or None if the group is not served.
pub(crate) fn group(registry: &Registry, group: &str) -> Option<Value> {
    registry
        .groups()
        .iter()
        .any(|g| g == group)
        .then(|| group_doc(registry, group))
}

fn verbs(def: &ResourceDef) -> Vec<&'static str> {
    let mut v = vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    if def.plural == "namespaces" && def.group.is_empty() {
        v.retain(|x| *x != "deletecollection");
    }
    v
}

/// `/api/v1` or `/apis/<group>/<version>`, or None if not served.
pub(crate) fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = registry
        .all()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in defs {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": verbs(d),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.group.is_empty() && d.group.contains('.') && d.group != "apiextensions.k8s.io" {
            r["categories"] = json!(["all"]);
        }
        resources.push(r);
        for sub in &d.subresources {
            let (kind, verbs) = match sub.as_str() {
                "exec" => ("PodExecOptions", json!(["create", "get"])),
                _ => (d.kind.as_str(), json!(["get", "patch", "update"])),
            };
            let s = json!({ "name": format!("{}/{sub}", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": kind, "verbs": verbs });
            resources.push(s);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }),
    )
}
