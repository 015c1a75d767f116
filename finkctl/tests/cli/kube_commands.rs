//! The Kubernetes commands against the harness's fake API server: createsecrets, get/wait topics,
//! wait tasks, delete and `run --backend spark-operator`, including server faults and dropped
//! watches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::apiserver::{ExecReply, FakeApiServer, Fault, FaultRule};
use predicates::prelude::*;
use serde_json::{Value, json};

use crate::support::{Cluster, phase, read_fixture, spark_pod};

impl Cluster {
    fn kafka_user_secret(&self, password: &str) {
        self.namespace("kafka");
        self.server.apply_json(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "fink-producer", "namespace": "kafka"},
            "data": {"password": base64(password.as_bytes())},
        }));
    }

    fn jaas(&self) -> Option<String> {
        let secret = self
            .server
            .get_json("v1", "Secret", Some("spark"), "fink-kafka-jaas")?;
        Some(
            String::from_utf8(unbase64(
                secret["data"]["kafka-jaas.conf"].as_str().unwrap(),
            ))
            .unwrap(),
        )
    }

    fn patches(&self) -> Vec<harness::apiserver::RequestRecord> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect()
    }
}

fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unbase64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

fn jaas_text(user: &str, password: &str) -> String {
    read_fixture("kafka-jaas.conf")
        .replace("{{ .KafkaCreds.Username }}", user)
        .replace("{{ .KafkaCreds.Password }}", password)
}

fn pod(name: &str, role: &str, status: &str, ready: bool) -> Value {
    spark_pod(
        name,
        role,
        json!({"spark-app-selector": "spark-1"}),
        phase(status, ready),
    )
}

// ---------- createsecrets ----------

#[test]
fn createsecrets_applies_the_jaas_secret_with_the_kafka_user_password() {
    let cluster = Cluster::start().with_namespace("spark");
    cluster.kafka_user_secret("s3cr\"t");
    cluster
        .finkctl()
        .arg("createsecrets")
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(
        cluster.jaas().unwrap(),
        jaas_text("fink-producer", "s3cr\\\"t")
    );
    let patch = cluster.patches().pop().expect("a server-side apply");
    assert_eq!(
        patch.path,
        "/api/v1/namespaces/spark/secrets/fink-kafka-jaas"
    );
    assert_eq!(
        patch.query_param("fieldManager").as_deref(),
        Some("application/apply-patch")
    );
    assert!(
        patch.content_type.starts_with("application/apply-patch"),
        "{}",
        patch.content_type
    );
}

#[test]
fn createsecrets_with_an_empty_password_flag_reads_the_kafka_user_password() {
    // The original's -p defaulted to "": `-p "$PASSWORD"` with an empty variable means "not given".
    let cluster = Cluster::start().with_namespace("spark");
    cluster.kafka_user_secret("from-secret");
    cluster
        .finkctl()
        .args(["createsecrets", "-p", ""])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(
        cluster.jaas().unwrap(),
        jaas_text("fink-producer", "from-secret")
    );
}

#[test]
fn createsecrets_with_flags_does_not_read_the_kafka_secret_and_waits_for_the_namespace() {
    let cluster = Cluster::start();
    cluster.server.after(Duration::from_millis(800), |store| {
        store.apply_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}}),
        );
    });
    cluster
        .finkctl()
        .args(["cs", "-k", "alice", "-p", "pw", "--timeout", "20s"])
        .assert()
        .success();
    assert_eq!(cluster.jaas().unwrap(), jaas_text("alice", "pw"));
    assert!(
        !cluster
            .server
            .requests()
            .iter()
            .any(|r| r.path.contains("fink-producer"))
    );
}

#[test]
fn createsecrets_times_out_when_the_namespace_never_comes() {
    let cluster = Cluster::start();
    cluster
        .finkctl()
        .args(["createsecrets", "-p", "pw", "--timeout", "1s"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: namespace \"spark\" is not available after 1s",
        ));
    assert!(cluster.patches().is_empty());
}

#[test]
fn createsecrets_reports_a_missing_kafka_secret() {
    let cluster = Cluster::start().with_namespace("spark");
    cluster
        .finkctl()
        .arg("createsecrets")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot read the Kafka password from Secret kafka/fink-producer",
        ));
}

