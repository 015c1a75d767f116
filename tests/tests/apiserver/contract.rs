//! Contract tests: what both the fake and a real kube-apiserver (1.20.2, built by `cargo xtask
//! real-apiserver`) answer, through the API only (kube-rs, raw HTTP, the real kubectl). Each test
//! is a module with a `fake` and a `real` test (see [`both!`]); the real side skips, saying why,
//! when the binaries are not built.
//!
//! Where the fake differed from every real server (422 causes, generation, type checking,
//! defaulting, admission, DeleteOptions, namespace termination, list snapshots, strategic merge
//! patch, per-item apply ownership, protected groups, conflict wording) the fake was fixed, and both
//! sides run. Where 1.20 is merely older than today's servers the test keeps today's behaviour for
//! the fake and says so next to it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

use super::support::{Server, api_error, both, pod};

/// A Deployment `name` (no replicas, so no pods) with one container per name.
fn deployment(name: &str, containers: &[&str]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox"}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    })
}

/// A raw request with a JSON body through the server's client (status and body as on the wire).
async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> Result<Value, kube::Error> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    server.client().await.request::<Value>(request).await
}

fn config_map(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

async fn pods(server: &Server) -> Api<Pod> {
    Api::default_namespaced(server.client().await)
}

async fn config_maps(server: &Server) -> Api<ConfigMap> {
    Api::default_namespaced(server.client().await)
}

both! {
    /// Create fills the system metadata; get returns the same object.
    async fn create_then_get_fills_system_metadata(server) {
        let pods = pods(&server).await;
        let created = pods
            .create(&PostParams::default(), &serde_json::from_value(pod(server.ns(), "web", json!({"app": "web"}))).unwrap())
            .await
            .unwrap();
        let meta = &created.metadata;
        assert_eq!(meta.namespace.as_deref(), Some(server.ns()));
        assert_eq!(meta.uid.as_ref().map(String::len), Some(36));
        assert!(meta.creation_timestamp.is_some());
        assert!(meta.resource_version.as_deref().unwrap().parse::<u64>().is_ok());
        assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
        let got = pods.get("web").await.unwrap();
        assert_eq!(got.metadata.uid, meta.uid);
    }
}

both! {
    /// Creating a name twice is 409 AlreadyExists; in a missing namespace 404 NotFound.
    async fn create_conflicts_and_missing_namespace(server) {
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("c", json!({"k": "v"}))).await.unwrap();
        let err = cms.create(&PostParams::default(), &config_map("c", json!({"k": "v"}))).await.unwrap_err();
        assert_eq!(api_error(err), (409, "AlreadyExists".into()));
        let elsewhere: Api<ConfigMap> = Api::namespaced(server.client().await, "no-such-namespace");
        let err = elsewhere.create(&PostParams::default(), &config_map("c", json!({}))).await.unwrap_err();
        assert_eq!(api_error(err), (404, "NotFound".into()));
    }
}

both! {
    /// `generateName` makes a name with a random suffix; an invalid name is 422 Invalid.
    async fn generate_name_and_invalid_names(server) {
        let cms = config_maps(&server).await;
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "conf-"}})).unwrap();
        let created = cms.create(&PostParams::default(), &cm).await.unwrap();
        let name = created.metadata.name.unwrap();
        assert!(name.starts_with("conf-") && name.len() == "conf-".len() + 5, "{name}");
        let err = cms.create(&PostParams::default(), &config_map("Not_Valid", json!({}))).await.unwrap_err();
        assert_eq!(api_error(err), (422, "Invalid".into()));
    }
}

both! {
    /// A 422 names each invalid field in `details.causes` (kubectl prints them).
    async fn invalid_is_422_with_causes(server) {
        let path = format!("/api/v1/namespaces/{}/configmaps", server.ns());
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}});
        let err = raw(&server, "POST", &path, "application/json", body).await.unwrap_err();
        let kube::Error::Api(status) = err else { panic!("{err:?}") };
        assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
        let causes = status.details.expect("details").causes;
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "metadata.name");
        assert_eq!(causes[0].reason, "FieldValueInvalid");
    }
}

