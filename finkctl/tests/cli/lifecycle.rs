//! The Spark job lifecycle: `run --wait` on both backends, `run --diff`, `suspend`/`resume` and
//! `restart_policy`, against the fake API server's simulated spark-operator (and a fake
//! spark-submit whose driver and executor pods the test creates, as Spark would).

use std::time::Duration;

use assert_cmd::Command;
use harness::apiserver::spark_operator::{ExecutorFate, Script};
use predicates::prelude::*;
use serde_json::{Value, json};

use crate::support::{
    self, APPS, Cluster, conf, phase, read_fixture, spark_pod, stdout, write_sample_config,
};

/// The lifecycle's world: a simulated spark-operator playing `script`, the namespace `spark`,
/// the e2e sample configuration and a fake spark-submit.
fn lifecycle(script: impl Fn(&str) -> Script + Send + Sync + 'static) -> Cluster {
    Cluster::start()
        .with_operator(script)
        .with_namespace("spark")
        .with_sample_config()
        .with_spark_submit()
}

// ---------- run --wait, spark-operator backend ----------

#[test]
fn run_wait_returns_when_the_application_completes_and_prints_its_state() {
    let cluster = lifecycle(|_| Script::completes());
    let assert = cluster
        .run_operator("raw2science", &["--wait", "-o", "json"])
        .assert()
        .success();
    let text = stdout(&assert);
    let (applied, json_text) = text.split_once('\n').unwrap();
    assert_eq!(
        applied,
        "sparkapplication.sparkoperator.k8s.io/fink-raw2science serverside-applied"
    );
    let report: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(report["state"], "COMPLETED");
    assert_eq!(report["name"], "fink-raw2science");
    assert_eq!(report["submissionAttempts"], 1);
    assert_eq!(report["driver"], "fink-raw2science-driver");
    // raw2science runs 4 executors; they completed with the driver.
    let executors = report["executors"].as_object().unwrap();
    assert_eq!(executors.len(), 4);
    assert!(executors.values().all(|s| s == "COMPLETED"));
    assert!(report["terminationTime"].is_string());
    assert_eq!(
        cluster.states("fink-raw2science"),
        ["SUBMITTED", "RUNNING", "SUCCEEDING", "COMPLETED"]
    );
}

#[test]
fn run_wait_fails_with_the_operators_error_message() {
    let cluster = lifecycle(|_| Script::fails(1, "Error"));
    cluster
        .run_operator("stream2raw", &["--wait"])
        .assert()
        .code(1)
        .stdout(predicate::str::ends_with(
            "fink-stream2raw FAILED: driver container failed with ExitCode: 1, Reason: Error\n",
        ))
        .stderr(
            "error: SparkApplication spark/fink-stream2raw FAILED: driver container failed with ExitCode: 1, Reason: Error\n",
        );
}

/// `run --wait --diag-dir`: a failed application leaves the bundle of its abnormal pods, written
/// with reads only.
#[test]
fn run_wait_writes_the_diagnostic_bundle_when_the_application_fails() {
    let cluster = lifecycle(|_| Script::fails(1, "Error"));
    let diag = cluster.dir.path().join("diag");
    let out = cluster
        .run_operator("stream2raw", &["--wait", "--diag-dir"])
        .arg(&diag)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("Diagnostic bundle of 1 abnormal pods: "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: SparkApplication spark/fink-stream2raw FAILED: driver container failed with ExitCode: 1, Reason: Error\n"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(diag.join("diag.txt")).unwrap();
    assert!(text.contains("fink-stream2raw-driver"), "{text}");
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(diag.join("diag.json")).unwrap()).unwrap();
    assert!(bundle.to_string().contains("\"exitCode\":1"), "{bundle}");
    // Without --wait, --diag-dir is refused at argv time.
    cluster
        .run_operator("stream2raw", &["--diag-dir", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--wait"));
}

#[test]
fn run_wait_fails_on_a_failed_submission() {
    let cluster = lifecycle(|_| Script::submission_fails("pods \"x\" is forbidden"));
    cluster
        .run_operator("stream2raw", &["--wait", "-o", "yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("state: SUBMISSION_FAILED"))
        .stderr(predicate::str::contains(
            "SparkApplication spark/fink-stream2raw SUBMISSION_FAILED: failed to submit spark application: pods \"x\" is forbidden",
        ));
}

#[test]
fn run_wait_times_out_naming_the_last_state() {
    let cluster = lifecycle(|_| Script::streams());
    cluster
        .run_operator("stream2raw", &["--wait", "--timeout", "1s"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("last state: fink-stream2raw RUNNING")
                .and(predicate::str::contains("timed out after 1s")),
        );
}

#[test]
fn run_wait_survives_a_dropped_watch_and_resumes_from_its_resource_version() {
    let cluster = lifecycle(|_| Script::completes().step(Duration::from_millis(400)));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // While finkctl watches (SUBMITTED is written 400 ms after the apply).
            std::thread::sleep(Duration::from_millis(600));
            cluster.server.drop_watches();
        });
        cluster
            .run_operator("stream2raw", &["--wait"])
            .assert()
            .success()
            .stdout(predicate::str::ends_with("fink-stream2raw COMPLETED\n"));
    });
    let watches: Vec<_> = cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with("/sparkapplications")
                && r.query_param("watch").as_deref() == Some("true")
        })
        .collect();
    assert!(watches.len() >= 2, "{watches:?}");
    assert!(
        watches
            .iter()
            .all(|w| w.query_param("allowWatchBookmarks").as_deref() == Some("true")),
        "{watches:?}"
    );
    assert!(
        watches[1..]
            .iter()
            .all(|w| w.query_param("resourceVersion").is_some_and(|rv| rv != "0")),
        "{watches:?}"
    );
}

