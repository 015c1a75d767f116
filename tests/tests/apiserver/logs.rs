//! `pods/log` and events of the fake: lines per container run, `previous`, `follow` to the end of
//! the run or a dropped stream, `tailLines`, `timestamps`, `sinceTime`, and the kubelet's 400s.

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use harness::apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use serde_json::{Value, json};

use super::support::client;

/// Pod `p` on node `n`, container `c` in run `restarts` (running), the previous run OOMKilled.
fn pod_on_node(restarts: u32) -> Value {
    let mut status = json!({"name": "c", "restartCount": restarts, "ready": true,
        "state": {"running": {"startedAt": "2026-12-06T00:00:00Z"}}});
    if restarts > 0 {
        status["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "containerID": "containerd://1"}});
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "containerStatuses": [status]},
    })
}

fn message(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

#[tokio::test]
async fn current_and_previous_runs_tail_and_timestamps() {
    let server = FakeApiServer::start();
    server.apply_json(pod_on_node(0));
    server.append_log("default", "p", "c", 0, &["one", "two", "three"]);
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    assert_eq!(
        pods.logs("p", &LogParams::default()).await.unwrap(),
        "one\ntwo\nthree\n"
    );
    let previous = LogParams {
        previous: true,
        ..Default::default()
    };
    assert_eq!(
        message(pods.logs("p", &previous).await.unwrap_err()),
        (
            400,
            "previous terminated container \"c\" in pod \"p\" not found".into()
        )
    );
    // The container restarted: run 1 is current, run 0 previous.
    server.apply_json(pod_on_node(1));
    server.append_log("default", "p", "c", 1, &["again"]);
    assert_eq!(
        pods.logs("p", &LogParams::default()).await.unwrap(),
        "again\n"
    );
    assert_eq!(
        pods.logs("p", &previous).await.unwrap(),
        "one\ntwo\nthree\n"
    );
    let tail = LogParams {
        previous: true,
        tail_lines: Some(1),
        timestamps: true,
        ..Default::default()
    };
    let text = pods.logs("p", &tail).await.unwrap();
    let (at, line) = text.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "three");
    assert!(
        at.ends_with('Z') && at.len() == "2026-12-06T00:00:00.000000000Z".len(),
        "{at}"
    );
    // sinceTime (kube-rs sends whole seconds) before the lines keeps them; a later one drops them.
    let at: k8s_openapi::jiff::Timestamp = at.parse().unwrap();
    let since = LogParams {
        previous: true,
        since_time: Some(at - k8s_openapi::jiff::SignedDuration::from_secs(1)),
        ..Default::default()
    };
    assert_eq!(pods.logs("p", &since).await.unwrap(), "one\ntwo\nthree\n");
    let later: k8s_openapi::jiff::Timestamp = "2099-01-01T00:00:00Z".parse().unwrap();
    let since = LogParams {
        previous: true,
        since_time: Some(later),
        ..Default::default()
    };
    assert_eq!(pods.logs("p", &since).await.unwrap(), "");
}

#[tokio::test]
async fn a_waiting_container_has_no_log_yet() {
    let server = FakeApiServer::start();
    let mut pod = pod_on_node(0);
    pod["status"]["containerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "ImagePullBackOff"}});
    server.apply_json(pod);
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    assert_eq!(
        message(pods.logs("p", &LogParams::default()).await.unwrap_err()),
        (
            400,
            "container \"c\" in pod \"p\" is waiting to start: trying and failing to pull image"
                .into()
        )
    );
}

async fn next_line(
    lines: &mut (impl futures::Stream<Item = std::io::Result<String>> + Unpin),
) -> Option<String> {
    lines.try_next().await.unwrap()
}

#[tokio::test]
async fn follow_streams_until_the_run_ends_or_the_stream_drops() {
    let server = FakeApiServer::start();
    server.apply_json(pod_on_node(0));
    server.append_log("default", "p", "c", 0, &["first"]);
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    let follow = LogParams {
        follow: true,
        ..Default::default()
    };
    let mut lines = pods.log_stream("p", &follow).await.unwrap().lines();
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("first"));
    server.append_log("default", "p", "c", 0, &["second"]);
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("second"));
    server.drop_watches();
    assert_eq!(next_line(&mut lines).await, None);
    let mut lines = pods.log_stream("p", &follow).await.unwrap().lines();
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("first"));
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("second"));
    server.end_log("default", "p", "c", 0);
    assert_eq!(next_line(&mut lines).await, None);
}

#[tokio::test]
async fn emitted_events_are_listed_and_watched_by_involved_object() {
    let server = FakeApiServer::start();
    let pod = server.apply_json(pod_on_node(0));
    let events: Api<Event> = Api::default_namespaced(client(&server).await);
    let watch = kube::runtime::watcher(
        events.clone(),
        kube::runtime::watcher::Config::default().fields("involvedObject.name=p,type=Warning"),
    );
    let mut watch = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(watch));
    server.emit_event(&pod, "Normal", "Started", "Started container c", "kubelet");
    server.emit_event(
        &pod,
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
        "kubelet",
    );
    let seen = watch.next().await.unwrap().unwrap();
    assert_eq!(seen.reason.as_deref(), Some("BackOff"));
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let listed = events
        .list(&ListParams::default().fields(&format!("involvedObject.uid={uid}")))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    assert_eq!(listed.items[0].involved_object.kind.as_deref(), Some("Pod"));
}
