//! Cluster-side work against the harness's fake API server: node waits after `create`, registry
//! trust written into the nodes, `exist`, and a native add-on install (Argo Workflows: manifests
//! from the release server, server-side apply, CRD established, rollouts, CLI) run twice.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use harness::apiserver::{FakeApiServer, Store};
use harness::fakebin::{FakeBins, Reply, Script};
use harness::release::ReleaseServer;
use predicates::prelude::*;
use serde_json::json;
use tempfile::TempDir;

use crate::support;

/// A fake API server behind the context `kind-<cluster>`, fake `kind` and `docker`, a home.
pub(crate) struct World {
    pub(crate) api: FakeApiServer,
    pub(crate) fakes: FakeBins,
    pub(crate) home: TempDir,
}

impl World {
    pub(crate) fn new(cluster: &str) -> Self {
        Self::with_api(cluster, FakeApiServer::start())
    }

    /// A world around `api` (e.g. one started with extra CRDs).
    pub(crate) fn with_api(cluster: &str, api: FakeApiServer) -> Self {
        let w = World {
            api,
            fakes: FakeBins::new(),
            home: tempfile::tempdir().unwrap(),
        };
        w.fakes.add("docker", Script::default());
        w.fakes.add(
            "kind",
            Script::default()
                .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
                .on(
                    &["get", "nodes"],
                    Reply::stdout(format!("{cluster}-control-plane\n")),
                ),
        );
        support::write_kind_kubeconfig(&w.kubeconfig(), w.api.url(), cluster);
        w
    }

    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.home.path().join("kubeconfig")
    }

    pub(crate) fn ktbx(&self) -> Command {
        let mut cmd = support::ktbx(self.home.path());
        cmd.env("PATH", self.fakes.path_env())
            .env("KUBECONFIG", self.kubeconfig())
            .env("KTBX_INSTALL_DIR", self.home.path().join("bin"));
        cmd
    }

    pub(crate) fn node(&self, name: &str, ready: bool) {
        self.api.apply_json(node(name, ready));
    }
}

fn node(name: &str, ready: bool) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

#[test]
fn create_waits_for_the_nodes_of_the_new_cluster_and_trusts_the_registry() {
    let w = World::new("ci");
    w.node("ci-control-plane", false);
    std::fs::write(
        w.home.path().join("config.yaml"),
        "kind:\n  privateRegistry: reg.example:5000\n",
    )
    .unwrap();
    w.api.after(Duration::from_millis(800), |store| {
        store.apply_json(node("ci-control-plane", true));
    });
    w.ktbx()
        .args(["create", "-s", "-n", "ci"])
        .assert()
        .success();
    let kind = support::argv(w.fakes.calls("kind"));
    assert_eq!(kind[0], "version -q");
    assert_eq!(kind[1], "get clusters");
    assert!(
        kind[2].starts_with("create cluster --config ") && kind[2].ends_with(" --name ci"),
        "{kind:?}"
    );
    assert_eq!(kind[3], "get nodes --name ci");
    let docker = w.fakes.calls("docker");
    assert_eq!(
        docker[0].argv.join(" "),
        "exec ci-control-plane mkdir -p /etc/containerd/certs.d/reg.example:5000"
    );
    assert_eq!(
        docker[1].argv.join(" "),
        "exec -i ci-control-plane cp /dev/stdin /etc/containerd/certs.d/reg.example:5000/hosts.toml"
    );
    assert_eq!(
        docker[1].stdin,
        "server = \"https://reg.example:5000\"\n\n[host.\"https://reg.example:5000\"]\n  skip_verify = true\n"
    );
    // The nodes were awaited with a watch.
    assert!(
        w.api
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/nodes" && r.query.contains("watch"))
    );
}

