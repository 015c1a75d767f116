//! A Docker-v2 token server for the registry's `auth.token` mode: anyone gets pull access,
//! whoever presents the registry's basic credentials gets every action asked for.
//!
//! Tokens are RS256 JWTs whose `x5c` header carries a self-signed certificate, the registry's
//! `rootcertbundle`. The key and certificate are made by `openssl` at start, and tokens are
//! signed with `openssl dgst`, so no key material lives in the repository.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use tokio::sync::oneshot;

use crate::server_thread::ServerThread;

/// The `service` (JWT audience) the registry expects.
pub(super) const SERVICE: &str = "fink-tools-test-registry";
/// The JWT issuer the registry trusts.
pub(super) const ISSUER: &str = "fink-tools-test-token-issuer";

/// One token request received by the token server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The authenticated user, `None` for an anonymous request.
    pub account: Option<String>,
    /// The `scope` parameters asked for (`repository:<name>:<actions>`).
    pub scopes: Vec<String>,
}

struct TokenState {
    key: PathBuf,
    certificate_der_base64: String,
    credentials: (String, String),
    requests: Mutex<Vec<TokenRequest>>,
    /// Docker Hub's way: the registry's repository directory (filesystem storage), where anonymous
    /// requests get no access to a repository never pushed, so that the registry answers 401.
    hub_repositories: Option<PathBuf>,
}

/// A running token server; stops when dropped.
pub(super) struct TokenServer {
    addr: SocketAddr,
    certificate: PathBuf,
    state: Arc<TokenState>,
    _server: ServerThread,
}

impl TokenServer {
    /// Makes a key and certificate in `dir` and serves `GET /token` on 127.0.0.1. With
    /// `hub_repositories` (the registry's `…/docker/registry/v2/repositories`), anonymous requests
    /// get no access to a repository that has no manifest there, as on Docker Hub.
    pub(super) fn start(
        dir: &Path,
        credentials: (String, String),
        hub_repositories: Option<PathBuf>,
    ) -> TokenServer {
        let key = dir.join("token-key.pem");
        let certificate = dir.join("token-cert.pem");
        crate::tls::self_signed_certificate(
            &key,
            &certificate,
            &["-newkey", "rsa:2048", "-subj", "/CN=fink-tools-test-token"],
        );
        let pem = std::fs::read_to_string(&certificate).expect("reading the token certificate");
        let certificate_der_base64 = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let state = Arc::new(TokenState {
            key,
            certificate_der_base64,
            credentials,
            requests: Mutex::new(Vec::new()),
            hub_repositories,
        });

        let listener = crate::net::loopback_listener();
        listener
            .set_nonblocking(true)
            .expect("making the token listener non-blocking");
        let addr = listener.local_addr().expect("token server address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .with_state(Arc::clone(&state));
        let thread = std::thread::Builder::new()
            .name(format!("token-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("building the token server runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("registering the token listener");
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop.await;
                        })
                        .await;
                });
            })
            .expect("spawning the token server thread");
        TokenServer {
            addr,
            certificate,
            state,
            _server: ServerThread::new(shutdown, thread),
        }
    }

    /// The token server's socket address.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The realm URL the registry sends clients to.
    pub(super) fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The certificate that signs the tokens (the registry's `rootcertbundle`).
    pub(super) fn certificate(&self) -> &Path {
        &self.certificate
    }

    /// The requests received so far.
    pub(super) fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

async fn token(
    State(state): State<Arc<TokenState>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let account = match basic_user(&headers, &state.credentials) {
        Ok(account) => account,
        Err(()) => return (StatusCode::UNAUTHORIZED, "wrong credentials\n").into_response(),
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(name, _)| name == "scope")
        .map(|(_, value)| value.clone())
        .collect();
    state
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(TokenRequest {
            account: account.clone(),
            scopes: scopes.clone(),
        });
    let access: Vec<_> = scopes
        .iter()
        .filter(|scope| account.is_some() || pushed(&state, scope))
        .filter_map(|scope| grant(scope, account.is_some()))
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [state.certificate_der_base64]});
    let claims = json!({
        "iss": ISSUER,
        "sub": account.clone().unwrap_or_default(),
        "aud": SERVICE,
        "exp": now + 600,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", scopes.join(" ")),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = state.key.clone();
    let input = signing_input.clone();
    let signature = match tokio::task::spawn_blocking(move || sign(&key, input.as_bytes())).await {
        Ok(Ok(signature)) => signature,
        Ok(Err(err)) => return (StatusCode::INTERNAL_SERVER_ERROR, err).into_response(),
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    };
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    axum::Json(json!({"token": jwt, "access_token": jwt, "expires_in": 600})).into_response()
}

/// `Ok(Some(user))` for the right basic credentials, `Ok(None)` without any, `Err` for wrong ones.
fn basic_user(headers: &HeaderMap, credentials: &(String, String)) -> Result<Option<String>, ()> {
    let Some(value) = headers.get("authorization") else {
        return Ok(None);
    };
    let encoded = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Basic "))
        .ok_or(())?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    match decoded.split_once(':') {
        Some((user, password)) if user == credentials.0 && password == credentials.1 => {
            Ok(Some(user.to_owned()))
        }
        _ => Err(()),
    }
}

/// Whether the repository of `repository:<name>:<actions>` may be granted anonymously: always,
/// except in Docker Hub's way, where it must have been pushed (have a manifest).
fn pushed(state: &TokenState, scope: &str) -> bool {
    let Some(repositories) = &state.hub_repositories else {
        return true;
    };
    scope
        .split_once(':')
        .and_then(|(_, rest)| rest.rsplit_once(':'))
        .is_some_and(|(name, _)| {
            !name.split('/').any(|part| part.is_empty() || part == "..")
                && repositories.join(name).join("_manifests").is_dir()
        })
}

/// The access entry granted for `repository:<name>:<actions>`: everything asked for when
/// authenticated, only `pull` when anonymous.
fn grant(scope: &str, authenticated: bool) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions
        .split(',')
        .filter(|action| authenticated || *action == "pull")
        .collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

/// RSA PKCS#1 v1.5 SHA-256 signature of `input` with the PEM key at `key`.
fn sign(key: &Path, input: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("running openssl dgst: {err}"))?;
    child
        .stdin
        .take()
        .ok_or("openssl stdin")?
        .write_all(input)
        .map_err(|err| err.to_string())?;
    let output = child.wait_with_output().map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
