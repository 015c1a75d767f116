//! The Fink CI flow (finkctl spec §5.3) with the three built binaries together: `ciux ignite` on a
//! generated stack served by `git daemon` with the images in Debian's `docker-registry`, the env
//! file sourced, `ciux get clustername`, `ktbx create -s` (fake `kind`; the fake API server is the
//! cluster), `finkctl createsecrets`, `finkctl run` of the three tasks with the spark-operator
//! backend (a hook of this test plays the operator: SparkApplication → driver and executor pods,
//! Ready later), `finkctl wait tasks`, topics appearing in the broker's scripted `kafka-topics.sh`
//! output, `finkctl wait topics`, and `ciux image promote`. The state is asserted after every step.
//! The same flow runs a second time with faults: API server 500s, a dropped watch, one registry 503.
//!
//! The binaries come from `harness::tools::Tools::debug()`: one `cargo build -p ktbx -p ciux -p
//! finkctl` per test process (a no-op when up to date), or `$FINK_TOOLS_BIN_DIR`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::apiserver::{ExecReply, FakeApiServer, Fault, FaultRule, crds};
use harness::fakebin::{FakeBins, Reply, Script};
use harness::proxy::LatencyProxy;
use harness::registry::Registry;
use harness::stack::{self, FinkStack};
use harness::tools::Tools;
use serde_json::json;

const TASKS: [&str; 3] = ["stream2raw", "raw2science", "distribution"];
const TOPICS: [&str; 4] = ["fink_early_sn", "fink_kn", "fink_sso", "fink_tracklet"];
/// When the spark-operator's pods get Ready.
const PODS_READY_AFTER: Duration = Duration::from_secs(1);

#[test]
fn fink_ci_flow_with_the_three_tools() {
    Flow::new(false).run();
}

#[test]
fn fink_ci_flow_survives_api_server_errors_a_dropped_watch_and_a_registry_503() {
    Flow::new(true).run();
}

/// Everything one run of the flow uses.
struct Flow {
    faults: bool,
    tools: &'static Tools,
    dir: tempfile::TempDir,
    registry: Registry,
    registry_proxy: LatencyProxy,
    stack: FinkStack,
    api: FakeApiServer,
    fakes: FakeBins,
}

