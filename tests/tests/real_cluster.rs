//! The tools' Kubernetes paths against a real kube-apiserver 1.20 (etcd, kube-apiserver,
//! kube-controller-manager: `harness::real_apiserver`), over TLS with a bearer token from the
//! kubeconfig, with the stand-in kubelet (`harness::kubelet`) moving pods along: `finkctl
//! createsecrets`, `run --backend spark-operator`, `wait tasks`, `wait topics --source crd`,
//! `delete`; `ktbx exist`; `ktbx install argowf` (manifests from a loopback mirror, rolled out by
//! the controller-manager and the kubelet); and the Fink CI flow of `scenario.rs` end to end.
//!
//! Every test skips, printing why, when the binaries are not built (`cargo xtask
//! real-apiserver`). Each test works in fresh namespaces; the spark-operator's and Strimzi's
//! CRDs are applied once per process (the real server rejects the harness's SparkApplication
//! CRD without its `api-approved.kubernetes.io` annotation, as it would the real operator's).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use harness::apiserver::crds;
use harness::fakebin::{FakeBins, Reply, Script};
use harness::kubelet::{Fate, Kubelet};
use harness::real_apiserver::{RealApiServer, TestNamespace};
use harness::registry::Registry;
use harness::release::ReleaseServer;
use harness::stack::{self, FinkStack};
use harness::tools::Tools;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const TASKS: [&str; 3] = ["stream2raw", "raw2science", "distribution"];
const TOPICS: [&str; 4] = ["fink_early_sn", "fink_kn", "fink_sso", "fink_tracklet"];

/// One test's world: the shared real server, a `spark` and a `kafka` namespace of its own, a
/// finkctl configuration pointing at the latter, and a tokio runtime for the test's own calls.
struct World {
    server: &'static RealApiServer,
    spark: TestNamespace,
    kafka: TestNamespace,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    tools: &'static Tools,
}

