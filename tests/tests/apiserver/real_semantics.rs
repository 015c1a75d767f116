//! What every real API server does and the fake must match (issue 12): strategic merge patch,
//! typed decoding, defaulting, generation, DeleteOptions and garbage collection, terminating
//! namespaces, protected CRD groups, 422 causes, paginated snapshots, ServiceAccount admission,
//! TLS and bearer tokens.

use harness::apiserver::{FakeApiServer, crds};
use serde_json::{Value, json};

use super::support::{Kubectl, client, http, pod};

/// The status code and JSON answer of `request`.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = request.send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

/// A request with a JSON body; returns the status code and the JSON answer.
async fn send(
    server: &FakeApiServer,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let request = http()
        .request(method, format!("{}{path}", server.url()))
        .header("content-type", content_type)
        .body(body.to_string());
    answer(request).await
}

async fn post(server: &FakeApiServer, path: &str, body: Value) -> (u16, Value) {
    send(
        server,
        reqwest::Method::POST,
        path,
        "application/json",
        body,
    )
    .await
}

async fn get(server: &FakeApiServer, path: &str) -> (u16, Value) {
    answer(http().get(format!("{}{path}", server.url()))).await
}

async fn delete(server: &FakeApiServer, path: &str, options: Value) -> (u16, Value) {
    send(
        server,
        reqwest::Method::DELETE,
        path,
        "application/json",
        options,
    )
    .await
}

/// Stores an empty ConfigMap `default/<name>` for each name.
fn config_maps(server: &FakeApiServer, names: &[&str]) {
    for name in names {
        server.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}}));
    }
}

/// The containers of the Deployment `default/web`.
fn web_containers(server: &FakeApiServer) -> Value {
    let d = server
        .get_json("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    d["spec"]["template"]["spec"]["containers"].clone()
}

/// The names of [`web_containers`].
fn web_container_names(server: &FakeApiServer) -> Vec<String> {
    web_containers(server)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: app:1
        env: [{name: A, value: \"1\"}]
      - name: sidecar
        image: sidecar:1
";

/// A fake server holding [`DEPLOYMENT`], applied by kubectl (client side).
fn deployed() -> (FakeApiServer, Kubectl) {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let manifest = kubectl.write("d.yaml", DEPLOYMENT);
    kubectl.ok(&["apply", "-f", &manifest]);
    (server, kubectl)
}

#[test]
fn client_side_apply_merges_containers_by_name() {
    let (server, kubectl) = deployed();
    // Another client adds an environment variable to the app container.
    kubectl.ok(
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"2"}]}]}}}}"#,
        ],
    );
    let changed = kubectl.write("d2.yaml", &DEPLOYMENT.replace("sidecar:1", "sidecar:2"));
    kubectl.ok(&["apply", "-f", &changed]);
    let containers = &web_containers(&server);
    assert_eq!(containers.as_array().unwrap().len(), 2, "{containers:#}");
    assert_eq!(containers[0]["name"], "app");
    assert_eq!(containers[0]["image"], "app:1");
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(containers[1]["image"], "sidecar:2");
}

#[test]
fn strategic_patch_deletes_one_container_by_its_key() {
    let (server, kubectl) = deployed();
    kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#,
    ]);
    assert_eq!(web_container_names(&server), ["app"]);
}

#[tokio::test]
async fn strategic_merge_patch_of_a_custom_resource_is_415() {
    let server = FakeApiServer::builder().crd(crds::kafka_topic()).start();
    server.apply_json(json!({
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
        "metadata": {"name": "t", "namespace": "default"}, "spec": {"partitions": 1},
    }));
    let (code, status) = send(
        &server,
        reqwest::Method::PATCH,
        "/apis/kafka.strimzi.io/v1beta2/namespaces/default/kafkatopics/t",
        "application/strategic-merge-patch+json",
        json!({"spec": {"partitions": 2}}),
    )
    .await;
    assert_eq!(code, 415, "{status}");
    assert_eq!(status["reason"], "UnsupportedMediaType");
}