#[test]
fn a_node_that_never_gets_ready_is_named_in_the_timeout() {
    let w = World::new("ci");
    w.node("ci-control-plane", false);
    w.ktbx()
        .args(["create", "-s", "-n", "ci", "--timeout", "2s"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("timed out after 2s waiting for nodes to be Ready")
                .and(predicate::str::contains("ci-control-plane")),
        );
}

#[test]
fn the_config_timeout_bounds_the_waits() {
    let w = World::new("ci");
    w.node("ci-control-plane", false);
    std::fs::write(w.home.path().join("config.yaml"), "timeout: 1s\n").unwrap();
    w.ktbx()
        .args(["create", "-s", "-n", "ci"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "timed out after 1s waiting for nodes to be Ready",
        ));
    // The flag wins over the file.
    w.api.after(Duration::from_millis(1500), |store| {
        store.apply_json(node("ci-control-plane", true));
    });
    w.fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["get", "nodes"], Reply::stdout("ci-control-plane\n")),
    );
    w.ktbx()
        .args(["create", "-s", "-n", "ci", "--timeout", "20s"])
        .assert()
        .success();
}

#[test]
fn exist_accepts_the_type_as_a_flag() {
    let w = World::new("ci");
    w.api.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "olm"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }));
    w.ktbx()
        .args(["exist", "--type", "pods", "p", "--namespace", "olm"])
        .assert()
        .success()
        .stdout("pods/p in olm exists\n");
    w.ktbx()
        .args(["exist", "--type", "pods", "--namespace", "olm"])
        .assert()
        .success()
        .stdout("pods in olm exists\n");
    w.ktbx()
        .args(["exist", "--namespace", "olm"])
        .assert()
        .code(1)
        .stderr("error: give the resource type: ktbx exist TYPE [NAME] (or --type TYPE)\n");
}

#[test]
fn an_addon_timeout_names_what_was_not_ready() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let w = World::new("ci");
    let release = argowf_release();
    // No controller rolls the deployments out.
    w.ktbx()
        .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
        .args(["-n", "ci", "install", "argowf", "--timeout", "1s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: Error while installing argowf: timed out after 1s waiting for deployment/workflow-controller in argo to roll out",
        ));
}

#[test]
fn exist_waits_until_the_object_appears() {
    let w = World::new("ci");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "olm"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    });
    w.api.after(Duration::from_millis(800), move |store| {
        store.apply_json(pod);
    });
    w.ktbx()
        .args([
            "exist",
            "pods",
            "p",
            "--namespace",
            "olm",
            "--timeout",
            "20s",
        ])
        .assert()
        .success()
        .stdout("pods/p in olm exists\n");
    w.ktbx()
        .args(["e", "pods", "q", "--namespace", "olm", "--timeout", "2s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "waited for pods/q in olm to exist for 2s without luck",
        ));
}

/// A release server publishing Argo Workflows v3.5.2: its manifest and its CLI.
pub(crate) fn argowf_release() -> ReleaseServer {
    let release = ReleaseServer::start();
    release.publish_argo_workflows(ARGOWF_MANIFEST);
    release
}

pub(crate) const ARGOWF_MANIFEST: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: workflows.argoproj.io
spec:
  group: argoproj.io
  names:
    kind: Workflow
    plural: workflows
    singular: workflow
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: workflow-controller
spec:
  selector:
    matchLabels: {app: workflow-controller}
  template:
    metadata:
      labels: {app: workflow-controller}
    spec:
      containers:
      - name: c
        image: quay.io/argoproj/workflow-controller:v3.5.2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argo-server
spec:
  selector:
    matchLabels: {app: argo-server}
  template:
    metadata:
      labels: {app: argo-server}
    spec:
      containers:
      - name: c
        image: quay.io/argoproj/argocli:v3.5.2
";

