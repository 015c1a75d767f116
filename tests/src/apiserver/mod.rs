//! A fake Kubernetes API server over real HTTP on a loopback port.
//!
//! It keeps a stateful store of core, apps and custom resources (CRDs registered at run time are
//! served in discovery), and answers as the real API server does for what the tools and their
//! clients (kube-rs, kubectl, fabric8 in spark-submit) use: discovery, get/list with label and
//! field selectors and paginated snapshots, create, update with optimistic concurrency, merge,
//! strategic (built-in merge keys and directives) and JSON patches, server-side apply with field
//! ownership, typed decoding and defaulting of the built-in kinds, ServiceAccount admission of
//! pods, delete with preconditions, finalizers, garbage collection of dependents and terminating
//! namespaces, protected CRD groups, watches (chunked or WebSocket) resumable from a
//! resourceVersion with bookmarks, `pods/exec` over WebSocket with scripted replies, `pods/log` (current, previous, follow;
//! lines added by the test), events, and
//! optionally TLS and a bearer token.
//!
//! The server runs on its own thread and tokio runtime, so synchronous and async tests can use
//! it alike; it stops when the [`FakeApiServer`] is dropped.
//!
//! What a test uses:
//! - [`FakeApiServer::start`] / [`FakeApiServer::builder`] (watch history size, bookmark
//!   interval, CRDs from [`crds`], TLS, bearer token); [`url`](FakeApiServer::url),
//!   [`kubeconfig`](FakeApiServer::kubeconfig) (context `fake`, namespace `default`),
//!   [`write_kubeconfig`](FakeApiServer::write_kubeconfig) for another namespace.
//! - Seeding and inspection through the [`Store`]: `apply_json`, `get_json`, `list_json`,
//!   `merge_patch_json`, `delete_json`, plus [`Store::mark_pod_ready`] and
//!   [`Store::complete_rollout`] (no controller or kubelet runs here).
//! - [`after`](FakeApiServer::after) to change state at a given moment,
//!   [`fault`](FakeApiServer::fault) / [`drop_watches`](FakeApiServer::drop_watches) to inject
//!   failures, [`requests`](FakeApiServer::requests) to read the request log,
//!   [`exec_handler`](FakeApiServer::exec_handler) to script `pods/exec`,
//!   [`append_log`](FakeApiServer::append_log) / [`end_log`](FakeApiServer::end_log) for
//!   `pods/log`, [`emit_event`](FakeApiServer::emit_event) for events.
//! - [`spark_operator`](FakeApiServer::spark_operator): the one opt-in controller, a simulated
//!   spark-operator playing SparkApplications' states and pods from a test script.
//!
//! Not modelled (requests for them fail honestly rather than pretend): controllers (no pods are
//! created for workloads, pods are deleted at once without a grace period; the garbage collector
//! and the namespace controller act at once, and every namespace gets its `default`
//! ServiceAccount), admission besides ServiceAccounts, schema validation (CRD schemas are not
//! enforced, `fieldValidation` is accepted and ignored; built-in kinds are only type-checked in
//! their string maps), `scale` and other subresources besides `status` and `exec`,
//! server-side `Table` output (kubectl prints its NAME/AGE fallback), associative-list keys in
//! server-side apply (lists are owned atomically), CRD version conversion (objects are served as
//! stored), and protobuf bodies other than the Namespace, ConfigMap and Secret that `kubectl
//! create` sends.
//!
//! ```no_run
//! use harness::apiserver::FakeApiServer;
//! let server = FakeApiServer::start();
//! server.apply_json(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Pod",
//!     "metadata": {"name": "p", "namespace": "default"},
//!     "spec": {"containers": [{"name": "c", "image": "busybox"}]},
//! }));
//! std::process::Command::new("kubectl").env("KUBECONFIG", server.kubeconfig()).args(["get", "pods"]);
//! ```

mod apply;
mod builtin;
mod clock;
pub mod crds;
mod discovery;
mod events;
mod exec;
mod faults;
mod logs;
mod patch;
mod protobuf;
mod resources;
mod routes;
mod selectors;
pub mod spark_operator;
mod status;
mod store;
mod watch;
pub mod workloads;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::server_thread::ServerThread;

pub use exec::{ExecReply, ExecRequest};
pub use faults::{Fault, FaultRule, RequestRecord};
pub use store::Store;

use routes::App;

/// Options of a [`FakeApiServer`] before it starts.
#[derive(Debug, Clone)]
pub struct FakeApiServerBuilder {
    watch_history: usize,
    bookmark_interval: Duration,
    crds: Vec<Value>,
    tls: bool,
    tokens: Vec<String>,
}