both! {
    /// An update with a stale resourceVersion is 409 Conflict.
    async fn update_with_stale_resource_version_is_409(server) {
        let cms = config_maps(&server).await;
        let first = cms.create(&PostParams::default(), &config_map("c", json!({"a": "1"}))).await.unwrap();
        let mut second = first.clone();
        second.data = Some([("a".to_string(), "2".to_string())].into());
        cms.replace("c", &PostParams::default(), &second).await.unwrap();
        let mut stale = first;
        stale.data = Some([("a".to_string(), "3".to_string())].into());
        let err = cms.replace("c", &PostParams::default(), &stale).await.unwrap_err();
        assert_eq!(api_error(err), (409, "Conflict".into()));
        assert_eq!(cms.get("c").await.unwrap().data.unwrap()["a"], "2");
    }
}

both! {
    /// `metadata.generation` counts spec changes of a Deployment, not label changes, and is
    /// absent on a ConfigMap.
    async fn generation_only_on_objects_with_a_spec(server) {
        let cms = config_maps(&server).await;
        let cm = cms.create(&PostParams::default(), &config_map("c", json!({"a": "1"}))).await.unwrap();
        assert_eq!(cm.metadata.generation, None);
        let deployments: Api<Deployment> = Api::default_namespaced(server.client().await);
        let created = deployments.create(&PostParams::default(), &serde_json::from_value(deployment("web", &["main"])).unwrap()).await.unwrap();
        assert_eq!(created.metadata.generation, Some(1));
        let labelled = deployments
            .patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
            .await
            .unwrap();
        assert_eq!(labelled.metadata.generation, Some(1), "labels are not spec");
        let scaled = deployments
            .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"minReadySeconds": 5}})))
            .await
            .unwrap();
        assert_eq!(scaled.metadata.generation, Some(2));
    }
}

both! {
    /// A ConfigMap whose `data` holds a number is 400 BadRequest: built-in kinds are typed.
    async fn built_in_kinds_are_type_checked(server) {
        let path = format!("/api/v1/namespaces/{}/configmaps", server.ns());
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"a": 1}});
        let err = raw(&server, "POST", &path, "application/json", body).await.unwrap_err();
        assert_eq!(api_error(err).0, 400);
        assert!(config_maps(&server).await.get_opt("typed").await.unwrap().is_none());
    }
}

both! {
    /// A created pod comes back with the server's defaults filled in.
    async fn pods_are_defaulted(server) {
        let pods = pods(&server).await;
        let created = pods.create(&PostParams::default(), &serde_json::from_value(pod(server.ns(), "p", json!({}))).unwrap()).await.unwrap();
        let spec = created.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.containers[0].termination_message_path.as_deref(), Some("/dev/termination-log"));
    }
}

both! {
    /// A pod naming a ServiceAccount that does not exist is refused (403 Forbidden, admission).
    async fn pods_need_their_service_account(server) {
        let mut manifest = pod(server.ns(), "p", json!({}));
        manifest["spec"]["serviceAccountName"] = json!("nobody");
        let err = pods(&server).await.create(&PostParams::default(), &serde_json::from_value(manifest).unwrap()).await.unwrap_err();
        assert_eq!(api_error(err), (403, "Forbidden".into()));
    }
}

both! {
    /// Delete, then get is 404 NotFound with a Status body.
    async fn delete_then_get_is_404(server) {
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("gone", json!({}))).await.unwrap();
        cms.delete("gone", &DeleteParams::default()).await.unwrap();
        let err = cms.get("gone").await.unwrap_err();
        assert_eq!(api_error(err), (404, "NotFound".into()));
    }
}

both! {
    /// A delete whose `preconditions.uid` names another object is 409 Conflict and deletes nothing.
    async fn delete_preconditions_are_checked(server) {
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("kept", json!({}))).await.unwrap();
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: Some("00000000-0000-0000-0000-000000000000".into()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let err = cms.delete("kept", &params).await.unwrap_err();
        assert_eq!(api_error(err), (409, "Conflict".into()));
        assert!(cms.get_opt("kept").await.unwrap().is_some());
    }
}