/// Stops a simulation thread when the test body ends, also by a panic (else the scope would wait forever).
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Plays the deployment controller: marks the argo deployments rolled out once they exist.
pub(crate) fn roll_out(store: &Store, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        for name in ["workflow-controller", "argo-server"] {
            if let Some(d) = store.get_json("apps/v1", "Deployment", Some("argo"), name) {
                let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
                if d["status"]["observedGeneration"].as_i64() != Some(generation) {
                    let status = json!({"status": {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}});
                    store.merge_patch_json("apps/v1", "Deployment", Some("argo"), name, &status);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn argo_workflows_is_applied_natively_and_a_rerun_changes_nothing() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let w = World::new("ci");
    let release = argowf_release();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| roll_out(w.api.store(), &stop));
        let _stop = StopOnDrop(&stop);
        for _ in 0..2 {
            w.ktbx()
                .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
                .args(["-n", "ci", "install", "argowf", "--timeout", "20s"])
                .assert()
                .success();
        }
    });
    assert!(w.api.get_json("v1", "Namespace", None, "argo").is_some());
    let controller = w
        .api
        .get_json("apps/v1", "Deployment", Some("argo"), "workflow-controller")
        .unwrap();
    assert_eq!(
        controller["metadata"]["generation"], 1,
        "a re-run must not change the spec"
    );
    assert!(
        w.api
            .get_json(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                "workflows.argoproj.io"
            )
            .is_some()
    );
    let argo = w.home.path().join("bin/argo");
    assert_eq!(
        std::fs::read(&argo).unwrap(),
        b"#!/bin/sh\necho 'argo: v3.5.2'\n"
    );
    let patches: Vec<_> = w
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(
        patches
            .iter()
            .all(|r| r.query.contains("fieldManager=ktbx")),
        "{patches:?}"
    );
    // The CLI was downloaded once; the second run found it installed.
    assert_eq!(
        release
            .requests()
            .iter()
            .filter(|r| r.ends_with(".gz"))
            .count(),
        1
    );
}

fn cilium_daemonset(rolled_out: bool) -> serde_json::Value {
    let available = i64::from(rolled_out);
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "cilium", "namespace": "kube-system", "generation": 1},
        "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}}, "template": {"metadata": {"labels": {"k8s-app": "cilium"}}, "spec": {"containers": [{"name": "a", "image": "cilium"}]}}},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": available, "numberAvailable": available, "currentNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": available}
    })
}

/// A fake cilium CLI already at the pinned version in the install dir (so no download happens).
fn cilium_cli(w: &World) -> FakeBins {
    let bin = FakeBins::in_dir(&w.home.path().join("bin"));
    bin.add(
        "cilium",
        Script::default().on(
            &["version"],
            Reply::stdout("cilium-cli: v0.18.6 compiled with go1.24\n"),
        ),
    );
    bin
}

#[test]
fn cilium_is_installed_into_the_new_cluster_even_when_its_cli_exists() {
    let w = World::new("ci");
    w.node("ci-control-plane", true);
    let bin = cilium_cli(&w);
    w.api.after(Duration::from_millis(800), |store| {
        store.apply_json(cilium_daemonset(true));
    });
    w.ktbx()
        .args([
            "create",
            "-s",
            "-c",
            "cilium",
            "-n",
            "ci",
            "--timeout",
            "20s",
        ])
        .assert()
        .success();
    let calls = support::argv(bin.calls("cilium"));
    assert_eq!(
        calls,
        vec![
            "version --client",
            "install --version 1.18.0 --context kind-ci"
        ]
    );
}

#[test]
fn cilium_already_running_is_not_reinstalled() {
    let w = World::new("ci");
    w.node("ci-control-plane", true);
    w.api.apply_json(cilium_daemonset(true));
    let bin = cilium_cli(&w);
    w.ktbx()
        .args([
            "create",
            "-s",
            "-c",
            "cilium",
            "-n",
            "ci",
            "--timeout",
            "20s",
        ])
        .assert()
        .success();
    let calls = support::argv(bin.calls("cilium"));
    assert_eq!(calls, vec!["version --client"]);
}