#[test]
fn run_wait_after_a_spec_change_waits_for_the_new_submission() {
    let cluster = lifecycle(|_| Script::completes().step(Duration::from_millis(200)));
    cluster
        .run_operator("stream2raw", &["--wait", "-i", "img:1"])
        .assert()
        .success();
    // The application is COMPLETED; a new image restarts it (kubeflow/spark-operator #345) and
    // the wait must not take the old COMPLETED for the new run's.
    cluster
        .run_operator("stream2raw", &["--wait", "-i", "img:2"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("fink-stream2raw COMPLETED\n"));
    let states = cluster.states("fink-stream2raw");
    assert_eq!(
        states.iter().filter(|s| *s == "COMPLETED").count(),
        2,
        "{states:?}"
    );
    assert!(states.contains(&"INVALIDATING".to_string()), "{states:?}");
    assert_eq!(cluster.app("fink-stream2raw")["spec"]["image"], "img:2");
}

#[test]
fn run_wait_running_returns_once_driver_and_executors_are_ready() {
    let cluster = lifecycle(|_| Script::streams());
    cluster
        .run_operator("raw2science", &["--wait=running"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("fink-raw2science RUNNING\n"));
    // The driver and raw2science's 4 executors.
    assert_eq!(cluster.spark_pods().len(), 5, "{:?}", cluster.spark_pods());
}

#[test]
fn run_wait_running_does_not_accept_an_executor_that_keeps_being_oom_killed() {
    let cluster = lifecycle(|_| {
        Script::streams().executors(vec![ExecutorFate::Ready, ExecutorFate::oom_killed(37)])
    });
    cluster
        .run_operator("stream2raw", &["--wait=running", "--timeout", "2s"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("timed out after 2s waiting for the driver and 1 executor(s)")
                .and(predicate::str::contains(
                    "-exec-2 (Running, CrashLoopBackOff, last OOMKilled (exit 137), 37 restarts)",
                )),
        );
}

// ---------- run --wait, spark-submit backend ----------

/// A Spark pod of a spark-submit run, with `status`.
fn submit_pod(name: &str, role: &str, status: Value) -> Value {
    spark_pod(
        name,
        role,
        json!({"spark-app-selector": "spark-0123"}),
        status,
    )
}

/// Runs `cmd` while playing Spark's part: once spark-submit has been called, its driver pod and
/// `executors` appear with these statuses.
fn run_as_spark(
    cluster: &Cluster,
    driver_status: Value,
    executors: &[Value],
    cmd: Command,
) -> assert_cmd::assert::Assert {
    let pods = |argv: &[String]| {
        let driver = conf(argv, "spark.kubernetes.driver.pod.name").unwrap();
        let executors = executors
            .iter()
            .enumerate()
            .map(|(n, status)| submit_pod(&format!("exec-{n}"), "executor", status.clone()));
        std::iter::once(submit_pod(driver, "driver", driver_status.clone()))
            .chain(executors)
            .collect()
    };
    support::run_as_spark(&cluster.server, cluster.fakes(), pods, cmd)
}

#[test]
fn spark_submit_wait_running_follows_the_driver_and_executors_without_blocking_in_spark_submit() {
    let cluster = lifecycle(|_| Script::completes());
    let cmd = cluster.run("s2r", &["--wait=running", "-o", "json"]);
    let ready = phase("Running", true);
    let assert = run_as_spark(&cluster, ready.clone(), &[ready], cmd).success();
    let report: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    assert_eq!(report["state"], "RUNNING");
    let call = cluster.fakes().calls("spark-submit").pop().unwrap();
    assert!(
        call.argv
            .contains(&"spark.kubernetes.submission.waitAppCompletion=false".to_string()),
        "{:?}",
        call.argv
    );
}

#[test]
fn spark_submit_wait_mirrors_the_driver_end() {
    let cluster = lifecycle(|_| Script::completes());
    let failed = json!({"phase": "Failed", "containerStatuses": [{
        "name": "spark-kubernetes-driver", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]});
    let cmd = cluster.run("s2r", &["--wait"]);
    run_as_spark(&cluster, failed, &[], cmd)
        .code(1)
        .stdout(predicate::str::contains(
            "FAILED: container spark-kubernetes-driver: OOMKilled, exit code 137",
        ))
        .stderr(predicate::str::contains(
            "failed: container spark-kubernetes-driver: OOMKilled, exit code 137",
        ));
    let cluster = lifecycle(|_| Script::completes());
    let cmd = cluster.run("s2r", &["--wait"]);
    run_as_spark(&cluster, json!({"phase": "Succeeded"}), &[], cmd)
        .success()
        .stdout(predicate::str::ends_with("COMPLETED\n"));
}

// ---------- suspend / resume ----------

#[test]
fn suspend_and_resume_set_spec_suspend_and_wait_for_the_state() {
    let cluster = lifecycle(|_| Script::streams());
    cluster
        .run_operator("stream2raw", &["--wait=running"])
        .assert()
        .success();
    cluster
        .finkctl()
        .args(["suspend", "stream2raw", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"state\": \"SUSPENDED\""));
    let app = cluster.app("fink-stream2raw");
    assert_eq!(app["spec"]["suspend"], true);
    // Its own field manager: the rest of the spec, applied by `run`, stays.
    assert_eq!(
        app["spec"]["mainApplicationFile"],
        "local:///home/fink/fink-broker/bin/stream2raw.py"
    );
    assert!(
        cluster.spark_pods().is_empty(),
        "{:?}",
        cluster.spark_pods()
    );
    // Applying the same manifest again leaves it suspended, and a wait on it fails at once.
    cluster
        .run_operator("stream2raw", &["--wait"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "SparkApplication spark/fink-stream2raw is SUSPENDED: resume it with `finkctl resume <task>`",
        ));
    assert_eq!(cluster.app("fink-stream2raw")["spec"]["suspend"], true);
    cluster
        .finkctl()
        .args(["resume", "stream2raw"])
        .assert()
        .success()
        .stdout("fink-stream2raw RUNNING\n");
    assert_eq!(cluster.app("fink-stream2raw")["spec"]["suspend"], false);
    let states = cluster.states("fink-stream2raw");
    let tail: Vec<&str> = states[states.len() - 5..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "SUSPENDING",
            "SUSPENDED",
            "RESUMING",
            "SUBMITTED",
            "RUNNING"
        ]
    );
}

#[test]
fn suspend_explains_a_missing_or_ended_application_and_dry_run_writes_nothing() {
    let cluster = lifecycle(|_| Script::completes());
    cluster
        .finkctl()
        .args(["suspend", "distribution"])
        .assert()
        .code(1)
        .stderr("error: no SparkApplication spark/fink-distribution to suspend: launch it with `finkctl run distribution --backend spark-operator`\n");
    cluster
        .run_operator("distribution", &["--wait"])
        .assert()
        .success();
    cluster
        .finkctl()
        .args(["suspend", "distribution"])
        .assert()
        .code(1)
        .stderr("error: SparkApplication spark/fink-distribution has ended (COMPLETED): there is nothing to suspend\n");
    cluster.server.clear_requests();
    cluster
        .finkctl()
        .args(["resume", "distribution", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("suspend: false"));
    assert!(cluster.server.requests().is_empty());
}

#[test]
fn suspend_times_out_when_the_operator_does_not_act() {
    // A slow operator: it reacts after a minute. The application was seeded RUNNING (the
    // operator only submits new ones).
    let cluster = lifecycle(|_| Script::streams().step(Duration::from_secs(60)));
    cluster.server.apply_json(json!({
        "apiVersion": APPS, "kind": "SparkApplication",
        "metadata": {"name": "fink-raw2science", "namespace": "spark"},
        "spec": {"image": "i"},
        "status": {"applicationState": {"state": "RUNNING"}},
    }));
    cluster
        .finkctl()
        .args(["suspend", "raw2science", "--timeout", "1s"])
        .assert()
        .code(1)
        .stdout("fink-raw2science RUNNING\n")
        .stderr(predicate::str::contains(
            "timed out after 1s waiting for SparkApplication spark/fink-raw2science to be SUSPENDED",
        ));
}

// ---------- run --diff ----------

#[test]
fn diff_reads_only_and_flags_the_changes_that_restart_the_application() {
    let cluster = lifecycle(|_| Script::streams());
    cluster
        .run_operator("stream2raw", &["--wait=running", "-i", "img:1"])
        .assert()
        .success();
    cluster.server.clear_requests();
    cluster
        .run_operator("stream2raw", &["--diff", "-i", "img:2"])
        .assert()
        .success()
        .stdout(
            "SparkApplication spark/fink-stream2raw (RUNNING): 1 change(s); 1 restart the application (the operator resubmits it on any spec change)\n\
             ~ spec.image: \"img:1\" -> \"img:2\"  (restarts)\n",
        );
    cluster
        .run_operator("stream2raw", &["--diff", "-i", "img:1"])
        .assert()
        .success()
        .stdout("SparkApplication spark/fink-stream2raw: no change\n");
    cluster
        .run("s2r", &["--diff"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("add --backend spark-operator"));
    let requests = cluster.server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "{:?}",
        requests
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );
    assert_eq!(cluster.app("fink-stream2raw")["spec"]["image"], "img:1");
}

#[test]
fn diff_of_a_new_application_lists_every_field_with_secrets_redacted() {
    let cluster = lifecycle(|_| Script::streams());
    let assert = cluster
        .run_operator("distribution", &["--diff", "-o", "json"])
        .assert()
        .success();
    let report: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    assert_eq!(report["exists"], false);
    let changes = report["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["op"] == "add"));
    let secret = changes
        .iter()
        .find(|c| c["path"] == "spec.sparkConf[\"spark.hadoop.fs.s3a.secret.key\"]")
        .unwrap();
    assert_eq!(secret["new"], "<redacted>");
    assert!(!stdout(&assert).contains("minioadmin"));
    assert!(cluster.server.requests().iter().all(|r| r.method == "GET"));
}

// ---------- restart_policy ----------

#[test]
fn restart_policy_is_rendered_into_the_application() {
    let cluster = lifecycle(|_| Script::completes());
    // `run distribution --dry-run` with the configuration edited by `edit`.
    let dry_run = |edit: &dyn Fn(String) -> String, extra: &[&str]| {
        write_sample_config(cluster.dir.path(), edit);
        let mut cmd = cluster.run_operator("distribution", &["--dry-run"]);
        cmd.args(extra)
            .env("KUBECONFIG", support::fixture("kubeconfig"));
        cmd
    };
    let manifest = |edit: &dyn Fn(String) -> String| {
        let out = dry_run(edit, &["-i", "param_image"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // Without restart_policy, the manifest is the one finkctl always rendered.
    assert_eq!(
        manifest(&|c| c),
        read_fixture("distribution.sparkapp.expected")
    );
    let policy = "  restart_policy:\n    type: OnFailure\n    on_failure_retries: 3\n    on_failure_retry_interval: 1m\n    on_submission_failure_retries: 2\n    on_submission_failure_retry_interval: 20\n";
    let config = format!("distribution:\n{policy}");
    // The sample has a distribution section already: append the keys to it.
    assert_eq!(
        manifest(&|c| c.replacen("distribution:\n", &config, 1)),
        read_fixture("distribution-restart-policy.sparkapp.expected")
    );
    dry_run(
        &|c| {
            c.replacen(
                "distribution:\n",
                "distribution:\n  restart_policy:\n    type: Sometimes\n",
                1,
            )
        },
        &[],
    )
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "finkctl.yaml:51:11: distribution.restart_policy.type: unknown variant `Sometimes`",
    ));
}

#[test]
fn dry_run_is_unchanged_by_wait_and_sends_nothing() {
    let cluster = lifecycle(|_| Script::completes());
    for backend in ["spark-submit", "spark-operator"] {
        let plain = cluster
            .run("distribution", &["--dry-run", "--backend", backend])
            .output()
            .unwrap();
        // `--wait` before the task: it takes no value unless written `--wait=…`.
        let waiting = cluster
            .finkctl()
            .args(["run", "--wait", "distribution", "-N", "20000101"])
            .args(["--dry-run", "--backend", backend])
            .output()
            .unwrap();
        assert!(
            plain.status.success() && waiting.status.success(),
            "{waiting:?}"
        );
        assert_eq!(
            String::from_utf8(plain.stdout)
                .unwrap()
                .replace(char::is_numeric, ""),
            String::from_utf8(waiting.stdout)
                .unwrap()
                .replace(char::is_numeric, "")
        );
    }
    assert!(
        cluster.server.requests().is_empty(),
        "{:?}",
        cluster.server.requests()
    );
    assert!(cluster.fakes().calls("spark-submit").is_empty());
    cluster
        .finkctl()
        .args(["run", "s2r", "--wait", "--diff"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot be used with"));
}