both! {
    /// A finalizer holds deletion (deletionTimestamp set, object kept) until it is removed.
    async fn finalizers_hold_deletion_until_removed(server) {
        let cms = config_maps(&server).await;
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        cms.delete("held", &DeleteParams::default()).await.unwrap();
        let held = cms.get("held").await.unwrap();
        assert!(held.metadata.deletion_timestamp.is_some());
        cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
            .await
            .unwrap();
        assert!(cms.get_opt("held").await.unwrap().is_none());
    }
}

both! {
    /// A deleted namespace is `Terminating` while its objects go, and refuses new objects.
    async fn deleted_namespace_terminates(server) {
        let namespaces: Api<Namespace> = Api::all(server.client().await);
        let name = format!("{}-gone", server.ns());
        namespaces.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()).await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(server.client().await, &name);
        let held: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})).unwrap();
        cms.create(&PostParams::default(), &held).await.unwrap();
        namespaces.delete(&name, &DeleteParams::default()).await.unwrap();
        let terminating = namespaces.get(&name).await.unwrap();
        assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
        let err = cms.create(&PostParams::default(), &config_map("late", json!({}))).await.unwrap_err();
        assert_eq!(api_error(err), (403, "Forbidden".into()));
        cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    }
}

both! {
    /// Lists carry a resourceVersion and paginate with `limit` and `continue`.
    async fn lists_paginate(server) {
        let cms = config_maps(&server).await;
        for i in 0..5 {
            cms.create(&PostParams::default(), &config_map(&format!("c{i}"), json!({}))).await.unwrap();
        }
        let mut names = Vec::new();
        let mut params = ListParams::default().limit(2);
        let mut pages = 0;
        loop {
            let page = cms.list(&params).await.unwrap();
            assert!(page.metadata.resource_version.is_some());
            pages += 1;
            names.extend(page.items.into_iter().filter_map(|cm| cm.metadata.name).filter(|n| n.starts_with('c')));
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        names.sort();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
        assert!(pages >= 3, "{pages} pages");
    }
}

both! {
    /// Later pages come from the first page's snapshot: an object created meanwhile is not listed.
    async fn list_pages_come_from_one_snapshot(server) {
        let cms = config_maps(&server).await;
        for name in ["a", "b", "c"] {
            cms.create(&PostParams::default(), &config_map(name, json!({}))).await.unwrap();
        }
        let first = cms.list(&ListParams::default().limit(1)).await.unwrap();
        cms.create(&PostParams::default(), &config_map("z", json!({}))).await.unwrap();
        let token = first.metadata.continue_.unwrap();
        let rest = cms.list(&ListParams::default().limit(100).continue_token(&token)).await.unwrap();
        let names: Vec<_> = rest.items.into_iter().filter_map(|cm| cm.metadata.name).collect();
        assert!(!names.contains(&"z".to_string()), "{names:?}");
    }
}

both! {
    /// Label selectors (equality, set, existence) and field selectors on name and phase.
    async fn label_and_field_selectors(server) {
        let pods = pods(&server).await;
        for (name, labels) in [
            ("driver", json!({"spark-role": "driver", "app": "fink"})),
            ("exec", json!({"spark-role": "executor", "app": "fink"})),
            ("plain", json!({"app": "web"})),
        ] {
            pods.create(&PostParams::default(), &serde_json::from_value(pod(server.ns(), name, labels)).unwrap()).await.unwrap();
        }
        let names = |list: kube::core::ObjectList<Pod>| {
            let mut names: Vec<String> = list.items.into_iter().filter_map(|p| p.metadata.name).collect();
            names.sort();
            names
        };
        let labels = |selector: &str| ListParams::default().labels(selector);
        assert_eq!(names(pods.list(&labels("spark-role=driver")).await.unwrap()), ["driver"]);
        assert_eq!(names(pods.list(&labels("spark-role in (driver,executor)")).await.unwrap()), ["driver", "exec"]);
        assert_eq!(names(pods.list(&labels("app,!spark-role")).await.unwrap()), ["plain"]);
        assert_eq!(names(pods.list(&labels("app!=fink")).await.unwrap()), ["plain"]);
        let fields = |selector: &str| ListParams::default().fields(selector);
        assert_eq!(names(pods.list(&fields("metadata.name=exec")).await.unwrap()), ["exec"]);
        assert_eq!(names(pods.list(&fields("status.phase=Pending")).await.unwrap()), ["driver", "exec", "plain"]);
        let err = pods.list(&fields("spec.nonsense=1")).await.unwrap_err();
        assert_eq!(api_error(err).0, 400);
    }
}

both! {
    /// Merge patch sets and removes keys; JSON patch applies its operations in order; a patch of
    /// a missing object is 404.
    async fn merge_and_json_patches(server) {
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("c", json!({"a": "1", "b": "2"}))).await.unwrap();
        let merged = cms.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": null, "c": "3"}}))).await.unwrap();
        assert_eq!(json!(merged.data), json!({"b": "2", "c": "3"}));
        let ops = json!([
            {"op": "add", "path": "/data/d", "value": "4"},
            {"op": "replace", "path": "/data/d", "value": "5"},
            {"op": "remove", "path": "/data/b"},
        ]);
        let path = format!("/api/v1/namespaces/{}/configmaps/c", server.ns());
        let patched = raw(&server, "PATCH", &path, "application/json-patch+json", ops).await.unwrap();
        assert_eq!(patched["data"], json!({"c": "3", "d": "5"}));
        let err = cms.patch("missing", &PatchParams::default(), &Patch::Merge(json!({"data": {}}))).await.unwrap_err();
        assert_eq!(api_error(err), (404, "NotFound".into()));
    }
}