impl World {
    /// The world, or `None` (after printing why) when the real binaries are not built.
    fn new() -> Option<World> {
        let server = match RealApiServer::shared(Path::new(env!("CARGO_BIN_EXE_kube-supervisor"))) {
            Ok(server) => server,
            Err(reason) => {
                eprintln!("SKIPPED: no real kube-apiserver: {reason}");
                return None;
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let spark = runtime.block_on(server.namespace());
        let kafka = runtime.block_on(server.namespace());
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "finkctl"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        stack::write_finkctl_config(&dir.path().join("finkctl")).unwrap();
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("finkctl/finkctl.yaml"))
            .unwrap();
        writeln!(config, "kafka:\n  namespace: {}", kafka.name).unwrap();
        let world = World {
            server,
            spark,
            kafka,
            dir,
            runtime,
            tools: Tools::debug(),
        };
        world.runtime.block_on(world.install_crds());
        Some(world)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn client(&self, namespace: &str) -> kube::Client {
        self.server.client(namespace).await
    }

    /// Applies the SparkApplication (approved) and KafkaTopic CRDs and waits until served.
    async fn install_crds(&self) {
        let client = self.client("default").await;
        let api: Api<CustomResourceDefinition> = Api::all(client);
        let mut spark = crds::spark_application();
        spark["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "https://github.com/kubeflow/spark-operator/pull/1298"});
        for crd in [spark, crds::kafka_topic()] {
            let name = crd["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(
                &name,
                &PatchParams::apply("real-cluster-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|err| panic!("applying the CRD {name}: {err}"));
            let mut established = false;
            for _ in 0..200 {
                let crd = api.get(&name).await.unwrap();
                established =
                    crd.status
                        .and_then(|status| status.conditions)
                        .is_some_and(|conditions| {
                            conditions
                                .iter()
                                .any(|c| c.type_ == "Established" && c.status == "True")
                        });
                if established {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(established, "{name} is not Established");
        }
    }

    /// Runs a tool with the kubeconfig of the spark namespace; returns its output.
    fn try_tool(&self, program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
        Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("USER", "ci")
            .env("KUBECONFIG", &self.spark.kubeconfig)
            .env("FINKCONFIG", self.path("finkctl"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("KTBX_INSTALL_DIR", self.path("bin"))
            .envs(envs.iter().copied())
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// [`try_tool`](Self::try_tool), asserting success.
    fn tool(&self, program: &Path, args: &[&str]) -> Output {
        let output = self.try_tool(program, args, &[]);
        assert_success(program, args, &output);
        output
    }

    /// Creates or replaces `object` by server-side apply (as the test's own manager).
    fn apply(&self, namespace: &str, object: Value) -> DynamicObject {
        let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (
                String::new(),
                object["apiVersion"].as_str().unwrap().to_string(),
            ),
        };
        let kind = object["kind"].as_str().unwrap();
        let plural = format!("{}s", kind.to_ascii_lowercase());
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&group, &version, kind),
            &plural,
        );
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        self.runtime.block_on(async {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client(namespace).await, namespace, &resource);
            api.patch(
                &name,
                &PatchParams::apply("real-cluster-tests").force(),
                &Patch::Apply(&object),
            )
            .await
            .unwrap_or_else(|err| panic!("applying {kind} {namespace}/{name}: {err}"))
        })
    }

    /// The Strimzi user secret `fink-producer` (password `changeme`) in the kafka namespace.
    fn seed_kafka_user(&self) {
        self.apply(
            &self.kafka.name,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fink-producer"},
                   "data": {"password": "Y2hhbmdlbWU="}}),
        );
    }

    /// The spark-operator's part for `app`: a driver and an executor pod, and the application
    /// RUNNING through its status subresource (the kubelet makes the pods Ready).
    fn play_spark_operator(&self, app: &str) {
        let namespace = &self.spark.name;
        for (pod, role) in [
            (format!("{app}-driver"), "driver"),
            (format!("{app}-exec-1"), "executor"),
        ] {
            self.apply(
                namespace,
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": {
                        "spark-role": role, "spark-app-name": app, "spark-app-selector": format!("spark-{app}")}},
                       "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "fink-broker"}]}}),
            );
        }
        self.runtime.block_on(async {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication"),
                "sparkapplications",
            );
            let apps: Api<DynamicObject> =
                Api::namespaced_with(self.client(namespace).await, namespace, &resource);
            apps.patch_status(
                app,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"applicationState": {"state": "RUNNING"}}})),
            )
            .await
            .unwrap();
        });
    }

    /// A kubelet for the spark namespace: every Spark pod gets Running and Ready.
    fn spark_kubelet(&self) -> Kubelet {
        self.runtime.block_on(async {
            let pods: Api<Pod> = Api::default_namespaced(self.client(&self.spark.name).await);
            Kubelet::start(pods, |pod| {
                pod.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|labels| labels.contains_key("spark-role"))
                    .then_some(Fate::Running)
            })
        })
    }

    /// `finkctl run <task> --backend spark-operator`, then the operator's part.
    fn run_task(&self, task: &str, image: &str) {
        let out = self.tool(
            &self.tools.finkctl,
            &[
                "run",
                task,
                "--backend",
                "spark-operator",
                "-i",
                image,
                "-N",
                "20200101",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("sparkapplication.sparkoperator.k8s.io/fink-{task} serverside-applied\n")
        );
        let app = format!("fink-{task}");
        let stored = self.get_spark_application(&app);
        assert_eq!(stored["spec"]["image"], image);
        assert_eq!(stored["metadata"]["namespace"], self.spark.name.as_str());
        self.play_spark_operator(&app);
    }

    fn get_spark_application(&self, name: &str) -> Value {
        self.runtime.block_on(async {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication"),
                "sparkapplications",
            );
            let apps: Api<DynamicObject> = Api::namespaced_with(
                self.client(&self.spark.name).await,
                &self.spark.name,
                &resource,
            );
            serde_json::to_value(apps.get(name).await.unwrap()).unwrap()
        })
    }

    /// The names of the pods of the spark namespace with this label selector.
    fn pod_names(&self, selector: &str) -> Vec<String> {
        self.runtime.block_on(async {
            let pods: Api<Pod> = Api::default_namespaced(self.client(&self.spark.name).await);
            let mut names: Vec<String> = pods
                .list(&ListParams::default().labels(selector))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|pod| pod.metadata.name)
                .collect();
            names.sort();
            names
        })
    }

    /// KafkaTopics named after `topics` in the kafka namespace.
    fn create_topics(&self, topics: &[&str]) {
        for topic in topics {
            self.apply(
                &self.kafka.name,
                json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                       "metadata": {"name": topic.replace('_', "-"), "labels": {"strimzi.io/cluster": "kafka-cluster"}},
                       "spec": {"topicName": topic, "partitions": 1, "replicas": 1}}),
            );
        }
    }

    /// `finkctl wait topics --source crd` while the last topics appear, then `get topics`.
    fn wait_topics(&self) {
        self.create_topics(&TOPICS[..2]);
        let expected = TOPICS.len().to_string();
        let out = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(500));
                self.create_topics(&TOPICS[2..]);
            });
            self.tool(
                &self.tools.finkctl,
                &[
                    "wait",
                    "topics",
                    "--source",
                    "crd",
                    "--expected",
                    &expected,
                    "--timeout",
                    "60s",
                    "--interval",
                    "200ms",
                ],
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Condition met: Found {expected} fink topics\n")
        );
        let out = self.tool(&self.tools.finkctl, &["get", "topics", "--source", "crd"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Filtered Kafka topics:\n{}\n", TOPICS.join("\n"))
        );
    }
}