#[test]
fn createsecrets_dry_run_prints_the_secret_without_the_password_and_changes_nothing() {
    let cluster = Cluster::start().with_namespace("spark");
    let out = cluster
        .finkctl()
        .args(["createsecrets", "-p", "topsecret", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fink-kafka-jaas") && text.contains("<redacted>"),
        "{text}"
    );
    assert!(!text.contains("topsecret"), "{text}");
    assert!(cluster.patches().is_empty());
}

// ---------- topics ----------

fn broker_pod(cluster: &Cluster) {
    cluster.namespace("kafka");
    cluster.server.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kafka-cluster-dual-role-0", "namespace": "kafka"},
        "spec": {"containers": [{"name": "kafka", "image": "strimzi/kafka"}]},
        "status": {"phase": "Running"},
    }));
}

fn broker_lists(cluster: &Cluster, topics: &'static str) {
    broker_pod(cluster);
    cluster
        .server
        .exec_handler("kafka", "kafka-cluster-dual-role-0", move |req| {
            assert_eq!(req.container, "kafka");
            assert_eq!(
                req.command,
                [
                    "bin/kafka-topics.sh",
                    "--bootstrap-server",
                    "kafka-cluster-kafka-bootstrap.kafka:9092",
                    "--list"
                ]
            );
            ExecReply::stdout(topics)
        });
}

#[test]
fn get_topics_execs_kafka_topics_in_the_broker_pod() {
    let cluster = Cluster::start();
    broker_lists(
        &cluster,
        "__consumer_offsets\nfink_early_sn\nztf-stream\nfink_kn\n",
    );
    harness::assert_cli_snapshot!("get_topics", cluster.finkctl().args(["get", "topics"]));
    harness::assert_cli_snapshot!(
        "get_topics_json",
        cluster.finkctl().args(["get", "to", "-o", "json"])
    );
    broker_lists(&cluster, "other\n");
    harness::assert_cli_snapshot!("get_topics_none", cluster.finkctl().args(["get", "topic"]));
}

#[test]
fn get_topics_reports_exec_failures() {
    let cluster = Cluster::start();
    broker_pod(&cluster);
    cluster
        .server
        .exec_handler("kafka", "kafka-cluster-dual-role-0", |_| {
            ExecReply::default()
                .with_stderr("Broker may not be available")
                .with_exit_code(1)
        });
    cluster
        .finkctl()
        .args(["get", "topics"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "kafka-topics.sh failed in pod kafka/kafka-cluster-dual-role-0",
        ));
}

#[test]
fn get_topics_from_kafka_topic_resources() {
    let cluster = Cluster::start();
    for (name, topic) in [
        ("fink-a-123", Some("fink_a")),
        ("fink_b", None),
        ("other", Some("other")),
    ] {
        let mut spec = json!({"partitions": 1});
        if let Some(topic) = topic {
            spec["topicName"] = json!(topic);
        }
        cluster.server.apply_json(json!({
            "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
            "metadata": {"name": name, "namespace": "kafka"}, "spec": spec,
        }));
    }
    cluster
        .finkctl()
        .args(["get", "topics", "--source", "crd"])
        .assert()
        .success()
        .stdout("Filtered Kafka topics:\nfink_a\nfink_b\n");
}

fn kafka_topic(name: &str) -> Value {
    json!({
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": "kafka"}, "spec": {"partitions": 1},
    })
}

#[test]
fn wait_topics_watches_kafka_topic_resources() {
    let cluster = Cluster::start();
    cluster.server.apply_json(kafka_topic("fink_a"));
    cluster.server.after(Duration::from_millis(700), |store| {
        store.apply_json(kafka_topic("fink_b"));
    });
    // A poll every 10s (the default interval) could not see fink_b within 5s: the watch does.
    cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "--source",
            "crd",
            "-e",
            "2",
            "--timeout",
            "5s",
        ])
        .assert()
        .success()
        .stdout("Condition met: Found 2 fink topics\n");
    cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "--source",
            "crd",
            "-e",
            "3",
            "--timeout",
            "1s",
        ])
        .assert()
        .code(1)
        .stderr("error: timed out waiting for the condition on topics\n");
}

#[test]
fn wait_topics_exact_count_and_at_least() {
    let cluster = Cluster::start();
    broker_lists(&cluster, "fink_a\nfink_b\nfink_c\n");
    cluster
        .finkctl()
        .args(["wait", "topics", "-e", "3", "--timeout", "5s"])
        .assert()
        .success()
        .stdout("Condition met: Found 3 fink topics\n")
        .stderr("");
    cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "--expected",
            "2",
            "--at-least",
            "--timeout",
            "5s",
        ])
        .assert()
        .success()
        .stdout("Condition met: Found 3 fink topics\n")
        .stderr("");
    cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "-e",
            "2",
            "--timeout",
            "1s",
            "--interval",
            "200ms",
        ])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::ends_with(
            "error: timed out waiting for the condition on topics\n",
        ));
}

