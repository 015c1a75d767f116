//! The reference client: the real kubectl (1.32) against the fake, from synchronous tests.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use harness::apiserver::{ExecReply, FakeApiServer, crds};
use serde_json::{Value, json};

use super::support::{Kubectl, pod};

const MANIFEST: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: spark
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
  namespace: spark
  labels: {app: fink}
data:
  night: \"20200101\"
";

#[test]
fn kubectl_create_then_get_json() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let file = kubectl.write("m.yaml", MANIFEST);
    let out = kubectl.ok(&["create", "-f", &file]);
    assert_eq!(out, "namespace/spark created\nconfigmap/conf created\n");
    let got: Value = serde_json::from_str(&kubectl.ok(&[
        "get",
        "configmap",
        "conf",
        "-n",
        "spark",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    assert_eq!(got["data"], json!({"night": "20200101"}));
    let stored = server
        .get_json("v1", "ConfigMap", Some("spark"), "conf")
        .unwrap();
    assert_eq!(got["metadata"]["uid"], stored["metadata"]["uid"]);
    assert_eq!(
        got["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    let again = kubectl.run(&["create", "-f", &file]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("AlreadyExists"));
}

#[test]
fn kubectl_get_name_with_label_selectors() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(pod("default", "driver-1", json!({"spark-role": "driver"})));
    server.apply_json(pod("default", "exec-1", json!({"spark-role": "executor"})));
    server.apply_json(pod("default", "other", json!({})));
    for (selector, want) in [
        ("spark-role=driver", "pod/driver-1\n"),
        ("spark-role!=driver", "pod/exec-1\npod/other\n"),
        (
            "spark-role in (driver,executor)",
            "pod/driver-1\npod/exec-1\n",
        ),
        ("spark-role notin (driver)", "pod/exec-1\npod/other\n"),
        ("spark-role", "pod/driver-1\npod/exec-1\n"),
        ("!spark-role", "pod/other\n"),
    ] {
        assert_eq!(
            kubectl.ok(&["get", "pods", "-l", selector, "-o", "name"]),
            want,
            "{selector}"
        );
    }
    let table = kubectl.ok(&["get", "pods", "-l", "spark-role=driver"]);
    assert!(
        table.starts_with("NAME") && table.contains("driver-1"),
        "{table}"
    );
}

#[test]
fn kubectl_apply_server_side_creates_updates_and_reports_conflicts() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let file = kubectl.write("m.yaml", MANIFEST);
    let out = kubectl.ok(&["apply", "--server-side", "-f", &file]);
    assert_eq!(
        out,
        "namespace/spark serverside-applied\nconfigmap/conf serverside-applied\n"
    );
    let stored = server
        .get_json("v1", "ConfigMap", Some("spark"), "conf")
        .unwrap();
    assert_eq!(stored["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(stored["metadata"]["managedFields"][0]["operation"], "Apply");
    let other = kubectl.write("other.yaml", &MANIFEST.replace("20200101", "20240101"));
    let conflict = kubectl.run(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        &other,
    ]);
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains("conflict with \"kubectl\"") && stderr.contains(".data.night"),
        "{stderr}"
    );
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        &other,
    ]);
    assert_eq!(
        server.get_json("v1", "cm", Some("spark"), "conf").unwrap()["data"]["night"],
        "20240101"
    );
}

#[test]
fn kubectl_label_then_delete_then_not_found() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(pod("default", "p", json!({"app": "web"})));
    assert_eq!(
        kubectl.ok(&["label", "pod", "p", "tier=front"]),
        "pod/p labeled\n"
    );
    assert_eq!(
        server.get_json("v1", "Pod", Some("default"), "p").unwrap()["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        kubectl.ok(&["get", "pods", "-l", "tier=front", "-o", "name"]),
        "pod/p\n"
    );
    assert_eq!(kubectl.ok(&["delete", "pod", "p"]), "pod \"p\" deleted\n");
    let gone = kubectl.run(&["get", "pod", "p"]);
    assert!(!gone.status.success());
    assert_eq!(
        String::from_utf8_lossy(&gone.stderr),
        "Error from server (NotFound): pods \"p\" not found\n"
    );
}

#[test]
fn kubectl_get_watch_sees_a_later_create() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "early", "namespace": "default"}}));
    let mut child = kubectl
        .command()
        .args([
            "get",
            "configmaps",
            "-w",
            "-o",
            "name",
            "--request-timeout=0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    server.after(Duration::from_millis(1500), |s| {
        s.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "default"}}));
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line == "configmap/late";
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let done = line == "configmap/late";
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lines, ["configmap/early", "configmap/late"]);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.query_param("watch").as_deref() == Some("true"))
    );
}

#[test]
fn kubectl_applies_a_crd_then_its_custom_resources() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let crd = kubectl.write("crd.json", &crds::kafka_topic().to_string());
    kubectl.ok(&["apply", "-f", &crd]);
    let waited = kubectl.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=10s",
        "crd/kafkatopics.kafka.strimzi.io",
    ]);
    assert!(waited.contains("condition met"), "{waited}");
    let topic = kubectl.write("kt.yaml",
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata:\n  name: fink-alerts\n  namespace: default\n  labels: {strimzi.io/cluster: kafka-cluster}\nspec:\n  partitions: 1\n",
    );
    assert_eq!(
        kubectl.ok(&["apply", "-f", &topic]),
        "kafkatopic.kafka.strimzi.io/fink-alerts created\n"
    );
    assert_eq!(
        kubectl.ok(&["apply", "-f", &topic]),
        "kafkatopic.kafka.strimzi.io/fink-alerts unchanged\n"
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "kt",
            "-l",
            "strimzi.io/cluster=kafka-cluster",
            "-o",
            "name"
        ]),
        "kafkatopic.kafka.strimzi.io/fink-alerts\n"
    );
    let stored = server
        .get_json(
            "kafka.strimzi.io/v1beta2",
            "KafkaTopic",
            Some("default"),
            "fink-alerts",
        )
        .unwrap();
    assert_eq!(stored["spec"]["partitions"], 1);
}