both! {
    /// A strategic merge patch merges `containers` by name and honours `$patch: delete`.
    async fn strategic_merge_patch_merges_lists_by_key(server) {
        let pods = pods(&server).await;
        let mut manifest = pod(server.ns(), "p", json!({}));
        manifest["spec"]["containers"] = json!([
            {"name": "main", "image": "busybox"},
            {"name": "side", "image": "busybox"},
        ]);
        pods.create(&PostParams::default(), &serde_json::from_value(manifest).unwrap()).await.unwrap();
        let patch = json!({"spec": {"containers": [{"name": "side", "image": "alpine"}]}});
        let patched = pods.patch("p", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
        let images: Vec<_> = patched.spec.unwrap().containers.into_iter().map(|c| (c.name, c.image.unwrap())).collect();
        assert_eq!(images, [("main".to_string(), "busybox".to_string()), ("side".to_string(), "alpine".to_string())]);
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("c", json!({"a": "1"}))).await.unwrap();
        let cleared = cms.patch("c", &PatchParams::default(), &Patch::Strategic(json!({"data": {"$patch": "delete"}}))).await.unwrap();
        assert_eq!(cleared.data, None);
    }
}

both! {
    /// Server-side apply creates, records the manager, prunes what it no longer sets, and a second
    /// manager changing an owned field gets 409 Conflict unless it forces.
    async fn server_side_apply_ownership_and_conflicts(server) {
        let cms = config_maps(&server).await;
        let v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let created = cms.patch("c", &PatchParams::apply("first"), &Patch::Apply(&v1)).await.unwrap();
        let managed = created.metadata.managed_fields.unwrap();
        assert_eq!(managed.len(), 1);
        assert_eq!(managed[0].manager.as_deref(), Some("first"));
        assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
        let fields = json!(managed[0].fields_v1);
        assert_eq!(fields["f:data"]["f:a"], json!({}), "{fields}");
        assert_eq!(fields["f:data"]["f:b"], json!({}), "{fields}");
        let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let pruned = cms.patch("c", &PatchParams::apply("first"), &Patch::Apply(&v2)).await.unwrap();
        assert_eq!(json!(pruned.data), json!({"a": "1"}));
        let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let err = cms.patch("c", &PatchParams::apply("second"), &Patch::Apply(&theirs)).await.unwrap_err();
        assert_eq!(api_error(err), (409, "Conflict".into()));
        let forced = cms.patch("c", &PatchParams::apply("second").force(), &Patch::Apply(&theirs)).await.unwrap();
        assert_eq!(forced.data.unwrap()["a"], "2");
    }
}

