//! finkctl: `wait tasks` reacting to the last pod getting Ready, `wait topics` reacting to the
//! broker's `kafka-topics.sh` output changing, `run --wait` reacting to the simulated
//! spark-operator writing COMPLETED, and `run --dry-run` end to end; failure triage:
//! the fail-fast of `wait tasks` on an OOMKilled executor, `status` of 5 applications with 50
//! pods, and the diagnostic bundle of 100 abnormal pods.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use harness::apiserver::spark_operator::Script;
use harness::apiserver::{ExecReply, FakeApiServer, crds};
use harness::stack::{spark_pod, write_finkctl_config};
use harness::tools::Tools;

use super::{Limit, Row, median, process_baseline, scratch, time};

/// When the fake cluster makes the last pod Ready, or the last topic appear.
const READY_AT: Duration = Duration::from_secs(1);

/// `wait tasks` for a driver and an executor (the wait and the fail-fast rows).
const WAIT_TASKS: &[&str] = &["wait", "tasks", "-e", "1", "--timeout", "30s"];

/// The Fink topics `wait topics --expected 2` waits for.
const TOPICS: &str = "fink_early_sn\nfink_kn\n";

pub(super) fn run(tools: &Tools) -> Result<Vec<Row>> {
    let dir = scratch("bench-finkctl-")?;
    let api = FakeApiServer::builder()
        .crd(crds::spark_application())
        .start();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "spark")?;
    write_finkctl_config(dir.path())?;
    let finkctl = |args: &[&str]| {
        let mut command = Command::new(&tools.finkctl);
        command
            .args(args)
            .env("HOME", dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("FINKCONFIG", dir.path())
            .current_dir(dir.path());
        command
    };

    let wait = median(3, || {
        for (name, role) in [("driver-0", "driver"), ("exec-0", "executor")] {
            api.apply_json(spark_pod(name, "bench", role, false));
        }
        let start = Instant::now();
        api.after(READY_AT, |store| {
            for (name, role) in [("driver-0", "driver"), ("exec-0", "executor")] {
                store.apply_json(spark_pod(name, "bench", role, true));
            }
        });
        time(&mut finkctl(WAIT_TASKS))?;
        Ok(start.elapsed())
    });
    api.apply_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kafka"},
    }));
    api.apply_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kafka-cluster-dual-role-0", "namespace": "kafka"},
        "spec": {"containers": [{"name": "kafka", "image": "strimzi/kafka"}]},
        "status": {"phase": "Running"},
    }));
    let topics = median(3, || {
        let start = Instant::now();
        // The broker lists no Fink topic until READY_AT, then both.
        api.exec_handler("kafka", "kafka-cluster-dual-role-0", move |_| {
            let listing = if start.elapsed() >= READY_AT {
                format!("__consumer_offsets\n{TOPICS}")
            } else {
                "__consumer_offsets\n".to_string()
            };
            ExecReply::stdout(listing)
        });
        time(&mut finkctl(&[
            "wait",
            "topics",
            "--expected",
            "2",
            "--interval",
            "250ms",
            "--timeout",
            "30s",
        ]))?;
        Ok(start.elapsed())
    });
    // `run --wait`: from the apply to finkctl's exit, against the moment the operator wrote
    // COMPLETED (each run a new application).
    api.apply_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"},
    }));
    let operator = api.spark_operator(|_| Script::completes().step(Duration::from_millis(250)));
    let mut written = Vec::new();
    let run_wait = median(3, || {
        api.store().delete_json(
            "sparkoperator.k8s.io/v1beta2",
            "SparkApplication",
            Some("spark"),
            "fink-stream2raw",
        );
        let start = Instant::now();
        time(&mut finkctl(&[
            "run",
            "stream2raw",
            "--backend",
            "spark-operator",
            "--wait",
            "-i",
            "img:1",
            "--timeout",
            "30s",
        ]))?;
        let returned = start.elapsed();
        let completed = operator
            .transitions()
            .into_iter()
            .rev()
            .find(|t| t.state == "COMPLETED")
            .map(|t| t.at.duration_since(start))
            .ok_or_else(|| anyhow::anyhow!("the operator wrote no COMPLETED"))?;
        written.push(completed);
        Ok(returned)
    });
    written.sort();
    let completed_at = written
        .get(written.len() / 2)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no run of `run --wait` succeeded"));
    let dry_run = median(21, || {
        time(&mut finkctl(&[
            "run",
            "stream2raw",
            "--dry-run",
            "-i",
            "img:1",
        ]))
    });
    let mut rows = vec![
        returns_after(
            "`wait tasks`, last pod Ready at t=1 s (returns at)",
            wait,
            ("last pod Ready", Ok(READY_AT)),
        ),
        returns_after(
            "`wait topics --interval 250ms` (the default 2 s paces a JVM per run), last topic listed at t=1 s (returns at)",
            topics,
            ("last topic listed", Ok(READY_AT)),
        ),
        returns_after(
            "`run --wait`, the operator writes COMPLETED (returns at)",
            run_wait,
            ("COMPLETED written", completed_at),
        ),
        end_to_end("`run stream2raw --dry-run` end to end", dry_run, 0.010),
    ];
    rows.extend(triage(&api, &dir, &finkctl));
    Ok(rows)
}