#[test]
fn kubectl_wait_sees_a_pod_become_ready() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(pod("default", "p", json!({})));
    server.after(Duration::from_secs(1), |s| {
        s.mark_pod_ready("default", "p").expect("pod exists");
    });
    let out = kubectl.ok(&["wait", "--for=condition=Ready", "pod/p", "--timeout=20s"]);
    assert_eq!(out, "pod/p condition met\n");
}

fn workload(kind: &str, name: &str) -> Value {
    let mut w = json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
    });
    if kind != "DaemonSet" {
        w["spec"]["replicas"] = json!(2);
    }
    w
}

#[test]
fn kubectl_rollout_status_waits_for_completed_rollouts() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    for (kind, name) in [
        ("Deployment", "web"),
        ("StatefulSet", "db"),
        ("DaemonSet", "cilium"),
    ] {
        server.apply_json(workload(kind, name));
        server.after(Duration::from_millis(800), move |s| {
            s.complete_rollout("apps/v1", kind, "kube-system", name)
                .expect("workload exists");
        });
    }
    for (resource, done) in [
        (
            "deployment/web",
            "deployment \"web\" successfully rolled out\n",
        ),
        (
            "statefulset/db",
            "partitioned roll out complete: 2 new pods have been updated...\n",
        ),
        (
            "daemonset/cilium",
            "daemon set \"cilium\" successfully rolled out\n",
        ),
    ] {
        let out = kubectl.ok(&[
            "rollout",
            "status",
            "-n",
            "kube-system",
            resource,
            "--timeout=20s",
        ]);
        assert!(out.ends_with(done), "{resource}: {out}");
    }
}

#[test]
fn kubectl_rollout_status_times_out_without_a_controller() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(workload("Deployment", "web"));
    let out = kubectl.run(&[
        "rollout",
        "status",
        "-n",
        "kube-system",
        "deployment/web",
        "--timeout=1s",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out"));
}

#[test]
fn kubectl_exec_runs_a_scripted_command() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    server.apply_json(pod("default", "p", json!({})));
    server.exec_handler("default", "p", |req| match req.command.as_slice() {
        [echo, rest @ ..] if echo == "echo" => ExecReply::stdout(format!("{}\n", rest.join(" "))),
        _ => ExecReply::default()
            .with_stderr("not found\n")
            .with_exit_code(127),
    });
    assert_eq!(
        kubectl.ok(&["exec", "p", "--", "echo", "hello", "fink"]),
        "hello fink\n"
    );
    let failed = kubectl.run(&["exec", "p", "-c", "main", "--", "nope"]);
    assert_eq!(failed.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("not found"));
}

#[test]
fn kubectl_create_generators_send_protobuf_the_fake_decodes() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    assert_eq!(
        kubectl.ok(&["create", "namespace", "kafka"]),
        "namespace/kafka created\n"
    );
    let out = kubectl.ok(&[
        "create",
        "secret",
        "generic",
        "fink-producer",
        "-n",
        "kafka",
        "--from-literal=password=changeme",
    ]);
    assert_eq!(out, "secret/fink-producer created\n");
    kubectl.ok(&[
        "create",
        "configmap",
        "conf",
        "-n",
        "kafka",
        "--from-literal=night=20200101",
    ]);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.content_type == "application/vnd.kubernetes.protobuf")
    );
    let secret = server
        .get_json("v1", "Secret", Some("kafka"), "fink-producer")
        .unwrap();
    assert_eq!(secret["data"], json!({"password": "Y2hhbmdlbWU="}));
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(
        server.get_json("v1", "cm", Some("kafka"), "conf").unwrap()["data"],
        json!({"night": "20200101"})
    );
    let password = kubectl.ok(&[
        "get",
        "secret",
        "fink-producer",
        "-n",
        "kafka",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(password, "Y2hhbmdlbWU=");
}

#[test]
fn kubectl_applies_an_operator_style_manifest_of_many_kinds() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let manifest = "apiVersion: v1
kind: Namespace
metadata: {name: argo}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: argo, namespace: argo}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: argo-cluster-role}
rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: argo-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: argo-cluster-role}
subjects: [{kind: ServiceAccount, name: argo, namespace: argo}]
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: workflow-controller}
value: 1000000
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: workflow-controller, namespace: argo}
spec:
  selector: {matchLabels: {app: workflow-controller}}
  template:
    metadata: {labels: {app: workflow-controller}}
    spec: {serviceAccountName: argo, containers: [{name: controller, image: argoproj/workflow-controller}]}
---
apiVersion: v1
kind: Service
metadata: {name: argo-server, namespace: argo}
spec: {selector: {app: argo-server}, ports: [{port: 2746}]}
";
    let file = kubectl.write("install.yaml", manifest);
    let out = kubectl.ok(&["apply", "-f", &file]);
    assert_eq!(
        out,
        "namespace/argo created\nserviceaccount/argo created\nclusterrole.rbac.authorization.k8s.io/argo-cluster-role created\n\
         clusterrolebinding.rbac.authorization.k8s.io/argo-binding created\npriorityclass.scheduling.k8s.io/workflow-controller created\n\
         deployment.apps/workflow-controller created\nservice/argo-server created\n"
    );
    assert_eq!(
        kubectl.ok(&["get", "all", "-n", "argo", "-o", "name"]),
        "service/argo-server\ndeployment.apps/workflow-controller\n"
    );
}
