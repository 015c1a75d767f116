//! git over `http://` and `https://` for libgit2, through reqwest (rustls with the workspace's one
//! provider). libgit2 is built without OpenSSL: ciux links one TLS stack, needs no OpenSSL headers to
//! build, and does not parse the system's CA bundle at start-up unless it talks https.
//!
//! The smart HTTP protocol is two requests: `GET <repo>/info/refs?service=git-upload-pack` (the ref
//! advertisement) and `POST <repo>/git-upload-pack` (negotiation and pack). libgit2 speaks the protocol;
//! this module carries its bytes. On `401` the credentials are, in order: the URL's user info (sent by
//! reqwest), `CIUX_GIT_TOKEN` then `GITHUB_TOKEN` (user `x-access-token`), then git's credential helpers
//! (`git credential fill`, never prompting; `approve`/`reject` afterwards, as git does). Proxies come
//! from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. Secrets never reach logs or errors.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::process::{Cmd, Runner};
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

/// Environment variables holding a token for git over https, first found wins.
const TOKEN_VARS: [&str; 2] = ["CIUX_GIT_TOKEN", "GITHUB_TOKEN"];

const ADVERTISEMENT: &str = "application/x-git-upload-pack-advertisement";
const REQUEST: &str = "application/x-git-upload-pack-request";
const RESULT: &str = "application/x-git-upload-pack-result";

/// Makes libgit2 use this module for `http://` and `https://` URLs. Every git network operation of
/// ciux calls it first; only the first call registers.
pub fn register() -> Result<(), git2::Error> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for scheme in ["http", "https"] {
                // SAFETY: libgit2 requires registrations to be serialised with the creation of
                // transports. This runs once, inside `get_or_init` (other callers wait for it), and
                // every ciux operation that can create a transport calls `register` first.
                #[allow(unsafe_code)]
                let registered = unsafe {
                    git2::transport::register(scheme, |remote| {
                        Transport::smart(remote, true, HttpSubtransport::default())
                    })
                };
                registered.map_err(|e| e.message().to_string())?;
            }
            Ok(())
        })
        .clone()
        .map_err(|e| git2::Error::from_str(&format!("registering the git http transport: {e}")))
}

/// The HTTP client of all git requests. `CIUX_GIT_TIMEOUT` (seconds, default 300) bounds the wait for
/// an answer and for each read of it, not the whole transfer: a long clone that keeps streaming is fine,
/// a stalled server is an error. TCP keep-alive notices a peer that went away.
fn client() -> io::Result<&'static Client> {
    static CLIENT: OnceLock<Result<Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            common::tls::install_crypto_provider();
            Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .tcp_keepalive(Duration::from_secs(60))
                .timeout(crate::timeout_from_env("CIUX_GIT_TIMEOUT", 300.0))
                .user_agent(concat!("git/2.0 (ciux/", env!("CARGO_PKG_VERSION"), ")"))
                .build()
                .map_err(|e| format!("unable to create the git HTTP client: {e}"))
        })
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

/// A user name and password (or token) for one remote.
#[derive(Clone)]
struct Login {
    user: String,
    password: String,
    /// Given by a credential helper, which is told whether it worked.
    from_helper: bool,
}

/// Logins that worked, by origin (`scheme://host:port`): later requests to the same server send
/// them at once instead of waiting for a `401` (one round trip less per operation).
static LOGINS: Mutex<Vec<(String, Login)>> = Mutex::new(Vec::new());

