//! git over `http://` and `https://` for libgit2, through reqwest (rustls with the workspace's one
//! provider). libgit2 is built without OpenSSL: ciux links one TLS stack, needs no OpenSSL headers to
//! build, and does not parse the system's CA bundle at start-up unless it talks https.
//!
//! The smart HTTP protocol is two requests: `GET <repo>/info/refs?service=git-upload-pack` (the ref
//! advertisement) and `POST <repo>/git-upload-pack` (negotiation and pack). libgit2 speaks the protocol;
//! this module carries its bytes. On `401` the credentials are, in order: the URL's user name and
//! password, `CIUX_GIT_TOKEN` then `GITHUB_TOKEN` (with the URL's user name, else `x-access-token`), then
//! git's credential helpers (`git credential fill`, never prompting; `approve`/`reject` afterwards, as git
//! does). The user info never reaches a request URL, so both requests of an operation authenticate
//! alike. Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. Secrets never reach logs or errors.

use std::ffi::c_int;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::process::{Cmd, Runner};
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::remote_url::redact;

/// Environment variables holding a token for git over https, first found wins.
const TOKEN_VARS: [&str; 2] = ["CIUX_GIT_TOKEN", "GITHUB_TOKEN"];

const ADVERTISEMENT: &str = "application/x-git-upload-pack-advertisement";
const REQUEST: &str = "application/x-git-upload-pack-request";
const RESULT: &str = "application/x-git-upload-pack-result";

/// Makes libgit2 use this module for `http://` and `https://` URLs, and bounds its own `git://` socket
/// reads and writes by `CIUX_GIT_TIMEOUT` (connections by 30 s), as [`client`] does for http. Every git
/// network operation of ciux calls it first; only the first call does the work.
pub(crate) fn register() -> Result<(), git2::Error> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let timeout = crate::timeout::from_env("CIUX_GIT_TIMEOUT", 300.0);
            let millis = |d: Duration| c_int::try_from(d.as_millis().max(1)).unwrap_or(c_int::MAX);
            // SAFETY: these set two libgit2 globals that are read when a socket stream is created. This
            // runs once, inside `get_or_init` (other callers wait for it), and every ciux operation that
            // can create a stream calls `register` first, so no stream is being created meanwhile.
            #[allow(unsafe_code)]
            unsafe {
                git2::opts::set_server_connect_timeout_in_milliseconds(millis(CONNECT_TIMEOUT))
                    .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(millis(timeout)))
                    .map_err(|e| e.message().to_string())?;
            }
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
        .map_err(|e| git2::Error::from_str(&format!("preparing git's network transports: {e}")))
}

