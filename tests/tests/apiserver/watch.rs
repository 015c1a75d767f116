//! Watch streams: event types, resume, 410 Gone, bookmarks, streaming lists, selectors,
//! timeouts, dropped connections, and scheduled state changes seen by kube's watcher.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use harness::apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, wait::await_condition, watcher};
use serde_json::json;
use tokio::time::timeout;

use super::support::{client, http, pod};

const LIMIT: Duration = Duration::from_secs(10);

fn cm(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}})
}

/// Type and object name of each non-bookmark event.
fn summary(e: &WatchEvent<ConfigMap>) -> Option<(String, String)> {
    let (t, o) = match e {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        _ => return None,
    };
    Some((t.into(), o.metadata.name.clone().unwrap_or_default()))
}

async fn collect(
    api: &Api<ConfigMap>,
    wp: &WatchParams,
    rv: &str,
    n: usize,
) -> Vec<(String, String)> {
    let stream = api.watch(wp, rv).await.unwrap();
    let events = stream
        .filter_map(|e| async move { summary(&e.unwrap()) })
        .take(n)
        .collect::<Vec<_>>();
    timeout(LIMIT, events).await.expect("watch events in time")
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn watch_streams_added_modified_deleted() {
    let server = FakeApiServer::start();
    server.apply_json(cm("old", "1"));
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    // The initial state is snapshotted before `watch` returns: later writes arrive as events.
    let stream = api.watch(&WatchParams::default(), "0").await.unwrap();
    let s = server.store();
    s.apply_json(cm("new", "1"));
    s.merge_patch_json(
        "v1",
        "ConfigMap",
        Some("default"),
        "new",
        &json!({"data": {"v": "2"}}),
    );
    s.delete_json("v1", "ConfigMap", Some("default"), "old");
    let events = stream
        .filter_map(|e| async move { summary(&e.unwrap()) })
        .take(4)
        .collect::<Vec<_>>();
    let got = timeout(LIMIT, events).await.expect("watch events in time");
    assert_eq!(
        got,
        pairs(&[
            ("ADDED", "old"),
            ("ADDED", "new"),
            ("MODIFIED", "new"),
            ("DELETED", "old")
        ])
    );
}

#[tokio::test]
async fn watch_is_newline_delimited_json_on_the_wire() {
    let server = FakeApiServer::start();
    server.apply_json(cm("a", "1"));
    let resp = http()
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = timeout(LIMIT, resp.text()).await.unwrap().unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["type"], "ADDED");
    assert_eq!(lines[0]["object"]["metadata"]["name"], "a");
}

#[tokio::test]
async fn watch_resumes_after_a_resource_version() {
    let server = FakeApiServer::start();
    server.apply_json(cm("a", "1"));
    let rv = server.store().resource_version().to_string();
    server.apply_json(cm("b", "1"));
    server.apply_json(cm("a", "2"));
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let got = collect(&api, &WatchParams::default(), &rv, 2).await;
    assert_eq!(got, pairs(&[("ADDED", "b"), ("MODIFIED", "a")]));
}

#[tokio::test]
async fn watch_from_expired_resource_version_gets_410_gone() {
    let server = FakeApiServer::builder().watch_history(3).start();
    for i in 0..10 {
        server.apply_json(cm("a", &i.to_string()));
    }
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let mut stream = api
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match timeout(LIMIT, stream.next()).await.unwrap() {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status.message.starts_with("too old resource version: 2"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        timeout(LIMIT, stream.next()).await.unwrap().is_none(),
        "stream ends after the error"
    );
}

#[tokio::test]
async fn watch_sends_bookmarks_when_allowed() {
    let server = FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let rv = server.store().resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match timeout(LIMIT, stream.next()).await.unwrap() {
        Some(Ok(WatchEvent::Bookmark(b))) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a BOOKMARK, got {other:?}"),
    }
    let log = server.requests();
    assert_eq!(
        log.last()
            .unwrap()
            .query_param("allowWatchBookmarks")
            .as_deref(),
        Some("true")
    );
}

#[tokio::test]
async fn watch_without_bookmarks_gets_none() {
    let server = FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(50))
        .start();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    server.after(Duration::from_millis(400), |s| {
        s.apply_json(cm("late", "1"));
    });
    let wp = WatchParams::default().disable_bookmarks();
    let mut stream = api
        .watch(&wp, &server.store().resource_version().to_string())
        .await
        .unwrap()
        .boxed();
    match timeout(LIMIT, stream.next()).await.unwrap() {
        Some(Ok(WatchEvent::Added(o))) => assert_eq!(o.metadata.name.as_deref(), Some("late")),
        other => panic!("expected the ADDED event first, got {other:?}"),
    }
}

