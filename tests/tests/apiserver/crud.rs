//! Create, get, list, update, delete through kube-rs, and error Status objects on the wire.

use harness::apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::support::{api_error, client, http, pod};

#[tokio::test]
async fn kubeconfig_points_kube_client_at_the_server() {
    let server = FakeApiServer::start();
    let text = std::fs::read_to_string(server.kubeconfig()).unwrap();
    assert!(
        text.contains(&format!("server: {}", server.url())),
        "{text}"
    );
    assert!(server.url().starts_with("http://127.0.0.1:"));
    let client = client(&server).await;
    assert_eq!(client.default_namespace(), "default");
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
}

#[tokio::test]
async fn written_kubeconfig_carries_the_namespace() {
    let server = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    server.write_kubeconfig(&path, "spark").unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "spark");
    assert_eq!(
        config.cluster_url.to_string().trim_end_matches('/'),
        server.url()
    );
}

#[tokio::test]
async fn create_then_get_fills_system_metadata() {
    let server = FakeApiServer::start();
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    let created = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod("default", "web", json!({"app": "web"}))).unwrap(),
        )
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert_eq!(meta.uid.as_ref().map(String::len), Some(36));
    assert_eq!(meta.generation, Some(1));
    assert!(meta.creation_timestamp.is_some());
    let rv: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();
    assert_eq!(rv, server.store().resource_version());
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let got = pods.get("web").await.unwrap();
    assert_eq!(got.metadata.uid, meta.uid);
    assert_eq!(
        server
            .get_json("v1", "Pod", Some("default"), "web")
            .unwrap()["metadata"]["uid"],
        json!(meta.uid)
    );
}

#[tokio::test]
async fn create_existing_is_409_already_exists() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(api_error(err), (409, "AlreadyExists".into()));
}

#[tokio::test]
async fn create_in_missing_namespace_is_404() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::namespaced(client(&server).await, "nowhere");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "namespaces \"nowhere\" not found");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn generate_name_and_invalid_names() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "job-"}})).unwrap();
    let made = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("job-") && name.len() == 9, "{name}");
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    assert_eq!(
        api_error(cms.create(&PostParams::default(), &bad).await.unwrap_err()),
        (422, "Invalid".into())
    );
}

#[tokio::test]
async fn update_with_stale_resource_version_is_409_conflict() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "1"}})).unwrap();
    let first = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "2".to_string())].into());
    let updated = cms.replace("c", &PostParams::default(), &a).await.unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );
    let mut stale = first.clone();
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let err = cms
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (409, "Conflict".into()));
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn update_of_spec_bumps_generation_but_status_does_not() {
    let server = FakeApiServer::start();
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod("default", "p", json!({}))).unwrap(),
    )
    .await
    .unwrap();
    let mut p = pods.get("p").await.unwrap();
    p.spec.as_mut().unwrap().containers[0].image = Some("busybox:2".into());
    p.status.as_mut().unwrap().phase = Some("Running".into());
    let p = pods.replace("p", &PostParams::default(), &p).await.unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    assert_eq!(
        p.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending"),
        "main endpoint keeps status"
    );
    let mut s = p.clone();
    s.status.as_mut().unwrap().phase = Some("Running".into());
    let s = pods
        .replace_status("p", &PostParams::default(), &s)
        .await
        .unwrap();
    assert_eq!(s.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(s.metadata.generation, Some(2));
}

#[tokio::test]
async fn delete_then_get_is_404_not_found() {
    let server = FakeApiServer::start();
    server.apply_json(pod("default", "gone", json!({})));
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    pods.delete("gone", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        api_error(pods.get("gone").await.unwrap_err()),
        (404, "NotFound".into())
    );
    assert_eq!(
        api_error(
            pods.delete("gone", &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        (404, "NotFound".into())
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = cms.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let patch = json!({"metadata": {"finalizers": null}});
    cms.patch("f", &Default::default(), &kube::api::Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(api_error(cms.get("f").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn namespace_delete_removes_its_objects() {
    let server = FakeApiServer::start();
    let client = client(&server).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "kafka"}})).unwrap(),
    )
    .await
    .unwrap();
    let ns = nss.get("kafka").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kafka");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "fink-producer"}, "stringData": {"password": "changeme"}}),
    )
    .unwrap();
    let stored = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));
    assert_eq!(stored.data.unwrap()["password"].0, b"changeme");
    nss.delete("kafka", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(nss.get("kafka").await.unwrap_err()).0, 404);
    assert!(server.list_json("v1", "Secret", Some("kafka")).is_empty());
}

#[tokio::test]
async fn list_has_resource_version_and_paginates() {
    let server = FakeApiServer::start();
    for i in 0..5 {
        server.apply_json(pod("default", &format!("p{i}"), json!({})));
    }
    server.apply_json(pod("kube-system", "etcd", json!({})));
    let client = client(&server).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let page = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        page.metadata.resource_version,
        Some(server.store().resource_version().to_string())
    );
    assert_eq!(page.metadata.remaining_item_count, Some(3));
    let token = page.metadata.continue_.clone().unwrap();
    let rest = pods
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    let names: Vec<_> = rest
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["p2", "p3", "p4"]);
    assert!(rest.metadata.continue_.is_none());
    let all: Api<Pod> = Api::all(client);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        6
    );
}

#[tokio::test]
async fn errors_are_status_objects_on_the_wire() {
    let server = FakeApiServer::start();
    let resp = http()
        .get(format!(
            "{}/api/v1/namespaces/default/pods/nope",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "pods \"nope\" not found", "reason": "NotFound",
               "details": {"name": "nope", "kind": "pods"}, "code": 404})
    );
    let unknown = http()
        .get(format!("{}/apis/nope.io/v1/things", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

#[tokio::test]
async fn resource_versions_are_a_global_increasing_counter() {
    let server = FakeApiServer::start();
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::namespaced(client, "kube-system");
    let mut seen = Vec::new();
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        seen.push(
            cms.create(&PostParams::default(), &cm)
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap(),
        );
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).unwrap();
        seen.push(
            secrets
                .create(&PostParams::default(), &s)
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap(),
        );
    }
    let numbers: Vec<u64> = seen.iter().map(|rv| rv.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version.as_deref(),
        seen.last().map(String::as_str)
    );
}

#[test]
fn seeding_the_same_manifest_again_keeps_the_generation() {
    let server = FakeApiServer::start();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
    });
    let first = server.apply_json(deployment.clone());
    assert_eq!(
        first["spec"]["strategy"]["type"], "RollingUpdate",
        "defaults filled in"
    );
    let again = server.apply_json(deployment.clone());
    assert_eq!(again["metadata"]["generation"], 1);
    let mut changed = deployment.clone();
    changed["spec"]["replicas"] = json!(3);
    assert_eq!(
        server.apply_json(changed.clone())["metadata"]["generation"],
        2
    );
    changed["metadata"]["generation"] = json!(7);
    assert_eq!(
        server.apply_json(changed)["metadata"]["generation"],
        7,
        "an explicit generation is kept"
    );
}
