//! `ktbx apply -f` and `ktbx delete -f` of a stack file, and registry mirrors: fake `kind`,
//! `docker` and `helm` recording their argv, the fake API server and its request log.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use harness::apiserver::{FakeApiServer, crds};
use harness::fakebin::{Reply, Script};
use predicates::prelude::*;
use serde_json::json;

use crate::cluster::{StopOnDrop, World, argowf_release, roll_out};
use crate::support;

const MUTATING: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// A world whose `kind get clusters` lists `listed`, with a Ready node and fake helm.
fn world(api: FakeApiServer, listed: &str) -> World {
    let w = World::with_api("ci", api);
    w.fakes.add(
        "kind",
        Script::default()
            .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
            .on(&["get", "clusters"], Reply::stdout(listed))
            .on(&["get", "nodes"], Reply::stdout("ci-control-plane\n")),
    );
    w.fakes.add("helm", Script::default());
    w.node("ci-control-plane", true);
    w
}

fn write_stack(w: &World, text: &str) -> PathBuf {
    let path = w.home.path().join("stack.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn mutations(w: &World) -> Vec<String> {
    w.api
        .requests()
        .into_iter()
        .filter(|r| MUTATING.contains(&r.method.as_str()))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn record(w: &World) -> serde_json::Value {
    w.api
        .get_json("v1", "ConfigMap", Some("kube-system"), "ktbx-stack")
        .expect("the record ConfigMap")["data"]
        .clone()
}

const MIRROR_TOML: &str = "server = \"https://registry-1.docker.io\"\n\n[host.\"http://127.0.0.1:5001\"]\n  capabilities = [\"pull\", \"resolve\"]\n";

#[test]
fn apply_creates_the_stack_then_a_second_run_changes_nothing() {
    let w = world(FakeApiServer::start(), "");
    write_stack(
        &w,
        "cluster:\n  name: ci\n  workers: 0\nmirrors:\n  docker.io: http://127.0.0.1:5001\naddons: [prometheus]\n",
    );
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Create kind cluster ci\n"));
    let kind = support::argv(w.fakes.calls("kind"));
    assert_eq!(kind[0], "get clusters");
    assert_eq!(kind[1], "version -q");
    assert!(
        kind[2].starts_with("create cluster --config ") && kind[2].ends_with(" --name ci"),
        "{kind:?}"
    );
    assert_eq!(kind[3..], ["get nodes --name ci"]);
    let docker = w.fakes.calls("docker");
    assert_eq!(
        support::argv(docker.clone()),
        [
            "exec ci-control-plane mkdir -p /etc/containerd/certs.d/docker.io",
            "exec -i ci-control-plane cp /dev/stdin /etc/containerd/certs.d/docker.io/hosts.toml",
        ]
    );
    assert_eq!(docker[1].stdin, MIRROR_TOML);
    let helm = support::argv(w.fakes.calls("helm"));
    assert_eq!(helm.len(), 2, "{helm:?}");
    assert!(
        helm[1].starts_with("upgrade --install prometheus-stack prometheus-community/kube-prometheus-stack --version 69.3.0 "),
        "{helm:?}"
    );
    assert_eq!(
        record(&w),
        json!({
            "cluster": "workers=0\n",
            "mirrors": "docker.io=http://127.0.0.1:5001\n",
            "addon.prometheus": "prometheus=69.3.0",
        })
    );

    w.api.clear_requests();
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success()
        .stdout("kind cluster ci matches stack.yaml: nothing to do\n");
    assert_eq!(mutations(&w), Vec::<String>::new());
    assert_eq!(w.api.requests().len(), 1, "one GET of the record");
    assert_eq!(w.fakes.calls("kind").len(), 4, "no kind call");
    assert_eq!(w.fakes.calls("docker").len(), 2);
    assert_eq!(w.fakes.calls("helm").len(), 2);
}

#[test]
fn a_second_apply_of_server_side_applied_manifests_sends_no_request_but_one_get() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let w = world(FakeApiServer::start(), "");
    let release = argowf_release();
    write_stack(&w, "cluster: {name: ci, workers: 0}\naddons: [argowf]\n");
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| roll_out(w.api.store(), &stop));
        let _stop = StopOnDrop(&stop);
        w.ktbx()
            .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
            .args(["apply", "-f", "stack.yaml", "--timeout", "20s"])
            .assert()
            .success();
    });
    assert!(
        mutations(&w)
            .iter()
            .any(|m| m.starts_with("PATCH /apis/apps/v1/namespaces/argo/deployments/")),
        "{:?}",
        mutations(&w)
    );
    let downloads = release.requests().len();
    w.api.clear_requests();
    w.ktbx()
        .env("KTBX_DOWNLOAD_MIRROR", release.url(""))
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success()
        .stdout("kind cluster ci matches stack.yaml: nothing to do\n");
    let requests: Vec<String> = w
        .api
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        requests,
        ["GET /api/v1/namespaces/kube-system/configmaps/ktbx-stack"]
    );
    assert_eq!(release.requests().len(), downloads, "no download");
    assert_eq!(
        support::argv(w.fakes.calls("kind"))
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        1
    );
}