#[test]
fn local_registry_the_kind_way() {
    let w = World::new("ci");
    w.node("ci-control-plane", true);
    w.fakes.add(
        "docker",
        Script::default()
            .on(
                &["inspect", "-f", "{{.State.Running}}"],
                Reply::fail(1, "Error: No such object: kind-registry\n"),
            )
            .on(
                &["inspect", "-f", "{{json .NetworkSettings.Networks.kind}}"],
                Reply::stdout("null\n"),
            ),
    );
    w.ktbx()
        .args(["create", "-s", "-n", "ci", "--registry"])
        .assert()
        .success();
    let docker = support::argv(w.fakes.calls("docker"));
    assert_eq!(
        docker,
        vec![
            "inspect -f {{.State.Running}} kind-registry",
            "run -d --restart=always -p 127.0.0.1:5001:5000 --network bridge --name kind-registry registry:2",
            "exec ci-control-plane mkdir -p /etc/containerd/certs.d/localhost:5001",
            "exec -i ci-control-plane cp /dev/stdin /etc/containerd/certs.d/localhost:5001/hosts.toml",
            "inspect -f {{json .NetworkSettings.Networks.kind}} kind-registry",
            "network connect kind kind-registry",
        ]
    );
    assert_eq!(
        w.fakes.calls("docker")[3].stdin,
        "[host.\"http://kind-registry:5000\"]\n"
    );
    let cm = w
        .api
        .get_json(
            "v1",
            "ConfigMap",
            Some("kube-public"),
            "local-registry-hosting",
        )
        .unwrap();
    assert!(
        cm["data"]["localRegistryHosting.v1"]
            .as_str()
            .unwrap()
            .starts_with("host: \"localhost:5001\"\n")
    );
}

#[test]
fn status_lists_clusters_and_ready_nodes() {
    let w = World::new("ci");
    w.fakes.add(
        "kind",
        Script::default().on(&["get", "clusters"], Reply::stdout("ci\ngone\n")),
    );
    w.node("ci-control-plane", true);
    w.node("ci-worker", false);
    let out = w.ktbx().arg("status").assert().success();
    let out = support::stdout(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "CLUSTER  CONTEXT          READY");
    assert_eq!(lines[1], "ci       kind-ci          1/2");
    assert!(
        lines[2].starts_with("gone     kind-gone        unknown ("),
        "{out}"
    );
}

fn crd(group: &str, kind: &str, plural: &str, version: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
            "versions": [{"name": version, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

fn deployment(ns: &str, name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}
    })
}

