//! What a failed look-up of the project image means: Docker Hub's 401 for a repository never pushed
//! (absent without credentials, an error with them) and an unreachable registry (an error, or
//! "absent" with `--registry-unreachable=build` / `CIUX_REGISTRY_UNREACHABLE=build`).

use std::path::Path;

use crate::support::{Registry, Repo, ciux};
use predicates::prelude::*;

/// A project at `v1.0.0` whose image lives in `registry`.
fn project(dir: &Path, registry: &str) -> Repo {
    let r = Repo::init(dir);
    r.commit(
        "c1",
        &[(
            ".ciux",
            &format!("registry: {registry}\nsourcePathes: [src]\n"),
        )],
    );
    r.commit("src", &[("src/a", "1")]);
    r.annotated("v1.0.0");
    r
}

/// `(status, stdout, stderr)` of a ciux command.
fn output(cmd: &mut assert_cmd::Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("WARN")).collect()
}

/// Docker Hub hands out an anonymous token, then answers 401 for a repository never pushed. With no
/// credentials for that registry it means "not there yet: build it", with one warning naming the
/// registry and the status; with credentials, a 401 is an error (wrong credentials).
#[test]
fn docker_hub_401_for_a_repository_never_pushed() {
    let reg = Registry::start_like_docker_hub("ci", "s3cret");
    let host = reg.host();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ktbx");
    project(&dir, &format!("{host}/k8sschool"));
    let url = format!("{host}/k8sschool/ktbx:v1.0.0");

    let (ok, stdout, stderr) = output(ciux().args(["get", "image", "--check", "--env"]).arg(&dir));
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        format!("export CIUX_IMAGE_URL={url}\nexport CIUX_BUILD=true\n")
    );
    let warned = warnings(&stderr);
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(&format!("registry {host} answered HTTP 401"))
            && warned[0].contains("no credentials are configured"),
        "{stderr}"
    );
    // The anonymous token was handed out: the 401 is the registry's answer with it.
    assert!(
        reg.token_requests()
            .iter()
            .any(|t| t.account.is_none() && t.scopes == ["repository:k8sschool/ktbx:pull"]),
        "{:?}",
        reg.token_requests()
    );

    // ignite, the first build of a new image: the env file says to build it.
    let (ok, _, stderr) = output(ciux().args(["ignite", "-l", "e2e"]).arg(&dir));
    assert!(ok, "{stderr}");
    assert_eq!(warnings(&stderr).len(), 1, "{stderr}");
    let env = std::fs::read_to_string(dir.join(".ciux.d/ciux_e2e.sh")).unwrap();
    assert!(env.contains("export CIUX_BUILD=true\n"), "{env}");
    // The reason: the image is missing (the registry's 401 taken as "never pushed").
    assert!(
        env.contains("export CIUX_BUILD_REASON=image-missing\n"),
        "{env}"
    );

    // Wrong credentials configured for the registry: the 401 is an error, nothing on stdout.
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "wrong")
        .args(["get", "image", "--check", "--env"])
        .arg(&dir)
        .assert()
        .failure()
        .stdout("")
        .stderr(
            predicate::str::contains("refused access").and(predicate::str::contains("HTTP 401")),
        );

    // Once pushed, the repository answers as usual: found, no warning.
    reg.push_image("k8sschool/ktbx", "v1.0.0");
    let (ok, stdout, stderr) = output(ciux().args(["get", "image", "--check", "--env"]).arg(&dir));
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        format!("export CIUX_IMAGE_URL={url}\nexport CIUX_BUILD=false\n")
    );
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

/// A registry that cannot be reached is an error naming the way out; `--registry-unreachable=build`
/// or `CIUX_REGISTRY_UNREACHABLE=build` restores the original "absent, build it", with one warning.
#[test]
fn unreachable_registry_fails_or_builds_on_request() {
    // A closed port (nothing listens) and a silent listener (accepts, never answers; each of its
    // cases waits for the timeouts, so it runs the essential ones only).
    let closed = harness::net::free_port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    for (port, every_case) in [(closed, true), (silent_port, false)] {
        let host = format!("127.0.0.1:{port}");
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("fink-broker");
        project(&dir, &format!("{host}/fink"));
        let url = format!("{host}/fink/fink-broker-noscience:v1.0.0");
        let get = || {
            let mut c = ciux();
            c.env("CIUX_REGISTRY_TIMEOUT", "0.5")
                .args(["get", "image", "--check", "--suffix", "noscience", "--env"])
                .arg(&dir);
            c
        };

        let (ok, stdout, stderr) = output(&mut get());
        assert!(!ok, "{port}: {stdout}");
        assert_eq!(stdout, "", "{port}");
        assert!(
            stderr.contains(&format!("error: registry {host} unreachable"))
                && stderr
                    .contains("--registry-unreachable=build or CIUX_REGISTRY_UNREACHABLE=build")
                && stderr.contains("cannot reach the registry"),
            "{port}: {stderr}"
        );

        let expected = format!("export CIUX_IMAGE_URL={url}\nexport CIUX_BUILD=true\n");
        let ways: &[&str] = if every_case {
            &["flag", "env"]
        } else {
            &["env"]
        };
        for &how in ways {
            let mut c = get();
            if how == "flag" {
                c.arg("--registry-unreachable=build");
            } else {
                c.env("CIUX_REGISTRY_UNREACHABLE", "build");
            }
            let (ok, stdout, stderr) = output(&mut c);
            assert!(ok, "{port} {how}: {stderr}");
            assert_eq!(stdout, expected, "{port} {how}");
            let warned = warnings(&stderr);
            assert_eq!(warned.len(), 1, "{port} {how}: {stderr}");
            assert!(
                warned[0].contains("cannot reach the registry")
                    && warned[0]
                        .contains(&format!("registry {host} taken as not holding the image")),
                "{port} {how}: {stderr}"
            );
        }
        if every_case {
            // The flag beats the environment.
            get()
                .env("CIUX_REGISTRY_UNREACHABLE", "build")
                .arg("--registry-unreachable=fail")
                .assert()
                .failure()
                .stdout("");
            // ignite: the same error, and the same way out.
            ciux()
                .args(["ignite", "-l", "build=noscience", "-p", "noscience"])
                .arg(&dir)
                .assert()
                .failure()
                .stderr(predicate::str::contains(format!(
                    "registry {host} unreachable"
                )));
            assert!(!dir.join(".ciux.d/ciux_build_noscience.sh").exists());
        }
        let (ok, _, stderr) = output(
            ciux()
                .env("CIUX_REGISTRY_TIMEOUT", "0.5")
                .env("CIUX_REGISTRY_UNREACHABLE", "build")
                .args(["ignite", "-l", "build=noscience", "-p", "noscience"])
                .arg(&dir),
        );
        assert!(ok, "{port}: {stderr}");
        let env = std::fs::read_to_string(dir.join(".ciux.d/ciux_build_noscience.sh")).unwrap();
        assert!(
            env.contains(&format!("export CIUX_IMAGE_URL={url}\n"))
                && env.contains("export CIUX_BUILD=true\n"),
            "{env}"
        );
    }
    drop(silent);

    // A value other than build or fail is a usage error.
    ciux()
        .env("CIUX_REGISTRY_UNREACHABLE", "maybe")
        .args(["get", "image", "--check", "."])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid value 'maybe'"));
}
