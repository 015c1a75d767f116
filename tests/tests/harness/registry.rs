//! The local OCI registry over real HTTP, with skopeo as an independent client.

use std::process::Command;

use harness::registry::{ManifestFormat, Registry};
use sha2::{Digest, Sha256};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `skopeo inspect` of `repo:tag` on the registry, with `extra` arguments (e.g. `--creds`).
fn skopeo_inspect(registry: &Registry, image: &str, extra: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{}/{image}", registry.host()))
        .output()
        .expect("running skopeo (install the Debian package skopeo)")
}

#[tokio::test]
async fn anonymous_registry_answers_v2() {
    let registry = Registry::start();
    assert!(registry.host().starts_with("127.0.0.1:"));
    let response = client()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn pushed_manifest_is_served_under_its_digest() {
    let registry = Registry::start();
    let digest = registry.push_image("fink/fink-broker", "v3.1.0");
    let response = client()
        .get(format!(
            "{}/v2/fink/fink-broker/manifests/v3.1.0",
            registry.url()
        ))
        .header("Accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&body)))
    );
    // Reproducible, and distinct per tag.
    assert_eq!(registry.push_image("fink/fink-broker", "v3.1.0"), digest);
    assert_ne!(registry.push_image("fink/fink-broker", "v3.2.0"), digest);
}

#[tokio::test]
async fn unknown_tag_is_404() {
    let registry = Registry::start();
    registry.push_image("fink/fink-broker", "v3.1.0");
    let response = client()
        .get(format!(
            "{}/v2/fink/fink-broker/manifests/v9.9.9",
            registry.url()
        ))
        .header("Accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn skopeo_inspects_pushed_oci_and_docker_images() {
    let registry = Registry::start();
    let oci = registry.push_image("library/alpine", "3.18.3");
    let docker = registry.push_image_as("library/busybox", "1.36", ManifestFormat::DockerV2);
    for (image, digest) in [
        ("library/alpine:3.18.3", &oci),
        ("library/busybox:1.36", &docker),
    ] {
        let output = skopeo_inspect(&registry, image, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(info["Digest"], digest.as_str());
        assert_eq!(info["Os"], "linux");
        assert_eq!(info["Architecture"], "amd64");
        assert_eq!(info["Layers"].as_array().unwrap().len(), 1);
    }
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/library/busybox:1.36", registry.host()))
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(manifest["mediaType"], ManifestFormat::DockerV2.media_type());
}

#[test]
fn index_lists_one_image_per_platform() {
    let registry = Registry::start();
    let digest = registry.push_index(
        "fink/multi",
        "v1",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/fink/multi:v1", registry.host()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&raw.stdout)))
    );
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let platforms: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    // skopeo resolves the index to its linux/arm64 child.
    let output = skopeo_inspect(&registry, "fink/multi:v1", &["--override-arch", "arm64"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["Architecture"], "arm64");
}

#[tokio::test]
async fn htpasswd_registry_requires_basic_auth() {
    let registry = Registry::start_with_htpasswd("fink", "s3cret");
    assert_eq!(registry.credentials(), Some(("fink", "s3cret")));
    let anonymous = client()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    let wrong = client()
        .get(format!("{}/v2/", registry.url()))
        .basic_auth("fink", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let authenticated = client()
        .get(format!("{}/v2/", registry.url()))
        .basic_auth("fink", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(authenticated.status(), 200);
}

#[test]
fn htpasswd_registry_accepts_pushes_and_authenticated_skopeo() {
    let registry = Registry::start_with_htpasswd("fink", "s3cret");
    let digest = registry.push_image("private/app", "v1");
    let denied = skopeo_inspect(&registry, "private/app:v1", &["--no-creds"]);
    assert!(!denied.status.success());
    let output = skopeo_inspect(&registry, "private/app:v1", &["--creds", "fink:s3cret"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["Digest"], digest.as_str());
}

#[tokio::test]
async fn manifests_can_be_deleted() {
    let registry = Registry::start();
    let digest = registry.push_image("fink/gone", "v1");
    let url = format!("{}/v2/fink/gone/manifests/{digest}", registry.url());
    let deleted = client().delete(&url).send().await.unwrap();
    assert_eq!(deleted.status(), 202);
    let response = client()
        .get(format!("{}/v2/fink/gone/manifests/v1", registry.url()))
        .header("Accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn registry_process_stops_on_drop() {
    let registry = Registry::start();
    let addr = registry.addr();
    drop(registry);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// The `key="value"` parameters of a `Bearer …` challenge.
fn bearer_params(challenge: &str) -> std::collections::BTreeMap<String, String> {
    let params = challenge
        .strip_prefix("Bearer ")
        .expect("a Bearer challenge");
    quoted_params(params)
}

/// Splits `a="x",b="y,z"` (values always quoted in distribution's challenges).
fn quoted_params(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split("\",")
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect()
}

/// The anonymous Docker-v2 token dance for `scope` against the challenge of `url`.
async fn anonymous_token(url: &str, scope: &str) -> String {
    let challenge = client().get(url).send().await.unwrap();
    assert_eq!(challenge.status(), 401);
    let params = bearer_params(challenge.headers()["www-authenticate"].to_str().unwrap());
    let token: serde_json::Value = client()
        .get(format!(
            "{}?service={}&scope={scope}",
            params["realm"], params["service"]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["token"].as_str().unwrap().to_owned()
}

/// Docker Hub's answer for a repository never pushed: an anonymous token is handed out, and the
/// manifest request with it gets 401 (`insufficient_scope`), not 404. Once pushed: 200 and 404.
#[tokio::test]
async fn docker_hub_like_registry_answers_401_for_a_repository_never_pushed() {
    let registry = Registry::start_like_docker_hub("fink", "s3cret");
    let status = |url: String, token: String| async move {
        client()
            .get(url)
            .header("Accept", ACCEPT)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    let missing = format!("{}/v2/fink/new/manifests/v1", registry.url());
    let token = anonymous_token(&missing, "repository:fink/new:pull").await;
    assert_eq!(status(missing.clone(), token).await, 401);

    registry.push_image("fink/new", "v1");
    let token = anonymous_token(&missing, "repository:fink/new:pull").await;
    assert_eq!(status(missing, token.clone()).await, 200);
    let other_tag = format!("{}/v2/fink/new/manifests/v2", registry.url());
    assert_eq!(status(other_tag, token).await, 404);
}

#[tokio::test]
async fn token_registry_challenges_with_a_bearer_realm() {
    let registry = Registry::start_with_token_auth("fink", "s3cret");
    let response = client()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let params = bearer_params(response.headers()["www-authenticate"].to_str().unwrap());
    assert!(
        params["realm"].starts_with("http://127.0.0.1:"),
        "{params:?}"
    );
    assert!(params["realm"].ends_with("/token"), "{params:?}");
    assert_eq!(params["service"], "fink-tools-test-registry");
}

#[tokio::test]
async fn anonymous_tokens_pull_but_do_not_push() {
    let registry = Registry::start_with_token_auth("fink", "s3cret");
    let digest = registry.push_image("fink/app", "v1");
    assert!(
        registry
            .token_requests()
            .iter()
            .all(|request| request.account.as_deref() == Some("fink")),
        "pushes authenticate"
    );

    let manifest_url = format!("{}/v2/fink/app/manifests/v1", registry.url());
    let token = anonymous_token(&manifest_url, "repository:fink/app:pull").await;
    let pulled = client()
        .get(&manifest_url)
        .header("Accept", ACCEPT)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(pulled.headers()["docker-content-digest"], digest.as_str());
    let last = registry.token_requests().pop().unwrap();
    assert_eq!(last.account, None);
    assert_eq!(last.scopes, ["repository:fink/app:pull"]);

    let upload_url = format!("{}/v2/fink/app/blobs/uploads/", registry.url());
    let token = anonymous_token(&upload_url, "repository:fink/app:pull,push").await;
    let pushed = client()
        .post(&upload_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        pushed.status(),
        401,
        "an anonymous token carries no push access"
    );
}

#[test]
fn skopeo_follows_the_anonymous_token_flow() {
    let registry = Registry::start_with_token_auth("fink", "s3cret");
    let digest = registry.push_image("fink/app", "v1");
    let output = skopeo_inspect(&registry, "fink/app:v1", &["--no-creds"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["Digest"], digest.as_str());
    assert!(
        registry
            .token_requests()
            .iter()
            .any(|request| request.account.is_none()
                && request.scopes == ["repository:fink/app:pull"]),
        "{:?}",
        registry.token_requests()
    );
}

#[tokio::test]
async fn token_server_rejects_wrong_credentials() {
    let registry = Registry::start_with_token_auth("fink", "s3cret");
    let response = client()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .await
        .unwrap();
    let params = bearer_params(response.headers()["www-authenticate"].to_str().unwrap());
    let denied = client()
        .get(format!("{}?service={}", params["realm"], params["service"]))
        .basic_auth("fink", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}