/// Plays OLM, the ArgoCD operator and the workload controllers on the fake API server.
fn operators(store: &Store, stop: &AtomicBool) {
    let exists = |api: &str, kind: &str, ns: Option<&str>, name: &str| {
        store.get_json(api, kind, ns, name).is_some()
    };
    while !stop.load(Ordering::Relaxed) {
        for name in ["olm-operator", "catalog-operator"] {
            if let Some(d) = store.get_json("apps/v1", "Deployment", Some("olm"), name)
                && d["status"]["observedGeneration"].is_null()
            {
                store.complete_rollout("apps/v1", "Deployment", "olm", name);
            }
        }
        let crd_exists = |name: &str| {
            exists(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                name,
            )
        };
        if exists("apps/v1", "Deployment", Some("olm"), "olm-operator")
            && crd_exists("clusterserviceversions.operators.coreos.com")
            && !exists(
                "operators.coreos.com/v1alpha1",
                "ClusterServiceVersion",
                Some("olm"),
                "packageserver",
            )
        {
            store.apply_json(json!({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "ClusterServiceVersion",
                "metadata": {"name": "packageserver", "namespace": "olm"}, "spec": {}, "status": {"phase": "Succeeded"}}));
            store.apply_json(deployment("olm", "packageserver"));
            store.apply_json(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "operatorhubio-catalog-x", "namespace": "olm", "labels": {"olm.catalogSource": "operatorhubio-catalog"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
        }
        // The subscription gets an InstallPlan for its starting CSV; once approved, the operator runs.
        let olm_crds = crd_exists("subscriptions.operators.coreos.com")
            && crd_exists("installplans.operators.coreos.com");
        if olm_crds
            && let Some(sub) = store.get_json(
                "operators.coreos.com/v1alpha1",
                "Subscription",
                Some("operators"),
                "argocd-operator",
            )
            && !exists(
                "operators.coreos.com/v1alpha1",
                "InstallPlan",
                Some("operators"),
                "install-argocd",
            )
        {
            store.apply_json(
                json!({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "InstallPlan",
                "metadata": {"name": "install-argocd", "namespace": "operators"},
                "spec": {"approval": "Manual", "approved": false,
                    "clusterServiceVersionNames": [sub["spec"]["startingCSV"]]}}),
            );
        }
        let approved = olm_crds
            && store
                .get_json(
                    "operators.coreos.com/v1alpha1",
                    "InstallPlan",
                    Some("operators"),
                    "install-argocd",
                )
                .is_some_and(|plan| plan["spec"]["approved"] == true);
        if approved
            && !exists(
                "apps/v1",
                "Deployment",
                Some("operators"),
                "argocd-operator-controller-manager",
            )
        {
            store.apply_json(crd("argoproj.io", "ArgoCD", "argocds", "v1beta1"));
            store.apply_json(deployment(
                "operators",
                "argocd-operator-controller-manager",
            ));
        }
        if exists(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "argocds.argoproj.io",
        ) && exists("argoproj.io/v1beta1", "ArgoCD", Some("argocd"), "argocd")
            && !exists(
                "apps/v1",
                "StatefulSet",
                Some("argocd"),
                "argocd-application-controller",
            )
        {
            for name in ["argocd-redis", "argocd-repo-server", "argocd-server"] {
                store.apply_json(deployment("argocd", name));
            }
            store.apply_json(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "argocd-application-controller", "namespace": "argocd", "generation": 1},
                "spec": {"replicas": 1, "serviceName": "x", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
                "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                    "currentRevision": "r1", "updateRevision": "r1"}}));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn olm_then_argocd_through_its_subscription_twice() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let w = World::new("ci");
    let release = ReleaseServer::start();
    let olm = "/operator-framework/operator-lifecycle-manager/releases/download/v0.28.0";
    let crds = [
        crd(
            "operators.coreos.com",
            "ClusterServiceVersion",
            "clusterserviceversions",
            "v1alpha1",
        ),
        crd(
            "operators.coreos.com",
            "Subscription",
            "subscriptions",
            "v1alpha1",
        ),
        crd(
            "operators.coreos.com",
            "InstallPlan",
            "installplans",
            "v1alpha1",
        ),
    ];
    release.add_file(
        &format!("{olm}/crds.yaml"),
        crds.iter()
            .map(|c| format!("---\n{c}\n"))
            .collect::<String>(),
    );
    let olm_yaml = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "olm"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "operators"}}),
        deployment("olm", "olm-operator"),
        deployment("olm", "catalog-operator"),
    ]
    .iter()
    .map(|o| {
        let mut o = o.clone();
        o.as_object_mut().unwrap().remove("status");
        o["metadata"].as_object_mut().unwrap().remove("generation");
        format!("---\n{o}\n")
    })
    .collect::<String>();
    release.add_file(&format!("{olm}/olm.yaml"), olm_yaml);
    let cli = b"#!/bin/sh\necho 'argocd: v2.12.3+6b9cd82'\n".to_vec();
    let cd = "/argoproj/argo-cd/releases/download/v2.12.3";
    release.add_file(
        &format!("{cd}/cli_checksums.txt"),
        format!(
            "{}  argocd-darwin-amd64\n{}  argocd-linux-amd64\n",
            "0".repeat(64),
            harness::release::sha256_hex(&cli)
        ),
    );
    release.add_file(&format!("{cd}/argocd-linux-amd64"), cli.clone());

    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| operators(w.api.store(), &stop));
        let _stop = StopOnDrop(&stop);
        // As CI scripts do (`ktbx install olm && ktbx install argocd`), then both again in one call.
        for args in [&["olm"][..], &["argocd"], &["olm", "argocd"]] {
            w.ktbx()
                .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
                .args(["-n", "ci", "install", "--timeout", "20s"])
                .args(args)
                .assert()
                .success();
        }
    });
    let sub = w
        .api
        .get_json(
            "operators.coreos.com/v1alpha1",
            "Subscription",
            Some("operators"),
            "argocd-operator",
        )
        .unwrap();
    assert_eq!(sub["spec"]["source"], "operatorhubio-catalog");
    // The operator version is pinned: that CSV, approved by ktbx, never upgraded by OLM on its own.
    assert_eq!(sub["spec"]["startingCSV"], "argocd-operator.v0.11.0");
    assert_eq!(sub["spec"]["installPlanApproval"], "Manual");
    let plan = w
        .api
        .get_json(
            "operators.coreos.com/v1alpha1",
            "InstallPlan",
            Some("operators"),
            "install-argocd",
        )
        .unwrap();
    assert_eq!(plan["spec"]["approved"], true);
    assert_eq!(sub["spec"]["config"]["env"][0]["value"], "argocd");
    let argocd = w
        .api
        .get_json("argoproj.io/v1beta1", "ArgoCD", Some("argocd"), "argocd")
        .unwrap();
    assert_eq!(argocd["spec"]["version"], "v2.12.3");
    assert_eq!(
        std::fs::read(w.home.path().join("bin/argocd")).unwrap(),
        cli
    );
}