#[tokio::test]
async fn a_config_map_with_a_number_in_data_is_400() {
    let server = FakeApiServer::start();
    let (code, status) = post(
        &server,
        "/api/v1/namespaces/default/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}}),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );
    assert!(
        server
            .get_json("v1", "ConfigMap", Some("default"), "c")
            .is_none()
    );
}

#[tokio::test]
async fn pods_and_services_are_defaulted_and_only_spec_kinds_count_generations() {
    let server = FakeApiServer::start();
    let (code, p) = post(
        &server,
        "/api/v1/namespaces/default/pods",
        pod("default", "p", json!({})),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    let spec = &p["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        spec["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    let (_, s) = post(
        &server,
        "/api/v1/namespaces/default/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}}),
    )
    .await;
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(
        s["spec"]["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert!(s["metadata"].get("generation").is_none(), "{s}");
    let (_, c) = post(
        &server,
        "/api/v1/namespaces/default/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}),
    )
    .await;
    assert!(c["metadata"].get("generation").is_none(), "{c}");
    assert_eq!(p["metadata"]["generation"], 1);
}

#[tokio::test]
async fn a_pod_naming_a_missing_service_account_is_refused() {
    let server = FakeApiServer::start();
    let mut p = pod("default", "p", json!({}));
    p["spec"]["serviceAccountName"] = json!("spark");
    let (code, status) = post(&server, "/api/v1/namespaces/default/pods", p.clone()).await;
    assert_eq!(code, 403, "{status}");
    assert_eq!(
        status["message"],
        "pods \"p\" is forbidden: error looking up service account default/spark: serviceaccount \"spark\" not found"
    );
    server.apply_json(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "spark", "namespace": "default"}}));
    let (code, _) = post(&server, "/api/v1/namespaces/default/pods", p).await;
    assert_eq!(code, 201);
}

#[tokio::test]
async fn delete_preconditions_and_propagation() {
    let server = FakeApiServer::start();
    let owner = server.apply_json(pod("default", "driver", json!({})));
    let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    let owned = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "default",
                            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "driver", "uid": uid}]}})
    };
    server.apply_json(owned("conf"));
    let path = "/api/v1/namespaces/default/pods/driver";
    let (code, status) = delete(
        &server,
        path,
        json!({"preconditions": {"uid": "not-the-uid"}}),
    )
    .await;
    assert_eq!(code, 409, "{status}");
    assert_eq!(
        status["message"],
        format!(
            "Operation cannot be fulfilled on pods \"driver\": Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}"
        )
    );
    let (code, _) = delete(
        &server,
        path,
        json!({"preconditions": {"resourceVersion": "1"}}),
    )
    .await;
    assert_eq!(code, 409);
    let (code, _) = delete(&server, path, json!({"preconditions": {"uid": uid}})).await;
    assert_eq!(code, 200);
    assert!(
        server
            .get_json("v1", "ConfigMap", Some("default"), "conf")
            .is_none(),
        "background propagation deletes the dependents"
    );

    server.apply_json(pod("default", "driver", json!({})));
    let uid = server
        .get_json("v1", "Pod", Some("default"), "driver")
        .unwrap()["metadata"]["uid"]
        .clone();
    let mut kept = owned("kept");
    kept["metadata"]["ownerReferences"][0]["uid"] = uid;
    server.apply_json(kept);
    let (code, _) = delete(&server, path, json!({"propagationPolicy": "Orphan"})).await;
    assert_eq!(code, 200);
    let kept = server
        .get_json("v1", "ConfigMap", Some("default"), "kept")
        .expect("an orphan stays");
    assert!(kept["metadata"].get("ownerReferences").is_none(), "{kept}");
}

#[tokio::test]
async fn a_namespace_terminates_while_it_is_emptied() {
    let server = FakeApiServer::start();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}});
    assert_eq!(post(&server, "/api/v1/namespaces", ns).await.0, 201);
    server.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": "spark", "finalizers": ["example.com/hold"]}}));
    let (code, gone) = delete(&server, "/api/v1/namespaces/spark", json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(gone["status"]["phase"], "Terminating");
    let (_, now) = get(&server, "/api/v1/namespaces/spark").await;
    assert_eq!(now["status"]["phase"], "Terminating");
    assert!(!now["metadata"]["deletionTimestamp"].is_null());
    let (code, status) = post(
        &server,
        "/api/v1/namespaces/spark/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}),
    )
    .await;
    assert_eq!(code, 403, "{status}");
    assert_eq!(
        status["message"],
        "configmaps \"new\" is forbidden: unable to create new content in namespace spark because it is being terminated"
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "NamespaceTerminating"
    );
    // Releasing the last finalizer inside lets the namespace go.
    let (code, _) = send(
        &server,
        reqwest::Method::PATCH,
        "/api/v1/namespaces/spark/configmaps/held",
        "application/merge-patch+json",
        json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(get(&server, "/api/v1/namespaces/spark").await.0, 404);
}

#[tokio::test]
async fn a_crd_in_a_protected_group_needs_the_approval_annotation() {
    let server = FakeApiServer::start();
    let mut crd = crds::spark_application();
    let approved = crd.clone();
    crd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, status) = post(&server, path, crd).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["details"]["causes"][0],
        json!({
            "reason": "FieldValueRequired",
            "message": "Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
            "field": "metadata.annotations[api-approved.kubernetes.io]",
        })
    );
    assert_eq!(post(&server, path, approved).await.0, 201);
}

