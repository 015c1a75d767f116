//! `finkctl run stream2raw` (no `--dry-run`) running the real `spark-submit` (pyspark's, with
//! its fabric8 Kubernetes client) against the fake API server: the driver pod appears with the
//! rendered image, resources, service account and arguments; the test plays the kubelet and
//! ends it, and spark-submit (and finkctl) end with it.
//!
//! `.ci/run` installs pyspark and a JRE; on a machine without `spark-submit` or `java` on PATH
//! the tests print why and skip.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harness::apiserver::{FakeApiServer, FakeApiServerBuilder, Store};
use harness::tools::Tools;
use serde_json::{Value, json};

/// How long spark-submit may take to create the driver pod (a JVM start on a loaded machine).
const DRIVER_POD_DEADLINE: Duration = Duration::from_secs(240);

const CONFIG: &str = "apiVersion: v1alpha2
run:
  cpu: 1
  memory: 1g
  image: registry.invalid/fink-broker:param
  producer: sims
  log_level: INFO
  fink_trigger_update: \"2\"
  night: 20240101
stream2raw:
  fink_alert_schema: /home/fink/schema.avsc
  kafka_socket: kafka-cluster-kafka-bootstrap.kafka:9092
  kafka_starting_offset: earliest
  kafka_topic: ztf-stream-{{.Night}}
  max_offsets_per_trigger: 5000
distribution:
  distribution_servers: kafka-cluster-kafka-external-bootstrap.kafka:9094
  distribution_schema: /home/fink/distribution_schema.avsc
  substream_prefix: fink_
  mmconfigpath: no-config
s3:
  endpoint: http://minio.minio:9000
  use_ssl: \"false\"
  bucket: fink-broker-online-{{.Night}}
";

const SECRET: &str = "apiVersion: v1alpha2
s3:
  id: \"minioadmin\"
  secret: \"minioadmin\"
distribution:
  kafka:
    username: fink-producer
    password: changeme
";

/// The reason to skip, when spark-submit or java cannot run here.
fn missing_tools() -> Option<String> {
    let missing: Vec<&str> = ["spark-submit", "java"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "skipped: {} not on PATH (`.ci/run` installs pyspark and a JRE)",
            missing.join(" and ")
        )
    })
}

/// A fake API server given the `spark` ServiceAccount, and finkctl's configuration in a directory.
struct Setup {
    server: FakeApiServer,
    dir: tempfile::TempDir,
}

