//! The host side of issue 15: `ktbx doctor` on fixture trees, `create`'s preflight, the diagnostics
//! bundle of a failed `create` and `install`, and `delete -p REGEX --older-than AGE`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use harness::apiserver::FakeApiServer;
use harness::fakebin::{FakeBins, Reply, Script};
use predicates::prelude::*;
use serde_json::json;
use tempfile::TempDir;

use crate::support;

/// A fake runtime and fake client tools reporting their pinned versions.
fn healthy_fakes() -> FakeBins {
    let fakes = FakeBins::new();
    fakes.add(
        "docker",
        Script::default()
            .on(
                &["version", "--format", "{{.Server.Version}}"],
                Reply::stdout("29.1.0\n"),
            )
            .on(
                &["info", "--format", "{{.DockerRootDir}}"],
                Reply::stdout("/var/lib/docker\n"),
            ),
    );
    fakes.add(
        "kind",
        Script::default().on(&["version", "-q"], Reply::stdout("0.31.0\n")),
    );
    fakes.add(
        "kubectl",
        Script::stdout("Client Version: v1.35.0\nKustomize Version: v5.7.1\n"),
    );
    fakes.add("helm", Script::stdout("v3.16.2+g13654a5\n"));
    fakes
}

/// The world of these tests: a home and fake tools on `PATH`, and with [`Host::with_cluster`] a
/// fake API server behind the context `kind-ci` (its kubeconfig in the home).
struct Host {
    home: TempDir,
    fakes: FakeBins,
    api: Option<FakeApiServer>,
}

impl Host {
    fn new(fakes: FakeBins) -> Self {
        Host {
            home: tempfile::tempdir().unwrap(),
            fakes,
            api: None,
        }
    }

    fn with_cluster(fakes: FakeBins) -> Self {
        let api = FakeApiServer::start();
        let h = Host {
            api: Some(api),
            ..Host::new(fakes)
        };
        support::write_kind_kubeconfig(&h.kubeconfig(), h.api().url(), "ci");
        h
    }

    fn api(&self) -> &FakeApiServer {
        self.api.as_ref().expect("a Host::with_cluster")
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn kubeconfig(&self) -> PathBuf {
        self.path().join("kubeconfig")
    }

    /// `ktbx` in the home with the fakes on `PATH` (and `KUBECONFIG` with a cluster).
    fn ktbx(&self) -> Command {
        let mut cmd = support::ktbx(self.path());
        cmd.env("PATH", self.fakes.path_env());
        if self.api.is_some() {
            cmd.env("KUBECONFIG", self.kubeconfig());
        }
        cmd
    }

    fn doctor(&self) -> Command {
        let mut cmd = self.ktbx();
        cmd.env("KTBX_DOCTOR_DISK_FREE", (50u64 << 30).to_string())
            .arg("doctor");
        cmd
    }
}

#[test]
fn doctor_prints_one_line_per_check_and_passes_on_a_healthy_host() {
    let h = Host::new(healthy_fakes());
    let fakes = &h.fakes;
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    h.doctor()
        .args(["--port", &format!("127.0.0.1:{port}:80")])
        .assert()
        .success()
        .stderr("")
        .stdout(format!(
            "ok   inotify max_user_watches: 524288\n\
             ok   inotify max_user_instances: 512\n\
             ok   cgroup: v2 with cpu, cpuset, memory, pids\n\
             ok   port 127.0.0.1:{port}/tcp: free\n\
             ok   docker: reachable, version 29.1.0\n\
             ok   disk: 50.0 GiB free under /var/lib/docker\n\
             ok   kind: v0.31.0 (pinned)\n\
             ok   kubectl: v1.35.0 (pinned)\n\
             ok   helm: v3.16.2 (pinned)\n"
        ));
    assert_eq!(
        support::argv(fakes.calls("docker")).len(),
        2,
        "one version and one info probe"
    );
    assert_eq!(support::argv(fakes.calls("kubectl")), ["version --client"]);
}

#[test]
fn doctor_fails_in_a_nested_container_and_names_each_fix() {
    let h = Host::new(healthy_fakes());
    let fakes = &h.fakes;
    fakes.add("helm", Script::stdout("v3.12.0+gabc\n"));
    fakes.add(
        "docker",
        Script::fail(
            1,
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
        ),
    );
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let mut cmd = h.doctor();
    support::host(&mut cmd, "dind");
    let out = cmd
        .args(["--port", &format!("127.0.0.1:{port}:80")])
        .assert()
        .code(1)
        .stderr("error: 3 of 9 checks failed\n")
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "warn inotify max_user_watches: 8192, below the 524288 kind recommends for multi-node clusters (kind #2586); fix: sudo sysctl fs.inotify.max_user_watches=524288",
            "warn inotify max_user_instances: 128, below the 512 kind recommends for multi-node clusters (kind #2586); fix: sudo sysctl fs.inotify.max_user_instances=512",
            "FAIL cgroup: cgroup v2 without the cpuset, pids controller(s): a nested container that was not given them (Docker-in-Docker, kind #3283); fix: run the outer container with `--privileged --cgroupns=private`",
            &format!(
                "FAIL port 127.0.0.1:{port}/tcp: in use or not bindable; fix: sudo ss -lntup 'sport = :{port}' shows who holds it: stop it or map another host port"
            ),
        ]
    );
    assert_eq!(
        lines[4],
        "FAIL docker: not reachable: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?; fix: sudo systemctl start docker"
    );
    assert_eq!(lines[5], "warn disk: not checked: docker is not reachable");
    assert_eq!(lines[6], "ok   kind: v0.31.0 (pinned)");
    assert_eq!(
        lines[8],
        "warn helm: \"v3.12.0+gabc\" installed, v3.16.2 pinned; fix: ktbx install helm"
    );
    drop(held);
}

