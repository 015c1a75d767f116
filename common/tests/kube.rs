//! Kubernetes access and waits against the fake API server.

use std::time::{Duration, Instant};

use common::kube::retry::retry_transient;
use common::kube::wait::{
    Check, WaitError, is_deployment_rolled_out, is_node_ready, is_pod_ready, wait_all_ready,
    wait_for, watch_until,
};
use common::kube::{KubeArgs, KubeTarget};
use harness::apiserver::{FakeApiServer, Fault, FaultRule, Store};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(20);

fn pod(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
        "spec": {"containers": [{"name": "c", "image": "cilium"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

fn target(server: &FakeApiServer) -> KubeTarget {
    KubeTarget::load(&KubeArgs {
        kubeconfig: Some(server.kubeconfig().to_path_buf()),
        ..KubeArgs::default()
    })
    .unwrap()
}

async fn pods(server: &FakeApiServer) -> Api<Pod> {
    Api::namespaced(target(server).client().await.unwrap(), "kube-system")
}

fn cilium() -> watcher::Config {
    watcher::Config::default().labels("k8s-app=cilium")
}

#[tokio::test]
async fn client_reaches_the_server_named_in_the_kubeconfig() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", true));
    let target = target(&server);
    assert_eq!(target.server(), server.url());
    assert_eq!(target.namespace(), "default");
    let client = target.client().await.unwrap();
    let again = target.client().await.unwrap();
    let listed = Api::<Pod>::namespaced(client, "kube-system")
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        Api::<Pod>::default_namespaced(again)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn wait_all_ready_returns_once_every_selected_pod_is_ready() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", false));
    server.apply_json(pod("cilium-b", true));
    server.apply_json(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "other", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}));
    server.after(Duration::from_millis(300), |store: &Store| {
        store.apply_json(pod("cilium-a", true));
    });
    let ready = wait_all_ready(
        pods(&server).await,
        cilium(),
        is_pod_ready,
        TIMEOUT,
        "cilium pods",
    )
    .await
    .unwrap();
    let names: Vec<String> = ready
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["cilium-a", "cilium-b"]);
}

#[tokio::test]
async fn wait_all_ready_waits_for_pods_that_do_not_exist_yet() {
    let server = FakeApiServer::start();
    server.after(Duration::from_millis(300), |store: &Store| {
        store.apply_json(pod("cilium-late", true));
    });
    let ready = wait_all_ready(
        pods(&server).await,
        cilium(),
        is_pod_ready,
        TIMEOUT,
        "cilium pods",
    )
    .await
    .unwrap();
    assert_eq!(ready.len(), 1);
}

#[tokio::test]
async fn timeout_names_what_was_not_ready() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", true));
    server.apply_json(pod("cilium-stuck", false));
    let what = "pods -l k8s-app=cilium in kube-system to be ready";
    let err = wait_all_ready(
        pods(&server).await,
        cilium(),
        is_pod_ready,
        Duration::from_secs(2),
        what,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WaitError::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("timed out after 2s waiting for {what}: not ready: pod/cilium-stuck")
    );

    let err = wait_all_ready(
        pods(&server).await,
        watcher::Config::default().labels("app=none"),
        is_pod_ready,
        Duration::from_millis(500),
        "x",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("waiting for x: no matching object seen"),
        "{err}"
    );
}

#[tokio::test]
async fn transient_errors_and_dropped_watches_are_retried() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", false));
    let path = "/api/v1/namespaces/kube-system/pods";
    server.fault(
        FaultRule::new(Fault::Status(500))
            .path_prefix(path)
            .times(2),
    );
    server.after(Duration::from_millis(5000), |store: &Store| {
        store.apply_json(pod("cilium-a", true));
    });
    let wait = async {
        wait_all_ready(
            pods(&server).await,
            cilium(),
            is_pod_ready,
            TIMEOUT,
            "cilium pods",
        )
        .await
    };
    let disrupt = async {
        tokio::time::sleep(Duration::from_millis(4000)).await;
        server.drop_watches();
    };
    let (ready, ()) = tokio::join!(wait, disrupt);
    assert_eq!(ready.unwrap().len(), 1);
    let requests = server.requests().iter().filter(|r| r.path == path).count();
    assert!(
        requests >= 3,
        "two failed lists, then a list: {requests} requests"
    );
}

#[tokio::test]
async fn forbidden_ends_the_wait_at_once() {
    let server = FakeApiServer::start();
    server.fault(
        FaultRule::new(Fault::Status(403)).path_prefix("/api/v1/namespaces/kube-system/pods"),
    );
    let started = Instant::now();
    let err = wait_all_ready(
        pods(&server).await,
        cilium(),
        is_pod_ready,
        TIMEOUT,
        "cilium pods",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WaitError::Watch { .. }), "{err}");
    assert!(
        err.to_string().starts_with("cannot watch cilium pods: "),
        "{err}"
    );
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test]
async fn wait_for_uses_field_selectors_and_a_set_predicate() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", false));
    server.apply_json(pod("cilium-b", false));
    server.after(Duration::from_millis(300), |store: &Store| {
        store.apply_json(pod("cilium-b", true));
    });
    let cfg = watcher::Config::default().fields("metadata.name=cilium-b");
    let found = wait_for(
        pods(&server).await,
        cfg,
        |pods: &[Pod]| pods.iter().any(is_pod_ready),
        TIMEOUT,
        "pod cilium-b",
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].metadata.name.as_deref(), Some("cilium-b"));
}

