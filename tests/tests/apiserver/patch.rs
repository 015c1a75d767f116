//! Merge, strategic-merge and JSON patches, and server-side apply with field ownership.

use harness::apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::support::{api_error, client, http};

fn config_map(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": {"a": "1"}}, "data": {"k": "v", "x": "y"}})
}

#[tokio::test]
async fn merge_patch_sets_and_removes_fields() {
    let server = FakeApiServer::start();
    server.apply_json(config_map("c"));
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let patch = json!({"metadata": {"labels": {"b": "2"}}, "data": {"x": null, "z": "w"}});
    let c = cms
        .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(json!(c.data), json!({"k": "v", "z": "w"}));
    assert_eq!(json!(c.metadata.labels), json!({"a": "1", "b": "2"}));
}

#[tokio::test]
async fn strategic_merge_patch_merges_config_map_data() {
    let server = FakeApiServer::start();
    server.apply_json(config_map("c"));
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let patch = json!({"data": {"k": "v2"}});
    let c = cms
        .patch("c", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    assert_eq!(json!(c.data), json!({"k": "v2", "x": "y"}));
}

#[tokio::test]
async fn json_patch_operations_apply_in_order() {
    let server = FakeApiServer::start();
    server.apply_json(config_map("c"));
    let ops = json!([
        {"op": "replace", "path": "/data/k", "value": "new"},
        {"op": "remove", "path": "/data/x"},
    ]);
    let resp = http()
        .patch(format!(
            "{}/api/v1/namespaces/default/configmaps/c",
            server.url()
        ))
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let c: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(c["data"], json!({"k": "new"}));
}

#[tokio::test]
async fn patch_of_missing_object_is_404() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let err = cms
        .patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (404, "NotFound".into()));
}

#[tokio::test]
async fn apply_creates_and_records_managed_fields() {
    let server = FakeApiServer::start();
    let secrets: Api<Secret> = Api::default_namespaced(client(&server).await);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fink-kafka-jaas"}, "data": {"kafka-jaas.conf": "Y29uZg=="}});
    let created = secrets
        .patch(
            "fink-kafka-jaas",
            &PatchParams::apply("application/apply-patch"),
            &Patch::Apply(&secret),
        )
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["kafka-jaas.conf"].0, b"conf");
    let managed = created.metadata.managed_fields.unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(
        managed[0].manager.as_deref(),
        Some("application/apply-patch")
    );
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
    assert_eq!(
        json!(managed[0].fields_v1),
        json!({"f:data": {"f:kafka-jaas.conf": {}}})
    );
    let log = server.requests();
    let apply = log.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert_eq!(
        apply.query_param("fieldManager").as_deref(),
        Some("application/apply-patch")
    );
}

#[tokio::test]
async fn apply_again_updates_and_prunes_fields_it_no_longer_sets() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let pp = PatchParams::apply("tool");
    let v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let first = cms.patch("c", &pp, &Patch::Apply(&v1)).await.unwrap();
    let same = cms.patch("c", &pp, &Patch::Apply(&v1)).await.unwrap();
    assert_eq!(
        same.metadata.resource_version, first.metadata.resource_version,
        "no-op apply writes nothing"
    );
    let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "3"}});
    let second = cms.patch("c", &pp, &Patch::Apply(&v2)).await.unwrap();
    assert_eq!(json!(second.data), json!({"a": "3"}));
}

#[tokio::test]
async fn apply_conflict_is_409_unless_forced() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let mine = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    cms.patch("c", &PatchParams::apply("first"), &Patch::Apply(&mine))
        .await
        .unwrap();
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
    let err = cms
        .patch("c", &PatchParams::apply("second"), &Patch::Apply(&theirs))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                s.message,
                "Apply failed with 1 conflict: conflict with \"first\": .data.a"
            );
        }
        other => panic!("{other:?}"),
    }
    let forced = cms
        .patch(
            "c",
            &PatchParams::apply("second").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "2");
    let owners: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert_eq!(owners, ["second"]);
}

#[tokio::test]
async fn apply_same_value_shares_ownership_without_conflict() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    cms.patch("c", &PatchParams::apply("first"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let c = cms
        .patch("c", &PatchParams::apply("second"), &Patch::Apply(&obj))
        .await
        .unwrap();
    assert_eq!(c.metadata.managed_fields.unwrap().len(), 2);
}

#[tokio::test]
async fn apply_accepts_yaml_bodies() {
    let server = FakeApiServer::start();
    let resp = http()
        .patch(format!("{}/api/v1/namespaces/default/configmaps/c?fieldManager=yaml", server.url()))
        .header("content-type", "application/apply-patch+yaml")
        .body("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  key: value # comment\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        server.get_json("v1", "cm", Some("default"), "c").unwrap()["data"],
        json!({"key": "value"})
    );
}

#[tokio::test]
async fn update_after_apply_takes_ownership_of_changed_fields() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "1"}});
    cms.patch("c", &PatchParams::apply("applier"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let c = cms
        .patch(
            "c",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap();
    let managed = c.metadata.managed_fields.unwrap();
    let editor = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some("editor"))
        .unwrap();
    assert_eq!(editor.operation.as_deref(), Some("Update"));
    assert_eq!(json!(editor.fields_v1), json!({"f:data": {"f:a": {}}}));
    let applier = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some("applier"))
        .unwrap();
    assert_eq!(json!(applier.fields_v1), json!({"f:data": {"f:b": {}}}));
}