#[test]
fn create_stops_before_kind_on_a_failing_check() {
    let h = Host::new(healthy_fakes());
    let fakes = &h.fakes;
    let mut cmd = h.ktbx();
    support::host(&mut cmd, "dind");
    cmd.args(["create", "-s", "-n", "ci"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: preflight failed (see `ktbx doctor`):\nFAIL cgroup: cgroup v2 without the cpuset, pids controller(s)",
        ));
    // The file checks come before any kind call.
    assert!(fakes.calls("kind").is_empty());
    // A held host port stops it too, on a healthy host; --dry-run only warns.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let mapping = format!("127.0.0.1:{port}:80");
    h.ktbx()
        .args(["create", "-s", "-n", "ci", "--port", &mapping])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "FAIL port 127.0.0.1:{port}/tcp: in use"
        )));
    let kind = support::argv(fakes.calls("kind"));
    assert!(kind.iter().all(|c| !c.starts_with("create")), "{kind:?}");
    h.ktbx()
        .args(["create", "-s", "-n", "ci", "--port", &mapping, "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kind create cluster"));
    // An existing cluster holding its own port is kept without complaint.
    fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["get", "clusters"], Reply::stdout("ci\n")),
    );
    h.ktbx()
        .args([
            "create",
            "-s",
            "-n",
            "ci",
            "--port",
            &mapping,
            "--if-not-exists",
        ])
        .assert()
        .success()
        .stdout("Create k8s cluster\nCluster ci already exists\n");
    drop(held);
}