#[test]
fn argocd_without_olm_says_what_to_do() {
    let w = World::new("ci");
    w.ktbx()
        .args(["-n", "ci", "install", "argocd", "--timeout", "5s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run `ktbx install olm` first"));
}

#[test]
fn calico_is_applied_and_awaited_without_racing_the_operator() {
    let w = World::new("ci");
    w.node("ci-control-plane", true);
    let release = ReleaseServer::start();
    let base = "/projectcalico/calico/v3.28.2/manifests";
    // As upstream, the Installation is cluster-scoped.
    let mut installation = crd("operator.tigera.io", "Installation", "installations", "v1");
    installation["spec"]["scope"] = json!("Cluster");
    let operator = format!(
        "{}\n---\n{installation}\n",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tigera-operator"}}),
    );
    release.add_file(&format!("{base}/tigera-operator.yaml"), operator);
    release.add_file(
        &format!("{base}/custom-resources.yaml"),
        "apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata:\n  name: default\nspec: {}\n",
    );
    // The operator creates calico-system and its workloads a while after the Installation.
    w.api.after(Duration::from_millis(1500), |store| {
        store.apply_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "calico-system"}}),
        );
        store.apply_json(deployment("calico-system", "calico-kube-controllers"));
        let mut ds = cilium_daemonset(true);
        ds["metadata"]["name"] = json!("calico-node");
        ds["metadata"]["namespace"] = json!("calico-system");
        store.apply_json(ds);
    });
    w.ktbx()
        .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
        .args([
            "create",
            "-s",
            "-c",
            "calico",
            "-n",
            "ci",
            "--timeout",
            "20s",
        ])
        .assert()
        .success();
    assert!(
        w.api
            .get_json("operator.tigera.io/v1", "Installation", None, "default")
            .is_some()
    );
    let config = w
        .fakes
        .calls("kind")
        .into_iter()
        .find(|c| c.argv[0] == "create")
        .unwrap();
    assert!(config.argv.contains(&"--config".to_string()));
}

