//! Failure triage against the fake API server: `status` (both backends, one list per kind),
//! `logs` (driver, executors, previous, `-f` across a dropped stream and a restart), `events`
//! (Warnings first, `-w`), the fail-fast of `wait tasks` / `wait topics` and the `--diag-dir`
//! bundle (read-only).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use harness::apiserver::{FakeApiServer, RequestRecord};
use predicates::prelude::*;
use serde_json::{Value, json};

use crate::support::{Cluster, spark_pod, stdout};

impl Cluster {
    /// `finkctl args…` running in the background, its stdout lines sent to the receiver.
    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("finkctl"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }
}

/// The next line, or a failure naming what was expected (a safety net, not a timing check).
fn next(lines: &mpsc::Receiver<String>, expected: &str) -> String {
    lines
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no output line; expected {expected:?}"))
}

const EXECUTOR: &str = "spark-kubernetes-executor";

fn running(container: &str, restarts: u32) -> Value {
    let mut status = json!({"name": container, "restartCount": restarts, "ready": true, "image": "fink-broker", "imageID": "",
        "containerID": "containerd://run", "state": {"running": {"startedAt": "2026-12-06T00:00:00Z"}}});
    if restarts > 0 {
        status["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "containerID": "containerd://before"}});
    }
    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [status]})
}

/// OOMKilled after 14 minutes, 37 times, now in CrashLoopBackOff.
fn oom_killed() -> Value {
    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [{
        "name": EXECUTOR, "restartCount": 37, "ready": false, "image": "fink-broker", "imageID": "",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "containerID": "containerd://37",
            "startedAt": "2026-12-06T00:40:00Z", "finishedAt": "2026-12-06T00:54:00Z"}},
    }]})
}

const OOM_LINE: &str =
    "fink-distribution-exec-2/executor: OOMKilled (exit 137) after 14m, limit 2Gi, 37 restarts";

/// `distribution` under the operator (driver, a healthy executor 1, an OOMKilled executor 2)
/// and `stream2raw` by spark-submit (driver and one executor).
fn seed_both_backends(cluster: &Cluster) {
    let server = &cluster.server;
    server.apply_json(json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "fink-distribution", "namespace": "spark"},
        "spec": {"type": "Python"},
        "status": {"applicationState": {"state": "RUNNING"}, "submissionAttempts": 1, "executionAttempts": 1,
                   "lastSubmissionAttemptTime": "2026-12-06T00:30:00Z"},
    }));
    let operator = json!({"sparkoperator.k8s.io/app-name": "fink-distribution", "spark-app-selector": "spark-d"});
    server.apply_json(spark_pod(
        "fink-distribution-driver",
        "driver",
        operator.clone(),
        running("spark-kubernetes-driver", 0),
    ));
    let mut exec = operator.clone();
    exec["spark-exec-id"] = json!("1");
    server.apply_json(spark_pod(
        "fink-distribution-exec-1",
        "executor",
        exec.clone(),
        running(EXECUTOR, 0),
    ));
    exec["spark-exec-id"] = json!("2");
    server.apply_json(spark_pod(
        "fink-distribution-exec-2",
        "executor",
        exec,
        oom_killed(),
    ));
    server.apply_json(spark_pod(
        "stream2raw-20261206-0000abcd-driver",
        "driver",
        json!({"spark-app-selector": "spark-s"}),
        running("spark-kubernetes-driver", 0),
    ));
    server.apply_json(spark_pod(
        "stream2raw-py-1234-exec-1",
        "executor",
        json!({"spark-app-selector": "spark-s", "spark-exec-id": "1"}),
        running(EXECUTOR, 0),
    ));
}

fn reads_only(requests: &[RequestRecord]) {
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "requests other than GET: {writes:?}");
}

// ---------- status ----------

