//! Label and field selectors on list, through kube-rs.

use harness::apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;

use super::support::{api_error, client, pod};

fn seed(server: &FakeApiServer) {
    let mut a = pod(
        "default",
        "driver-1",
        json!({"spark-role": "driver", "spark-app-selector": "a1"}),
    );
    a["spec"]["nodeName"] = json!("node-1");
    a["status"] = json!({"phase": "Running"});
    server.apply_json(a);
    let mut b = pod(
        "default",
        "exec-1",
        json!({"spark-role": "executor", "spark-app-selector": "a1"}),
    );
    b["spec"]["nodeName"] = json!("node-2");
    b["status"] = json!({"phase": "Pending"});
    server.apply_json(b);
    server.apply_json(pod("default", "plain", json!({"app": "web"})));
    server.apply_json(pod(
        "kube-system",
        "etcd-kind-control-plane",
        json!({"component": "etcd"}),
    ));
}

async fn names(api: &Api<Pod>, lp: &ListParams) -> Vec<String> {
    api.list(lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect()
}

#[tokio::test]
async fn label_selector_operators() {
    let server = FakeApiServer::start();
    seed(&server);
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    for (selector, want) in [
        ("spark-role=driver", vec!["driver-1"]),
        ("spark-role==executor", vec!["exec-1"]),
        ("spark-role!=driver", vec!["exec-1", "plain"]),
        (
            "spark-role in (driver,executor)",
            vec!["driver-1", "exec-1"],
        ),
        ("spark-role notin (driver)", vec!["exec-1", "plain"]),
        ("spark-app-selector", vec!["driver-1", "exec-1"]),
        ("!spark-app-selector", vec!["plain"]),
        ("spark-app-selector,spark-role=executor", vec!["exec-1"]),
    ] {
        assert_eq!(
            names(&pods, &ListParams::default().labels(selector)).await,
            want,
            "{selector}"
        );
    }
}

#[tokio::test]
async fn label_selector_across_namespaces() {
    let server = FakeApiServer::start();
    seed(&server);
    let all: Api<Pod> = Api::all(client(&server).await);
    assert_eq!(
        names(&all, &ListParams::default().labels("component=etcd")).await,
        ["etcd-kind-control-plane"]
    );
}

#[tokio::test]
async fn field_selectors() {
    let server = FakeApiServer::start();
    seed(&server);
    let all: Api<Pod> = Api::all(client(&server).await);
    for (selector, want) in [
        ("metadata.name=exec-1", vec!["exec-1"]),
        (
            "metadata.namespace=kube-system",
            vec!["etcd-kind-control-plane"],
        ),
        ("status.phase=Running", vec!["driver-1"]),
        (
            "status.phase!=Running,metadata.namespace==default",
            vec!["exec-1", "plain"],
        ),
        ("spec.nodeName=node-2", vec!["exec-1"]),
    ] {
        assert_eq!(
            names(&all, &ListParams::default().fields(selector)).await,
            want,
            "{selector}"
        );
    }
}

#[tokio::test]
async fn unsupported_field_label_is_400() {
    let server = FakeApiServer::start();
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    let err = pods
        .list(&ListParams::default().fields("spec.image=x"))
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (400, "BadRequest".into()));
    let err = pods
        .list(&ListParams::default().labels("a in b"))
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 400);
}
