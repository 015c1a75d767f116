//! A release-download server on loopback HTTP: static files, their checksum files, redirects and
//! fault modes, with a log of the requests it received.
//!
//! It runs on its own thread with its own tokio runtime, so sync tests (assert_cmd) and async
//! tests use it the same way. It speaks a minimal HTTP/1.1 by hand (one request per connection,
//! `Connection: close`) so that faults such as a body shorter than its `Content-Length` are exact.
//!
//! ```no_run
//! use harness::release::{Fault, ReleaseServer};
//! let server = ReleaseServer::start();
//! server.add_file("/kind/v0.31.0/kind-linux-amd64", b"binary".to_vec());
//! server.redirect("/latest/kind", "/kind/v0.31.0/kind-linux-amd64");
//! server.fault("/broken", Fault::Truncated);
//! let url = server.url("/kind/v0.31.0/kind-linux-amd64.sha256sum");
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::server_thread::ServerThread;

/// How a path misbehaves instead of being served normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 404 even if the file exists.
    NotFound,
    /// Answer with this status code and an empty body.
    Status(u16),
    /// Advertise the full `Content-Length`, send only the first half of the body, close.
    Truncated,
    /// The path's `.sha256` and `.sha256sum` files carry the digest of different content.
    WrongChecksum,
    /// Send the headers at once and the body only after this delay.
    Slow(Duration),
    /// Send headers without `Content-Length` and a body of zeros that never ends (until the client
    /// hangs up).
    Endless,
}

/// Where [`ReleaseServer::publish_tool`] lists the latest version of each tool.
pub const LATEST: &str = "/latest/download/latest.txt";

/// A release archive shaped like those of `cargo xtask dist`: `<tool>-<version>-<target>/<tool>`
/// (mode 0755, `binary`) and a README, gzip-compressed.
pub fn tool_archive(tool: &str, version: &str, target: &str, binary: &[u8]) -> Vec<u8> {
    use crate::archive::{Entry, tar_gz};
    let stem = format!("{tool}-{version}-{target}");
    let binary_path = format!("{stem}/{tool}");
    let readme_path = format!("{stem}/README.md");
    let readme = format!("# {tool}\n");
    tar_gz(&[
        Entry {
            path: &binary_path,
            content: binary,
            mode: 0o755,
        },
        Entry {
            path: &readme_path,
            content: readme.as_bytes(),
            mode: 0o644,
        },
    ])
}

/// A stand-in executable for a released tool: a shell script whose `--version` prints
/// `<tool> <version>` as the real tools do (clap's format).
pub fn fake_tool_binary(tool: &str, version: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho '{tool} {version}'\n").into_bytes()
}

/// The sha256 digest of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, Fault>,
    redirects: HashMap<String, String>,
    requests: Vec<String>,
}

/// A running release server; stops when dropped.
pub struct ReleaseServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: ServerThread,
}