#[test]
fn status_shows_both_backends_from_one_list_per_kind() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    cluster.server.clear_requests();
    let assert = cluster.finkctl().args(["status"]).assert().success();
    let text = stdout(&assert);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("stream2raw: RUNNING (spark-submit), attempts 1, submitted "),
        "{text}"
    );
    assert!(
        text.contains(
            "distribution: RUNNING (spark-operator), attempts 1, submitted 2026-12-06T00:30:00Z, last transition 2026-12-06T00:30:00Z\n"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("  ! {OOM_LINE}\n")), "{text}");
    let row = lines
        .iter()
        .find(|l| l.trim_start().starts_with("fink-distribution-exec-2 "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "fink-distribution-exec-2",
            "executor",
            "Running/CrashLoopBackOff",
            "false",
            "37",
            "OOMKilled",
            "(137)",
            "14m",
            "cpu=1,memory=2Gi",
            "memory=2Gi"
        ]
    );
    // One list of SparkApplications and one of Spark pods; no request per pod.
    let requests: Vec<String> = cluster
        .server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        requests,
        [
            "GET /apis/sparkoperator.k8s.io/v1beta2/namespaces/spark/sparkapplications",
            "GET /api/v1/namespaces/spark/pods"
        ]
    );

    let assert = cluster
        .finkctl()
        .args(["status", "distribution", "raw2science", "-o", "json"])
        .assert()
        .success();
    let tasks: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    assert_eq!(tasks[0]["task"], "distribution");
    assert_eq!(tasks[0]["backend"], "spark-operator");
    assert_eq!(tasks[0]["executionAttempts"], 1);
    assert_eq!(tasks[0]["driver"]["name"], "fink-distribution-driver");
    let oom = &tasks[0]["executors"][1];
    assert_eq!(
        (
            &oom["problem"],
            &oom["restarts"],
            &oom["lastTermination"]["exitCode"],
            &oom["limits"]["memory"]
        ),
        (&json!("OOMKilled"), &json!(37), &json!(137), &json!("2Gi"))
    );
    assert_eq!(tasks[1]["task"], "raw2science");
    assert_eq!(tasks[1]["state"], "NOT_FOUND");
    let assert = cluster
        .finkctl()
        .args(["status", "s2r", "-o", "yaml"])
        .assert()
        .success();
    assert!(
        stdout(&assert).contains("backend: spark-submit"),
        "{}",
        stdout(&assert)
    );
}

#[test]
fn status_without_the_operator_crd_reads_the_driver_pods() {
    let cluster = Cluster::with(FakeApiServer::start());
    cluster.server.apply_json(spark_pod(
        "raw2science-20261206-00000001-driver",
        "driver",
        json!({}),
        json!({"phase": "Failed", "containerStatuses": [{"name": "spark-kubernetes-driver", "restartCount": 0,
            "ready": false, "image": "i", "imageID": "",
            "state": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "containerd://1"}}}]}),
    ));
    let assert = cluster.finkctl().args(["status"]).assert().success();
    let text = stdout(&assert);
    assert!(
        text.starts_with("raw2science: FAILED (spark-submit), attempts 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "  ! raw2science-20261206-00000001-driver/driver: Failed, last Error (exit 1)\n"
        ),
        "{text}"
    );
}