#[test]
fn wait_topics_retries_exec_errors_until_the_topics_appear() {
    let cluster = Cluster::start();
    broker_pod(&cluster);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    cluster
        .server
        .exec_handler("kafka", "kafka-cluster-dual-role-0", move |_| {
            match seen.fetch_add(1, Ordering::SeqCst) {
                0 => ExecReply::default()
                    .with_stderr("timeout")
                    .with_exit_code(1),
                1 => ExecReply::stdout("fink_a\n"),
                _ => ExecReply::stdout("fink_a\nfink_b\n"),
            }
        });
    cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "-e",
            "2",
            "--timeout",
            "20s",
            "--interval",
            "200ms",
        ])
        .assert()
        .success()
        .stdout("Condition met: Found 2 fink topics\n");
    assert!(calls.load(Ordering::SeqCst) >= 3);
}

// ---------- wait tasks ----------

#[test]
fn wait_tasks_reacts_to_pods_becoming_ready_despite_faults_and_dropped_watches() {
    let cluster = Cluster::start();
    for i in 0..3 {
        cluster
            .server
            .apply_json(pod(&format!("driver-{i}"), "driver", "Running", true));
        cluster
            .server
            .apply_json(pod(&format!("exec-{i}"), "executor", "Running", i != 2));
    }
    cluster.server.fault(
        FaultRule::new(Fault::Status(500))
            .method("GET")
            .path_prefix("/api/v1/namespaces/spark/pods")
            .times(2),
    );
    let server_store_change = |store: &harness::apiserver::Store| {
        store.apply_json(pod("exec-2", "executor", "Running", true));
    };
    cluster
        .server
        .after(Duration::from_millis(1500), server_store_change);
    let server = &cluster.server;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            server.drop_watches();
        });
        cluster
            .finkctl()
            .args(["wait", "tasks", "--timeout", "30s"])
            .assert()
            .success()
            .stderr(
                predicate::str::contains("Pods with label 'spark-role=driver' are ready\n").and(
                    predicate::str::contains("Pods with label 'spark-role=executor' are ready\n"),
                ),
            );
    });
}

#[test]
fn wait_tasks_fails_on_a_failed_pod_and_times_out_on_missing_pods() {
    let cluster = Cluster::start();
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Running", true));
    cluster
        .finkctl()
        .args(["wait", "tsk", "--timeout", "1s"])
        .assert()
        .code(1)
        .stderr("error: timed out waiting for driver pods to be created, reason: error: timed out waiting for pods with label spark-role=driver\n");
    cluster
        .server
        .apply_json(pod("driver-1", "driver", "Failed", false));
    cluster
        .finkctl()
        .args(["wait", "tasks", "--expected", "2", "--timeout", "5s"])
        .assert()
        .code(1)
        .stderr("error: driver-1/driver: Failed\n");
}

#[test]
fn wait_tasks_follows_spark_applications() {
    let cluster = Cluster::start();
    let app = |state: &str| {
        json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "fink-stream2raw", "namespace": "spark"},
            "spec": {"type": "Python"},
            "status": {"applicationState": {"state": state, "errorMessage": "driver pod failed"}},
        })
    };
    cluster.server.apply_json(app("SUBMITTED"));
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Running", true));
    cluster
        .server
        .apply_json(pod("exec-0", "executor", "Running", true));
    let running = app("RUNNING");
    cluster
        .server
        .after(Duration::from_millis(800), move |store| {
            store.apply_json(running);
        });
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "20s"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "SparkApplications in namespace 'spark' are running",
        ));
    cluster.server.apply_json(app("FAILED"));
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "5s"])
        .assert()
        .code(1)
        .stderr("error: SparkApplication fink-stream2raw failed: driver pod failed\n");
}

// ---------- delete ----------