impl Setup {
    /// Starts the server `builder` makes; `None`, saying why, where spark-submit or java cannot run.
    fn start(builder: FakeApiServerBuilder) -> Option<Setup> {
        if let Some(reason) = missing_tools() {
            eprintln!("{reason}");
            return None;
        }
        let server = builder.start();
        server.apply_json(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "spark", "namespace": "default"},
        }));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("finkctl.yaml"), CONFIG).unwrap();
        std::fs::write(dir.path().join("finkctl.secret.yaml"), SECRET).unwrap();
        Some(Setup { server, dir })
    }

    /// Starts `finkctl run stream2raw` against the fake server.
    fn run_stream2raw(&self) -> Running {
        self.run("stream2raw")
    }

    /// Starts `finkctl run <task>` against the fake server.
    fn run(&self, task: &str) -> Running {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        Command::new(&Tools::debug().finkctl)
            .args(["run", task, "-N", "20000101", "-v1"])
            .current_dir(self.dir.path())
            .env("FINKCONFIG", self.dir.path())
            .env("KUBECONFIG", self.server.kubeconfig())
            .env("HOME", &home)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env_remove("SPARK_HOME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Running::new)
            .expect("start finkctl")
    }

    /// The driver pod, once spark-submit has created it (or finkctl's output if it never does).
    fn driver_pod(&self, finkctl: Running) -> (Value, Running) {
        let start = Instant::now();
        let mut finkctl = finkctl;
        loop {
            let driver = self
                .server
                .list_json("v1", "pods", Some("default"))
                .into_iter()
                .find(|p| p["metadata"]["labels"]["spark-role"] == "driver");
            if let Some(pod) = driver {
                return (pod, finkctl);
            }
            let ended = finkctl.ended();
            if ended || start.elapsed() > DRIVER_POD_DEADLINE {
                let out = finkctl.finish(!ended);
                panic!(
                    "no driver pod ({}, after {:?}); finkctl's output:\n{}",
                    out.status,
                    start.elapsed(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Plays the kubelet: half a second from now the driver `pod` runs, then ends with
    /// `exit_code`; then finkctl's output, once it has ended too.
    fn driver_ends(&self, pod: &Value, exit_code: i32, finkctl: Running) -> (Output, String) {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        self.server.after(Duration::from_millis(500), move |s| {
            end_driver(s, &name, exit_code)
        });
        let out = finkctl.finish_after_driver();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stderr)
    }
}

/// How long spark-submit may take to notice the driver's end (its watch sees it at once).
const END_DEADLINE: Duration = Duration::from_secs(120);

/// A running finkctl whose pipes threads drain (spark-submit logs every second, so it must
/// never block on a full pipe).
struct Running {
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Running {
    fn new(mut child: Child) -> Running {
        fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Its exit status and output (killed first when `kill`).
    fn finish(mut self, kill: bool) -> Output {
        if kill {
            let _ = self.child.kill();
        }
        Output {
            status: self.child.wait().unwrap(),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
        }
    }

    /// Waits for the end after the driver ended; a hang (a watch the fake cannot serve) fails
    /// the test with finkctl's output instead of running into the harness timeout.
    fn finish_after_driver(mut self) -> Output {
        let start = Instant::now();
        while !self.ended() {
            if start.elapsed() > END_DEADLINE {
                let out = self.finish(true);
                panic!(
                    "finkctl did not end {END_DEADLINE:?} after the driver ended:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.finish(false)
    }
}

/// Plays the kubelet: the driver runs, then ends with `exit_code` (Succeeded when 0).
fn end_driver(store: &Store, name: &str, exit_code: i32) {
    let phase = if exit_code == 0 {
        "Succeeded"
    } else {
        "Failed"
    };
    let reason = if exit_code == 0 { "Completed" } else { "Error" };
    let patch = |status: Value| {
        store
            .merge_patch_json(
                "v1",
                "pods",
                Some("default"),
                name,
                &json!({"status": status}),
            )
            .expect("the driver pod exists");
    };
    patch(json!({
        "phase": "Running",
        "containerStatuses": [{"name": "spark-kubernetes-driver", "ready": true, "restartCount": 0,
            "image": "registry.invalid/fink-broker:param", "imageID": "",
            "state": {"running": {"startedAt": "2000-01-01T00:00:00Z"}}}],
    }));
    patch(json!({
        "phase": phase,
        "containerStatuses": [{"name": "spark-kubernetes-driver", "ready": false, "restartCount": 0,
            "image": "registry.invalid/fink-broker:param", "imageID": "",
            "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                "startedAt": "2000-01-01T00:00:00Z", "finishedAt": "2000-01-01T00:00:01Z"}}}],
    }));
}

fn assert_rendered_driver(pod: &Value) {
    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "spark", "{pod:#}");
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "spark-kubernetes-driver");
    assert_eq!(container["image"], "registry.invalid/fink-broker:param");
    // spark.driver.memory=1g plus the 40 % overhead of a Python application; driver cores 1.
    assert_eq!(container["resources"]["requests"]["memory"], "1433Mi");
    assert_eq!(container["resources"]["limits"]["memory"], "1433Mi");
    assert_eq!(container["resources"]["requests"]["cpu"], "1");
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("driver args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let app = args
        .iter()
        .position(|a| *a == "local:///home/fink/fink-broker/bin/stream2raw.py")
        .unwrap_or_else(|| panic!("no application file in {args:?}"));
    assert_eq!(args[0], "driver");
    assert_eq!(
        args[app + 1..],
        [
            "-log_level",
            "INFO",
            "-online_data_prefix",
            "s3a://fink-broker-online-20000101",
            "-producer",
            "sims",
            "-tinterval",
            "2",
            "-servers",
            "kafka-cluster-kafka-bootstrap.kafka:9092",
            "-schema",
            "/home/fink/schema.avsc",
            "-startingoffsets_stream",
            "earliest",
            "-topic",
            "ztf-stream-20000101",
            "-max_offsets_per_trigger",
            "5000",
        ]
    );
}

fn watched_the_pods(server: &FakeApiServer) -> bool {
    server
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/pods") && r.query.contains("watch=true"))
}

#[test]
fn stream2raw_runs_the_real_spark_submit_until_the_driver_succeeds() {
    let Some(setup) = Setup::start(FakeApiServer::builder()) else {
        return;
    };
    let (pod, finkctl) = setup.driver_pod(setup.run_stream2raw());
    assert_rendered_driver(&pod);
    let (out, stderr) = setup.driver_ends(&pod, 0, finkctl);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    assert!(watched_the_pods(&setup.server));
    assert!(!stderr.contains("minioadmin"), "{stderr}");
}

#[test]
fn the_kubeconfig_certificate_authority_and_token_reach_spark_submit() {
    let Some(setup) = Setup::start(FakeApiServer::builder().tls().bearer_token("spark-token"))
    else {
        return;
    };
    let (pod, finkctl) = setup.driver_pod(setup.run_stream2raw());
    let (out, stderr) = setup.driver_ends(&pod, 0, finkctl);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    assert!(!stderr.contains("spark-token"), "{stderr}");
}

#[test]
fn distribution_ships_the_executor_pod_template_in_sparks_config_map() {
    let Some(setup) = Setup::start(FakeApiServer::builder()) else {
        return;
    };
    let (pod, finkctl) = setup.driver_pod(setup.run("distribution"));
    let secret = setup
        .server
        .get_json("v1", "Secret", Some("default"), "fink-kafka-jaas")
        .expect("the JAAS Secret was applied before spark-submit");
    assert!(secret["data"].is_object(), "{secret}");
    // Spark uploads the executor pod template into a ConfigMap the driver mounts (created
    // right after the pod, owned by it).
    let start = Instant::now();
    let templates = loop {
        let templates: Vec<Value> = setup
            .server
            .list_json("v1", "configmaps", Some("default"))
            .into_iter()
            .filter(|c| {
                c["data"].as_object().is_some_and(|d| {
                    d.values().any(|v| {
                        v.as_str()
                            .is_some_and(|t| t.contains("secretName: fink-kafka-jaas"))
                    })
                })
            })
            .collect();
        if !templates.is_empty() || start.elapsed() > END_DEADLINE {
            break templates;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(templates.len(), 1, "{templates:#?}");
    assert_eq!(
        templates[0]["metadata"]["ownerReferences"][0]["uid"],
        pod["metadata"]["uid"]
    );
    let template_map = templates[0]["metadata"]["name"].as_str().unwrap();
    let mounted = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["configMap"]["name"] == template_map);
    assert!(mounted, "{pod:#}");
    let (out, stderr) = setup.driver_ends(&pod, 0, finkctl);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    assert!(!stderr.contains("changeme"), "{stderr}");
}

#[test]
fn stream2raw_with_a_failing_driver_exits_1_naming_the_pod() {
    let Some(setup) = Setup::start(FakeApiServer::builder()) else {
        return;
    };
    let (pod, finkctl) = setup.driver_pod(setup.run_stream2raw());
    let (out, stderr) = setup.driver_ends(&pod, 3, finkctl);
    let name = pod["metadata"]["name"].as_str().unwrap();
    // spark-submit itself reports the driver's exit code and ends.
    assert!(stderr.contains("exit code: 3"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(name), "{last}");
}