#[tokio::test]
async fn streaming_list_sends_initial_events_then_end_bookmark() {
    let server = FakeApiServer::start();
    server.apply_json(cm("a", "1"));
    server.apply_json(cm("b", "1"));
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let mut stream = api
        .watch(&WatchParams::streaming_lists(), "0")
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    loop {
        match timeout(LIMIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(o) => seen.push(o.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["a", "b"]);
}

#[tokio::test]
async fn kube_watcher_streaming_list_mode_works() {
    let server = FakeApiServer::start();
    server.apply_json(cm("a", "1"));
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let cfg = watcher::Config::default().streaming_lists();
    server.after(Duration::from_millis(300), |s| {
        s.apply_json(cm("b", "1"));
    });
    let names = watcher(api, cfg)
        .applied_objects()
        .map_ok(|o| o.metadata.name.unwrap())
        .take(2)
        .try_collect::<Vec<_>>();
    assert_eq!(timeout(LIMIT, names).await.unwrap().unwrap(), ["a", "b"]);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.query_param("sendInitialEvents").as_deref() == Some("true"))
    );
}

#[tokio::test]
async fn watch_with_selector_sees_objects_move_in_and_out() {
    let server = FakeApiServer::start();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    server.after(Duration::from_millis(200), |s| {
        s.apply_json(cm("c", "1"));
        s.merge_patch_json(
            "v1",
            "cm",
            Some("default"),
            "c",
            &json!({"metadata": {"labels": {"app": "x"}}}),
        );
        s.merge_patch_json(
            "v1",
            "cm",
            Some("default"),
            "c",
            &json!({"data": {"v": "2"}}),
        );
        s.merge_patch_json(
            "v1",
            "cm",
            Some("default"),
            "c",
            &json!({"metadata": {"labels": {"app": "y"}}}),
        );
    });
    let rv = server.store().resource_version().to_string();
    let got = collect(&api, &WatchParams::default().labels("app=x"), &rv, 3).await;
    assert_eq!(
        got,
        pairs(&[("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "c")])
    );
}

#[tokio::test]
async fn watch_ends_at_timeout_seconds() {
    let server = FakeApiServer::start();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    let wp = WatchParams::default().timeout(1).disable_bookmarks();
    let stream = api
        .watch(&wp, &server.store().resource_version().to_string())
        .await
        .unwrap();
    let events = timeout(LIMIT, stream.collect::<Vec<_>>())
        .await
        .expect("stream ends by itself");
    assert!(events.is_empty());
}

#[tokio::test]
async fn dropped_watch_is_resumed_by_kube_watcher() {
    let server = FakeApiServer::start();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&server).await);
    server.apply_json(cm("first", "1"));
    // Poll the watcher continuously, as a tool's wait loop does.
    let (tx, mut names) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = watcher(api, watcher::Config::default())
        .applied_objects()
        .boxed();
    tokio::spawn(async move {
        while let Some(Ok(o)) = stream.next().await {
            if tx.send(o.metadata.name.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    assert_eq!(
        timeout(LIMIT, names.recv()).await.unwrap().as_deref(),
        Some("first")
    );
    let watch_count = || {
        server
            .requests()
            .iter()
            .filter(|r| r.query.contains("watch=true"))
            .count()
    };
    let watching = async {
        while watch_count() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(LIMIT, watching)
        .await
        .expect("the watcher watches after its list");
    server.drop_watches();
    server.apply_json(cm("second", "1"));
    assert_eq!(
        timeout(LIMIT, names.recv()).await.unwrap().as_deref(),
        Some("second")
    );
    assert!(
        watch_count() >= 2,
        "the watcher watched again after the drop"
    );
}

#[tokio::test]
async fn pod_becomes_ready_at_a_given_moment() {
    let server = FakeApiServer::start();
    server.apply_json(pod("default", "kafka-0", json!({})));
    server.after(Duration::from_millis(500), |s| {
        s.mark_pod_ready("default", "kafka-0").expect("pod exists");
    });
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    assert_eq!(
        pods.get("kafka-0")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );
    let ready = |p: Option<&Pod>| {
        p.and_then(|p| {
            p.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.status == "True")
        })
        .unwrap_or(false)
    };
    let pod = timeout(LIMIT, await_condition(pods, "kafka-0", ready))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
}

#[test]
#[should_panic(expected = "a change scheduled with `after` panicked: pod exists")]
fn panics_in_scheduled_changes_fail_the_test() {
    let server = FakeApiServer::start();
    server.after(Duration::ZERO, |s| {
        s.mark_pod_ready("default", "missing").expect("pod exists");
    });
    std::thread::sleep(Duration::from_millis(300));
    drop(server);
}
