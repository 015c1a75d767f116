//! Git over smart HTTP on loopback: `git http-backend` run as a CGI program for each request, with
//! optional basic authentication and optional TLS (a self-signed certificate made by `openssl` at
//! start, whose PEM file a client trusts through `SSL_CERT_FILE`).
//!
//! ```no_run
//! use harness::git_http::GitHttpServer;
//! let root = tempfile::tempdir().unwrap(); // holds `dep.git`
//! let server = GitHttpServer::builder().basic_auth("ci", "s3cret").tls().serve(root.path());
//! let url = server.url("dep.git"); // https://127.0.0.1:PORT/dep.git
//! let trust = server.certificate().unwrap(); // for SSL_CERT_FILE
//! assert_eq!(server.requests().len(), 0);
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::sync::oneshot;

use crate::server_thread::ServerThread;

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The user name of the `Authorization` header, if one was sent (never the password).
    pub user: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// Options of a [`GitHttpServer`].
#[derive(Default)]
pub struct GitHttpServerBuilder {
    login: Option<(String, String)>,
    tls: bool,
}

impl GitHttpServerBuilder {
    /// Requires these credentials (basic authentication) for every request.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.login = Some((user.to_string(), password.to_string()));
        self
    }

    /// Serves https with a self-signed certificate for `127.0.0.1` (needs `openssl`).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serves every repository under `root` (bare `name.git` directories).
    pub fn serve(self, root: &Path) -> GitHttpServer {
        let dir = tempfile::tempdir().expect("git http server: temporary directory");
        let tls = self
            .tls
            .then(|| crate::tls::TlsIdentity::self_signed(dir.path()));
        let state = Arc::new(ServerState {
            root: root.to_owned(),
            login: self.login,
            requests: Mutex::new(Vec::new()),
        });
        let listener = crate::net::loopback_listener();
        listener
            .set_nonblocking(true)
            .expect("git http server: non-blocking listener");
        let inner = listener.local_addr().expect("git http server: address");
        // With TLS, clients connect to a TLS front that relays to the plain server.
        let front = tls
            .as_ref()
            .map(|t| (crate::net::loopback_listener(), t.acceptor()));
        let addr = front.as_ref().map_or(inner, |(l, _)| {
            l.local_addr().expect("git http server: TLS address")
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("git-http-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("git http server: runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("git http server: listener");
                    let server = async {
                        let _ = axum::serve(listener, app).await;
                    };
                    let relay = async {
                        match front {
                            Some((listener, acceptor)) => {
                                crate::tls::relay(listener, acceptor, inner).await;
                            }
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = server => {}
                        () = relay => {}
                        _ = stop => {}
                    }
                });
            })
            .expect("git http server: thread");
        GitHttpServer {
            addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            certificate: tls.map(|t| t.certificate),
            state,
            _server: ServerThread::new(shutdown, thread),
            _dir: dir,
        }
    }
}

/// A running smart-HTTP git server; stopped on drop.
pub struct GitHttpServer {
    addr: SocketAddr,
    scheme: &'static str,
    certificate: Option<PathBuf>,
    state: Arc<ServerState>,
    _server: ServerThread,
    _dir: tempfile::TempDir,
}

impl GitHttpServer {
    /// Options before serving.
    pub fn builder() -> GitHttpServerBuilder {
        GitHttpServerBuilder::default()
    }

    /// `http(s)://127.0.0.1:PORT/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("{}://{}/{name}", self.scheme, self.addr)
    }

    /// The server certificate (PEM) when serving https.
    pub fn certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<GitHttpRequest> {
        self.state
            .requests
            .lock()
            .expect("git http server: request log")
            .clone()
    }
}

struct ServerState {
    root: PathBuf,
    login: Option<(String, String)>,
    requests: Mutex<Vec<GitHttpRequest>>,
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sent = basic_credentials(&headers);
    let authorized = match &state.login {
        None => true,
        Some(expected) => sent.as_ref() == Some(expected),
    };
    let response = if authorized {
        let state = Arc::clone(&state);
        let (method, uri, headers) = (method.clone(), uri.clone(), headers.clone());
        tokio::task::spawn_blocking(move || {
            http_backend(&state.root, &method, &uri, &headers, &body)
        })
        .await
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response())
    } else {
        let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        response
    };
    state
        .requests
        .lock()
        .expect("git http server: request log")
        .push(GitHttpRequest {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            user: sent.map(|(user, _)| user),
            status: response.status().as_u16(),
        });
    response
}

/// The user and password of a basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Runs `git http-backend` as a CGI program for one request.
fn http_backend(
    root: &Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let output = child.and_then(|mut child| {
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, body)?;
        }
        child.wait_with_output()
    });
    match output {
        Ok(output) => cgi_response(&output.stdout),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("git http-backend: {e}\n"),
        )
            .into_response(),
    }
}

/// Turns a CGI program's output (headers, blank line, body) into a response.
fn cgi_response(output: &[u8]) -> Response {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            output
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let Some((end, body_start)) = split else {
        return (StatusCode::BAD_GATEWAY, "no CGI headers\n").into_response();
    };
    let mut response = Response::new(axum::body::Body::from(output[body_start..].to_vec()));
    for line in String::from_utf8_lossy(&output[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            if let Some(code) = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                *response.status_mut() = code;
            }
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