#[test]
fn kubectl_prints_the_causes_of_a_422() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let manifest = kubectl.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    );
    let out = kubectl.run(&["create", "-f", &manifest]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn later_list_pages_come_from_the_first_pages_snapshot() {
    let server = FakeApiServer::start();
    config_maps(&server, &["a", "b", "c"]);
    let path = "/api/v1/namespaces/default/configmaps";
    let (_, first) = get(&server, &format!("{path}?limit=1")).await;
    let rv = first["metadata"]["resourceVersion"].clone();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    server
        .store()
        .delete_json("v1", "ConfigMap", Some("default"), "c");
    config_maps(&server, &["d"]);
    let (code, rest) = get(&server, &format!("{path}?limit=5&continue={token}")).await;
    assert_eq!(code, 200, "{rest}");
    let names: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(rest["metadata"]["resourceVersion"], rv);
}

#[tokio::test]
async fn a_continue_token_older_than_the_history_is_410() {
    let server = FakeApiServer::builder().watch_history(2).start();
    config_maps(&server, &["a", "b"]);
    let path = "/api/v1/namespaces/default/configmaps";
    let (_, first) = get(&server, &format!("{path}?limit=1")).await;
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    config_maps(&server, &["x", "y", "z"]);
    let (code, status) = get(&server, &format!("{path}?limit=1&continue={token}")).await;
    assert_eq!(code, 410, "{status}");
    assert_eq!(status["reason"], "Expired");
}

#[tokio::test]
async fn tls_and_a_bearer_token_are_proven_by_the_kubeconfig() {
    let server = FakeApiServer::builder()
        .tls()
        .bearer_token("s3cr3t-token")
        .start();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    // kube-rs trusts the certificate and sends the token from the kubeconfig.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client(&server).await);
    let list = namespaces.list(&Default::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("default"))
    );
    // kubectl too; with a wrong token it is told Unauthorized.
    let kubectl = Kubectl::new(server.kubeconfig());
    assert!(
        kubectl
            .ok(&["get", "namespaces", "-o", "name"])
            .contains("namespace/default")
    );
    let text = std::fs::read_to_string(server.kubeconfig()).unwrap();
    let wrong = kubectl.write("wrong", &text.replace("s3cr3t-token", "wrong"));
    // The same discovery cache: the request itself, not discovery, is refused.
    let out = kubectl
        .command()
        .env("KUBECONFIG", &wrong)
        .args(["get", "pods"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("You must be logged in to the server (Unauthorized)"),
        "{stderr}"
    );
    // Without a token (kubectl would prompt for a password): 401 and a Status.
    let _ = http();
    let certificate = std::fs::read(server.certificate().unwrap()).unwrap();
    let anonymous = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&certificate).unwrap()])
        .build()
        .unwrap();
    let resp = anonymous
        .get(format!("{}/api/v1/namespaces/default/pods", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(status["reason"], "Unauthorized");
}

#[test]
fn server_side_apply_owns_containers_one_by_one() {
    let server = FakeApiServer::start();
    let kubectl = Kubectl::new(server.kubeconfig());
    let app = kubectl.write(
        "app.yaml",
        &DEPLOYMENT.replace("      - name: sidecar\n        image: sidecar:1\n", ""),
    );
    kubectl.ok(&["apply", "--server-side", "--field-manager=app", "-f", &app]);
    let sidecar = kubectl.write(
        "sidecar.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  template:
    spec:
      containers:
      - name: sidecar
        image: sidecar:1
",
    );
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager=mesh",
        "-f",
        &sidecar,
    ]);
    assert_eq!(web_container_names(&server), ["app", "sidecar"]);
}

#[tokio::test]
async fn a_token_auth_file_lists_the_accepted_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.csv");
    std::fs::write(
        &file,
        "admin-token,admin,admin,\"system:masters\"\nci-token,ci,ci\n",
    )
    .unwrap();
    let server = FakeApiServer::builder().token_file(&file).start();
    let url = format!("{}/api/v1/namespaces", server.url());
    for (token, code) in [("admin-token", 200), ("ci-token", 200), ("other", 401)] {
        let resp = http().get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), code, "{token}");
    }
    assert_eq!(
        http().get(&url).send().await.unwrap().status().as_u16(),
        401
    );
    // The kubeconfig carries the first token.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client(&server).await);
    assert!(namespaces.get("default").await.is_ok());
}