impl ReleaseServer {
    /// Starts a server on 127.0.0.1 with a free port, serving nothing yet.
    pub fn start() -> ReleaseServer {
        let listener = crate::net::loopback_listener();
        listener
            .set_nonblocking(true)
            .expect("making the release server's listener non-blocking");
        let addr = listener.local_addr().expect("release server address");
        let state = Arc::new(Mutex::new(State::default()));
        let (shutdown, stop) = oneshot::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("release-server-{}", addr.port()))
            .spawn(move || serve(listener, thread_state, stop))
            .expect("spawning the release server thread");
        ReleaseServer {
            addr,
            state,
            _server: ServerThread::new(shutdown, thread),
        }
    }

    /// Serves `bytes` at `path` (which starts with `/`), and with them `<path>.sha256` (the bare
    /// hex digest, as dl.k8s.io publishes it) and `<path>.sha256sum` (`<hex>  <file name>\n`, as
    /// GitHub releases of kind, helm and cilium publish it). A file added explicitly under one of
    /// those names replaces the generated one.
    pub fn add_file(&self, path: &str, bytes: impl Into<Vec<u8>>) -> &Self {
        self.lock().files.insert(path.to_owned(), bytes.into());
        self
    }

    /// Makes `path` misbehave (see [`Fault`]); the fault applies to every later request.
    pub fn fault(&self, path: &str, fault: Fault) -> &Self {
        self.lock().faults.insert(path.to_owned(), fault);
        self
    }

    /// Removes the fault of `path`, which is then served normally again.
    pub fn clear_fault(&self, path: &str) -> &Self {
        self.lock().faults.remove(path);
        self
    }

    /// Answers `from` with `302 Found` and `Location: <to>`, as GitHub release downloads do.
    /// `to` is a path on this server or an absolute `http://` URL (e.g. another server).
    pub fn redirect(&self, from: &str, to: &str) -> &Self {
        let location = if to.starts_with("http://") || to.starts_with("https://") {
            to.to_owned()
        } else {
            self.url(to)
        };
        self.lock().redirects.insert(from.to_owned(), location);
        self
    }

    /// Publishes Argo Workflows v3.5.2 as its GitHub release does, at ktbx's download paths:
    /// `install.yaml` (`manifest`) and the gzip-compressed `argo` CLI for linux-amd64 (a script that
    /// prints `argo: v3.5.2`).
    pub fn publish_argo_workflows(&self, manifest: &str) -> &Self {
        let release = "/argoproj/argo-workflows/releases/download/v3.5.2";
        self.add_file(&format!("{release}/install.yaml"), manifest);
        self.add_file(
            &format!("{release}/argo-linux-amd64.gz"),
            crate::archive::gzip(b"#!/bin/sh\necho 'argo: v3.5.2'\n"),
        )
    }

    /// Publishes `tool` `version` for `target` whose binary is [`fake_tool_binary`] (a script that
    /// prints `<tool> <version>`), through [`Self::publish_tool`].
    pub fn publish_fake_tool(&self, tool: &str, version: &str, target: &str) -> String {
        let binary = fake_tool_binary(tool, version);
        self.publish_tool(
            tool,
            version,
            target,
            tool_archive(tool, version, target, &binary),
        )
    }

    /// Publishes a release of a fink-tools tool as `release.yml` does, with this server's root as
    /// `FINK_TOOLS_BASE_URL`: the archive at `/download/<tool>-v<version>/<tool>-<version>-<target>.tar.gz`,
    /// its `.sha256` (`<hex>  <file name>`, as `cargo xtask dist` writes it), and, unless the version
    /// is a pre-release, the tool's line `<tool> <version>` in `/latest/download/latest.txt` (what
    /// GitHub serves from the latest release). Returns the archive's path.
    pub fn publish_tool(
        &self,
        tool: &str,
        version: &str,
        target: &str,
        archive: Vec<u8>,
    ) -> String {
        let name = format!("{tool}-{version}-{target}.tar.gz");
        let path = format!("/download/{tool}-v{version}/{name}");
        let sum = format!("{}  {name}\n", sha256_hex(&archive));
        let mut state = self.lock();
        state.files.insert(path.clone(), archive);
        state
            .files
            .insert(format!("{path}.sha256"), sum.into_bytes());
        if !version.contains('-') {
            let old = state.files.get(LATEST).cloned().unwrap_or_default();
            let mut lines: Vec<String> = String::from_utf8_lossy(&old)
                .lines()
                .filter(|line| line.split_whitespace().next() != Some(tool))
                .map(str::to_owned)
                .collect();
            lines.push(format!("{tool} {version}"));
            lines.sort();
            state.files.insert(
                LATEST.to_owned(),
                format!("{}\n", lines.join("\n")).into_bytes(),
            );
        }
        path
    }

    /// The URL of `path` on this server: `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request targets (path and query) received so far, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the release server's runtime");
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("registering the release listener");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(handle(stream, Arc::clone(&state)));
                    }
                }
            }
        }
    });
    // Dropping the runtime cancels connections still in flight (slow bodies).
}