/// A row of finkctl returning after an event (`event`: what and when): it passes when finkctl
/// returns at most 0.3 s after it.
fn returns_after(name: &str, figure: Result<Duration>, event: (&str, Result<Duration>)) -> Row {
    Row::seconds("finkctl", name, figure, Limit::Slack(0.3)).baseline(event.0, event.1)
}

/// A row of one finkctl command end to end, at most `seconds`, beside the start of `true`.
fn end_to_end(name: &str, figure: Result<Duration>, seconds: f64) -> Row {
    Row::seconds("finkctl", name, figure, Limit::Seconds(seconds))
        .baseline("`true`", process_baseline())
}

/// A Spark pod of `app` in namespace `spark`: a container limited to 2Gi, in `status`.
fn triage_pod(name: &str, app: &str, role: &str, status: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "spark",
                     "labels": {"spark-role": role, "sparkoperator.k8s.io/app-name": app}},
        "spec": {"nodeName": "n", "containers": [{"name": "spark", "image": "fink-broker",
            "resources": {"limits": {"memory": "2Gi"}}}]},
        "status": status,
    })
}

fn started(ready: bool) -> serde_json::Value {
    serde_json::json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        "containerStatuses": [{"name": "spark", "restartCount": 0, "ready": ready, "image": "i", "imageID": "",
            "containerID": "containerd://0", "state": {"running": {"startedAt": "2026-12-06T00:00:00Z"}}}]})
}

fn oom_killed() -> serde_json::Value {
    serde_json::json!({"phase": "Running", "containerStatuses": [{"name": "spark", "restartCount": 3,
        "ready": false, "image": "i", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "containerID": "containerd://3"}}}]})
}

/// Runs `command`, which must fail (exit 1), and returns how long it took.
fn time_failure(command: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let output = command.output()?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        output.status.code() == Some(1),
        "expected exit 1, got {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(elapsed)
}

/// The failure-triage rows.
fn triage(
    api: &FakeApiServer,
    dir: &tempfile::TempDir,
    finkctl: &dyn Fn(&[&str]) -> Command,
) -> Vec<Row> {
    let clear = |api: &FakeApiServer| {
        for pod in api.list_json("v1", "Pod", Some("spark")) {
            api.store().delete_json(
                "v1",
                "Pod",
                Some("spark"),
                pod["metadata"]["name"].as_str().unwrap_or(""),
            );
        }
    };
    clear(api);
    let fail_fast = median(3, || {
        api.apply_json(triage_pod(
            "fink-distribution-driver",
            "fink-distribution",
            "driver",
            started(false),
        ));
        api.apply_json(triage_pod(
            "fink-distribution-exec-1",
            "fink-distribution",
            "executor",
            started(false),
        ));
        let start = Instant::now();
        api.after(READY_AT, |store| {
            store.apply_json(triage_pod(
                "fink-distribution-exec-1",
                "fink-distribution",
                "executor",
                oom_killed(),
            ));
        });
        time_failure(&mut finkctl(WAIT_TASKS))?;
        Ok(start.elapsed())
    });
    clear(api);
    // 5 applications (3 of them Fink tasks) of 10 pods each.
    for app in [
        "fink-stream2raw",
        "fink-raw2science",
        "fink-distribution",
        "other-a",
        "other-b",
    ] {
        api.apply_json(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": app, "namespace": "spark"}, "spec": {"type": "Python"},
            "status": {"applicationState": {"state": "RUNNING"}, "submissionAttempts": 1},
        }));
        api.apply_json(triage_pod(
            &format!("{app}-driver"),
            app,
            "driver",
            started(true),
        ));
        for n in 1..10 {
            api.apply_json(triage_pod(
                &format!("{app}-exec-{n}"),
                app,
                "executor",
                started(true),
            ));
        }
    }
    let status = median(5, || time(&mut finkctl(&["status", "-o", "json"])));
    clear(api);
    api.apply_json(triage_pod(
        "fink-distribution-driver",
        "fink-distribution",
        "driver",
        started(true),
    ));
    let lines: Vec<String> = (0..200)
        .map(|n| format!("log line {n} of a run that ended badly"))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    for n in 1..=100 {
        let name = format!("fink-distribution-exec-{n}");
        api.apply_json(triage_pod(
            &name,
            "fink-distribution",
            "executor",
            oom_killed(),
        ));
        api.append_log("spark", &name, "spark", 2, &lines);
        api.append_log("spark", &name, "spark", 3, &lines);
    }
    let diag_dir = dir.path().join("diag");
    let diag = median(3, || {
        time(&mut finkctl(&[
            "status",
            "distribution",
            "--diag-dir",
            diag_dir.to_str().unwrap_or("diag"),
        ]))
    });
    clear(api);
    vec![
        returns_after(
            "`wait tasks` fail-fast, executor OOMKilled at t=1 s (returns at)",
            fail_fast,
            ("executor OOMKilled", Ok(READY_AT)),
        ),
        end_to_end(
            "`status` of 5 applications with 50 pods (one list per kind)",
            status,
            0.5,
        ),
        end_to_end(
            "`status --diag-dir`, bundle of 100 OOMKilled pods (2 logs each)",
            diag,
            2.0,
        ),
    ]
}