impl Default for FakeApiServerBuilder {
    fn default() -> Self {
        Self {
            watch_history: 1000,
            bookmark_interval: Duration::from_secs(60),
            crds: Vec::new(),
            tls: false,
            tokens: Vec::new(),
        }
    }
}

impl FakeApiServerBuilder {
    /// How many events the watch history keeps (default 1000); older resourceVersions get `410 Gone`.
    pub fn watch_history(mut self, events: usize) -> Self {
        self.watch_history = events;
        self
    }

    /// How often watches that allow bookmarks receive a `BOOKMARK` event (default 60 s, about
    /// what a real server does).
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_interval = every;
        self
    }

    /// Registers a CustomResourceDefinition before the server starts (see [`crds`]).
    pub fn crd(mut self, definition: Value) -> Self {
        self.crds.push(definition);
        self
    }

    /// Serves HTTPS with a throw-away self-signed certificate for `127.0.0.1` (made by
    /// `openssl`); the kubeconfig names it as the certificate authority.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request (`401 Unauthorized` otherwise,
    /// as a server without anonymous access); the kubeconfig carries the first token.
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Accepts the tokens of a kube-apiserver `--token-auth-file` (CSV lines
    /// `token,user,uid[,"groups"]`), so one file serves the fake and a real server.
    ///
    /// # Panics
    /// If the file cannot be read or a line has no token (the test cannot run).
    pub fn token_file(mut self, path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("fake API server: token file {}: {e}", path.display()));
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let token = line.split(',').next().unwrap_or_default().trim();
            assert!(
                !token.is_empty() && line.split(',').count() >= 3,
                "fake API server: token file {} line {}: expected token,user,uid[,\"groups\"]",
                path.display(),
                n + 1
            );
            self.tokens.push(token.into());
        }
        self
    }

    /// Binds `127.0.0.1:0`, starts serving, and writes a kubeconfig (namespace `default`).
    ///
    /// # Panics
    /// If no loopback port can be bound or the runtime cannot start (the test cannot run).
    pub fn start(self) -> FakeApiServer {
        let listener = crate::net::loopback_listener();
        listener
            .set_nonblocking(true)
            .expect("fake API server: non-blocking listener");
        let addr = listener
            .local_addr()
            .expect("fake API server: local address");
        let store = Arc::new(Store::new(self.watch_history));
        for crd in self.crds {
            store.apply_json(crd);
        }
        let (drop_watches, _) = tokio::sync::watch::channel(0);
        let app = Arc::new(App {
            store,
            addr,
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            exec_handlers: Mutex::new(Vec::new()),
            logs: Arc::default(),
            drop_watches,
            bookmark_interval: self.bookmark_interval,
            tokens: self.tokens.clone(),
        });
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let served = app.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-apiserver-{}", addr.port()))
            .spawn(move || serve(listener, served, shutdown_rx, handle_tx))
            .expect("fake API server: spawn thread");
        let runtime = handle_rx
            .recv()
            .expect("fake API server: runtime did not start");
        let dir = tempfile::tempdir().expect("fake API server: temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        let (url, certificate) = if self.tls {
            let identity = crate::tls::TlsIdentity::self_signed(dir.path());
            let front = crate::net::loopback_listener();
            let front_addr = front.local_addr().expect("fake API server: TLS address");
            runtime.spawn(crate::tls::relay(front, identity.acceptor(), addr));
            (format!("https://{front_addr}"), Some(identity.certificate))
        } else {
            (format!("http://{addr}"), None)
        };
        let server = FakeApiServer {
            app,
            url,
            certificate,
            runtime,
            kubeconfig,
            _dir: dir,
            server: ServerThread::new(shutdown, thread),
            after_failures: Arc::default(),
        };
        server
            .write_kubeconfig(&server.kubeconfig, "default")
            .expect("fake API server: write kubeconfig");
        server
    }
}

fn serve(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: oneshot::Receiver<()>,
    handle_tx: std::sync::mpsc::Sender<tokio::runtime::Handle>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("fake API server: tokio runtime: {e}");
            return;
        }
    };
    let _ = handle_tx.send(rt.handle().clone());
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("fake API server: listener: {e}");
                return;
            }
        };
        let router = axum::Router::new()
            .fallback(routes::dispatch)
            .with_state(app);
        tokio::select! {
            r = axum::serve(listener, router) => {
                if let Err(e) = r {
                    tracing::error!("fake API server stopped: {e}");
                }
            }
            _ = shutdown => {}
        }
    });
    rt.shutdown_background();
}