impl Flow {
    fn new(faults: bool) -> Flow {
        let tools = Tools::debug();
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::start();
        // ciux reaches the registry through a proxy that can answer 503 instead.
        let registry_proxy = LatencyProxy::start(registry.addr(), Duration::ZERO);
        let stack = FinkStack::generate(dir.path(), &registry_proxy.addr().to_string(), true);
        for (repo, tag) in stack.required_images() {
            registry.push_image(repo, tag);
        }
        let api = FakeApiServer::builder()
            .crd(crds::kafka_topic())
            .crd(crds::kafka_user())
            .crd(crds::spark_application())
            .start();
        let fakes = FakeBins::new();
        for dir_name in ["home", "finkctl"] {
            std::fs::create_dir_all(dir.path().join(dir_name)).unwrap();
        }
        stack::write_finkctl_config(&dir.path().join("finkctl")).unwrap();
        Flow {
            faults,
            tools,
            dir,
            registry,
            registry_proxy,
            stack,
            api,
            fakes,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a tool with the CI job's environment; returns its output after checking success.
    fn tool(&self, program: &Path, args: &[&str]) -> Output {
        let output = self.try_tool(program, args);
        assert!(
            output.status.success(),
            "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs a tool with the CI job's environment.
    fn try_tool(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", self.fakes.path_env())
            .env("HOME", self.path("home"))
            .env("USER", "ci")
            .env("KUBECONFIG", self.path("kubeconfig"))
            .env("FINKCONFIG", self.path("finkctl"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("KTBX_INSTALL_DIR", self.path("bin"))
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn run(&self) {
        let env = self.ignite();
        let cluster = self.clustername();
        self.create_cluster(&cluster);
        self.createsecrets();
        self.run_tasks(&env.image_url);
        self.wait_tasks();
        self.wait_topics();
        self.promote(&env);
        if self.faults {
            assert_eq!(
                self.registry_proxy.faults_sent(),
                1,
                "the registry 503 was sent"
            );
        }
    }

    /// `ciux ignite --selector itest`, then the env file sourced by bash.
    fn ignite(&self) -> SourcedEnv {
        if self.faults {
            self.registry_proxy.fail_next(1);
        }
        let project = self.stack.project().display().to_string();
        let out = self.tool(
            &self.tools.ciux,
            &["ignite", "--selector", "itest", &project],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
        let simulator = self.stack.work.join("fink-alert-simulator");
        assert!(
            simulator.join(".git").is_dir(),
            "the simulator is cloned next to the project"
        );
        let env_file = self.stack.project().join(".ciux.d/ciux_itest.sh");
        let text = std::fs::read_to_string(&env_file).unwrap();
        let version = self.stack.project_version();
        let registry = &self.stack.registry;
        for line in [
            format!("export FINK_ALERT_SIMULATOR_DIR={}", simulator.display()),
            "export FINK_ALERT_SIMULATOR_VERSION=v3.2.0".into(),
            "export FINK_ALERT_SIMULATOR_WORKBRANCH=main".into(),
            "export FINK_CD_WORKBRANCH=my-feature".into(),
            format!("export FINK_BROKER_VERSION={version}"),
            "export FINK_BROKER_WORKBRANCH=my-feature".into(),
            format!("export FINK_STACKABLE_HADOOP_IMAGE={registry}/stackable-hadoop:v24.11.0"),
            format!("export CIUX_IMAGE_URL={registry}/fink-broker:{version}"),
            "export CIUX_BUILD=true".into(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        let sourced = Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". '{}' && echo \"$CIUX_IMAGE_URL|$CIUX_PROMOTED_IMAGE_URL|$FINK_ALERT_SIMULATOR_DIR\"",
                env_file.display()
            ))
            .env_clear()
            .output()
            .unwrap();
        let sourced = String::from_utf8(sourced.stdout).unwrap();
        let mut fields = sourced.trim_end().split('|').map(str::to_string);
        let env = SourcedEnv {
            image_url: fields.next().unwrap(),
            promoted_url: fields.next().unwrap(),
        };
        assert_eq!(env.image_url, format!("{registry}/fink-broker:{version}"));
        assert_eq!(fields.next().unwrap(), simulator.display().to_string());
        env
    }

    /// `ciux get clustername`: `<user>-<branch>-<hash6>`.
    fn clustername(&self) -> String {
        let project = self.stack.project().display().to_string();
        let out = self.tool(&self.tools.ciux, &["get", "clustername", &project]);
        let name = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(
            name,
            format!("ci-my-feature-{}", &self.stack.broker.head()[..6])
        );
        name
    }

    /// `ktbx create -s --name <cluster>`: kind is a fake, the fake API server is the cluster, and
    /// its node gets Ready 500 ms later.
    fn create_cluster(&self, cluster: &str) {
        let node = format!("{cluster}-control-plane");
        self.fakes.add("docker", Script::default());
        self.fakes.add(
            "kind",
            Script::default()
                .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
                .on(&["get", "nodes"], Reply::stdout(format!("{node}\n"))),
        );
        // What `kind create cluster` writes: a context `kind-<name>` (here with namespace spark,
        // as `kubectl config set-context --current --namespace=spark` does in fink-broker's CI).
        stack::write_kind_kubeconfig(&self.path("kubeconfig"), cluster, self.api.url(), "spark")
            .unwrap();
        self.api.apply_json(stack::node(&node, false));
        let ready = stack::node(&node, true);
        self.api.after(Duration::from_millis(500), move |store| {
            store.apply_json(ready);
        });
        if self.faults {
            self.api.fault(
                FaultRule::new(Fault::Status(500))
                    .method("GET")
                    .path_prefix("/api/v1/nodes")
                    .times(1),
            );
        }
        self.tool(
            &self.tools.ktbx,
            &["create", "-s", "--name", cluster, "--timeout", "60s"],
        );
        let kind: Vec<String> = self
            .fakes
            .calls("kind")
            .into_iter()
            .map(|c| c.argv.join(" "))
            .collect();
        let creates: Vec<&String> = kind
            .iter()
            .filter(|c| c.starts_with("create cluster"))
            .collect();
        assert_eq!(creates.len(), 1, "{kind:?}");
        assert!(
            creates[0].ends_with(&format!("--name {cluster}")),
            "{kind:?}"
        );
        let node_requests = self
            .api
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v1/nodes")
            .collect::<Vec<_>>();
        if self.faults {
            assert!(node_requests.len() >= 2, "the failed node list was retried");
        } else {
            assert!(
                node_requests.iter().any(|r| r.query.contains("watch")),
                "the node was awaited with a watch"
            );
        }
    }

    /// The platform (Strimzi, namespaces) is there; `finkctl createsecrets` writes the JAAS secret.
    fn createsecrets(&self) {
        stack::seed_platform(&self.api);
        let out = self.tool(&self.tools.finkctl, &["createsecrets"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
        let secret = self
            .api
            .get_json("v1", "Secret", Some("spark"), "fink-kafka-jaas")
            .expect("the JAAS secret");
        assert!(secret["data"]["kafka-jaas.conf"].is_string(), "{secret}");
    }

    /// How many PATCH requests for SparkApplications reached the fake API server so far.
    fn spark_application_patches(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.starts_with("/apis/sparkoperator.k8s.io/"))
            .count()
    }

    /// `finkctl run <task> --backend spark-operator` for the three tasks; this test plays the
    /// operator: each SparkApplication gets a driver and an executor pod, Ready 1 s later.
    /// With faults, the first two applies of stream2raw get a 500: finkctl retries the transient
    /// error and succeeds in one run, and the application exists once.
    fn run_tasks(&self, image: &str) {
        for task in TASKS {
            let args = [
                "run",
                task,
                "--backend",
                "spark-operator",
                "-i",
                image,
                "-N",
                "20200101",
            ];
            let patches_before = self.spark_application_patches();
            if self.faults && task == "stream2raw" {
                self.api.fault(
                    FaultRule::new(Fault::Status(500))
                        .method("PATCH")
                        .path_prefix("/apis/sparkoperator.k8s.io/")
                        .times(2),
                );
            }
            let out = self.tool(&self.tools.finkctl, &args);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("sparkapplication.sparkoperator.k8s.io/fink-{task} serverside-applied\n")
            );
            let expected_patches = if self.faults && task == "stream2raw" {
                3
            } else {
                1
            };
            assert_eq!(
                self.spark_application_patches() - patches_before,
                expected_patches,
                "{task}: one apply, plus one retry per injected 500"
            );
            let name = format!("fink-{task}");
            let app = self
                .api
                .get_json(
                    "sparkoperator.k8s.io/v1beta2",
                    "SparkApplication",
                    Some("spark"),
                    &name,
                )
                .expect("the SparkApplication");
            assert_eq!(app["spec"]["image"], image);
            let pods = stack::play_spark_operator(&self.api, &name, PODS_READY_AFTER).unwrap();
            assert_eq!(pods.len(), 2);
        }
        let apps = self.api.list_json(
            "sparkoperator.k8s.io/v1beta2",
            "SparkApplication",
            Some("spark"),
        );
        assert_eq!(
            apps.len(),
            3,
            "one SparkApplication per task, none duplicated"
        );
    }

    /// With faults: two 500s on the pod list and a dropped watch while waiting.
    fn wait_tasks(&self) {
        if self.faults {
            self.api.fault(
                FaultRule::new(Fault::Status(500))
                    .method("GET")
                    .path_prefix("/api/v1/namespaces/spark/pods")
                    .times(2),
            );
        }
        let api = &self.api;
        let out = std::thread::scope(|scope| {
            if self.faults {
                scope.spawn(|| {
                    std::thread::sleep(Duration::from_millis(400));
                    api.drop_watches();
                });
            }
            self.tool(
                &self.tools.finkctl,
                &["wait", "tasks", "--expected", "3", "--timeout", "60s"],
            )
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in [
            "SparkApplications in namespace 'spark' are running",
            "Pods with label 'spark-role=driver' are ready",
            "Pods with label 'spark-role=executor' are ready",
        ] {
            assert!(stderr.contains(line), "{line:?} missing from:\n{stderr}");
        }
        let pods = self.api.list_json("v1", "Pod", Some("spark"));
        assert_eq!(pods.len(), 6, "3 drivers and 3 executors, none duplicated");
    }

    /// The broker's `kafka-topics.sh --list` shows the Fink topics appearing one by one.
    fn wait_topics(&self) {
        self.api.apply_json(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kafka-cluster-dual-role-0", "namespace": "kafka"},
            "spec": {"containers": [{"name": "kafka", "image": "strimzi/kafka"}]},
            "status": {"phase": "Running"},
        }));
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let faults = self.faults;
        self.api
            .exec_handler("kafka", "kafka-cluster-dual-role-0", move |_| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                if faults && n == 0 {
                    return ExecReply::default()
                        .with_stderr("Broker may not be available")
                        .with_exit_code(1);
                }
                let mut listing = String::from("__consumer_offsets\nztf-stream-20200101\n");
                for topic in TOPICS.iter().take((n + 1).min(TOPICS.len())) {
                    listing.push_str(topic);
                    listing.push('\n');
                }
                ExecReply::stdout(listing)
            });
        let expected = TOPICS.len().to_string();
        let out = self.tool(
            &self.tools.finkctl,
            &[
                "wait",
                "topics",
                "--expected",
                &expected,
                "--timeout",
                "60s",
                "--interval",
                "200ms",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Condition met: Found {expected} fink topics\n")
        );
        assert!(calls.load(Ordering::SeqCst) >= TOPICS.len());
        let out = self.tool(&self.tools.finkctl, &["get", "topics"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Filtered Kafka topics:\n{}\n", TOPICS.join("\n"))
        );
    }

    /// The CI job built and pushed `CIUX_IMAGE_URL`; after the tests it promotes it.
    fn promote(&self, env: &SourcedEnv) {
        let (repo, tag) = env
            .image_url
            .split_once('/')
            .and_then(|(_, path)| path.rsplit_once(':'))
            .unwrap();
        let digest = self.registry.push_image(repo, tag);
        assert_eq!(env.promoted_url, env.image_url, "no --tmp-registry");
        let out = self.tool(
            &self.tools.ciux,
            &["image", "promote", &env.image_url, "itest-passed"],
        );
        let promoted = format!(
            "{}/{repo}:itest-passed",
            self.stack.registry.split('/').next().unwrap()
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Promoted {} as {promoted}\n", env.image_url)
        );
        assert_eq!(
            manifest_digest(self.registry.addr(), repo, "itest-passed").as_deref(),
            Some(digest.as_str()),
            "the promoted tag points at the tested image"
        );
    }
}

struct SourcedEnv {
    image_url: String,
    promoted_url: String,
}

/// The digest the registry gives `repo:tag` (HEAD on the manifest).
fn manifest_digest(registry: SocketAddr, repo: &str, tag: &str) -> Option<String> {
    let mut stream = TcpStream::connect(registry).ok()?;
    write!(
        stream,
        "HEAD /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json\r\n\
         Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("docker-content-digest")
            .then(|| value.trim().to_string())
    })
}