fn assert_success(program: &Path, args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn finkctl_createsecrets_applies_the_jaas_secret_over_tls_with_a_token() {
    let Some(w) = World::new() else { return };
    w.seed_kafka_user();
    let out = w.tool(&w.tools.finkctl, &["createsecrets"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let secret = w.runtime.block_on(async {
        let secrets: Api<Secret> = Api::default_namespaced(w.client(&w.spark.name).await);
        secrets.get("fink-kafka-jaas").await.unwrap()
    });
    let text = String::from_utf8(secret.data.unwrap()["kafka-jaas.conf"].0.clone()).unwrap();
    assert!(text.contains("username=\"fink-producer\""), "{text}");
    assert!(text.contains("password=\"changeme\""), "{text}");
    // Again: server-side apply changes nothing.
    w.tool(&w.tools.finkctl, &["createsecrets"]);
}

#[test]
fn finkctl_run_spark_operator_wait_tasks_then_delete() {
    let Some(w) = World::new() else { return };
    w.seed_kafka_user();
    let _kubelet = w.spark_kubelet();
    let image = "127.0.0.1:5000/fink-broker:2.7.1";
    for task in TASKS {
        w.run_task(task, image);
    }
    let out = w.tool(
        &w.tools.finkctl,
        &["wait", "tasks", "--expected", "3", "--timeout", "60s"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        format!(
            "SparkApplications in namespace '{}' are running",
            w.spark.name
        ),
        "Pods with label 'spark-role=driver' are ready".into(),
        "Pods with label 'spark-role=executor' are ready".into(),
    ] {
        assert!(stderr.contains(&line), "{line:?} missing from:\n{stderr}");
    }
    assert_eq!(w.pod_names("spark-app-selector").len(), 6);
    let out = w.tool(&w.tools.finkctl, &["delete"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("Delete all spark pods in current namespace"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Pods without a node are deleted at once by a real server.
    assert_eq!(w.pod_names("spark-app-selector"), Vec::<String>::new());
}

#[test]
fn finkctl_wait_tasks_fails_when_a_driver_fails() {
    let Some(w) = World::new() else { return };
    let kubelet_pods = w.runtime.block_on(async {
        let pods: Api<Pod> = Api::default_namespaced(w.client(&w.spark.name).await);
        pods
    });
    let _kubelet = w.runtime.block_on(async {
        Kubelet::start(kubelet_pods, |pod| {
            let role = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get("spark-role"));
            match role.map(String::as_str) {
                Some("driver") => Some(Fate::Failed(3)),
                Some(_) => Some(Fate::Running),
                None => None,
            }
        })
    });
    w.run_task("stream2raw", "127.0.0.1:5000/fink-broker:2.7.1");
    let out = w.try_tool(
        &w.tools.finkctl,
        &["wait", "tasks", "--expected", "1", "--timeout", "5s"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: fink-stream2raw-driver/driver: Failed, last Error (exit 3)"),
        "the failed driver is named with its exit code: {stderr}"
    );
}

#[test]
fn finkctl_wait_topics_from_kafka_topic_resources() {
    let Some(w) = World::new() else { return };
    w.wait_topics();
}

#[test]
fn ktbx_exist_waits_until_the_object_exists() {
    let Some(w) = World::new() else { return };
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            w.runtime.block_on(async {
                let cms: Api<ConfigMap> = Api::default_namespaced(w.client(&w.spark.name).await);
                cms.create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
                )
                .await
                .unwrap();
            });
        });
        w.tool(
            &w.tools.ktbx,
            &["exist", "configmaps", "late", "--timeout", "60s"],
        )
    });
    assert!(out.status.success());
    let missing = w.try_tool(
        &w.tools.ktbx,
        &["exist", "configmaps", "never", "--timeout", "1s"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(1));
}

/// The Argo Workflows manifest the loopback mirror serves (trimmed: a namespace, a CRD, a
/// ServiceAccount, two Deployments).
const ARGOWF_MANIFEST: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: argo
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: workflows.argoproj.io
spec:
  group: argoproj.io
  names: {kind: Workflow, listKind: WorkflowList, plural: workflows, singular: workflow, shortNames: [wf]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argo
  namespace: argo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: workflow-controller
  namespace: argo
spec:
  selector:
    matchLabels: {app: workflow-controller}
  template:
    metadata:
      labels: {app: workflow-controller}
    spec:
      serviceAccountName: argo
      containers:
      - name: workflow-controller
        image: quay.io/argoproj/workflow-controller:v3.5.2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argo-server
  namespace: argo
spec:
  selector:
    matchLabels: {app: argo-server}
  template:
    metadata:
      labels: {app: argo-server}
    spec:
      serviceAccountName: argo
      containers:
      - name: argo-server
        image: quay.io/argoproj/argocli:v3.5.2
";

#[test]
fn ktbx_install_argowf_rolls_out_with_the_controller_manager_and_kubelet() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let Some(w) = World::new() else { return };
    let release = ReleaseServer::start();
    release.publish_argo_workflows(ARGOWF_MANIFEST);
    // The controller-manager makes ReplicaSets and pods; this kubelet runs them.
    let _kubelet = w.runtime.block_on(async {
        let pods: Api<Pod> = Api::namespaced(w.client("argo").await, "argo");
        Kubelet::start(pods, |_| Some(Fate::Running))
    });
    let mirror = release.url("");
    for _ in 0..2 {
        let out = w.try_tool(
            &w.tools.ktbx,
            &["install", "argowf", "--timeout", "60s"],
            &[("KTBX_DOWNLOAD_MIRROR", &mirror)],
        );
        assert_success(&w.tools.ktbx, &["install", "argowf"], &out);
    }
    let pods = w.runtime.block_on(async {
        let pods: Api<Pod> = Api::namespaced(w.client("argo").await, "argo");
        pods.list(&ListParams::default()).await.unwrap().items
    });
    assert_eq!(
        pods.len(),
        2,
        "one pod per Deployment, made by the controller-manager"
    );
    assert!(
        pods.iter()
            .all(|pod| { pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") })
    );
}

#[test]
fn fink_ci_flow_against_a_real_api_server() {
    let Some(w) = World::new() else { return };
    let registry = Registry::start();
    let stack = FinkStack::generate(w.dir.path(), &registry.addr().to_string(), true);
    for (repo, tag) in stack.required_images() {
        registry.push_image(repo, tag);
    }
    let fakes = FakeBins::new();
    let project = stack.project().display().to_string();
    let path_env = fakes.path_env();
    let path_env = path_env.to_str().unwrap();
    let kubeconfig = w.path("kubeconfig");
    let kubeconfig_str = kubeconfig.to_str().unwrap();
    let env = [("PATH", path_env), ("KUBECONFIG", kubeconfig_str)];
    let run = |program: &Path, args: &[&str]| {
        let out = w.try_tool(program, args, &env);
        assert_success(program, args, &out);
        out
    };
    // ciux: the stack and its env file.
    run(&w.tools.ciux, &["ignite", "--selector", "itest", &project]);
    let env_file = std::fs::read_to_string(stack.project().join(".ciux.d/ciux_itest.sh")).unwrap();
    let image_url = env_file
        .lines()
        .find_map(|line| line.strip_prefix("export CIUX_IMAGE_URL="))
        .unwrap()
        .to_string();
    let out = run(&w.tools.ciux, &["get", "clustername", &project]);
    let cluster = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // ktbx create -s: kind is a fake, the real server is the cluster: its node (made here, as
    // kind's kubelet would register it) gets Ready 500 ms later through nodes/status.
    let node = format!("{cluster}-{}", w.spark.name);
    fakes.add("docker", Script::default());
    fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["get", "nodes"], Reply::stdout(format!("{node}\n"))),
    );
    w.server
        .write_kubeconfig_named(&kubeconfig, &format!("kind-{cluster}"), &w.spark.name)
        .unwrap();
    w.runtime.block_on(async {
        let nodes: Api<Node> = Api::all(w.client("default").await);
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": node}})).unwrap(),
            )
            .await
            .unwrap();
    });
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            w.runtime.block_on(async {
                let nodes: Api<Node> = Api::all(w.client("default").await);
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                nodes
                    .patch_status(
                        &node,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": {"conditions": [{
                            "type": "Ready", "status": "True", "reason": "KubeletReady",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}]}})),
                    )
                    .await
                    .unwrap();
            });
        });
        w.try_tool(
            &w.tools.ktbx,
            &["create", "-s", "--name", &cluster, "--timeout", "60s"],
            &env,
        )
    });
    assert_success(&w.tools.ktbx, &["create"], &out);
    // finkctl: secrets, the three tasks, their pods, the topics.
    w.seed_kafka_user();
    run(&w.tools.finkctl, &["createsecrets"]);
    let _kubelet = w.spark_kubelet();
    for task in TASKS {
        let out = run(
            &w.tools.finkctl,
            &[
                "run",
                task,
                "--backend",
                "spark-operator",
                "-i",
                &image_url,
                "-N",
                "20200101",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("sparkapplication.sparkoperator.k8s.io/fink-{task} serverside-applied\n")
        );
        w.play_spark_operator(&format!("fink-{task}"));
    }
    run(
        &w.tools.finkctl,
        &["wait", "tasks", "--expected", "3", "--timeout", "60s"],
    );
    w.wait_topics();
    // ciux: the tested image promoted.
    let (repo, tag) = image_url
        .split_once('/')
        .and_then(|(_, path)| path.rsplit_once(':'))
        .unwrap();
    registry.push_image(repo, tag);
    let out = run(
        &w.tools.ciux,
        &["image", "promote", &image_url, "itest-passed"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("Promoted {image_url} as ")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_stand_in_kubelet_reports_each_fate_through_pod_status() {
    let Some(w) = World::new() else { return };
    let pods = w.runtime.block_on(async {
        let pods: Api<Pod> = Api::default_namespaced(w.client(&w.spark.name).await);
        for name in ["runs", "succeeds", "fails"] {
            pods.create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name},
                    "spec": {"containers": [{"name": "main", "image": "busybox"}]}}))
                .unwrap(),
            )
            .await
            .unwrap();
        }
        let mut stored = Vec::new();
        for (name, fate) in [
            ("runs", Fate::Running),
            ("succeeds", Fate::Succeeded),
            ("fails", Fate::Failed(3)),
        ] {
            stored.push(harness::kubelet::set_fate(&pods, name, fate).await.unwrap());
        }
        stored
    });
    let summary: Vec<(String, bool, Option<i32>)> = pods
        .iter()
        .map(|pod| {
            let status = pod.status.clone().unwrap();
            let ready = status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let exit = status.container_statuses.unwrap()[0]
                .state
                .as_ref()
                .and_then(|state| state.terminated.as_ref())
                .map(|terminated| terminated.exit_code);
            (status.phase.unwrap(), ready, exit)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Running".to_string(), true, None),
            ("Succeeded".to_string(), false, Some(0)),
            ("Failed".to_string(), false, Some(3)),
        ]
    );
}