#[test]
fn a_changed_mirror_is_rewritten_into_the_nodes_only() {
    let w = world(FakeApiServer::start(), "");
    let stack = "cluster: {name: ci, workers: 0}\naddons: [prometheus]\n";
    write_stack(
        &w,
        &format!("{stack}mirrors: {{docker.io: http://127.0.0.1:5001}}\n"),
    );
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success();
    let (kind, helm) = (w.fakes.calls("kind").len(), w.fakes.calls("helm").len());

    write_stack(
        &w,
        &format!("{stack}mirrors: {{docker.io: http://10.0.0.2:5000}}\n"),
    );
    w.api.clear_requests();
    w.ktbx()
        .args(["apply", "-f", "stack.yaml", "--diff"])
        .assert()
        .success()
        .stdout("~ mirrors: docker.io=http://127.0.0.1:5001 -> docker.io=http://10.0.0.2:5000\n");
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success();
    assert_eq!(
        support::argv(w.fakes.calls("kind"))[kind..],
        ["get nodes --name ci"]
    );
    let docker = w.fakes.calls("docker");
    assert_eq!(docker.len(), 4);
    assert_eq!(
        docker[3].stdin,
        "server = \"https://registry-1.docker.io\"\n\n[host.\"http://10.0.0.2:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
    assert_eq!(
        w.fakes.calls("helm").len(),
        helm,
        "the add-on is not touched"
    );
    assert_eq!(
        mutations(&w),
        ["PATCH /api/v1/namespaces/kube-system/configmaps/ktbx-stack"]
    );
    assert_eq!(record(&w)["mirrors"], "docker.io=http://10.0.0.2:5000\n");
}

/// A Ready falco pod, for the wait after its helm release.
fn falco_pod() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "falco-0", "namespace": "falco"},
        "spec": {"containers": [{"name": "falco", "image": "falco"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

#[test]
fn a_changed_pin_shows_in_diff_and_reapplies_that_addon_only() {
    let w = world(FakeApiServer::start(), "");
    w.api.apply_json(falco_pod());
    let stack = "cluster: {name: ci, workers: 0}\naddons: [prometheus, falco]\n";
    write_stack(&w, stack);
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success();
    assert_eq!(w.fakes.calls("helm").len(), 4);
    let kind_calls = w.fakes.calls("kind").len();

    write_stack(&w, &format!("{stack}Pins:\n  Prometheus: 70.0.0\n"));
    w.api.clear_requests();
    w.ktbx()
        .args(["apply", "-f", "stack.yaml", "--diff"])
        .assert()
        .success()
        .stdout("~ addon.prometheus: prometheus=69.3.0 -> prometheus=70.0.0\n");
    assert_eq!(mutations(&w), Vec::<String>::new());
    assert_eq!(w.fakes.calls("helm").len(), 4);

    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success()
        .stdout("Apply add-on prometheus (prometheus=70.0.0)\n");
    let helm = support::argv(w.fakes.calls("helm"));
    assert_eq!(helm.len(), 6, "{helm:?}");
    assert!(
        helm[4].starts_with("repo add prometheus-community "),
        "{helm:?}"
    );
    assert!(
        helm[5].starts_with("upgrade --install prometheus-stack ")
            && helm[5].contains(" --version 70.0.0 "),
        "{helm:?}"
    );
    assert_eq!(w.fakes.calls("kind").len(), kind_calls, "no kind call");
    assert_eq!(
        mutations(&w),
        ["PATCH /api/v1/namespaces/kube-system/configmaps/ktbx-stack"]
    );
    assert_eq!(record(&w)["addon.prometheus"], "prometheus=70.0.0");
    assert_eq!(record(&w)["addon.falco"], "falco=");

    // An add-on dropped from the file stays installed: nothing to do, and a warning.
    write_stack(
        &w,
        "cluster: {name: ci, workers: 0}\naddons: [prometheus]\npins: {prometheus: 70.0.0}\n",
    );
    w.api.clear_requests();
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .success()
        .stdout("kind cluster ci matches stack.yaml: nothing to do\n")
        .stderr(predicate::str::contains(
            "addon.falco is no longer in stack.yaml: apply leaves it installed",
        ));
    assert_eq!(mutations(&w), Vec::<String>::new());
    assert_eq!(w.fakes.calls("helm").len(), 6);
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let w = world(FakeApiServer::start(), "");
    write_stack(
        &w,
        "cluster:\n  name: ci\n  workers: 0\naddons: [prometheus]\n",
    );
    let out = w
        .ktbx()
        .args(["apply", "-f", "stack.yaml", "--dry-run"])
        .assert()
        .success();
    let out = support::stdout(&out);
    assert!(
        out.contains("# kind config $TMPDIR/kind-config.yaml\nkind: Cluster\n")
            && out.contains("kind create cluster --config '$TMPDIR/kind-config.yaml' --name ci\n")
            && out.contains("wait for nodes to be Ready\n")
            && out.contains("helm upgrade --install prometheus-stack ")
            && out.ends_with("apply --server-side ConfigMap/ktbx-stack -n kube-system\n"),
        "{out}"
    );
    assert!(
        support::argv(w.fakes.calls("kind"))
            .iter()
            .all(|c| !c.starts_with("create"))
    );
    assert!(w.fakes.calls("helm").is_empty());
    assert_eq!(mutations(&w), Vec::<String>::new());
}

#[test]
fn a_stack_error_names_file_line_and_column() {
    let w = world(FakeApiServer::start(), "");
    write_stack(&w, "cluster:\n  name: ci\naddons:\n  - olm\n  - flannel\n");
    w.ktbx()
        .args(["apply", "-f", "stack.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stack.yaml:5:5: addons"));
    assert!(w.fakes.calls("kind").is_empty());
}

fn prometheus_api() -> FakeApiServer {
    FakeApiServer::builder()
        .crd(crds::definition(
            "monitoring.coreos.com",
            "v1",
            "Prometheus",
            "prometheuses",
            &[],
        ))
        .start()
}

/// Namespaces of the add-ons and a Prometheus held by its operator's finalizer.
fn installed(w: &World) {
    for ns in ["monitoring", "argo"] {
        w.api
            .apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    w.api.apply_json(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "main", "namespace": "monitoring", "finalizers": ["example.com/hold"]},
    }));
}

const DELETE_STACK: &str = "cluster: {name: ci}\nregistry: {}\naddons: [argowf, prometheus]\n";

#[test]
fn delete_f_removes_addons_in_reverse_after_their_finalizers_then_the_cluster() {
    let w = world(prometheus_api(), "ci\n");
    installed(&w);
    w.fakes.add("docker", Script::default());
    write_stack(&w, DELETE_STACK);
    // Plays the operator: releases the finalizer once the object is being deleted, while the
    // namespace (which holds the operator) still runs.
    w.api.after(Duration::from_millis(1500), |store| {
        let prom = store
            .get_json(
                "monitoring.coreos.com/v1",
                "Prometheus",
                Some("monitoring"),
                "main",
            )
            .expect("still held by its finalizer");
        assert!(!prom["metadata"]["deletionTimestamp"].is_null(), "{prom}");
        let ns = store
            .get_json("v1", "Namespace", None, "monitoring")
            .unwrap();
        assert!(
            ns["metadata"]["deletionTimestamp"].is_null(),
            "namespace deleted before its custom resources: {ns}"
        );
        store.delete_json(
            "monitoring.coreos.com/v1",
            "Prometheus",
            Some("monitoring"),
            "main",
        );
    });
    w.ktbx()
        .args(["delete", "-f", "stack.yaml", "--timeout", "20s"])
        .assert()
        .success()
        .stdout("Remove add-on prometheus\nRemove add-on argowf\nDelete kind cluster ci\nDelete registry container kind-registry\n");
    assert_eq!(
        mutations(&w),
        [
            "DELETE /apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/main",
            "DELETE /api/v1/namespaces/monitoring",
            "DELETE /api/v1/namespaces/argo",
        ]
    );
    assert!(
        w.api
            .get_json("v1", "Namespace", None, "monitoring")
            .is_none()
    );
    assert_eq!(
        support::argv(w.fakes.calls("helm")),
        [
            "uninstall prometheus-stack --namespace monitoring --ignore-not-found --kube-context kind-ci"
        ]
    );
    assert_eq!(
        support::argv(w.fakes.calls("kind")),
        ["get clusters", "delete cluster --name ci"]
    );
    assert_eq!(
        support::argv(w.fakes.calls("docker")),
        ["inspect -f {{.Name}} kind-registry", "rm -f kind-registry"]
    );
}

#[test]
fn delete_f_names_the_finalizer_that_outlives_the_deadline() {
    let w = world(prometheus_api(), "ci\n");
    installed(&w);
    write_stack(&w, DELETE_STACK);
    w.ktbx()
        .args(["delete", "-f", "stack.yaml", "--timeout", "2s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "timed out after 2s waiting for the Prometheus objects of prometheus to be deleted; still there: Prometheus/main -n monitoring (finalizers: example.com/hold)",
        ));
    assert_eq!(support::argv(w.fakes.calls("kind")), ["get clusters"]);
    assert!(w.api.get_json("v1", "Namespace", None, "argo").is_some());
}

#[test]
fn create_writes_flag_and_inherited_docker_mirrors_into_every_node() {
    let w = world(FakeApiServer::start(), "");
    let daemon = w.home.path().join("daemon.json");
    std::fs::write(
        &daemon,
        "{\"registry-mirrors\": [\"http://127.0.0.1:5001\"]}\n",
    )
    .unwrap();
    w.ktbx()
        .env("KTBX_DOCKER_DAEMON_JSON", &daemon)
        .args([
            "create",
            "-s",
            "-n",
            "ci",
            "--mirror",
            "quay.io=https://quay-mirror.example",
            "--inherit-docker-mirrors",
        ])
        .assert()
        .success();
    let docker = w.fakes.calls("docker");
    assert_eq!(
        support::argv(docker.clone()),
        [
            "exec ci-control-plane mkdir -p /etc/containerd/certs.d/docker.io",
            "exec -i ci-control-plane cp /dev/stdin /etc/containerd/certs.d/docker.io/hosts.toml",
            "exec ci-control-plane mkdir -p /etc/containerd/certs.d/quay.io",
            "exec -i ci-control-plane cp /dev/stdin /etc/containerd/certs.d/quay.io/hosts.toml",
        ]
    );
    assert_eq!(docker[1].stdin, MIRROR_TOML);
    assert_eq!(
        docker[3].stdin,
        "server = \"https://quay.io\"\n\n[host.\"https://quay-mirror.example\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
}

#[test]
fn an_invalid_daemon_json_fails_before_kind_runs() {
    let w = world(FakeApiServer::start(), "");
    let daemon = w.home.path().join("daemon.json");
    std::fs::write(&daemon, "{\n  \"registry-mirrors\": [\"http://a\",]\n}\n").unwrap();
    w.ktbx()
        .env("KTBX_DOCKER_DAEMON_JSON", &daemon)
        .args(["create", "-s", "-n", "ci", "--inherit-docker-mirrors"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!(
                "invalid docker daemon config {}: ",
                daemon.display()
            ))
            .and(predicate::str::contains("line 2 column")),
        );
    assert!(w.fakes.calls("kind").is_empty());
}

#[test]
fn a_failed_apply_leaves_a_bundle_with_the_stack_and_the_plan() {
    let w = world(FakeApiServer::start(), "");
    // The node never gets Ready.
    w.node("ci-control-plane", false);
    let text = "cluster:\n  name: ci\n  workers: 0\n";
    write_stack(&w, text);
    let diag = w.home.path().join("diag");
    w.ktbx()
        .args(["apply", "-f", "stack.yaml", "--timeout", "1s", "--diag-dir"])
        .arg(&diag)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "diagnostics written to {}",
            diag.join("ci").display()
        )));
    let bundle = diag.join("ci");
    let read = |file: &str| std::fs::read_to_string(bundle.join(file)).unwrap();
    assert_eq!(read("stack.yaml"), text);
    assert!(
        read("plan.txt").starts_with("cluster: ci\ntimeout: 1s\n"),
        "{}",
        read("plan.txt")
    );
    assert!(
        read("error.txt").contains("waiting for nodes to be Ready"),
        "{}",
        read("error.txt")
    );
    assert!(read("nodes.txt").starts_with("node ci-control-plane\n"));
    // Nothing is written without a failure or with --diff.
    let quiet = w.home.path().join("quiet");
    let _ = w
        .ktbx()
        .args(["apply", "-f", "stack.yaml", "--diff", "--diag-dir"])
        .arg(&quiet)
        .output()
        .unwrap();
    assert!(!quiet.exists());
}