#[test]
fn status_diag_dir_writes_the_bundle_of_the_abnormal_pods_with_reads_only() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    let server = &cluster.server;
    let pod = "fink-distribution-exec-2";
    server.append_log(
        "spark",
        pod,
        EXECUTOR,
        36,
        &["loading alerts", "java.lang.OutOfMemoryError"],
    );
    server.append_log("spark", pod, EXECUTOR, 37, &["starting again"]);
    let object = cluster.pod(pod);
    server.emit_event(
        &object,
        "Normal",
        "Pulled",
        "Container image already present",
        "kubelet",
    );
    server.emit_event(
        &object,
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
        "kubelet",
    );
    let healthy = cluster.pod("fink-distribution-exec-1");
    server.emit_event(
        &healthy,
        "Warning",
        "Unhealthy",
        "not about the failed pod",
        "kubelet",
    );
    server.clear_requests();
    let diag = cluster.dir.path().join("diag");
    cluster
        .finkctl()
        .args(["status", "--diag-dir", diag.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "Diagnostic bundle of 1 abnormal pods: ",
        ));
    reads_only(&server.requests());
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(diag.join("diag.json")).unwrap()).unwrap();
    let pods = bundle["abnormalPods"].as_array().unwrap();
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p["errorLine"], OOM_LINE);
    assert_eq!(p["waiting"], "CrashLoopBackOff");
    let reasons: Vec<&str> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["BackOff", "Pulled"]);
    // Run 37 waits to start: the kubelet gives the last run's log as the current one too.
    assert_eq!(p["currentLog"]["lines"], p["previousLog"]["lines"]);
    assert_eq!(
        p["previousLog"]["lines"],
        json!(["loading alerts", "java.lang.OutOfMemoryError"])
    );
    let text = std::fs::read_to_string(diag.join("diag.txt")).unwrap();
    assert!(text.contains(&format!("=== {OOM_LINE}\n")), "{text}");
    assert!(
        text.contains(
            "--- previous log (last 200 lines)\nloading alerts\njava.lang.OutOfMemoryError\n"
        ),
        "{text}"
    );
}

// ---------- logs ----------

#[test]
fn logs_of_the_driver_an_executor_every_executor_and_a_previous_run() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    let server = &cluster.server;
    server.append_log(
        "spark",
        "fink-distribution-driver",
        "spark-kubernetes-driver",
        0,
        &["driver 1", "driver 2", "driver 3"],
    );
    server.append_log(
        "spark",
        "fink-distribution-exec-1",
        EXECUTOR,
        0,
        &["exec one"],
    );
    server.append_log(
        "spark",
        "fink-distribution-exec-2",
        EXECUTOR,
        36,
        &["oom soon"],
    );
    cluster
        .finkctl()
        .args(["logs", "distribution", "--tail", "2"])
        .assert()
        .success()
        .stdout("driver 2\ndriver 3\n");
    cluster
        .finkctl()
        .args(["logs", "d", "--executor", "2", "--previous"])
        .assert()
        .success()
        .stdout("oom soon\n");
    cluster
        .finkctl()
        .args(["logs", "d", "--all-executors", "--previous"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "previous terminated container \"spark-kubernetes-executor\" in pod \"fink-distribution-exec-1\" not found",
        ));
    server.end_log("spark", "fink-distribution-exec-1", EXECUTOR, 0);
    let mut exec2 = cluster.pod("fink-distribution-exec-2");
    exec2["status"] = running(EXECUTOR, 37);
    server.apply_json(exec2);
    server.append_log("spark", "fink-distribution-exec-2", EXECUTOR, 37, &["back"]);
    cluster
        .finkctl()
        .args(["logs", "d", "--all-executors"])
        .assert()
        .success()
        .stdout("[fink-distribution-exec-1] exec one\n[fink-distribution-exec-2] back\n");
    cluster
        .finkctl()
        .args(["logs", "stream2raw", "--executor", "3"])
        .assert()
        .code(1)
        .stderr("error: task stream2raw has no executor 3 in namespace spark\n");
}