fn origin(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

fn known_login(url: &str) -> Option<Login> {
    let origin = origin(url)?;
    let logins = LOGINS.lock().ok()?;
    logins
        .iter()
        .find(|(o, _)| *o == origin)
        .map(|(_, l)| l.clone())
}

fn remember_login(url: &str, login: Option<Login>) {
    let (Some(origin), Ok(mut logins)) = (origin(url), LOGINS.lock()) else {
        return;
    };
    logins.retain(|(o, _)| *o != origin);
    if let Some(login) = login {
        logins.push((origin, login));
    }
}

/// What the two requests of one remote operation share.
#[derive(Default)]
struct Shared {
    /// The repository URL after redirects of the advertisement.
    base: Option<String>,
}

#[derive(Default)]
struct HttpSubtransport {
    shared: Arc<Mutex<Shared>>,
}

impl SmartSubtransport for HttpSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let base = url.trim_end_matches('/');
        let request = match action {
            Service::UploadPackLs => PendingRequest {
                url: format!("{base}/info/refs?service=git-upload-pack"),
                repo: base.to_string(),
                advertisement: true,
            },
            Service::UploadPack => {
                let redirected = self.shared.lock().ok().and_then(|s| s.base.clone());
                let base = redirected.unwrap_or_else(|| base.to_string());
                PendingRequest {
                    url: format!("{base}/git-upload-pack"),
                    repo: base,
                    advertisement: false,
                }
            }
            Service::ReceivePackLs | Service::ReceivePack => {
                return Err(git2::Error::from_str("ciux does not push over http"));
            }
        };
        Ok(Box::new(HttpStream {
            request,
            body: Vec::new(),
            response: None,
            shared: Arc::clone(&self.shared),
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

struct PendingRequest {
    url: String,
    /// The repository URL, for messages and credential helpers.
    repo: String,
    /// `GET …/info/refs` (else `POST …/git-upload-pack`).
    advertisement: bool,
}

/// One request: what libgit2 writes is the body, sent when it first reads the answer.
struct HttpStream {
    request: PendingRequest,
    body: Vec<u8>,
    response: Option<Response>,
    shared: Arc<Mutex<Shared>>,
}

impl Write for HttpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        match &mut self.response {
            Some(response) => response.read(buf),
            None => Ok(0),
        }
    }
}

impl HttpStream {
    /// Sends the request, answering `401` with the next source of credentials.
    fn send(&mut self) -> io::Result<Response> {
        // Credentials that worked for this server go at once; otherwise none are sent until the
        // server asks.
        let mut login = known_login(&self.request.url);
        let mut sources = CredentialSources::new(&self.request.repo);
        let mut tried_any = login.is_some();
        loop {
            let response = self.attempt(login.as_ref())?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                if let Some(failed) = &login {
                    sources.rejected(failed);
                }
                login = sources.next();
                if login.is_none() {
                    let what = if tried_any {
                        "refused the credentials"
                    } else {
                        "needs credentials"
                    };
                    return Err(io::Error::other(format!(
                        "{} {what} (HTTP 401): set CIUX_GIT_TOKEN or configure a git credential helper",
                        redact(&self.request.repo)
                    )));
                }
                tried_any = true;
                continue;
            }
            if !status.is_success() {
                return Err(io::Error::other(format!(
                    "{} answered HTTP {status}{}",
                    redact(&self.request.url),
                    if status == StatusCode::NOT_FOUND {
                        " (no such repository?)"
                    } else {
                        ""
                    }
                )));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let expected = if self.request.advertisement {
                ADVERTISEMENT
            } else {
                RESULT
            };
            if !content_type.starts_with(expected) {
                return Err(io::Error::other(format!(
                    "{} is not a smart git HTTP server (content type {content_type:?}, expected {expected})",
                    redact(&self.request.repo)
                )));
            }
            if let Some(l) = &login {
                sources.accepted(l);
            }
            remember_login(&self.request.url, login);
            if self.request.advertisement
                && let Ok(mut shared) = self.shared.lock()
            {
                shared.base = response
                    .url()
                    .as_str()
                    .split_once("/info/refs?")
                    .map(|(base, _)| base.to_string());
            }
            return Ok(response);
        }
    }

    fn attempt(&self, login: Option<&Login>) -> io::Result<Response> {
        let client = client()?;
        let mut request = if self.request.advertisement {
            client.get(&self.request.url).header(ACCEPT, ADVERTISEMENT)
        } else {
            client
                .post(&self.request.url)
                .header(ACCEPT, RESULT)
                .header(CONTENT_TYPE, REQUEST)
                .body(self.body.clone())
        };
        if let Some(l) = login {
            request = request.basic_auth(&l.user, Some(&l.password));
        }
        request.send().map_err(|e| {
            let e = e.without_url();
            let mut message = format!("{}: {e}", redact(&self.request.url));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            io::Error::other(message)
        })
    }
}

/// Where credentials come from after a `401`: each source is asked once.
struct CredentialSources {
    repo: String,
    token_tried: bool,
    helper_tried: bool,
}

impl CredentialSources {
    fn new(repo: &str) -> Self {
        Self {
            repo: repo.to_string(),
            token_tried: false,
            helper_tried: false,
        }
    }

    /// The next credentials to try, `None` when the sources are exhausted.
    fn next(&mut self) -> Option<Login> {
        if !self.token_tried {
            self.token_tried = true;
            if let Some(token) = TOKEN_VARS
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            {
                return Some(Login {
                    user: url_user(&self.repo).unwrap_or_else(|| "x-access-token".into()),
                    password: token,
                    from_helper: false,
                });
            }
        }
        if !self.helper_tried {
            self.helper_tried = true;
            return credential("fill", &self.repo, None);
        }
        None
    }

    fn accepted(&self, login: &Login) {
        if login.from_helper {
            credential("approve", &self.repo, Some(login));
        }
    }

    fn rejected(&self, login: &Login) {
        if login.from_helper {
            credential("reject", &self.repo, Some(login));
        }
    }
}

/// Runs `git credential <action>` for `repo` (never prompting). `fill` returns the credentials found.
fn credential(action: &str, repo: &str, login: Option<&Login>) -> Option<Login> {
    let url = reqwest::Url::parse(repo).ok()?;
    let mut input = format!(
        "protocol={}\nhost={}{}\npath={}\n",
        url.scheme(),
        url.host_str()?,
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path().trim_start_matches('/'),
    );
    if let Some(user) = url_user(repo) {
        input.push_str(&format!("username={user}\n"));
    }
    let mut cmd = Cmd::new("git")
        .args(["credential", action])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never");
    if let Some(l) = login {
        input.push_str(&format!("username={}\npassword={}\n", l.user, l.password));
        cmd = cmd.secret(l.password.clone());
    }
    input.push('\n');
    let output = Runner::new(false).probe(&cmd.stdin_bytes(input)).ok()?;
    if action != "fill" || !output.status.success() {
        return None;
    }
    let text = output.stdout_str();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(Login {
        user: field("username")?,
        password: field("password")?,
        from_helper: true,
    })
}

/// The user name in a URL's user info, if any.
fn url_user(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .map(|u| u.username().to_string())
        .filter(|u| !u.is_empty())
}

/// `url` without its user info, for messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact("https://ci:s3cret@git.example/org/repo.git"),
            "https://git.example/org/repo.git"
        );
        assert_eq!(
            redact("git://127.0.0.1/repo.git"),
            "git://127.0.0.1/repo.git"
        );
        assert_eq!(url_user("https://ci@git.example/r").as_deref(), Some("ci"));
        assert_eq!(url_user("https://git.example/r"), None);
    }
}
