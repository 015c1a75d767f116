//! What every test module needs: the fixtures, a directory holding the e2e sample configuration,
//! a `finkctl` command with a clean environment, and the fake-cluster fixture ([`Cluster`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use harness::apiserver::spark_operator::{Script, SparkOperator};
use harness::apiserver::{FakeApiServer, crds};
use harness::fakebin::{self, FakeBins};
use serde_json::{Value, json};

/// `apiVersion` of the spark-operator's SparkApplication.
pub(crate) const APPS: &str = "sparkoperator.k8s.io/v1beta2";

/// Path of a file in `tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Text of a file in `tests/fixtures`.
pub(crate) fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// Writes the e2e sample (`finkctl.yaml` with `edit` applied, `finkctl.secret.yaml`) into `dir`.
pub(crate) fn write_sample_config(dir: &Path, edit: impl Fn(String) -> String) {
    std::fs::write(
        dir.join("finkctl.yaml"),
        edit(read_fixture("finkctl.yaml.orig")),
    )
    .unwrap();
    std::fs::write(
        dir.join("finkctl.secret.yaml"),
        read_fixture("finkctl.secret.yaml"),
    )
    .unwrap();
}

/// `finkctl` with only `PATH` from the test's environment, `HOME` and the working directory set
/// to `home`, and the e2e kubeconfig (server `https://127.0.0.1:34729`, nothing listening).
pub(crate) fn finkctl(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("finkctl").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KUBECONFIG", fixture("kubeconfig"))
        .current_dir(home)
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// The standard output of a finished command.
pub(crate) fn stdout(assert: &Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// A Spark pod in `spark` on node `n`: the `spark-role` label and `labels`, one container
/// (`spark-kubernetes-<role>`) limited to 2Gi, and `status`.
pub(crate) fn spark_pod(name: &str, role: &str, labels: Value, status: Value) -> Value {
    let mut all = json!({"spark-role": role});
    all.as_object_mut()
        .unwrap()
        .extend(labels.as_object().unwrap().clone());
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "spark", "labels": all},
        "spec": {"nodeName": "n", "containers": [{"name": format!("spark-kubernetes-{role}"), "image": "fink-broker",
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}}]},
        "status": status,
    })
}

/// A pod status: `phase` and the Ready condition.
pub(crate) fn phase(phase: &str, ready: bool) -> Value {
    let ready = if ready { "True" } else { "False" };
    json!({"phase": phase, "conditions": [{"type": "Ready", "status": ready}]})
}

/// The value of `--conf key=…` in an argv.
pub(crate) fn conf<'a>(argv: &'a [String], key: &str) -> Option<&'a str> {
    argv.iter()
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}

/// Runs `cmd` while playing Spark's part: once the fake spark-submit of `fakes` has been called
/// (again), the pods `pods` makes of its argv appear in `server`.
pub(crate) fn run_as_spark(
    server: &FakeApiServer,
    fakes: &FakeBins,
    pods: impl Fn(&[String]) -> Vec<Value> + Sync,
    mut cmd: Command,
) -> Assert {
    let before = fakes.calls("spark-submit").len();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(call) = fakes.calls("spark-submit").get(before) {
                    for pod in pods(&call.argv) {
                        server.apply_json(pod);
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let assert = cmd.assert();
        done.store(true, Ordering::SeqCst);
        assert
    })
}

/// A fake API server, a kubeconfig whose context namespace is `spark` and an empty home; the
/// builder methods add what a test needs (a namespace, the sample configuration, a simulated
/// spark-operator, a fake spark-submit), the test files their own helpers.
pub(crate) struct Cluster {
    pub(crate) server: FakeApiServer,
    pub(crate) dir: tempfile::TempDir,
    operator: Option<SparkOperator>,
    fakes: Option<FakeBins>,
}

impl Cluster {
    /// A cluster serving the KafkaTopic and SparkApplication CRDs.
    pub(crate) fn start() -> Self {
        Self::with(
            FakeApiServer::builder()
                .crd(crds::kafka_topic())
                .crd(crds::spark_application())
                .start(),
        )
    }

    /// A cluster on `server` (e.g. one serving no CRD).
    pub(crate) fn with(server: FakeApiServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"), "spark")
            .unwrap();
        Self {
            server,
            dir,
            operator: None,
            fakes: None,
        }
    }

    /// With the namespace `name`.
    pub(crate) fn with_namespace(self, name: &str) -> Self {
        self.namespace(name);
        self
    }

    /// With the e2e sample configuration in the working directory.
    pub(crate) fn with_sample_config(self) -> Self {
        write_sample_config(self.dir.path(), |c| c);
        self
    }

    /// With a simulated spark-operator playing `script` for each application.
    pub(crate) fn with_operator(
        mut self,
        script: impl Fn(&str) -> Script + Send + Sync + 'static,
    ) -> Self {
        self.operator = Some(self.server.spark_operator(script));
        self
    }

    /// With a fake `spark-submit` (exits 0) first on finkctl's `PATH`.
    pub(crate) fn with_spark_submit(mut self) -> Self {
        let fakes = FakeBins::new();
        fakes.add("spark-submit", fakebin::Script::default());
        self.fakes = Some(fakes);
        self
    }

    /// Creates the namespace `name`.
    pub(crate) fn namespace(&self, name: &str) {
        self.server.apply_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        );
    }

    /// `finkctl` in the home, against this cluster (and the fakes, if any).
    pub(crate) fn finkctl(&self) -> Command {
        let mut cmd = finkctl(self.dir.path());
        cmd.env("KUBECONFIG", self.dir.path().join("kubeconfig"));
        if let Some(fakes) = &self.fakes {
            cmd.env("PATH", fakes.path_env());
        }
        cmd
    }

    /// `finkctl run <task> -N 20000101 <extra>` (the spark-submit backend unless `extra` says).
    pub(crate) fn run(&self, task: &str, extra: &[&str]) -> Command {
        let mut cmd = self.finkctl();
        cmd.args(["run", task, "-N", "20000101"]).args(extra);
        cmd
    }

    /// `finkctl run <task> -N 20000101 --backend spark-operator <extra>`.
    pub(crate) fn run_operator(&self, task: &str, extra: &[&str]) -> Command {
        let mut cmd = self.run(task, &["--backend", "spark-operator"]);
        cmd.args(extra);
        cmd
    }

    /// The fake executables ([`with_spark_submit`](Self::with_spark_submit)).
    pub(crate) fn fakes(&self) -> &FakeBins {
        self.fakes.as_ref().expect("a cluster with_spark_submit()")
    }

    /// The states the simulated operator wrote for `spark/<app>`, oldest first.
    pub(crate) fn states(&self, app: &str) -> Vec<String> {
        let operator = self.operator.as_ref().expect("a cluster with_operator()");
        operator
            .transitions()
            .into_iter()
            .filter(|t| t.application == format!("spark/{app}"))
            .map(|t| t.state)
            .collect()
    }

    /// The SparkApplication `spark/<name>`.
    pub(crate) fn app(&self, name: &str) -> Value {
        self.server
            .get_json(APPS, "SparkApplication", Some("spark"), name)
            .expect("the SparkApplication")
    }

    /// The pod `spark/<name>`.
    pub(crate) fn pod(&self, name: &str) -> Value {
        self.server
            .get_json("v1", "Pod", Some("spark"), name)
            .expect("the pod")
    }

    /// The names of the pods in `spark`.
    pub(crate) fn spark_pods(&self) -> Vec<String> {
        self.server
            .list_json("v1", "Pod", Some("spark"))
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }
}