#[test]
fn delete_acts_on_the_current_namespace_unless_all_namespaces() {
    let cluster = Cluster::start();
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Running", true));
    let mut other = pod("driver-x", "driver", "Running", true);
    other["metadata"]["namespace"] = json!("other");
    cluster.server.apply_json(other);
    let exists = |ns: &str, name: &str| {
        cluster
            .server
            .get_json("v1", "Pod", Some(ns), name)
            .is_some()
    };

    harness::assert_cli_snapshot!(
        "delete_dry_run",
        cluster.finkctl().args(["delete", "--dry-run"])
    );
    assert!(exists("spark", "driver-0"));

    cluster
        .finkctl()
        .arg("delete")
        .assert()
        .success()
        .stdout("Delete all spark pods in current namespace\n")
        .stderr("");
    assert!(!exists("spark", "driver-0") && exists("other", "driver-x"));

    cluster
        .server
        .apply_json(pod("driver-1", "driver", "Running", true));
    cluster
        .finkctl()
        .args(["delete", "--namespace", "other"])
        .assert()
        .success();
    assert!(!exists("other", "driver-x") && exists("spark", "driver-1"));

    cluster
        .finkctl()
        .args(["delete", "--all-namespaces"])
        .assert()
        .success();
    assert!(!exists("spark", "driver-1"));
}

// ---------- run --backend spark-operator ----------

#[test]
fn spark_operator_backend_applies_the_application_and_the_jaas_secret() {
    let cluster = Cluster::start()
        .with_namespace("spark")
        .with_sample_config();
    cluster
        .run_operator("distribution", &["-i", "img:1"])
        .assert()
        .success()
        .stdout("sparkapplication.sparkoperator.k8s.io/fink-distribution serverside-applied\n")
        .stderr("");
    let app = cluster.app("fink-distribution");
    assert_eq!(app["spec"]["image"], "img:1");
    assert_eq!(
        app["spec"]["mainApplicationFile"],
        "local:///home/fink/fink-broker/bin/distribute.py"
    );
    assert_eq!(
        app["spec"]["executor"]["volumeMounts"][0]["mountPath"],
        "/etc/fink-broker"
    );
    assert_eq!(
        cluster.jaas().unwrap(),
        jaas_text("fink-producer", "changeme")
    );
    assert!(
        cluster
            .patches()
            .iter()
            .all(|p| p.query_param("fieldManager").as_deref() == Some("application/apply-patch"))
    );
}

// ---------- reviewed behaviours ----------

#[test]
fn dry_runs_send_no_request_to_the_cluster() {
    let cluster = Cluster::start().with_sample_config();
    // An empty password in the secret file would be read from the Kafka user's Secret.
    std::fs::write(
        cluster.dir.path().join("finkctl.secret.yaml"),
        "s3:\n  id: minioadmin\n  secret: minioadmin\n",
    )
    .unwrap();
    for backend in ["spark-submit", "spark-operator"] {
        cluster
            .run("distribution", &["--dry-run", "--backend", backend])
            .assert()
            .success();
    }
    let out = cluster
        .finkctl()
        .args(["createsecrets", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("username=\"fink-producer\"") && text.contains("password=\"<redacted>\""),
        "{text}"
    );
    assert!(
        cluster.server.requests().is_empty(),
        "{:?}",
        cluster.server.requests()
    );
}

#[test]
fn kafka_names_come_from_the_kafka_config_section() {
    let cluster = Cluster::start();
    cluster.namespace("streaming");
    cluster.server.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "broker-0", "namespace": "streaming"},
        "spec": {"containers": [{"name": "broker", "image": "strimzi/kafka"}]},
        "status": {"phase": "Running"},
    }));
    cluster.server.exec_handler("streaming", "broker-0", |req| {
        assert_eq!(req.container, "broker");
        assert_eq!(
            req.command,
            [
                "/opt/kafka/bin/kafka-topics.sh",
                "--bootstrap-server",
                "b:9092",
                "--list"
            ]
        );
        ExecReply::stdout("fink-a\nfink_b\n")
    });
    std::fs::write(
        cluster.dir.path().join("finkctl.yaml"),
        "kafka:\n  namespace: streaming\n  broker_pod: broker-0\n  broker_container: broker\n  bootstrap_server: b:9092\n  topic_prefix: fink-\n  topics_script: /opt/kafka/bin/kafka-topics.sh\n",
    )
    .unwrap();
    cluster
        .finkctl()
        .args(["get", "topics"])
        .assert()
        .success()
        .stdout("Filtered Kafka topics:\nfink-a\n");
}

