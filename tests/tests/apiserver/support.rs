//! Clients for the tests: kube-rs from the written kubeconfig, and raw HTTP.

use harness::apiserver::FakeApiServer;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A kube client built from the server's kubeconfig file, as the tools build theirs.
pub(crate) async fn client(server: &FakeApiServer) -> kube::Client {
    install_crypto();
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config from kubeconfig");
    kube::Client::try_from(config).expect("client")
}

/// A raw HTTP client (status codes and bodies as they are on the wire).
pub(crate) fn http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::new()
}

/// A pod with one container and these labels.
pub(crate) fn pod(namespace: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    })
}

/// The `kube::Error::Api` status code and reason of a failed call.
pub(crate) fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}
