//! A generated Fink-like multi-repository stack for `ciux`: the `fink-broker` project with its
//! `.ciux`, a simulator dependency that is cloned (and whose image is pulled), a remote-only
//! deployment repository and an image dependency, all served by `git daemon` on loopback.
//! Also the cluster side of a Fink CI run on the fake API server (platform objects, the
//! spark-operator's part) and finkctl's configuration. Used by the cross-tool scenario tests,
//! `cargo xtask demo` and `cargo xtask bench`.
//!
//! ```text
//! <root>/remotes/fink-alert-simulator.git  tag v3.2.0 on main          (clone: true, pull: true)
//! <root>/remotes/fink-cd.git               main, and my-feature          (remote only)
//! <root>/work/fink-broker                  tag v3.1.0, then my-feature   (the project, checked out)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::apiserver::FakeApiServer;
use crate::git::{GitDaemon, GitRepo};

/// The branch the project works on (fink-cd has it too, the simulator does not).
pub const WORK_BRANCH: &str = "my-feature";
/// The simulator's version (`main` is tagged).
pub const SIMULATOR_VERSION: &str = "v3.2.0";
/// The image dependency's repository and tag, under the registry's `fink/` namespace.
pub const HADOOP_IMAGE: (&str, &str) = ("fink/stackable-hadoop", "v24.11.0");
/// The repository of the simulator's image, under the registry.
pub const SIMULATOR_IMAGE_REPO: &str = "fink/fink-alert-simulator";

/// A generated stack; `git daemon` stops on drop (the files stay under the caller's root).
pub struct FinkStack {
    /// Serves `<root>/remotes`.
    pub daemon: GitDaemon,
    /// The project checkout, `<root>/work/fink-broker`, on [`WORK_BRANCH`].
    pub broker: GitRepo,
    /// `<root>/work`: where ciux clones the dependencies, next to the project.
    pub work: PathBuf,
    /// The image registry named in `.ciux` (`<host>/fink`).
    pub registry: String,
    /// Whether `.ciux` declares images (the simulator's `pull: true` and the hadoop image).
    pub with_images: bool,
}

impl FinkStack {
    /// Generates the stack under `root` for the registry `registry_host` (`127.0.0.1:PORT`).
    /// Without `with_images`, `.ciux` declares no image that must exist in the registry.
    pub fn generate(root: &Path, registry_host: &str, with_images: bool) -> FinkStack {
        let remotes = root.join("remotes");
        let simulator = GitRepo::init(&remotes.join("fink-alert-simulator.git"));
        simulator.commit(
            "simulator: alerts from a replay of ZTF nights",
            &[("README.md", "fink-alert-simulator\n")],
        );
        simulator.annotated_tag(SIMULATOR_VERSION, "release 3.2.0");
        let cd = GitRepo::init(&remotes.join("fink-cd.git"));
        cd.commit(
            "apps: fink-broker",
            &[("apps/fink-broker.yaml", "chart: fink-broker\n")],
        );
        cd.branch(WORK_BRANCH);
        let daemon = GitDaemon::serve(&remotes);

        let registry = format!("{registry_host}/fink");
        let mut ciux_file = vec![
            "apiVersion: v1alpha1".to_string(),
            format!("registry: {registry}"),
            "sourcePathes:".into(),
            "  - fink_broker".into(),
            "dependencies:".into(),
            format!("  - url: {}", daemon.url("fink-alert-simulator.git")),
            "    clone: true".into(),
        ];
        if with_images {
            ciux_file.push("    pull: true".into());
        }
        ciux_file.extend([
            "    labels:".into(),
            "      itest: \"true\"".into(),
            format!("  - url: {}", daemon.url("fink-cd.git")),
            "    labels:".into(),
            "      itest: \"true\"".into(),
        ]);
        if with_images {
            ciux_file.extend([
                format!(
                    "  - image: {registry_host}/{}:{}",
                    HADOOP_IMAGE.0, HADOOP_IMAGE.1
                ),
                "    labels:".into(),
                "      itest: \"true\"".into(),
            ]);
        }
        let ciux_file = ciux_file.join("\n") + "\n";

        let work = root.join("work");
        let broker = GitRepo::init(&work.join("fink-broker"));
        broker.commit(
            "broker: stream2raw, raw2science, distribution",
            &[
                (".ciux", &ciux_file),
                ("fink_broker/__init__.py", "VERSION = '3.1.0'\n"),
                ("README.md", "fink-broker\n"),
            ],
        );
        broker.annotated_tag("v3.1.0", "release 3.1.0");
        broker.git(["checkout", "-q", "-b", WORK_BRANCH]);
        broker.commit(
            "broker: faster cross-match",
            &[("fink_broker/xmatch.py", "def xmatch(): pass\n")],
        );
        FinkStack {
            daemon,
            broker,
            work,
            registry,
            with_images,
        }
    }

