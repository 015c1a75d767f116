//! Kubernetes commands against API servers that cannot be used: a server that accepts and never
//! answers (plain HTTP and TLS) is bounded by `--timeout`; a closed port and an untrusted
//! certificate fail at once, naming the cause, with no library log line before the error.

use std::path::Path;

use assert_cmd::Command;
use harness::unreachable::{SilentServer, closed_port_url, kubeconfig};

use crate::support::{self, write_sample_config};

/// Every command that talks to the API server, with `timeout` as its `--timeout`.
fn commands(timeout: &str) -> Vec<Vec<String>> {
    let with = |args: &[&str]| {
        args.iter()
            .map(|a| a.to_string())
            .chain(["--timeout".to_string(), timeout.to_string()])
            .collect::<Vec<_>>()
    };
    vec![
        with(&["delete"]),
        with(&["get", "topics"]),
        with(&["wait", "tasks"]),
        with(&["wait", "topics"]),
        with(&["createsecrets", "-p", "pw"]),
        with(&["createsecrets"]),
        with(&[
            "run",
            "r",
            "-N",
            "20000101",
            "--image=param_image",
            "--backend",
            "spark-operator",
        ]),
    ]
}

fn finkctl(dir: &Path, server: &str, ca: Option<&Path>, args: &[String]) -> Command {
    let config = dir.join("kubeconfig");
    std::fs::write(&config, kubeconfig(server, ca)).unwrap();
    let mut cmd = support::finkctl(dir);
    cmd.env("KUBECONFIG", &config)
        .env("FINKCONFIG", dir)
        .args(args);
    cmd
}

/// Runs every command and checks its only stderr line.
fn check_all(server: &str, ca: Option<&Path>, timeout: &str, check: impl Fn(&[String], &str)) {
    let dir = tempfile::tempdir().unwrap();
    write_sample_config(dir.path(), |c| c);
    for args in commands(timeout) {
        let out = finkctl(dir.path(), server, ca, &args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        check(&args, &stderr);
    }
}

#[test]
fn a_silent_server_is_bounded_by_the_timeout() {
    for server in [SilentServer::plain(), SilentServer::tls()] {
        check_all(server.url(), server.ca(), "2s", |args, stderr| {
            assert!(stderr.contains("timed out"), "{args:?}: {stderr}");
        });
    }
}

#[test]
fn a_closed_port_fails_at_once_with_the_cause() {
    // With a 5 minute timeout, retrying the refused connection would outlast the test's bound.
    check_all(&closed_port_url(), None, "5m", |args, stderr| {
        assert!(stderr.contains("Connection refused"), "{args:?}: {stderr}");
        assert!(!stderr.contains("timed out"), "{args:?}: {stderr}");
    });
}

#[test]
fn an_untrusted_certificate_fails_at_once_with_the_cause() {
    let server = SilentServer::tls();
    check_all(server.url(), None, "5m", |args, stderr| {
        assert!(
            stderr.contains("invalid peer certificate"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("timed out"), "{args:?}: {stderr}");
    });
}