/// A running fake Kubernetes API server; stops on drop.
pub struct FakeApiServer {
    app: Arc<App>,
    url: String,
    certificate: Option<PathBuf>,
    runtime: tokio::runtime::Handle,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    server: ServerThread,
    after_failures: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FakeApiServer {
    /// Starts a server with default options.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// Options before starting.
    pub fn builder() -> FakeApiServerBuilder {
        FakeApiServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, or `https://…` with [`tls`](FakeApiServerBuilder::tls).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The certificate (PEM) clients must trust, with [`tls`](FakeApiServerBuilder::tls).
    pub fn certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// The loopback address of the plain HTTP listener (behind the TLS front when TLS is on).
    pub fn addr(&self) -> SocketAddr {
        self.app.addr
    }

    /// A kubeconfig file pointing at this server (context `fake`, namespace `default`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Writes a kubeconfig pointing at this server: cluster, user and context `fake`, with this
    /// default namespace (and the certificate authority and token when the server has them).
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> std::io::Result<()> {
        let authority = self
            .certificate
            .as_ref()
            .map(|c| format!("    certificate-authority: {}\n", c.display()))
            .unwrap_or_default();
        let user = match self.app.tokens.first() {
            Some(token) => format!("\n    token: {token}"),
            None => " {}".into(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n{authority}    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: fake\n  user:{user}\npreferences: {{}}\n",
            url = self.url
        );
        std::fs::write(path, text)
    }

    /// The object store (also handed to [`after`](Self::after) closures).
    pub fn store(&self) -> &Store {
        &self.app.store
    }

    /// Creates or replaces any object as given, `status` included (see [`Store::apply_json`]).
    pub fn apply_json(&self, object: Value) -> Value {
        self.app.store.apply_json(object)
    }

    /// An object, if it exists; `kind` may be the kind, plural, singular or a short name.
    pub fn get_json(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.app.store.get_json(api_version, kind, namespace, name)
    }

    /// Every object of a kind, in one namespace or all of them.
    pub fn list_json(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        self.app.store.list_json(api_version, kind, namespace)
    }

    /// Runs `change` on the store after `delay` (e.g. a pod becomes Ready at t=1s); watchers see
    /// the resulting events. If `change` panics, dropping the server panics with its message, so
    /// the test fails with the cause rather than a timeout.
    pub fn after(&self, delay: Duration, change: impl FnOnce(&Store) + Send + 'static) {
        let store = self.app.store.clone();
        let failures = self.after_failures.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change(&store)));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".into());
                failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(message);
            }
        });
    }

    /// Adds a fault; rules are tried in the order added, the first that hits answers.
    pub fn fault(&self, rule: FaultRule) {
        self.app
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rule);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.app
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Ends every open watch stream now (clients see the connection end and must re-watch).
    pub fn drop_watches(&self) {
        self.app.drop_watches.send_modify(|n| *n += 1);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.app
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Starts a simulated spark-operator (see [`spark_operator`]): every SparkApplication created
    /// from now on runs as `script` (given the application's name) says. Register
    /// [`crds::spark_application`] first.
    pub fn spark_operator(
        &self,
        script: impl Fn(&str) -> spark_operator::Script + Send + Sync + 'static,
    ) -> spark_operator::SparkOperator {
        spark_operator::start(&self.runtime, self.app.store.clone(), Box::new(script))
    }

    /// Scripts `pods/exec` for one pod: `reply` gets the request (command, container, stdin) and
    /// returns stdout, stderr and the exit code. A later registration for the same pod wins.
    pub fn exec_handler(
        &self,
        namespace: &str,
        pod: &str,
        reply: impl Fn(&ExecRequest) -> ExecReply + Send + Sync + 'static,
    ) {
        let mut handlers = self
            .app
            .exec_handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        handlers.retain(|(ns, p, _)| !(ns == namespace && p == pod));
        handlers.push((namespace.into(), pod.into(), Arc::new(reply)));
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.server.stop();
        let failures = std::mem::take(
            &mut *self
                .after_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !failures.is_empty() && !std::thread::panicking() {
            panic!(
                "fake API server: a change scheduled with `after` panicked: {}",
                failures.join("; ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmarks_come_about_once_a_minute_by_default() {
        assert_eq!(
            FakeApiServerBuilder::default().bookmark_interval,
            Duration::from_secs(60)
        );
    }
}