#[tokio::test]
async fn nodes_and_deployments_become_ready() {
    let server = FakeApiServer::start();
    let node = |status: &str| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kind-control-plane"},
        "status": {"conditions": [{"type": "Ready", "status": status}]}})
    };
    server.apply_json(node("False"));
    server.after(Duration::from_millis(200), move |store: &Store| {
        store.apply_json(node("True"));
    });
    let client = target(&server).client().await.unwrap();
    let nodes = wait_all_ready(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        is_node_ready,
        TIMEOUT,
        "nodes",
    )
    .await
    .unwrap();
    assert_eq!(nodes.len(), 1);

    let deployment = |available: i32| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "olm-operator", "namespace": "olm"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "olm"}},
                 "template": {"metadata": {"labels": {"app": "olm"}}, "spec": {"containers": [{"name": "c", "image": "olm"}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": available}})
    };
    server.apply_json(deployment(0));
    server.after(Duration::from_millis(200), |store: &Store| {
        // The controller only updates the status: the generation stays observed.
        let status = json!({"status": {"availableReplicas": 1}});
        store.merge_patch_json(
            "apps/v1",
            "Deployment",
            Some("olm"),
            "olm-operator",
            &status,
        );
    });
    let cfg = watcher::Config::default().fields("metadata.name=olm-operator");
    let rolled = wait_all_ready(
        Api::<Deployment>::namespaced(client, "olm"),
        cfg,
        is_deployment_rolled_out,
        TIMEOUT,
        "deployment/olm-operator",
    )
    .await
    .unwrap();
    assert_eq!(rolled.len(), 1);
}

fn spark_app(name: &str, state: &str) -> Value {
    json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": "spark", "labels": {"app": "fink"}},
        "spec": {"type": "Python"},
        "status": {"applicationState": {"state": state}}
    })
}

fn spark_state(app: &DynamicObject) -> &str {
    app.data
        .pointer("/status/applicationState/state")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn spark_check(apps: &[DynamicObject]) -> Check {
    if let Some(failed) = apps.iter().find(|a| spark_state(a) == "FAILED") {
        return Check::Failed(format!(
            "{} FAILED",
            failed.metadata.name.as_deref().unwrap_or("?")
        ));
    }
    if !apps.is_empty() && apps.iter().all(|a| spark_state(a) == "RUNNING") {
        Check::Done
    } else {
        Check::Pending
    }
}

async fn spark_api(server: &FakeApiServer) -> (Api<DynamicObject>, ApiResource) {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "sparkoperator.k8s.io",
        "v1beta2",
        "SparkApplication",
    ));
    let client = target(server).client().await.unwrap();
    (Api::namespaced_with(client, "spark", &resource), resource)
}

#[tokio::test]
async fn watch_until_works_on_dynamic_objects() {
    let server = FakeApiServer::builder()
        .crd(harness::apiserver::crds::spark_application())
        .start();
    server.apply_json(spark_app("stream2raw", "SUBMITTED"));
    server.after(Duration::from_millis(300), |store: &Store| {
        store.apply_json(spark_app("stream2raw", "RUNNING"));
    });
    let (api, resource) = spark_api(&server).await;
    let cfg = watcher::Config::default().labels("app=fink");
    let apps = watch_until(
        api,
        resource,
        cfg,
        TIMEOUT,
        "spark applications",
        spark_check,
    )
    .await
    .unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(spark_state(&apps[0]), "RUNNING");
}

#[tokio::test]
async fn watch_until_stops_at_once_when_the_check_fails() {
    let server = FakeApiServer::builder()
        .crd(harness::apiserver::crds::spark_application())
        .start();
    server.apply_json(spark_app("raw2science", "SUBMITTED"));
    server.after(Duration::from_millis(300), |store: &Store| {
        store.apply_json(spark_app("raw2science", "FAILED"));
    });
    let (api, resource) = spark_api(&server).await;
    let started = Instant::now();
    let err = watch_until(
        api,
        resource,
        watcher::Config::default(),
        TIMEOUT,
        "raw2science",
        spark_check,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up waiting for raw2science: raw2science FAILED"
    );
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test]
async fn watch_until_timeout_names_dynamic_objects_by_kind() {
    let server = FakeApiServer::builder()
        .crd(harness::apiserver::crds::spark_application())
        .start();
    server.apply_json(spark_app("distribution", "SUBMITTED"));
    let (api, resource) = spark_api(&server).await;
    let err = watch_until(
        api,
        resource,
        watcher::Config::default(),
        Duration::from_secs(2),
        "distribution",
        spark_check,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 2s waiting for distribution: condition not met on sparkapplication/distribution"
    );
}