    /// The project directory.
    pub fn project(&self) -> &Path {
        self.broker.path()
    }

    /// `v3.1.0-1-g<7 hex>`: the project's version at HEAD.
    pub fn project_version(&self) -> String {
        format!("v3.1.0-1-g{}", &self.broker.head()[..7])
    }

    /// The images the registry must hold for `ciux ignite --selector itest` to succeed
    /// (`(repository, tag)`, repository relative to the registry host).
    pub fn required_images(&self) -> Vec<(&'static str, &'static str)> {
        if self.with_images {
            vec![(SIMULATOR_IMAGE_REPO, SIMULATOR_VERSION), HADOOP_IMAGE]
        } else {
            Vec::new()
        }
    }
}

// ---------- The cluster side: what the fake API server holds in a Fink CI run ----------

/// `finkctl.yaml` of the stack (the e2e sample of finkctl, trimmed).
pub const FINKCTL_YAML: &str = include_str!("stack/finkctl.yaml");
/// `finkctl.secret.yaml` of the stack: demo values; the Kafka password comes from the cluster.
pub const FINKCTL_SECRET_YAML: &str = include_str!("stack/finkctl.secret.yaml");

/// Writes `finkctl.yaml` and `finkctl.secret.yaml` into `dir` (a `$FINKCONFIG` directory).
pub fn write_finkctl_config(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("finkctl.yaml"), FINKCTL_YAML)?;
    std::fs::write(dir.join("finkctl.secret.yaml"), FINKCTL_SECRET_YAML)
}

/// A kubeconfig like the one `kind create cluster --name <cluster>` writes (context
/// `kind-<cluster>`), pointing at `server`, with `namespace` as the context's namespace.
pub fn write_kind_kubeconfig(
    path: &Path,
    cluster: &str,
    server: &str,
    namespace: &str,
) -> std::io::Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-{cluster}\n  cluster:\n    server: {server}\n\
         contexts:\n- name: kind-{cluster}\n  context:\n    cluster: kind-{cluster}\n    user: u\n    namespace: {namespace}\n\
         current-context: kind-{cluster}\nusers:\n- name: u\n  user: {{}}\n"
    );
    std::fs::write(path, text)
}

/// What Fink's platform provides before finkctl runs: namespaces `spark` and `kafka`, and the
/// Strimzi user secret `kafka/fink-producer` (password `changeme`).
pub fn seed_platform(api: &FakeApiServer) {
    for namespace in ["spark", "kafka"] {
        api.apply_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        );
    }
    api.apply_json(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "fink-producer", "namespace": "kafka"},
        "data": {"password": "Y2hhbmdlbWU="},
    }));
}

/// A node, Ready or not.
pub fn node(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

/// A Running Spark pod of application `app` in namespace `spark`, Ready or not.
pub fn spark_pod(name: &str, app: &str, role: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "spark",
                     "labels": {"spark-role": role, "spark-app-name": app}},
        "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "fink-broker"}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    })
}

/// The spark-operator's part for the SparkApplication `spark/<app>`: a driver and an executor pod
/// at once (not Ready), both Ready and the application `RUNNING` after `ready_after`. Returns the
/// pod names, or `None` when the application does not exist.
pub fn play_spark_operator(
    api: &FakeApiServer,
    app: &str,
    ready_after: Duration,
) -> Option<Vec<String>> {
    let application = api.get_json(
        "sparkoperator.k8s.io/v1beta2",
        "SparkApplication",
        Some("spark"),
        app,
    )?;
    let pods = [
        (format!("{app}-driver"), "driver"),
        (format!("{app}-exec-1"), "executor"),
    ];
    for (name, role) in &pods {
        api.apply_json(spark_pod(name, app, role, false));
    }
    let names = pods.iter().map(|(name, _)| name.clone()).collect();
    let app = app.to_owned();
    api.after(ready_after, move |store| {
        for (name, role) in &pods {
            store.apply_json(spark_pod(name, &app, role, true));
        }
        let mut running = application;
        running["status"] = json!({"applicationState": {"state": "RUNNING"}});
        store.apply_json(running);
    });
    Some(names)
}