both! {
    /// The conflict message names the applying manager and the field.
    async fn server_side_apply_conflict_message(server) {
        let cms = config_maps(&server).await;
        let mine = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        cms.patch("c", &PatchParams::apply("first"), &Patch::Apply(&mine)).await.unwrap();
        let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let err = cms.patch("c", &PatchParams::apply("second"), &Patch::Apply(&theirs)).await.unwrap_err();
        let kube::Error::Api(status) = err else { panic!("{err:?}") };
        assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"first\": .data.a");
    }
}

both! {
    /// Server-side apply without a field manager is 422 Invalid.
    async fn server_side_apply_needs_a_field_manager(server) {
        let cms = config_maps(&server).await;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let err = cms.patch("c", &PatchParams::default(), &Patch::Apply(&cm)).await.unwrap_err();
        assert_eq!(api_error(err), (422, "Invalid".into()));
    }
}

both! {
    /// Apply ownership is per keyed list item: a second manager adds a container to a Deployment
    /// without conflict, and both containers are kept.
    async fn server_side_apply_owns_list_items_by_key(server) {
        let deployments: Api<Deployment> = Api::default_namespaced(server.client().await);
        deployments.patch("web", &PatchParams::apply("first"), &Patch::Apply(deployment("web", &["main"]))).await.unwrap();
        let both = deployments
            .patch("web", &PatchParams::apply("second"), &Patch::Apply(deployment("web", &["side"])))
            .await
            .unwrap();
        let names: Vec<String> = both.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["main", "side"]);
    }
}

both! {
    /// A watch streams ADDED, MODIFIED and DELETED, and resumes after a resourceVersion.
    async fn watch_streams_events_and_resumes(server) {
        let cms = config_maps(&server).await;
        let start = cms.create(&PostParams::default(), &config_map("a", json!({"v": "1"}))).await.unwrap();
        let from = start.metadata.resource_version.unwrap();
        cms.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}}))).await.unwrap();
        cms.create(&PostParams::default(), &config_map("b", json!({}))).await.unwrap();
        cms.delete("a", &DeleteParams::default()).await.unwrap();
        let mut stream = cms.watch(&WatchParams::default().timeout(10), &from).await.unwrap().boxed();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match stream.try_next().await.unwrap().expect("a watch event") {
                WatchEvent::Added(cm) => seen.push(("ADDED", cm.metadata.name.unwrap())),
                WatchEvent::Modified(cm) => seen.push(("MODIFIED", cm.metadata.name.unwrap())),
                WatchEvent::Deleted(cm) => seen.push(("DELETED", cm.metadata.name.unwrap())),
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(err) => panic!("{err:?}"),
            }
        }
        assert_eq!(seen, [("MODIFIED", "a".to_string()), ("ADDED", "b".to_string()), ("DELETED", "a".to_string())]);
    }
}

both! {
    /// A watch from now sees a later change; one with a label selector sees only its objects.
    async fn watch_sees_later_changes_with_selectors(server) {
        let cms = config_maps(&server).await;
        let list = cms.list(&ListParams::default()).await.unwrap();
        let from = list.metadata.resource_version.unwrap();
        let selected = cms.clone();
        let watcher = tokio::spawn(async move {
            let mut stream = selected
                .watch(&WatchParams::default().labels("app=fink").timeout(10), &from)
                .await
                .unwrap()
                .boxed();
            loop {
                if let WatchEvent::Added(cm) = stream.try_next().await.unwrap().expect("an event") {
                    return cm.metadata.name.unwrap();
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        cms.create(&PostParams::default(), &config_map("other", json!({}))).await.unwrap();
        let labelled: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "mine", "labels": {"app": "fink"}}})).unwrap();
        cms.create(&PostParams::default(), &labelled).await.unwrap();
        assert_eq!(watcher.await.unwrap(), "mine");
    }
}

/// A namespaced CRD `widgets.<group>` with a status subresource, in a group unique to the test
/// (CRDs are cluster-wide and the real server is shared by the tests of a binary).
fn widget_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

/// Creates `crd` and waits until it is Established.
async fn establish(server: &Server, crd: &Value) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(server.client().await);
    let created = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(crd.clone()).unwrap(),
        )
        .await
        .unwrap();
    let name = created.metadata.name.clone().unwrap();
    for _ in 0..200 {
        let crd = crds.get(&name).await.unwrap();
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return crd;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} was not Established");
}

