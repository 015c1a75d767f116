//! finkctl: `wait tasks` reacting to the last pod getting Ready, `wait topics` reacting to the
//! broker's `kafka-topics.sh` output changing, `run --wait` reacting to the simulated
//! spark-operator writing COMPLETED, and `run --dry-run` end to end.

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
        time(&mut finkctl(&[
            "wait",
            "tasks",
            "-e",
            "1",
            "--timeout",
            "30s",
        ]))?;
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
    Ok(vec![
        Row::seconds(
            "finkctl",
            "`wait tasks`, last pod Ready at t=1 s (returns at)",
            wait,
            Limit::Slack(0.3),
        )
        .baseline("last pod Ready", Ok(READY_AT)),
        Row::seconds(
            "finkctl",
            "`wait topics`, last topic listed at t=1 s (returns at)",
            topics,
            Limit::Slack(0.3),
        )
        .baseline("last topic listed", Ok(READY_AT)),
        Row::seconds(
            "finkctl",
            "`run --wait`, the operator writes COMPLETED (returns at)",
            run_wait,
            Limit::Slack(0.3),
        )
        .baseline("COMPLETED written", completed_at),
        Row::seconds(
            "finkctl",
            "`run stream2raw --dry-run` end to end",
            dry_run,
            Limit::Seconds(0.010),
        )
        .baseline("`true`", process_baseline()),
    ])
}
