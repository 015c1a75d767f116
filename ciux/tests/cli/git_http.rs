//! Dependencies over smart HTTP (`git http-backend` behind the harness server): https with a token,
//! plain http with git's credential helpers, and the failures a user must be able to act on.

use harness::git_http::{GitHttpRequest, GitHttpServer};
use predicates::prelude::*;

use crate::support::{Registry, Repo, ciux};

/// A bare `dep.git` (one tagged commit) under a served root, and a project depending on it.
struct World {
    dir: tempfile::TempDir,
    project: Repo,
    dep: Repo,
    _registry: Registry,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let dep = Repo::init(&dir.path().join("upstream/dep"));
        dep.commit("c1", &[("f", "1")]);
        dep.annotated("v1.0.0");
        dep.git(&["clone", "-q", "--bare", ".", "../../served/dep.git"]);
        let project = Repo::init(&dir.path().join("work/proj"));
        World {
            dir,
            project,
            dep,
            _registry: Registry::start(),
        }
    }

    fn served(&self) -> std::path::PathBuf {
        self.dir.path().join("served")
    }

    /// Points the project's `.ciux` at `url` (cloned).
    fn depend_on(&self, url: &str) {
        self.project.commit(
            "ciux",
            &[(
                ".ciux",
                &format!(
                    "registry: {}/x\ndependencies:\n  - url: {url}\n    clone: true\n",
                    self._registry.host()
                ),
            )],
        );
    }

    fn ignite(&self) -> assert_cmd::Command {
        let mut c = ciux();
        c.env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["ignite"])
            .arg(&self.project.dir);
        c
    }

    fn env_file(&self) -> String {
        std::fs::read_to_string(self.project.dir.join(".ciux.d/ciux_project_core.sh")).unwrap()
    }
}

fn request(method: &str, path: &str, user: Option<&str>, status: u16) -> GitHttpRequest {
    GitHttpRequest {
        method: method.into(),
        path: path.into(),
        user: user.map(Into::into),
        status,
    }
}

/// https with `CIUX_GIT_TOKEN`: no credentials until the server asks, then the token (user
/// `x-access-token`) for the listing, the clone and, warm, the listing alone.
#[test]
fn https_dependency_with_a_token() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("x-access-token", "tok-123")
        .tls()
        .serve(&w.served());
    w.depend_on(&server.url("dep.git"));
    let trust = server.certificate().unwrap();
    let out = w
        .ignite()
        .env("CIUX_GIT_TOKEN", "tok-123")
        .env("SSL_CERT_FILE", trust)
        .assert()
        .success();
    let output = out.get_output();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!printed.contains("tok-123"), "{printed}");
    assert!(
        w.env_file().contains("export DEP_VERSION=v1.0.0\n"),
        "{}",
        w.env_file()
    );
    let ls = "/dep.git/info/refs?service=git-upload-pack";
    let token = Some("x-access-token");
    let cold = server.requests();
    assert_eq!(
        cold[..2],
        [
            request("GET", ls, None, 401),
            request("GET", ls, token, 200)
        ]
    );
    assert!(
        cold[2..]
            .iter()
            .any(|r| r.path.ends_with("/git-upload-pack") && r.method == "POST"),
        "{cold:?}"
    );
    assert!(
        cold[2..]
            .iter()
            .all(|r| r.user.as_deref() == token && r.status == 200)
    );

    w.ignite()
        .env("CIUX_GIT_TOKEN", "tok-123")
        .env("SSL_CERT_FILE", trust)
        .assert()
        .success();
    assert_eq!(
        server.requests()[cold.len()..],
        [
            request("GET", ls, None, 401),
            request("GET", ls, token, 200)
        ],
        "warm: the listing only"
    );

    // A new upstream commit is fetched over the same path.
    let c2 = w.dep.commit("c2", &[("f", "2")]);
    w.dep.git(&["push", "-q", "../../served/dep.git", "master"]);
    w.ignite()
        .env("CIUX_GIT_TOKEN", "tok-123")
        .env("SSL_CERT_FILE", trust)
        .assert()
        .success();
    assert!(
        w.env_file()
            .contains(&format!("export DEP_VERSION=v1.0.0-1-g{}\n", &c2[..7])),
        "{}",
        w.env_file()
    );
}

/// Without the server's certificate in the trust store, the TLS failure is reported.
#[test]
fn https_with_an_untrusted_certificate_fails_clearly() {
    let w = World::new();
    let server = GitHttpServer::builder().tls().serve(&w.served());
    w.depend_on(&server.url("dep.git"));
    w.ignite()
        .env("SSL_CERT_FILE", "/dev/null")
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "unable to list the branches of {}",
            server.url("dep.git")
        )))
        .stderr(predicate::str::contains("certificate"));
}

/// Plain http with git's credential helper (`store`): the helper's login is used, and a login the
/// server refuses is rejected (removed from the store), as git does.
#[test]
fn http_dependency_with_a_credential_helper() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("ci", "s3cret")
        .serve(&w.served());
    let url = server.url("dep.git");
    w.depend_on(&url);
    let store = w.dir.path().join("git-credentials");
    std::fs::write(
        w.dir.path().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = store --file={}\n",
            store.display()
        ),
    )
    .unwrap();
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    std::fs::write(&store, format!("http://ci:s3cret@{host}\n")).unwrap();
    w.ignite().assert().success();
    assert!(w.env_file().contains("export DEP_VERSION=v1.0.0\n"));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.user.as_deref() == Some("ci"))
    );

    std::fs::write(&store, format!("http://ci:wrong@{host}\n")).unwrap();
    std::fs::remove_dir_all(w.dir.path().join("work/dep")).unwrap();
    w.ignite()
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{url} refused the credentials (HTTP 401): set CIUX_GIT_TOKEN or configure a git credential helper"
        )))
        .stderr(predicate::str::contains("wrong").not());
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        "",
        "the refused login is rejected"
    );
}