both! {
    /// A CRD is served once Established; its objects' `status` changes only through the status
    /// subresource, and spec changes bump the generation.
    async fn crds_and_the_status_subresource(server) {
        let group = format!("{}.example.com", server.ns());
        establish(&server, &widget_crd(&group)).await;
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, "v1", "Widget"), "widgets");
        // Discovery of the new group can lag a moment behind Established on a real server.
        let widgets: Api<DynamicObject> = Api::namespaced_with(server.client().await, server.ns(), &resource);
        let widget: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{group}/v1"), "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"size": 1}, "status": {"phase": "Ignored"},
        })).unwrap();
        let mut created = None;
        for _ in 0..100 {
            match widgets.create(&PostParams::default(), &widget).await {
                Ok(object) => { created = Some(object); break; }
                Err(kube::Error::Api(status)) if status.code == 404 => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(err) => panic!("{err:?}"),
            }
        }
        let created = created.expect("the custom resource is served");
        assert_eq!(created.data.get("status"), None, "status is dropped on create");
        assert_eq!(created.metadata.generation, Some(1));
        let with_status = widgets
            .patch_status("w", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Ready"}})))
            .await
            .unwrap();
        assert_eq!(with_status.data["status"]["phase"], "Ready");
        assert_eq!(with_status.metadata.generation, Some(1), "status is not spec");
        let respec = widgets
            .patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": 2}, "status": {"phase": "Lost"}})))
            .await
            .unwrap();
        assert_eq!(respec.metadata.generation, Some(2));
        assert_eq!(respec.data["status"]["phase"], "Ready", "status ignored on the main resource");
        let crds: Api<CustomResourceDefinition> = Api::all(server.client().await);
        crds.delete(&format!("widgets.{group}"), &DeleteParams::default()).await.unwrap();
    }
}