#[test]
fn logs_follow_loses_and_doubles_nothing_across_a_dropped_stream_and_a_restart() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    let server = &cluster.server;
    let (driver, container) = (
        "stream2raw-20261206-0000abcd-driver",
        "spark-kubernetes-driver",
    );
    server.append_log("spark", driver, container, 0, &["a", "b"]);
    let (mut child, lines) = cluster.spawn(&["logs", "s2r", "-f"]);
    assert_eq!(next(&lines, "a"), "a");
    assert_eq!(next(&lines, "b"), "b");
    // The stream drops mid-way; lines written meanwhile come once.
    server.drop_watches();
    server.append_log("spark", driver, container, 0, &["c"]);
    assert_eq!(next(&lines, "c"), "c");
    // The container restarts: run 1 follows run 0.
    let mut pod = cluster.pod(driver);
    pod["status"] = running(container, 1);
    server.apply_json(pod);
    server.end_log("spark", driver, container, 0);
    server.append_log("spark", driver, container, 1, &["d"]);
    assert_eq!(next(&lines, "d"), "d");
    server.append_log("spark", driver, container, 1, &["e"]);
    assert_eq!(next(&lines, "e"), "e");
    // The pod ends: finkctl reads to the end and exits.
    let mut pod = cluster.pod(driver);
    pod["status"]["phase"] = json!("Succeeded");
    pod["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "containerID": "containerd://run"}});
    server.apply_json(pod);
    server.append_log("spark", driver, container, 1, &["f"]);
    server.end_log("spark", driver, container, 1);
    assert_eq!(next(&lines, "f"), "f");
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.try_iter().collect::<Vec<_>>(), Vec::<String>::new());
}

// ---------- events ----------

#[test]
fn events_of_a_task_warnings_first_and_watched() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    let server = &cluster.server;
    let app = cluster.app("fink-distribution");
    server.emit_event(
        &app,
        "Normal",
        "SparkApplicationSubmitted",
        "submitted",
        "spark-operator",
    );
    server.emit_event(
        &cluster.pod("fink-distribution-exec-2"),
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
        "kubelet",
    );
    server.emit_event(
        &cluster.pod("stream2raw-20261206-0000abcd-driver"),
        "Warning",
        "Other",
        "not distribution",
        "kubelet",
    );
    let assert = cluster.finkctl().args(["events", "dis"]).assert().success();
    let text = stdout(&assert);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(
        rows[0][1..],
        ["TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
    );
    assert_eq!(
        rows[1][1..],
        [
            "Warning",
            "BackOff",
            "Pod/fink-distribution-exec-2",
            "1",
            "Back-off restarting failed container"
        ]
    );
    assert_eq!(
        rows[2][1..],
        [
            "Normal",
            "SparkApplicationSubmitted",
            "SparkApplication/fink-distribution",
            "1",
            "submitted"
        ]
    );
    let assert = cluster
        .finkctl()
        .args(["events", "dis", "-o", "json"])
        .assert()
        .success();
    let events: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    assert_eq!(events[0]["type"], "Warning");

    // spark-submit: the driver pod's events.
    let assert = cluster
        .finkctl()
        .args(["events", "s2r", "-o", "yaml"])
        .assert()
        .success();
    let text = stdout(&assert);
    assert!(
        text.contains("reason: Other")
            && text.contains("object: Pod/stream2raw-20261206-0000abcd-driver"),
        "{text}"
    );
    let (mut child, lines) = cluster.spawn(&["events", "dis", "-w", "-o", "json"]);
    let first: Value = serde_json::from_str(&next(&lines, "the BackOff event")).unwrap();
    assert_eq!(first["reason"], "BackOff");
    assert_eq!(
        serde_json::from_str::<Value>(&next(&lines, "the submitted event")).unwrap()["reason"],
        "SparkApplicationSubmitted"
    );
    // A new executor appears after the start; its events are the task's too.
    let exec3 = server.apply_json(spark_pod(
        "fink-distribution-exec-3",
        "executor",
        json!({"sparkoperator.k8s.io/app-name": "fink-distribution", "spark-app-selector": "spark-d", "spark-exec-id": "3"}),
        running(EXECUTOR, 0),
    ));
    server.emit_event(
        &cluster.pod("stream2raw-20261206-0000abcd-driver"),
        "Warning",
        "Other",
        "still not distribution",
        "kubelet",
    );
    server.drop_watches();
    server.emit_event(
        &exec3,
        "Warning",
        "Evicted",
        "The node was low on memory",
        "kubelet",
    );
    let seen: Value = serde_json::from_str(&next(&lines, "the Evicted event")).unwrap();
    assert_eq!(
        (&seen["reason"], &seen["object"]),
        (&json!("Evicted"), &json!("Pod/fink-distribution-exec-3"))
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lines.try_iter().collect::<Vec<_>>(), Vec::<String>::new());
}