#[test]
fn wait_topics_paces_kafka_topics_runs_and_reports_a_repeated_failure_once() {
    // No KafkaTopic CRD: topics are listed with kafka-topics.sh only.
    let cluster = Cluster::with(FakeApiServer::start());
    broker_pod(&cluster);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    cluster
        .server
        .exec_handler("kafka", "kafka-cluster-dual-role-0", move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            ExecReply::default()
                .with_stderr("Timed out waiting for a node assignment")
                .with_exit_code(1)
        });
    let out = cluster
        .finkctl()
        .args(["wait", "topics", "-e", "1", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let calls = calls.load(Ordering::SeqCst);
    // One run at a time, 2 s apart by default: at most 3 runs in 5 s (the original's loop ran
    // one every 250 ms and logged each failure).
    assert!((2..=3).contains(&calls), "{calls} runs\n{stderr}");
    assert_eq!(
        stderr
            .matches("listing topics failed, retrying every 2s: ")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("listing topics failed {calls} times in a row: ")),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: timed out waiting for the condition on topics\n"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn wait_topics_logs_the_topics_when_they_change() {
    let cluster = Cluster::with(FakeApiServer::start());
    broker_lists(&cluster, "fink_a\n");
    // At -v 1 the topics are logged when they change, not on every check.
    let out = cluster
        .finkctl()
        .args([
            "wait",
            "topics",
            "-e",
            "3",
            "--timeout",
            "1s",
            "--interval",
            "100ms",
            "-v1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("Found topics").count(), 1, "{stderr}");
}

#[test]
fn wait_topics_prefers_the_kafka_topic_watch_when_the_crd_is_served() {
    let cluster = Cluster::start();
    // kafka-topics.sh lags behind (or cannot see) what the topic operator knows.
    broker_lists(&cluster, "fink_a\n");
    cluster.namespace("kafka");
    cluster.server.apply_json(kafka_topic("fink_a"));
    cluster.server.after(Duration::from_millis(500), |store| {
        store.apply_json(kafka_topic("fink_b"));
    });
    cluster
        .finkctl()
        .args(["wait", "topics", "-e", "2", "--timeout", "30s"])
        .assert()
        .success()
        .stdout("Condition met: Found 2 fink topics\n");
    // When neither source sees the count, the original's message, alone.
    cluster
        .finkctl()
        .args(["wait", "topics", "-e", "3", "--timeout", "1s"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("error: timed out waiting for the condition on topics\n");
}

#[test]
fn wait_tasks_readiness_messages() {
    let cluster = Cluster::start();
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Pending", false));
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "1s"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("error: timed out waiting for driver pods to be ready, reason: timed out waiting for the condition\n");
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Succeeded", false));
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "5s"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "error: timed out waiting for driver pods to be ready, reason: job driver-0 failed\n",
        );
}

#[test]
fn wait_tasks_has_one_deadline_for_every_step() {
    let cluster = Cluster::start();
    // Drivers come after 2.5 s, executors never: with a timeout per step (the original) this
    // would fail after 2.5 s + 3 s; with one deadline it fails at 3 s.
    cluster.server.after(Duration::from_millis(2500), |store| {
        store.apply_json(pod("driver-0", "driver", "Running", true));
    });
    let start = Instant::now();
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "3s"])
        .assert()
        .code(1)
        .stderr(
            "Pods with label 'spark-role=driver' are ready\nerror: timed out waiting for executor pods to be created, reason: error: timed out waiting for pods with label spark-role=executor\n",
        );
    assert!(
        start.elapsed() < Duration::from_millis(5000),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn delete_all_namespaces_says_so() {
    let cluster = Cluster::start();
    let mut other = pod("driver-x", "driver", "Running", true);
    other["metadata"]["namespace"] = json!("other");
    cluster.server.apply_json(other);
    cluster
        .finkctl()
        .args(["delete", "-A", "--dry-run"])
        .assert()
        .success()
        .stdout("Delete all spark pods in all namespaces\npod other/driver-x would be deleted (dry run)\n");
}

#[test]
fn wait_tasks_goes_on_to_the_pods_when_listing_spark_applications_fails_once() {
    let cluster = Cluster::start();
    cluster.server.fault(
        FaultRule::new(Fault::Status(500))
            .method("GET")
            .path_prefix("/apis/sparkoperator.k8s.io/v1beta2/namespaces/spark/sparkapplications")
            .times(1),
    );
    cluster
        .server
        .apply_json(pod("driver-0", "driver", "Running", true));
    cluster
        .server
        .apply_json(pod("exec-0", "executor", "Running", true));
    cluster
        .finkctl()
        .args(["wait", "tasks", "-e", "1", "--timeout", "10s"])
        .assert()
        .success()
        .stdout("")
        .stderr(
            predicate::str::ends_with(
                "Pods with label 'spark-role=driver' are ready\nPods with label 'spark-role=executor' are ready\n",
            )
            .and(predicate::str::contains("SparkApplications in namespace").not()),
        );
}