both! {
    /// A CRD in a `*.k8s.io` group needs the `api-approved.kubernetes.io` annotation (422 without).
    async fn protected_groups_need_api_approval(server) {
        let crds: Api<CustomResourceDefinition> = Api::all(server.client().await);
        let group = format!("{}.k8s.io", server.ns());
        let err = crds
            .create(&PostParams::default(), &serde_json::from_value(widget_crd(&group)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(api_error(err), (422, "Invalid".into()));
        let mut approved = widget_crd(&group);
        approved["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "unapproved, testing only"});
        crds.create(&PostParams::default(), &serde_json::from_value(approved).unwrap()).await.unwrap();
        crds.delete(&format!("widgets.{group}"), &DeleteParams::default()).await.unwrap();
    }
}

both! {
    /// kubectl: create from a file, get as JSON and by label, label, server-side apply, delete.
    async fn kubectl_round_trip(server) {
        let kubectl = server.kubectl();
        let manifest = &kubectl.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  labels: {app: fink}\ndata:\n  night: \"20200101\"\n");
        assert_eq!(kubectl.ok(&["create", "-f", manifest]), "configmap/conf created\n");
        let got: Value = serde_json::from_str(&kubectl.ok(&["get", "cm", "conf", "-o", "json"])).unwrap();
        assert_eq!(got["data"]["night"], "20200101");
        assert_eq!(got["metadata"]["namespace"], server.ns());
        assert_eq!(kubectl.ok(&["get", "cm", "-l", "app=fink", "-o", "name"]), "configmap/conf\n");
        assert_eq!(kubectl.ok(&["label", "cm", "conf", "night=1"]), "configmap/conf labeled\n");
        assert_eq!(
            kubectl.ok(&["apply", "--server-side", "--force-conflicts", "-f", manifest]),
            "configmap/conf serverside-applied\n"
        );
        assert_eq!(kubectl.ok(&["delete", "cm", "conf"]), "configmap \"conf\" deleted\n");
        let missing = kubectl.run(&["get", "cm", "conf"]);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("configmaps \"conf\" not found"));
    }
}

both! {
    /// Client-side `kubectl apply` of a changed Deployment keeps every container (strategic merge).
    async fn kubectl_apply_client_side_merges_containers(server) {
        let kubectl = server.kubectl();
        let deployment = |image: &str| format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - {{name: main, image: {image}}}\n      - {{name: side, image: busybox}}\n"
        );
        let path = kubectl.write("d.yaml", &deployment("nginx"));
        kubectl.ok(&["apply", "-f", &path]);
        kubectl.write("d.yaml", &deployment("httpd"));
        assert_eq!(kubectl.ok(&["apply", "-f", &path]), "deployment.apps/web configured\n");
        let got: Value = serde_json::from_str(&kubectl.ok(&["get", "deploy", "web", "-o", "json"])).unwrap();
        let containers: Vec<(String, String)> = got["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().into(), c["image"].as_str().unwrap().into()))
            .collect();
        assert_eq!(containers, [("main".into(), "httpd".into()), ("side".into(), "busybox".into())]);
    }
}

both! {
    /// Namespaces carry `kubernetes.io/metadata.name` since 1.21: the fake keeps today's
    /// behaviour; 1.20 has no such label (a 1.20-only difference).
    async fn namespace_name_label(server) {
        let namespaces: Api<Namespace> = Api::all(server.client().await);
        let name = format!("{}-labelled", server.ns());
        let created = namespaces
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
            .await
            .unwrap();
        let label = created.metadata.labels.unwrap_or_default().get("kubernetes.io/metadata.name").cloned();
        if server.is_real() {
            assert_eq!(label, None, "1.20 predates the label");
        } else {
            assert_eq!(label, Some(name.clone()));
        }
        namespaces.delete(&name, &DeleteParams::default()).await.unwrap();
    }
}

both! {
    /// Streaming lists (`sendInitialEvents`, 1.27+): the fake serves them as today's servers do;
    /// 1.20 refuses the request with 422 Invalid ("resourceVersionMatch is forbidden for watch",
    /// a 1.20-only difference).
    async fn streaming_lists(server) {
        let cms = config_maps(&server).await;
        cms.create(&PostParams::default(), &config_map("a", json!({}))).await.unwrap();
        let params = WatchParams::streaming_lists().timeout(5);
        let outcome = cms.watch(&params, "0").await;
        if server.is_real() {
            let err = outcome.err().expect("1.20 refuses streaming lists");
            assert_eq!(api_error(err), (422, "Invalid".into()));
        } else {
            let mut stream = outcome.unwrap().boxed();
            match stream.try_next().await.unwrap().expect("an event") {
                WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("a")),
                other => panic!("{other:?}"),
            }
        }
    }
}

both! {
    /// Server-side apply of a Service whose port omits `protocol` (a list key defaulted by the
    /// server): today's servers accept it; 1.20 answers 500 "associative list with keys has an
    /// element that omits key field" (a 1.20-only difference: the fake keeps today's behaviour).
    async fn server_side_apply_of_ports_without_protocol(server) {
        let services: Api<k8s_openapi::api::core::v1::Service> = Api::default_namespaced(server.client().await);
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        let outcome = services.patch("web", &PatchParams::apply("tool"), &Patch::Apply(&service)).await;
        if server.is_real() {
            let err = outcome.expect_err("1.20 refuses the port without protocol");
            let kube::Error::Api(status) = err else { panic!("{err:?}") };
            assert_eq!(status.code, 500);
            assert!(status.message.contains("omits key field"), "{}", status.message);
        } else {
            let ports = outcome.unwrap().spec.unwrap().ports.unwrap();
            assert_eq!(ports[0].port, 80);
        }
    }
}

/// Two containers `a` and `b` in pod `two`, on no node.
fn two_container_pod(namespace: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "two", "namespace": namespace},
        "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]},
    }))
    .unwrap()
}

