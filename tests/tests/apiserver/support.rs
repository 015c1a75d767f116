//! Clients for the tests: kube-rs from the written kubeconfig, raw HTTP and the real kubectl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::apiserver::FakeApiServer;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A kube client built from the server's kubeconfig file, as the tools build theirs.
pub(crate) async fn client(server: &FakeApiServer) -> kube::Client {
    client_of(server.kubeconfig()).await
}

/// A kube client built from a kubeconfig file.
async fn client_of(kubeconfig: &Path) -> kube::Client {
    install_crypto();
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config from kubeconfig");
    kube::Client::try_from(config).expect("client")
}

/// The real kubectl against one server: its kubeconfig, and a scratch directory of its own for
/// the manifests a test writes and the discovery cache (ports get reused).
pub(crate) struct Kubectl {
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    /// kubectl with `kubeconfig` (e.g. `server.kubeconfig()`).
    pub(crate) fn new(kubeconfig: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.to_owned(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The command, without arguments.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    /// Runs `kubectl args…`, whatever its exit status.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("kubectl runs (is /usr/bin/kubectl installed?)")
    }

    /// Runs `kubectl args…`, which must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes `text` into the file `name` of the scratch directory; its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
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

/// A server of either kind with the namespace one test works in: the fake (namespace `default`)
/// or the shared real kube-apiserver 1.20 (a fresh namespace), for the contract tests that hold
/// for both. [`both!`] runs a test body once against each.
pub(crate) enum Server {
    Fake(FakeApiServer),
    Real(harness::real_apiserver::TestNamespace),
}

impl Server {
    /// A fresh fake server.
    pub(crate) fn fake() -> Server {
        Server::Fake(FakeApiServer::start())
    }

    /// A fresh namespace on this test binary's real server, or `None` (with the reason printed)
    /// when the real binaries are not built.
    pub(crate) async fn real() -> Option<Server> {
        let server = real_server()?;
        Some(Server::Real(server.namespace().await))
    }

    /// The namespace the test works in.
    pub(crate) fn ns(&self) -> &str {
        match self {
            Server::Fake(_) => "default",
            Server::Real(namespace) => &namespace.name,
        }
    }

    /// True for the real server.
    pub(crate) fn is_real(&self) -> bool {
        matches!(self, Server::Real(_))
    }

    /// A kubeconfig whose current context defaults to [`ns`](Self::ns).
    pub(crate) fn kubeconfig(&self) -> &Path {
        match self {
            Server::Fake(server) => server.kubeconfig(),
            Server::Real(namespace) => &namespace.kubeconfig,
        }
    }

    /// A kube client from [`kubeconfig`](Self::kubeconfig).
    pub(crate) async fn client(&self) -> kube::Client {
        client_of(self.kubeconfig()).await
    }

    /// The real kubectl against this server.
    pub(crate) fn kubectl(&self) -> Kubectl {
        Kubectl::new(self.kubeconfig())
    }
}

/// This test binary's real API server, or `None` after printing why the test skips.
pub(crate) fn real_server() -> Option<&'static harness::real_apiserver::RealApiServer> {
    match harness::real_apiserver::RealApiServer::shared(std::path::Path::new(env!(
        "CARGO_BIN_EXE_kube-supervisor"
    ))) {
        Ok(server) => Some(server),
        Err(reason) => {
            eprintln!("SKIPPED: no real kube-apiserver: {reason}");
            None
        }
    }
}

/// Defines a contract test as a module with two tests, `fake` and `real`, running `$body` with
/// `$server` bound to a [`Server`] of that kind. Both sides always run: where the fake differs from
/// every real server, the fake is fixed.
macro_rules! both {
    ($(#[doc = $doc:literal])* async fn $name:ident($server:ident) $body:block) => {
        both!(@ $(#[doc = $doc])* [] async fn $name($server) $body);
    };
    (@ $(#[doc = $doc:literal])* [$($fake_attr:tt)*] async fn $name:ident($server:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            $($fake_attr)*
            async fn fake() {
                let $server = $crate::apiserver::support::Server::fake();
                $body
            }

            #[tokio::test]
            async fn real() {
                let Some($server) = $crate::apiserver::support::Server::real().await else {
                    return;
                };
                $body
            }
        }
    };
}
pub(crate) use both;