// ---------- fail-fast ----------

#[test]
fn wait_tasks_fails_at_once_on_an_oom_killed_executor_and_writes_the_bundle() {
    let cluster = Cluster::start();
    let server = &cluster.server;
    let labels =
        json!({"sparkoperator.k8s.io/app-name": "fink-distribution", "spark-exec-id": "2"});
    // The driver is not Ready: `wait tasks` is still at the drivers when the executor fails.
    let mut starting = running(EXECUTOR, 0);
    starting["conditions"][0]["status"] = json!("False");
    let mut driver_starting = running("spark-kubernetes-driver", 0);
    driver_starting["conditions"][0]["status"] = json!("False");
    server.apply_json(spark_pod(
        "fink-distribution-driver",
        "driver",
        labels.clone(),
        driver_starting,
    ));
    server.apply_json(spark_pod(
        "fink-distribution-exec-2",
        "executor",
        labels.clone(),
        starting,
    ));
    server.after(Duration::from_millis(300), move |store| {
        store.apply_json(spark_pod(
            "fink-distribution-exec-2",
            "executor",
            labels,
            oom_killed(),
        ));
    });
    let diag = cluster.dir.path().join("diag");
    cluster
        .finkctl()
        .args([
            "wait",
            "tasks",
            "-e",
            "1",
            "--timeout",
            "120s",
            "--diag-dir",
            diag.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("Diagnostic bundle of 1 abnormal pods: ")
                .and(predicate::str::ends_with(format!("error: {OOM_LINE}\n"))),
        );
    reads_only(&server.requests());
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(diag.join("diag.json")).unwrap()).unwrap();
    assert_eq!(bundle["abnormalPods"][0]["errorLine"], OOM_LINE);
}

#[test]
fn wait_topics_fails_at_once_on_a_failed_spark_pod() {
    let cluster = Cluster::start();
    let server = &cluster.server;
    cluster.namespace("kafka");
    server.after(Duration::from_millis(300), |store| {
        store.apply_json(spark_pod(
            "stream2raw-20261206-0000abcd-driver",
            "driver",
            json!({}),
            json!({"phase": "Failed", "containerStatuses": [{"name": "spark-kubernetes-driver", "restartCount": 0,
                "ready": false, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "containerd://1",
                    "startedAt": "2026-12-06T00:00:00Z", "finishedAt": "2026-12-06T00:00:42Z"}}}]}),
        ));
    });
    cluster
        .finkctl()
        .args(["wait", "topics", "--source", "crd", "--timeout", "30s"])
        .assert()
        .code(1)
        .stderr("error: stream2raw-20261206-0000abcd-driver/driver: Failed, last Error (exit 1) after 42s\n");
}

#[test]
fn diag_dir_with_dry_run_writes_nothing() {
    let cluster = Cluster::start();
    seed_both_backends(&cluster);
    let diag = cluster.dir.path().join("diag");
    let note = format!(
        "Would write a diagnostic bundle into {} (dry run)\n",
        diag.display()
    );
    cluster
        .finkctl()
        .args(["status", "--dry-run", "--diag-dir", diag.to_str().unwrap()])
        .assert()
        .success()
        .stderr(note.clone());
    cluster
        .finkctl()
        .args(["wait", "tasks", "--dry-run", "--timeout", "30s"])
        .args(["--diag-dir", diag.to_str().unwrap()])
        .assert()
        .code(1)
        // The applications may be seen running before the pod watch fails the wait.
        .stderr(
            predicate::str::contains(note)
                .and(predicate::str::ends_with(format!("error: {OOM_LINE}\n"))),
        );
    assert!(!diag.exists());
}