/// A cluster where nothing gets ready: a node NotReady, a crash-looping pod, a running one, and
/// events of both types.
fn broken_cluster(api: &FakeApiServer) {
    api.apply_json(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "ci-control-plane"},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime network not ready", "lastTransitionTime": "2026-12-06T01:00:00Z"}]}
    }));
    api.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "coredns-x", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "coredns", "image": "coredns"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "coredns", "ready": false, "restartCount": 3, "image": "coredns", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-12-06T01:02:00Z"}}
        }]}
    }));
    api.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etcd", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "etcd", "image": "etcd"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "etcd", "ready": true, "restartCount": 0, "image": "etcd", "imageID": "",
            "state": {"running": {}}
        }]}
    }));
    for (name, type_, reason, message) in [
        (
            "warn",
            "Warning",
            "BackOff",
            "Back-off restarting failed container coredns",
        ),
        ("normal", "Normal", "Pulled", "Container image pulled"),
    ] {
        api.apply_json(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "kube-system"},
            "involvedObject": {"kind": "Pod", "name": "coredns-x", "namespace": "kube-system"},
            "reason": reason, "message": message, "type": type_, "count": 4,
            "lastTimestamp": "2026-12-06T01:03:00Z"
        }));
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

#[test]
fn a_failed_create_leaves_a_bundle_and_ends_with_the_wait() {
    let h = Host::with_cluster(healthy_fakes());
    broken_cluster(h.api());
    h.fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["get", "nodes"], Reply::stdout("ci-control-plane\n")),
    );
    let diag = h.path().join("diag");
    let out = h
        .ktbx()
        .args(["create", "-s", "-n", "ci", "--timeout", "1s", "--diag-dir"])
        .arg(&diag)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let bundle = diag.join("ci");
    assert!(
        stderr.contains(&format!("diagnostics written to {}", bundle.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: timed out after 1s waiting for nodes to be Ready: not ready: node/ci-control-plane"
    );
    assert_eq!(
        read(&bundle, "error.txt"),
        "timed out after 1s waiting for nodes to be Ready: not ready: node/ci-control-plane\n"
    );
    // The kind config is the one kind was given.
    let create = support::argv(h.fakes.calls("kind"))
        .into_iter()
        .find(|c| c.starts_with("create cluster"))
        .unwrap();
    assert!(create.contains("--config "), "{create}");
    assert!(read(&bundle, "kind-config.yaml").starts_with("kind: Cluster\n"));
    assert!(read(&bundle, "plan.txt").starts_with("cluster: ci\nruntime: docker\n"));
    assert_eq!(
        read(&bundle, "nodes.txt"),
        "node ci-control-plane\n  Ready=False KubeletNotReady: container runtime network not ready (since 2026-12-06T01:00:00Z)\n"
    );
    assert_eq!(
        read(&bundle, "pods.txt"),
        "kube-system/coredns-x phase=Running ready=0/1 restarts=3 last=coredns:exit 1 Error at 2026-12-06T01:02:00Z waiting=coredns:CrashLoopBackOff\n\
         kube-system/etcd phase=Running ready=1/1 restarts=0\n"
    );
    assert_eq!(
        read(&bundle, "events.txt"),
        "2026-12-06T01:03:00Z kube-system Pod/coredns-x BackOff: Back-off restarting failed container coredns (x4)\n"
    );
    let pods: serde_json::Value = serde_json::from_str(&read(&bundle, "pods.json")).unwrap();
    assert_eq!(pods.as_array().unwrap().len(), 2);
    // Logs of the abnormal pod only, current and previous (the restart); the fake API server
    // answers the log endpoint or not: either way the file exists and the bundle is complete.
    let mut logs: Vec<String> = std::fs::read_dir(bundle.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    logs.sort();
    assert_eq!(
        logs,
        [
            "kube-system.coredns-x.coredns.log",
            "kube-system.coredns-x.coredns.previous.log"
        ]
    );
    // Until the fake API server serves logs, its 404 is what the bundle holds, in place of the log.
    let log = read(&bundle.join("logs"), "kube-system.coredns-x.coredns.log");
    assert!(
        log == "(no log: reading the log: 404 NotFound: the server could not find the requested resource)\n"
            || !log.starts_with("(no log"),
        "{log}"
    );
    // Only reads: no mutating request reached the API server.
    let writes: Vec<String> = h
        .api()
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn in_ci_the_bundle_goes_under_runner_temp_and_an_install_failure_writes_one() {
    let h = Host::with_cluster(FakeBins::new());
    broken_cluster(h.api());
    h.fakes.add(
        "helm",
        Script::fail(1, "Error: repo falcosecurity not reachable\n"),
    );
    let runner_temp = TempDir::new().unwrap();
    h.ktbx()
        .env("RUNNER_TEMP", runner_temp.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["install", "falco", "-n", "ci"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Error while installing falco"));
    let bundle = runner_temp.path().join("ktbx-diag/install-kind-ci");
    assert!(
        read(&bundle, "error.txt").starts_with("Error while installing falco: "),
        "{}",
        read(&bundle, "error.txt")
    );
    assert!(read(&bundle, "plan.txt").starts_with("add-ons: falco\ncontext: kind-ci\n"));
    assert!(read(&bundle, "nodes.txt").contains("Ready=False"));
    // Outside CI and without --diag-dir, nothing is written.
    let elsewhere = TempDir::new().unwrap();
    h.ktbx()
        .env("RUNNER_TEMP", elsewhere.path())
        .args(["install", "falco", "-n", "ci"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("diagnostics").not());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// kind knows three clusters; docker dates their control planes.
fn aged_fakes() -> FakeBins {
    let fakes = FakeBins::new();
    fakes.add(
        "kind",
        Script::default().on(
            &["get", "clusters"],
            Reply::stdout("fink-ci-old\nfink-ci-new\nother-old\n"),
        ),
    );
    let inspect = |node: &str, created: &str| {
        (
            vec![
                "inspect".to_string(),
                "--format".into(),
                "{{json .Created}}".into(),
                node.to_string(),
            ],
            Reply::stdout(format!("\"{created}\"\n")),
        )
    };
    let mut script = Script::fail(1, "Error: No such object\n");
    for (args, reply) in [
        inspect(
            "fink-ci-old-control-plane",
            "2020-01-01T00:00:00.123456789Z",
        ),
        inspect("fink-ci-new-control-plane", "2100-01-01T00:00:00Z"),
        inspect("other-old-control-plane", "2020-01-01T00:00:00Z"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        script = script.on(&args, reply);
    }
    fakes.add("docker", script);
    fakes
}

#[test]
fn delete_older_than_deletes_exactly_the_old_matches() {
    let h = Host::new(aged_fakes());
    let fakes = &h.fakes;
    h.ktbx()
        .args(["delete", "-p", "fink-ci", "--older-than", "6h"])
        .assert()
        .success()
        .stdout(
            "Cluster fink-ci-old created 2020-01-01T00:00:00.123456789Z\nDelete kind cluster fink-ci-old\n",
        );
    assert_eq!(
        support::argv(fakes.calls("kind")),
        ["get clusters", "delete cluster --name fink-ci-old"]
    );
    assert_eq!(
        support::argv(fakes.calls("docker")),
        [
            "inspect --format {{json .Created}} fink-ci-old-control-plane",
            "inspect --format {{json .Created}} fink-ci-new-control-plane"
        ]
    );
}

#[test]
fn delete_older_than_in_dry_run_lists_only() {
    let h = Host::new(aged_fakes());
    let fakes = &h.fakes;
    h.ktbx()
        .args(["delete", "-p", "old$", "--older-than", "6h", "--dry-run"])
        .assert()
        .success()
        .stdout(
            "Cluster fink-ci-old created 2020-01-01T00:00:00.123456789Z\n\
             Cluster other-old created 2020-01-01T00:00:00Z\n\
             Delete kind cluster fink-ci-old\nkind delete cluster --name fink-ci-old\n\
             Delete kind cluster other-old\nkind delete cluster --name other-old\n",
        );
    assert_eq!(support::argv(fakes.calls("kind")), ["get clusters"]);
    h.ktbx()
        .args(["delete", "-p", "new", "--older-than", "6h"])
        .assert()
        .success()
        .stdout("No kind cluster matches \"new\" and is older than 6h0m0s\n");
    // --older-than needs -p.
    support::ktbx(h.path())
        .args(["delete", "--older-than", "6h"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--pattern <PATTERN>"));
}

const OLM_CRDS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterserviceversions.operators.coreos.com
spec:
  group: operators.coreos.com
  names:
    kind: ClusterServiceVersion
    plural: clusterserviceversions
    singular: clusterserviceversion
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

const OLM: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: olm
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: olm-operator
  namespace: olm
spec:
  selector:
    matchLabels: {app: olm-operator}
  template:
    metadata:
      labels: {app: olm-operator}
    spec:
      containers:
      - name: c
        image: quay.io/operator-framework/olm
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog-operator
  namespace: olm
spec:
  selector:
    matchLabels: {app: catalog-operator}
  template:
    metadata:
      labels: {app: catalog-operator}
    spec:
      containers:
      - name: c
        image: quay.io/operator-framework/olm
---
apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: packageserver
  namespace: olm
spec: {}
";

/// Plays OLM until `stop`: rolls its deployments out and leaves the packageserver CSV Installing.
fn play_olm(store: &harness::apiserver::Store, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for name in ["olm-operator", "catalog-operator"] {
            if let Some(d) = store.get_json("apps/v1", "Deployment", Some("olm"), name) {
                let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
                if d["status"]["observedGeneration"].as_i64() != Some(generation) {
                    let status = json!({"status": {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}});
                    store.merge_patch_json("apps/v1", "Deployment", Some("olm"), name, &status);
                }
            }
        }
        let csv = ("operators.coreos.com/v1alpha1", "ClusterServiceVersion");
        let crd = "clusterserviceversions.operators.coreos.com";
        let served = store
            .get_json(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                crd,
            )
            .is_some();
        if served
            && let Some(c) = store.get_json(csv.0, csv.1, Some("olm"), "packageserver")
            && c["status"]["phase"] != "Installing"
        {
            let status = json!({"status": {"phase": "Installing"}});
            store.merge_patch_json(csv.0, csv.1, Some("olm"), "packageserver", &status);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_phase_wait_names_the_phase_it_saw_last() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let h = Host::with_cluster(FakeBins::new());
    let release = harness::release::ReleaseServer::start();
    let base = "/operator-framework/operator-lifecycle-manager/releases/download/v0.28.0";
    release.add_file(&format!("{base}/crds.yaml"), OLM_CRDS);
    release.add_file(&format!("{base}/olm.yaml"), OLM);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| play_olm(h.api().store(), &stop));
        let result = h
            .ktbx()
            .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
            .args(["-n", "ci", "install", "olm", "--timeout", "2s"])
            .assert();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result.code(1).stderr(predicate::str::ends_with(
            "error: Error while installing olm: timed out after 2s waiting for ClusterServiceVersion/packageserver in olm to reach phase Succeeded: last seen phase Installing\n",
        ));
    });
}

#[test]
fn a_failed_kind_create_leaves_its_config_and_says_the_cluster_is_unreachable() {
    let h = Host::new(healthy_fakes());
    h.fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(
                &["create", "cluster"],
                Reply::fail(
                    1,
                    "ERROR: failed to create cluster: node(s) already exist\n",
                ),
            ),
    );
    let diag = h.path().join("diag");
    h.ktbx()
        .env("KUBECONFIG", h.path().join("missing-kubeconfig"))
        .args(["create", "-n", "ci", "--diag-dir"])
        .arg(&diag)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: kind create cluster failed",
        ));
    let bundle = diag.join("ci");
    assert!(read(&bundle, "error.txt").starts_with("kind create cluster failed"));
    let config = read(&bundle, "kind-config.yaml");
    assert_eq!(config.matches("- role: worker").count(), 3, "{config}");
    let nodes = read(&bundle, "nodes.txt");
    assert!(nodes.starts_with("cluster not reachable: "), "{nodes}");
    assert_eq!(read(&bundle, "pods.txt"), nodes);
    assert!(!bundle.join("logs").exists());
}