/// No credentials at all, and a repository the server does not have.
#[test]
fn http_errors_name_the_remote_and_the_fix() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("ci", "s3cret")
        .serve(&w.served());
    w.depend_on(&server.url("dep.git"));
    w.ignite()
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{} needs credentials (HTTP 401): set CIUX_GIT_TOKEN or configure a git credential helper",
            server.url("dep.git")
        )));

    let open = GitHttpServer::builder().serve(&w.served());
    w.depend_on(&open.url("missing.git"));
    w.ignite()
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "unable to list the branches of {}",
            open.url("missing.git")
        )))
        .stderr(predicate::str::contains(
            "HTTP 404 Not Found (no such repository?)",
        ));
}

/// A server that accepts the connection and never answers fails after `CIUX_GIT_TIMEOUT`.
#[test]
fn a_silent_http_remote_times_out() {
    let w = World::new();
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/dep.git", silent.local_addr().unwrap());
    w.depend_on(&url);
    let started = std::time::Instant::now();
    w.ignite()
        .env("CIUX_GIT_TIMEOUT", "1")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "unable to list the branches of {url}"
        )))
        .stderr(predicate::str::contains("timed out"));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// Credentials in the URL authenticate the clone too (the pack request used to go without them), and
/// are never printed.
#[test]
fn url_credentials_are_sent_with_the_clone() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("ci", "s3cret")
        .serve(&w.served());
    w.depend_on(
        &server
            .url("dep.git")
            .replacen("http://", "http://ci:s3cret@", 1),
    );
    let out = w.ignite().args(["-v", "2"]).output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(w.env_file().contains("export DEP_VERSION=v1.0.0\n"));
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.user.as_deref() == Some("ci") && r.status == 200),
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| r.status == 200 || r.user.is_none()));
}

/// `CIUX_GIT_TOKEN` goes with the user the URL names (it used to be sent with an empty password).
#[test]
fn a_token_goes_with_the_user_named_in_the_url() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("tok-user", "tok-123")
        .serve(&w.served());
    w.depend_on(
        &server
            .url("dep.git")
            .replacen("http://", "http://tok-user@", 1),
    );
    w.ignite()
        .env("CIUX_GIT_TOKEN", "tok-123")
        .assert()
        .success()
        .stderr(predicate::str::contains("tok-123").not());
    assert!(w.env_file().contains("export DEP_VERSION=v1.0.0\n"));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.user.as_deref() == Some("tok-user"))
    );
}

/// git's `url.<base>.insteadOf` (here from `GIT_CONFIG_GLOBAL`, then from `GIT_CONFIG_COUNT`) leads the
/// listing, the clone and the fetches to a private server, with the token of the rewritten URL. The
/// token is never printed nor stored in the clone, and a warm run still costs the listing alone.
#[test]
fn insteadof_rewrites_reach_a_private_server() {
    let w = World::new();
    let server = GitHttpServer::builder()
        .basic_auth("x-access-token", "tok-9")
        .serve(&w.served());
    // Nothing listens on port 1: only the rewrite reaches the server.
    let written = "http://127.0.0.1:1/org/dep.git";
    let base = server
        .url("")
        .replacen("http://", "http://x-access-token:tok-9@", 1);
    w.depend_on(written);
    let global = w.dir.path().join("ci-gitconfig");
    std::fs::write(
        &global,
        format!("[url \"{base}\"]\n\tinsteadOf = http://127.0.0.1:1/org/\n"),
    )
    .unwrap();
    let ignite = |config: &[(&str, &str)]| {
        let mut c = w.ignite();
        c.args(["-v", "2"]);
        for (k, v) in config {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{printed}");
        assert!(!printed.contains("tok-9"), "{printed}");
    };
    let by_file = [("GIT_CONFIG_GLOBAL", global.to_str().unwrap())];
    ignite(&by_file);
    assert!(w.env_file().contains("export DEP_VERSION=v1.0.0\n"));
    let clone_config = std::fs::read_to_string(w.dir.path().join("work/dep/.git/config")).unwrap();
    assert!(
        clone_config.contains(&format!("url = {written}\n")),
        "{clone_config}"
    );
    assert!(!clone_config.contains("tok-9"), "{clone_config}");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.user.as_deref() == Some("x-access-token"))
    );

    let before = server.requests().len();
    ignite(&by_file);
    let ls = "/dep.git/info/refs?service=git-upload-pack";
    assert_eq!(
        server.requests()[before..],
        [
            request("GET", ls, None, 401),
            request("GET", ls, Some("x-access-token"), 200)
        ],
        "warm: the listing only"
    );

    // The same rule given in the environment, for a fresh clone.
    std::fs::remove_dir_all(w.dir.path().join("work/dep")).unwrap();
    let key = format!("url.{base}.insteadOf");
    ignite(&[
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", &key),
        ("GIT_CONFIG_VALUE_0", "http://127.0.0.1:1/org/"),
    ]);
    assert!(w.env_file().contains("export DEP_VERSION=v1.0.0\n"));
}