/// The code and message of a failed call.
fn api_message(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

both! {
    /// `pods/log` checks the container before anything else (400 naming the choices or the
    /// unknown one); a pod on no node has an empty log; a missing pod is 404.
    async fn pod_log_checks_the_container_then_answers_empty_without_a_node(server) {
        let pods = pods(&server).await;
        pods.create(&PostParams::default(), &two_container_pod(server.ns())).await.unwrap();
        let err = pods.logs("two", &kube::api::LogParams::default()).await.unwrap_err();
        assert_eq!(
            api_message(err),
            (400, "a container name must be specified for pod two, choose one of: [a b]".into())
        );
        let unknown = kube::api::LogParams { container: Some("zz".into()), ..Default::default() };
        let err = pods.logs("two", &unknown).await.unwrap_err();
        assert_eq!(api_message(err), (400, "container zz is not valid for pod two".into()));
        let known = kube::api::LogParams { container: Some("a".into()), previous: true, ..Default::default() };
        assert_eq!(pods.logs("two", &known).await.unwrap(), "");
        let err = pods.logs("none", &known).await.unwrap_err();
        assert_eq!(api_message(err), (404, "pods \"none\" not found".into()));
    }
}

both! {
    /// Events are selected by the involved object's name, kind and uid, and by type.
    async fn events_are_selected_by_involved_object_and_type(server) {
        let client = server.client().await;
        let ns = server.ns();
        let pods = pods(&server).await;
        let a = pods
            .create(&PostParams::default(), &serde_json::from_value(pod(ns, "a", json!({}))).unwrap())
            .await
            .unwrap();
        let uid = a.metadata.uid.clone().unwrap();
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, ns);
        for (name, kind, object, uid, kind_of_event) in [
            ("e1", "Pod", "a", uid.as_str(), "Warning"),
            ("e2", "Pod", "a", uid.as_str(), "Normal"),
            ("e3", "Pod", "b", "", "Warning"),
            ("e4", "ConfigMap", "a", "", "Normal"),
        ] {
            let event = json!({
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {"apiVersion": "v1", "kind": kind, "name": object, "namespace": ns, "uid": uid},
                "reason": "Test", "message": name, "type": kind_of_event,
                "source": {"component": "test"},
            });
            events.create(&PostParams::default(), &serde_json::from_value(event).unwrap()).await.unwrap();
        }
        for (selector, expected) in [
            ("involvedObject.name=a", vec!["e1", "e2", "e4"]),
            ("involvedObject.name=a,involvedObject.kind=Pod", vec!["e1", "e2"]),
            (&*format!("involvedObject.uid={uid}"), vec!["e1", "e2"]),
            ("type=Warning", vec!["e1", "e3"]),
            ("involvedObject.kind=Pod,type!=Warning", vec!["e2"]),
        ] {
            let list = events.list(&ListParams::default().fields(selector)).await.unwrap();
            let mut names: Vec<String> = list.items.iter().filter_map(|e| e.metadata.name.clone()).collect();
            names.sort();
            assert_eq!(names, expected, "{selector}");
        }
        let err = events.list(&ListParams::default().fields("involvedObject.color=red")).await.unwrap_err();
        assert_eq!(api_error(err).0, 400);
    }
}

both! {
    /// Log options are validated as a whole (422 naming each bad field).
    async fn pod_log_options_are_validated(server) {
        let pods = pods(&server).await;
        pods.create(&PostParams::default(), &two_container_pod(server.ns())).await.unwrap();
        let raw = |query: &'static str| {
            let server = &server;
            async move {
                let request = http::Request::get(format!(
                    "/api/v1/namespaces/{}/pods/two/log?container=a&{query}",
                    server.ns()
                ))
                .body(Vec::new())
                .unwrap();
                server.client().await.request_text(request).await.unwrap_err()
            }
        };
        let status = |e: kube::Error| match e {
            kube::Error::Api(s) => {
                let causes: Vec<(String, String)> = s
                    .details
                    .map(|d| d.causes.into_iter().map(|c| (c.field, c.reason)).collect())
                    .unwrap_or_default();
                (s.code, s.message, causes)
            }
            other => panic!("expected an API error Status, got {other:?}"),
        };
        assert_eq!(
            status(raw("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z").await),
            (
                422,
                "PodLogOptions \"two\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
                vec![("[]".into(), "FieldValueForbidden".into())]
            )
        );
        assert_eq!(
            status(raw("tailLines=-1&sinceSeconds=0").await),
            (
                422,
                "PodLogOptions \"two\" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, sinceSeconds: Invalid value: 0: must be greater than 0]".into(),
                vec![
                    ("tailLines".into(), "FieldValueInvalid".into()),
                    ("sinceSeconds".into(), "FieldValueInvalid".into())
                ]
            )
        );
    }
}
