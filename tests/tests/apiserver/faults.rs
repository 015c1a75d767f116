//! Injected faults (500, 429 with Retry-After) and the request log.

use harness::apiserver::{FakeApiServer, Fault, FaultRule};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::support::{api_error, client, http};

#[tokio::test]
async fn injected_500_answers_internal_error_then_is_spent() {
    let server = FakeApiServer::start();
    server.fault(
        FaultRule::new(Fault::Status(500))
            .method("GET")
            .path_prefix("/api/v1/namespaces/default/configmaps")
            .times(1),
    );
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    assert_eq!(
        api_error(cms.get("c").await.unwrap_err()),
        (500, "InternalError".into())
    );
    assert_eq!(
        api_error(cms.get("c").await.unwrap_err()),
        (404, "NotFound".into())
    );
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let server = FakeApiServer::start();
    server.fault(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 2,
        })
        .path_prefix("/api/v1/namespaces"),
    );
    let resp = http()
        .get(format!("{}/api/v1/namespaces/default", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 2);
    server.clear_faults();
    let ok = http()
        .get(format!("{}/api/v1/namespaces/default", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn faults_can_target_watch_requests_only() {
    let server = FakeApiServer::start();
    server.fault(FaultRule::new(Fault::Status(503)).query_contains("watch="));
    let base = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    assert_eq!(
        http().get(&base).send().await.unwrap().status().as_u16(),
        200
    );
    assert_eq!(
        http()
            .get(format!("{base}?watch=1"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
}

#[tokio::test]
async fn request_log_records_method_path_query_and_body() {
    let server = FakeApiServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).unwrap();
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &cm,
    )
    .await
    .unwrap();
    assert!(
        server
            .get_json("v1", "ConfigMap", Some("default"), "c")
            .is_none(),
        "dry run stores nothing"
    );
    let log = server.requests();
    let post = log.last().unwrap();
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/api/v1/namespaces/default/configmaps")
    );
    assert_eq!(post.query_param("dryRun").as_deref(), Some("All"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&post.body).unwrap()["data"],
        json!({"k": "v"})
    );
    assert_eq!(post.content_type, "application/json");
    server.clear_requests();
    assert!(server.requests().is_empty());
}
