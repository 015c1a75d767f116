//! Registry authentication end to end on the real registry: bearer tokens, basic auth with Docker's
//! config, credential helpers.

use predicates::prelude::*;

use crate::support::{FakeBins, Registry, Repo, Script, ciux, stdout_of};

/// Docker-v2 token auth (Docker Hub / GitLab style) on the real registry: anonymous pull tokens are
/// fetched once per repository and reused for every candidate; promotion needs credentials.
#[test]
fn token_auth_registry() {
    let reg = Registry::start_with_token_auth("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit(
        "c1",
        &[
            (
                ".ciux",
                &format!("registry: {host}/fink\nsourcePathes: [src]\n"),
            ),
            ("src/a", "1"),
        ],
    );
    project.annotated("v1.0.0");
    project.commit("c2", &[("doc", "1")]);
    project.commit("c3", &[("doc", "2")]);
    reg.push_image("fink/proj", &format!("v1.0.0-2-g{}", project.short()));
    let before = reg.token_requests().len();
    let out = stdout_of(ciux().args(["get", "image", "--check"]).arg(&project.dir));
    assert_eq!(
        out,
        format!(
            "Image: {host}/fink/proj:v1.0.0-2-g{}, in registry: true\n",
            project.short()
        )
    );
    let tokens: Vec<_> = reg.token_requests().into_iter().skip(before).collect();
    assert_eq!(
        tokens.len(),
        1,
        "one token for three candidates: {tokens:?}"
    );
    assert_eq!(tokens[0].scopes, ["repository:fink/proj:pull"]);
    assert_eq!(tokens[0].account, None);

    let image = format!("{host}/fink/proj:v1.0.0-2-g{}", project.short());
    ciux()
        .args(["image", "promote", &image, "v1.0.0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("refused access"));
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args(["image", "promote", &image, "v1.0.0"])
        .assert()
        .success()
        .stderr(predicate::str::contains("s3cret").not());
    assert_eq!(
        reg.token_requests().last().unwrap().account.as_deref(),
        Some("ci")
    );
}

/// Basic auth (htpasswd): without credentials the image is taken as absent, with a warning (as a
/// repository never pushed on Docker Hub); with `~/.docker/config.json` credentials it is found.
#[test]
fn basic_auth_registry_with_docker_config() {
    let reg = Registry::start_with_htpasswd("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit("c1", &[(".ciux", &format!("registry: {host}/fink\n"))]);
    project.annotated("v1.0.0");
    reg.push_image("fink/proj", "v1.0.0");
    ciux()
        .args(["get", "image", "--check"])
        .arg(&project.dir)
        .assert()
        .success()
        .stdout(format!(
            "Image: {host}/fink/proj:v1.0.0, in registry: false\n"
        ))
        .stderr(predicate::str::contains(format!(
            "registry {host} answered HTTP 401"
        )));
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    let out = stdout_of(
        ciux()
            .env("DOCKER_CONFIG", &docker)
            .args(["get", "image", "--check"])
            .arg(&project.dir),
    );
    assert_eq!(
        out,
        format!("Image: {host}/fink/proj:v1.0.0, in registry: true\n")
    );
}

/// Docker credential helpers (`credHelpers` per registry, then `credsStore`) answer with the
/// registry host on stdin; they are asked once per registry.
#[test]
fn registry_credentials_from_docker_credential_helpers() {
    let reg = Registry::start_with_htpasswd("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit("c1", &[(".ciux", &format!("registry: {host}/fink\n"))]);
    project.annotated("v1.0.0");
    reg.push_image("fink/proj", "v1.0.0");
    let fakes = FakeBins::new();
    let answer = r#"{"ServerURL":"x","Username":"ci","Secret":"s3cret"}"#;
    fakes.add("docker-credential-pass", Script::stdout(answer));
    fakes.add("docker-credential-desktop", Script::stdout(answer));
    for (config, helper) in [
        (format!(r#"{{"credHelpers":{{"{host}":"pass"}}}}"#), "pass"),
        (r#"{"credsStore":"desktop"}"#.to_string(), "desktop"),
    ] {
        let docker = dir.path().join(helper);
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(docker.join("config.json"), config).unwrap();
        let out = stdout_of(
            ciux()
                .env("PATH", fakes.path_env())
                .env("DOCKER_CONFIG", &docker)
                .args(["get", "image", "--check"])
                .arg(&project.dir),
        );
        assert_eq!(
            out,
            format!("Image: {host}/fink/proj:v1.0.0, in registry: true\n")
        );
        let calls = fakes.calls(&format!("docker-credential-{helper}"));
        assert_eq!(calls.len(), 1, "{helper}: {calls:?}");
        assert_eq!(calls[0].argv, ["get"]);
        assert_eq!(calls[0].stdin, host);
    }
}
