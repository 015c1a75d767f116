//! API servers that cannot be used, for the error paths of Kubernetes clients: a listener that
//! accepts connections and never answers (over plain HTTP, or after a completed TLS handshake),
//! a closed port, and a TLS server whose certificate the client does not trust.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::net::loopback_listener;
use crate::tls::{TlsIdentity, relay};

/// A loopback server that accepts every connection and never sends a byte. Stops on drop.
pub struct SilentServer {
    url: String,
    ca: Option<PathBuf>,
    _held: Arc<Mutex<Vec<TcpStream>>>,
    _tls: Option<(tokio::sync::oneshot::Sender<()>, tempfile::TempDir)>,
}

impl SilentServer {
    /// Silent over plain HTTP: `http://127.0.0.1:<port>`.
    pub fn plain() -> SilentServer {
        let (addr, held) = silent_listener();
        SilentServer {
            url: format!("http://{addr}"),
            ca: None,
            _held: held,
            _tls: None,
        }
    }

    /// Completes TLS handshakes (a certificate for 127.0.0.1, see [`SilentServer::ca`]), then
    /// never answers: `https://127.0.0.1:<port>`.
    pub fn tls() -> SilentServer {
        let (silent, held) = silent_listener();
        let dir = tempfile::tempdir().expect("temporary directory");
        let identity = TlsIdentity::self_signed(dir.path());
        let listener = loopback_listener();
        let url = format!(
            "https://{}",
            listener.local_addr().expect("listener address")
        );
        let acceptor = identity.acceptor();
        // The TLS front runs on its own thread and runtime (usable from async tests), until the
        // server is dropped.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("TLS front runtime");
            runtime.block_on(async {
                tokio::select! {
                    () = relay(listener, acceptor, silent) => {}
                    _ = stopped => {}
                }
            });
        });
        SilentServer {
            url,
            ca: Some(identity.certificate.clone()),
            _held: held,
            _tls: Some((stop, dir)),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The certificate to trust (TLS only).
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }
}

fn silent_listener() -> (SocketAddr, Arc<Mutex<Vec<TcpStream>>>) {
    let listener = loopback_listener();
    let addr = listener.local_addr().expect("listener address");
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::downgrade(&held);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Kept open, unread, until the server is dropped.
            match keep.upgrade() {
                Some(held) => held.lock().expect("held connections").push(stream),
                None => return,
            }
        }
    });
    (addr, held)
}

/// `http://127.0.0.1:<port>` where nothing listens (connections are refused).
pub fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A kubeconfig (context `test`, namespace `spark`) for `server`, trusting `ca` when given.
pub fn kubeconfig(server: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|path| format!("    certificate-authority: {}\n", path.display()))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n{ca}contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: spark\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n"
    )
}