/// A client without kube's own retry layer, so that `retry_transient` alone is exercised.
fn client_without_kube_retries(server: &FakeApiServer) -> kube::Client {
    let mut config = target(server).config().clone();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

fn requests_to(server: &FakeApiServer, method: &str, path: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[tokio::test]
async fn server_side_apply_is_retried_after_500s() {
    let server = FakeApiServer::start();
    let path = "/api/v1/namespaces/default/pods/stream2raw";
    server.fault(
        FaultRule::new(Fault::Status(500))
            .method("PATCH")
            .path_prefix(path)
            .times(2),
    );
    let pods: Api<Pod> = Api::default_namespaced(client_without_kube_retries(&server));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stream2raw"},
        "spec": {"containers": [{"name": "c", "image": "fink"}]}});
    let params = kube::api::PatchParams::apply("finkctl").force();
    let patch = kube::api::Patch::Apply(&pod);
    let applied = retry_transient("apply pod/stream2raw", || {
        pods.patch("stream2raw", &params, &patch)
    })
    .await
    .unwrap();
    assert_eq!(applied.metadata.name.as_deref(), Some("stream2raw"));
    assert_eq!(requests_to(&server, "PATCH", path), 3);
}

#[tokio::test]
async fn throttling_waits_for_retry_after() {
    let server = FakeApiServer::start();
    server.apply_json(pod("cilium-a", true));
    let path = "/api/v1/namespaces/kube-system/pods/cilium-a";
    server.fault(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 1,
        })
        .path_prefix(path)
        .times(1),
    );
    let pods: Api<Pod> = Api::namespaced(client_without_kube_retries(&server), "kube-system");
    let started = Instant::now();
    let got = retry_transient("get pod/cilium-a", || pods.get("cilium-a"))
        .await
        .unwrap();
    assert_eq!(got.metadata.name.as_deref(), Some("cilium-a"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(requests_to(&server, "GET", path), 2);
}

#[tokio::test]
async fn not_found_is_not_retried_and_persistent_500s_give_up() {
    let server = FakeApiServer::start();
    let pods: Api<Pod> = Api::namespaced(client_without_kube_retries(&server), "kube-system");
    let err = retry_transient("get pod/missing", || pods.get("missing"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err}"
    );
    assert_eq!(
        requests_to(
            &server,
            "GET",
            "/api/v1/namespaces/kube-system/pods/missing"
        ),
        1
    );

    let path = "/api/v1/namespaces/kube-system/pods/broken";
    server.fault(FaultRule::new(Fault::Status(500)).path_prefix(path));
    let err = retry_transient("get pod/broken", || pods.get("broken"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 500),
        "{err}"
    );
    assert_eq!(
        requests_to(&server, "GET", path),
        common::kube::retry::ATTEMPTS as usize
    );
}

/// A kubeconfig file for `server` (harness::unreachable), kept in `dir`.
fn unreachable_target(
    dir: &std::path::Path,
    server: &str,
    ca: Option<&std::path::Path>,
) -> KubeTarget {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, harness::unreachable::kubeconfig(server, ca)).unwrap();
    KubeTarget::load(&KubeArgs {
        kubeconfig: Some(path),
        ..KubeArgs::default()
    })
    .unwrap()
}

#[tokio::test]
async fn every_client_has_timeouts_and_within_bounds_a_silent_server() {
    use common::kube::{CONNECT_TIMEOUT, Deadline, KubeError, READ_TIMEOUT};
    let dir = tempfile::tempdir().unwrap();
    for silent in [
        harness::unreachable::SilentServer::plain(),
        harness::unreachable::SilentServer::tls(),
    ] {
        let target = unreachable_target(dir.path(), silent.url(), silent.ca());
        assert_eq!(target.config().read_timeout, Some(READ_TIMEOUT));
        assert_eq!(target.config().connect_timeout, Some(CONNECT_TIMEOUT));
        let client = target.client().await.unwrap();
        let api: Api<Pod> = Api::namespaced(client, "spark");
        let params = kube::api::ListParams::default();
        let err = target
            .within(
                Deadline::after(Duration::from_millis(500)),
                "listing pods",
                retry_transient("listing pods", || api.list(&params)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, KubeError::TimedOut { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "timed out after 500ms listing pods: the API server {} did not answer in time (check that it is reachable, or allow more time with --timeout)",
                silent.url()
            )
        );
    }
}

#[tokio::test]
async fn refused_connections_and_untrusted_certificates_end_a_watch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tls = harness::unreachable::SilentServer::tls();
    for (server, cause) in [
        (
            harness::unreachable::closed_port_url(),
            "Connection refused",
        ),
        (tls.url().to_string(), "invalid peer certificate"),
    ] {
        let target = unreachable_target(dir.path(), &server, None);
        let api: Api<Pod> = Api::namespaced(target.client().await.unwrap(), "spark");
        let err = wait_for(
            api,
            watcher::Config::default(),
            |p| !p.is_empty(),
            TIMEOUT,
            "pods",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, WaitError::Watch { .. }), "{err}");
        assert!(err.to_string().contains(cause), "{err}");
    }
}
