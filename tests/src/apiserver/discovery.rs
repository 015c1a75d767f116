//! Discovery documents: `/version`, `/api`, `/apis`, per-group and per-version resource lists.
//!
//! Only the legacy (non-aggregated) format is served: kubectl and client-go ask for the aggregated
//! `apidiscovery.k8s.io/v2` format first and fall back to this one when the response's
//! `Content-Type` is plain `application/json`, as it is here.

use std::net::SocketAddr;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        for sub in &d.subresources {
            let (kind, verbs) = match sub.as_str() {
                "exec" => ("PodExecOptions", json!(["create", "get"])),
                "log" => ("Pod", json!(["get"])),
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

/// `/openapi/v3`: one entry per served group/version, pointing at [`openapi_v3_group`].
pub(crate) fn openapi_v3_root(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for d in registry.all() {
        let gv = (d.group.clone(), d.version.clone());
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    for (group, version) in gvs {
        let prefix = api_prefix(&group, &version);
        let doc = openapi_v3_group(registry, &group, &version).unwrap_or(Value::Null);
        let hash = hex::encode(&Sha256::digest(doc.to_string().as_bytes())[..8]);
        paths.insert(
            prefix.trim_start_matches('/').to_string(),
            json!({ "serverRelativeURL": format!("/openapi/v3{prefix}?hash={hash}") }),
        );
    }
    json!({ "paths": paths })
}

fn api_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`: for each resource, its paths with
/// the `x-kubernetes-group-version-kind` extension and the `fieldValidation` query parameter,
/// which is what kubectl checks before sending `fieldValidation=Strict` instead of validating on
/// the client. Schemas are open (`x-kubernetes-preserve-unknown-fields`).
pub(crate) fn openapi_v3_group(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = registry
        .all()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let prefix = api_prefix(group, version);
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for d in defs {
        let gvk = json!([{ "group": d.group, "version": d.version, "kind": d.kind }]);
        let schema_name = format!(
            "{}.{}.{}",
            if d.group.is_empty() { "core" } else { &d.group },
            d.version,
            d.kind
        );
        let params = json!([
            { "name": "fieldValidation", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
            { "name": "fieldManager", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
            { "name": "dryRun", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
        ]);
        let op = |action: &str| {
            json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk[0],
                "parameters": params,
                "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema_name}") } } } } },
            })
        };
        let collection = if d.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", d.plural)
        } else {
            format!("{prefix}/{}", d.plural)
        };
        paths.insert(
            collection.clone(),
            json!({ "get": op("list"), "post": op("post") }),
        );
        paths.insert(format!("{collection}/{{name}}"), json!({ "get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete") }));
        schemas.insert(
            schema_name,
            json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": gvk }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}
