//! Discovery documents, CRDs registered at run time, custom resources and apps resources.

use harness::apiserver::{FakeApiServer, crds};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

use super::support::{api_error, client, http};

async fn get(server: &FakeApiServer, path: &str) -> (u16, Value) {
    let resp = http()
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn version_api_and_apis_documents() {
    let server = FakeApiServer::start();
    let (code, version) = get(&server, "/version").await;
    assert_eq!(
        (code, version["gitVersion"].as_str()),
        (200, Some("v1.33.0"))
    );
    let (_, api) = get(&server, "/api").await;
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, apis) = get(&server, "/apis").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in [
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(groups.contains(&g), "{g} in {groups:?}");
    }
    assert!(
        !groups.contains(&""),
        "the core group is served at /api only"
    );
    assert_eq!(
        apis["groups"][0]["preferredVersion"],
        json!({"groupVersion": "apps/v1", "version": "v1"})
    );
}

#[tokio::test]
async fn core_resource_list_has_kinds_short_names_and_subresources() {
    let server = FakeApiServer::start();
    let (code, list) = get(&server, "/api/v1").await;
    assert_eq!(
        (code, list["kind"].as_str(), list["groupVersion"].as_str()),
        (200, Some("APIResourceList"), Some("v1"))
    );
    let find = |name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let pods = find("pods");
    assert_eq!(
        (pods["kind"].as_str(), pods["namespaced"].as_bool()),
        (Some("Pod"), Some(true))
    );
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]), "kubectl get all");
    assert!(find("configmaps").get("categories").is_none());
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert_eq!(find("pods/exec")["kind"], "PodExecOptions");
    assert_eq!(find("namespaces")["namespaced"], false);
    assert_eq!(
        get(&server, "/apis/apps/v1").await.1["resources"][0]["name"],
        "deployments"
    );
    assert_eq!(get(&server, "/apis/nope.io").await.0, 404);
}

#[tokio::test]
async fn crd_created_at_run_time_is_established_and_discovered() {
    let server = FakeApiServer::start();
    let client = client(&server).await;
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(crds::kafka_topic()).unwrap();
    let created = crd_api.create(&PostParams::default(), &crd).await.unwrap();
    let conditions = created.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let discovery = Discovery::new(client).run().await.unwrap();
    let group = discovery.get("kafka.strimzi.io").expect("group discovered");
    let (resource, caps) = group.recommended_kind("KafkaTopic").unwrap();
    assert_eq!(
        (resource.plural.as_str(), resource.version.as_str()),
        ("kafkatopics", "v1beta2")
    );
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        discovery
            .get("apps")
            .unwrap()
            .recommended_kind("Deployment")
            .is_some()
    );
}

#[tokio::test]
async fn custom_resources_crud_through_the_dynamic_api() {
    let server = FakeApiServer::builder()
        .crd(crds::spark_application())
        .crd(crds::kafka_user())
        .start();
    let client = client(&server).await;
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "sparkoperator.k8s.io",
        "v1beta2",
        "SparkApplication",
    ));
    let apps: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let app = json!({"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": {"name": "stream2raw", "labels": {"fink": "yes"}}, "spec": {"mode": "cluster"}, "status": {"ignored": true}});
    let created = apps
        .create(
            &PostParams::default(),
            &serde_json::from_value(app).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create when the CRD has a status subresource"
    );
    let listed = apps
        .list(&ListParams::default().labels("fink=yes"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let status = json!({"status": {"applicationState": {"state": "RUNNING"}}});
    apps.patch_status(
        "stream2raw",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
    let got = apps.get("stream2raw").await.unwrap();
    assert_eq!(got.data["status"]["applicationState"]["state"], "RUNNING");
    assert_eq!(got.metadata.generation, Some(1));
    apps.delete("stream2raw", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(apps.get("stream2raw").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn deleting_a_crd_stops_serving_its_resources() {
    let server = FakeApiServer::builder().crd(crds::kafka_topic()).start();
    server.apply_json(json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": {"name": "fink-alerts", "namespace": "kafka"}, "spec": {"partitions": 1}}));
    assert_eq!(
        get(
            &server,
            "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkatopics"
        )
        .await
        .1["items"][0]["metadata"]["name"],
        "fink-alerts"
    );
    let crd_api: Api<CustomResourceDefinition> = Api::all(client(&server).await);
    crd_api
        .delete("kafkatopics.kafka.strimzi.io", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        get(
            &server,
            "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkatopics"
        )
        .await
        .0,
        404
    );
    let (_, apis) = get(&server, "/apis").await;
    assert!(!apis.to_string().contains("kafka.strimzi.io"));
}

#[tokio::test]
async fn deployment_status_is_written_only_through_the_status_subresource() {
    let server = FakeApiServer::start();
    let deploys: Api<Deployment> = Api::default_namespaced(client(&server).await);
    let d = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}});
    let created = deploys
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    assert_eq!(
        created.spec.unwrap().replicas,
        Some(1),
        "replicas defaulted"
    );
    let status = json!({"status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
    let ignored = deploys
        .patch("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert!(ignored.status.is_none_or(|s| s.ready_replicas.is_none()));
    let ready = deploys
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(ready.status.unwrap().available_replicas, Some(1));
    let scaled = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    assert_eq!(scaled.status.unwrap().observed_generation, Some(1));
}