/// How long a connection to a git server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client of all git requests. `CIUX_GIT_TIMEOUT` (seconds, default 300) bounds the wait for
/// an answer and for each read of it, not the whole transfer: a long clone that keeps streaming is fine,
/// a stalled server is an error. TCP keep-alive notices a peer that went away.
fn client() -> io::Result<&'static Client> {
    static CLIENT: OnceLock<Result<Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            common::tls::install_crypto_provider();
            Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_keepalive(Duration::from_secs(60))
                .timeout(crate::timeout::from_env("CIUX_GIT_TIMEOUT", 300.0))
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
        // The user info goes into the credential sources, never into the request URL: both requests of
        // the operation get it, and reqwest adds no header of its own.
        let (url, user_info) = split_user_info(url);
        let base = url.trim_end_matches('/');
        let request = match action {
            Service::UploadPackLs => PendingRequest {
                url: format!("{base}/info/refs?service=git-upload-pack"),
                repo: base.to_string(),
                user_info,
                advertisement: true,
            },
            Service::UploadPack => {
                let redirected = self.shared.lock().ok().and_then(|s| s.base.clone());
                let base = redirected.unwrap_or_else(|| base.to_string());
                PendingRequest {
                    url: format!("{base}/git-upload-pack"),
                    repo: base,
                    user_info,
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
    /// The repository URL (without user info), for messages and credential helpers.
    repo: String,
    /// The user name and password of the remote URL's user info.
    user_info: UserInfo,
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
        let mut sources = CredentialSources::new(&self.request.repo, &self.request.user_info);
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

/// Where credentials come from after a `401`, each asked once: the URL's user name and password, a
/// token from the environment (with the URL's user name, else `x-access-token`), git's credential
/// helpers (told the URL's user name).
struct CredentialSources {
    repo: String,
    user_info: UserInfo,
    url_tried: bool,
    token_tried: bool,
    helper_tried: bool,
}

impl CredentialSources {
    fn new(repo: &str, user_info: &UserInfo) -> Self {
        Self {
            repo: repo.to_string(),
            user_info: user_info.clone(),
            url_tried: false,
            token_tried: false,
            helper_tried: false,
        }
    }

    /// The next credentials to try, `None` when the sources are exhausted.
    fn next(&mut self) -> Option<Login> {
        if !self.url_tried {
            self.url_tried = true;
            if let UserInfo {
                user: Some(user),
                password: Some(password),
            } = &self.user_info
            {
                return Some(Login {
                    user: user.clone(),
                    password: password.clone(),
                    from_helper: false,
                });
            }
        }
        if !self.token_tried {
            self.token_tried = true;
            if let Some(token) = TOKEN_VARS
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            {
                return Some(Login {
                    user: (self.user_info.user.clone()).unwrap_or_else(|| "x-access-token".into()),
                    password: token,
                    from_helper: false,
                });
            }
        }
        if !self.helper_tried {
            self.helper_tried = true;
            return credential("fill", &self.repo, self.user_info.user.as_deref(), None);
        }
        None
    }

    fn accepted(&self, login: &Login) {
        if login.from_helper {
            credential("approve", &self.repo, None, Some(login));
        }
    }

    fn rejected(&self, login: &Login) {
        if login.from_helper {
            credential("reject", &self.repo, None, Some(login));
        }
    }
}

/// Runs `git credential <action>` for `repo` (never prompting), with the user name `user` or the one of
/// `login`. `fill` returns the credentials found.
fn credential(
    action: &str,
    repo: &str,
    user: Option<&str>,
    login: Option<&Login>,
) -> Option<Login> {
    let url = reqwest::Url::parse(repo).ok()?;
    let mut input = format!(
        "protocol={}\nhost={}{}\npath={}\n",
        url.scheme(),
        url.host_str()?,
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path().trim_start_matches('/'),
    );
    if let Some(user) = user {
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

/// The user name and password of a URL's user info (percent-decoded).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
struct UserInfo {
    user: Option<String>,
    password: Option<String>,
}

/// `url` without its user info, and the user info.
fn split_user_info(url: &str) -> (String, UserInfo) {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let info = UserInfo {
                user: Some(percent_decode(u.username())).filter(|s| !s.is_empty()),
                password: u.password().map(percent_decode).filter(|s| !s.is_empty()),
            };
            let _ = u.set_username("");
            let _ = u.set_password(None);
            (u.to_string(), info)
        }
        _ => (url.to_string(), UserInfo::default()),
    }
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_split_off() {
        let (url, info) = split_user_info("https://ci:s3%2Fcret@git.example/org/repo.git");
        assert_eq!(url, "https://git.example/org/repo.git");
        assert_eq!(
            info,
            UserInfo {
                user: Some("ci".into()),
                password: Some("s3/cret".into())
            }
        );
        let (url, info) = split_user_info("http://tok-user@127.0.0.1:8080/r");
        assert_eq!(url, "http://127.0.0.1:8080/r");
        assert_eq!(
            (info.user.as_deref(), info.password),
            (Some("tok-user"), None)
        );
        assert_eq!(
            split_user_info("https://git.example/r"),
            ("https://git.example/r".into(), UserInfo::default())
        );
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