#[test]
fn prometheus_values_go_to_helm_on_stdin() {
    let w = World::new("ci");
    w.fakes.add("helm", Script::default());
    w.ktbx()
        .args(["-n", "ci", "install", "prom"])
        .assert()
        .success();
    let calls = w.fakes.calls("helm");
    assert_eq!(
        calls[0].argv.join(" "),
        "repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update"
    );
    assert!(
        calls[1]
            .argv
            .join(" ")
            .starts_with("upgrade --install prometheus-stack ")
    );
    assert!(
        calls[1]
            .stdin
            .contains("serviceMonitorSelectorNilUsesHelmValues: false"),
        "{}",
        calls[1].stdin
    );
    assert!(calls[1].stdin.contains("storage: 50Gi"));
}

#[test]
fn count_creates_numbered_clusters_in_order() {
    let w = World::new("ci");
    w.fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["create"], Reply::fail(1, "stop\n")),
    );
    w.ktbx()
        .args(["create", "-s", "-n", "ci", "--count", "2"])
        .assert()
        .code(1);
    let creates: Vec<Vec<String>> = w
        .fakes
        .calls("kind")
        .into_iter()
        .filter(|c| c.argv[0] == "create")
        .map(|c| c.argv)
        .collect();
    // The first failure stops the run: only ci-0 was attempted.
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0][4..], ["--name", "ci-0"]);
}

#[test]
fn exist_also_waits_for_the_resource_type() {
    let w = World::new("ci");
    w.api.after(Duration::from_millis(800), |store| {
        store.apply_json(crd(
            "operators.coreos.com",
            "InstallPlan",
            "installplans",
            "v1alpha1",
        ));
    });
    w.api.after(Duration::from_millis(1600), |store| {
        store.apply_json(
            json!({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "InstallPlan",
            "metadata": {"name": "install-x", "namespace": "operators"}, "spec": {}}),
        );
    });
    w.ktbx()
        .args([
            "exist",
            "installplans",
            "--namespace",
            "operators",
            "--timeout",
            "20s",
        ])
        .assert()
        .success()
        .stdout("installplans in operators exists\n");
    w.ktbx()
        .args(["exist", "widgets", "--timeout", "1s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the cluster has no resource type \"widgets\"",
        ));
}

#[test]
fn exist_names_no_namespace_for_cluster_scoped_types() {
    let w = World::new("ci");
    w.api
        .apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "olm"}}));
    w.ktbx()
        .args(["exist", "namespaces", "olm", "--timeout", "20s"])
        .assert()
        .success()
        .stdout("namespaces/olm exists\n");
    w.ktbx()
        .args(["exist", "namespaces", "--namespace", "olm"])
        .assert()
        .success()
        .stdout("namespaces exists\n");
}

#[test]
fn exist_is_bounded_by_its_timeout_and_names_why_the_server_cannot_be_used() {
    use harness::unreachable::{SilentServer, closed_port_url, kubeconfig};
    let w = World::new("ci");
    let run = |server: &str, ca: Option<&std::path::Path>, timeout: &str| {
        std::fs::write(w.kubeconfig(), kubeconfig(server, ca)).unwrap();
        let out = w
            .ktbx()
            .args(["exist", "pods", "p", "--timeout", timeout])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    for silent in [SilentServer::plain(), SilentServer::tls()] {
        let stderr = run(silent.url(), silent.ca(), "2s");
        assert!(
            stderr.starts_with(&format!(
                "error: timed out after 2s looking for resource type \"pods\": the API server {} did not answer in time",
                silent.url()
            )),
            "{stderr}"
        );
    }
    // A refused connection and an untrusted certificate fail at once (not after 5 minutes).
    let stderr = run(&closed_port_url(), None, "5m");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let untrusted = SilentServer::tls();
    let stderr = run(untrusted.url(), None, "5m");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}