/// What to send back for one request.
enum Answer {
    Body {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    Redirect(String),
    Truncated(Vec<u8>),
    Slow(Vec<u8>, Duration),
    Endless,
}

async fn handle(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some((method, target)) = read_request_head(&mut stream).await else {
        return;
    };
    let answer = {
        let mut state = lock(&state);
        state.requests.push(target.clone());
        let path = target.split('?').next().unwrap_or_default();
        if method == "GET" || method == "HEAD" {
            answer(&state, path)
        } else {
            Answer::Body {
                status: 405,
                content_type: "text/plain",
                body: b"method not allowed\n".to_vec(),
            }
        }
    };
    let head_only = method == "HEAD";
    let _ = write_answer(&mut stream, answer, head_only).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the end of the request head; returns the method and the request target.
async fn read_request_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next()?.split_whitespace();
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

fn answer(state: &State, path: &str) -> Answer {
    if let Some(location) = state.redirects.get(path) {
        return Answer::Redirect(location.clone());
    }
    let fault = state.faults.get(path).copied();
    match fault {
        Some(Fault::NotFound) => return not_found(),
        Some(Fault::Status(status)) => {
            return Answer::Body {
                status,
                content_type: "text/plain",
                body: Vec::new(),
            };
        }
        _ => {}
    }
    let Some((content_type, body)) = content(state, path) else {
        return not_found();
    };
    match fault {
        Some(Fault::Truncated) => Answer::Truncated(body),
        Some(Fault::Slow(delay)) => Answer::Slow(body, delay),
        Some(Fault::Endless) => Answer::Endless,
        _ => Answer::Body {
            status: 200,
            content_type,
            body,
        },
    }
}

fn not_found() -> Answer {
    Answer::Body {
        status: 404,
        content_type: "text/plain",
        body: b"404 page not found\n".to_vec(),
    }
}

/// A stored file, or a checksum file generated from one.
fn content(state: &State, path: &str) -> Option<(&'static str, Vec<u8>)> {
    if let Some(bytes) = state.files.get(path) {
        return Some(("application/octet-stream", bytes.clone()));
    }
    let (file_path, sum_line) = if let Some(file_path) = path.strip_suffix(".sha256sum") {
        (file_path, true)
    } else {
        (path.strip_suffix(".sha256")?, false)
    };
    let bytes = state.files.get(file_path)?;
    let digest = if state.faults.get(file_path) == Some(&Fault::WrongChecksum) {
        sha256_hex(&[bytes.as_slice(), b" but not quite"].concat())
    } else {
        sha256_hex(bytes)
    };
    let text = if sum_line {
        let name = file_path.rsplit('/').next().unwrap_or(file_path);
        format!("{digest}  {name}\n")
    } else {
        digest
    };
    Some(("text/plain", text.into_bytes()))
}

async fn write_answer(
    stream: &mut TcpStream,
    answer: Answer,
    head_only: bool,
) -> std::io::Result<()> {
    match answer {
        Answer::Body {
            status,
            content_type,
            body,
        } => {
            stream
                .write_all(&head(status, content_type, body.len(), None))
                .await?;
            if !head_only {
                stream.write_all(&body).await?;
            }
        }
        Answer::Redirect(location) => {
            stream
                .write_all(&head(302, "text/plain", 0, Some(&location)))
                .await?;
        }
        Answer::Truncated(body) => {
            stream
                .write_all(&head(200, "application/octet-stream", body.len(), None))
                .await?;
            if !head_only {
                stream.write_all(&body[..body.len() / 2]).await?;
            }
        }
        Answer::Endless => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
                .await?;
            let zeros = vec![0u8; 64 * 1024];
            if !head_only {
                loop {
                    stream.write_all(&zeros).await?;
                }
            }
        }
        Answer::Slow(body, delay) => {
            stream
                .write_all(&head(200, "application/octet-stream", body.len(), None))
                .await?;
            stream.flush().await?;
            if !head_only {
                tokio::time::sleep(delay).await;
                stream.write_all(&body).await?;
            }
        }
    }
    stream.flush().await
}

fn head(status: u16, content_type: &str, length: usize, location: Option<&str>) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n"
    );
    if let Some(location) = location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}
