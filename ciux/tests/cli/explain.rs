//! Why the project image is built or not: the typed reason of `get image --check -o json`, `--explain`
//! and the env file's `CIUX_BUILD_REASON`, for every decision path; base images recorded in the
//! image's OCI annotations or labels; tree tags decided with one registry request.

use std::path::Path;

use serde_json::Value;

use crate::support::{Registry, Repo, ciux, stdout_of};

/// `get image --check -o json` (plus `extra` flags) of the project at `dir`.
fn decision(dir: &Path, extra: &[&str]) -> Value {
    let out = stdout_of(
        ciux()
            .args(["get", "image", "--check", "-o", "json"])
            .args(extra)
            .arg(dir),
    );
    serde_json::from_str(&out).unwrap()
}

/// The manifest requests the registry served since `before` (its log), as `METHOD /path`.
fn manifest_requests(reg: &Registry, before: usize) -> Vec<String> {
    reg.requests()[before..]
        .iter()
        .filter(|r| r.contains("/manifests/"))
        .cloned()
        .collect()
}

#[test]
fn every_decision_has_its_reason() {
    let reg = Registry::start();
    let host = reg.host();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    let root = r.commit(
        "c1",
        &[
            (
                ".ciux",
                &format!("registry: {host}/fink\nsourcePathes: [src]\n"),
            ),
            ("src/a", "1"),
        ],
    );

    // The first commit, no image.
    let j = decision(&dir, &[]);
    assert_eq!(j["build"], true);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "root-commit", "commit": root})
    );

    // A source change after the tag: built, naming the commit and the paths it changed.
    r.annotated("v1.0.0");
    let change = r.commit("c2", &[("src/a", "2")]);
    let version = format!("v1.0.0-1-g{}", r.short());
    let j = decision(&dir, &[]);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "source-change", "commit": change, "paths": ["src"]})
    );
    assert_eq!(j["tag"], version);

    // The image exists: reused, with the image and the commit it holds.
    reg.push_image("fink/proj", &version);
    let url = format!("{host}/fink/proj:{version}");
    let j = decision(&dir, &[]);
    assert_eq!(j["build"], false);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "image-found", "ref": url, "commit": change})
    );

    // Forced: built, and the registry is not asked.
    let before = reg.requests().len();
    let j = decision(&dir, &["--force-build"]);
    assert_eq!(
        (j["build"].clone(), j["reason"]["kind"].clone()),
        (true.into(), "forced".into())
    );
    assert_eq!(manifest_requests(&reg, before), Vec::<String>::new());

    // Uncommitted changes in the sources: built (the image found lacks them), tagged -dirty.
    std::fs::write(dir.join("src/a"), "3").unwrap();
    let j = decision(&dir, &[]);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "dirty-tree", "paths": ["src"]})
    );
    assert_eq!(j["tag"], format!("{version}-dirty"));
    // ... but not outside them.
    r.git(&["checkout", "-q", "--", "src/a"]);
    std::fs::write(
        dir.join(".ciux"),
        format!("registry: {host}/fink\nsourcePathes: [src]\n#\n"),
    )
    .unwrap();
    assert_eq!(decision(&dir, &[])["reason"]["kind"], "image-found");
    r.git(&["checkout", "-q", "--", ".ciux"]);

    // Text: the usual line, then the explanation; with --env, stdout keeps its two lines only.
    let text = stdout_of(
        ciux()
            .args(["get", "image", "--check", "--explain"])
            .arg(&dir),
    );
    assert_eq!(
        text,
        format!(
            "Image: {url}, in registry: true\nBuild: false (image-found)\nImage: {url}\n\
             Reason: {url} (commit {}) holds the current sources: reused\n",
            &change[..12]
        )
    );
    let out = ciux()
        .args(["get", "image", "--check", "--env", "--explain"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("export CIUX_IMAGE_URL={url}\nexport CIUX_BUILD=false\n")
    );
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("Build: false (image-found)\n")
    );

    // The env file: a comment and CIUX_BUILD_REASON, which bash reads back.
    let out = ciux()
        .args(["ignite", "--explain"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("Build: false (image-found)\n")
    );
    let env_path = dir.join(".ciux.d/ciux_project_core.sh");
    let env = std::fs::read_to_string(&env_path).unwrap();
    assert!(
        env.contains(&format!(
            "export CIUX_BUILD=false\n# Build reason: {url} (commit {}) holds the current sources: reused\n\
             export CIUX_BUILD_REASON=image-found\n# Promoted",
            &change[..12]
        )),
        "{env}"
    );
    let sourced = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                ". '{}' && echo \"$CIUX_BUILD|$CIUX_BUILD_REASON\"",
                env_path.display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(sourced.stdout).unwrap(),
        "false|image-found\n"
    );
    // Without a look-up (`ignite env`): not checked.
    ciux().args(["ignite", "env"]).arg(&dir).assert().success();
    let env = std::fs::read_to_string(&env_path).unwrap();
    assert!(
        env.contains("export CIUX_BUILD_REASON=not-checked\n"),
        "{env}"
    );
}

#[test]
fn missing_image_and_failing_registry_reasons() {
    let reg = Registry::start();
    let host = reg.host();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    // The sources never changed (src does not exist): every commit after the root is a candidate.
    r.commit(
        "c1",
        &[(
            ".ciux",
            &format!("registry: {host}/fink\nsourcePathes: [src]\n"),
        )],
    );
    r.annotated("v1.0.0");
    r.commit("doc", &[("README", "1")]);
    let oldest = format!("{host}/fink/proj:v1.0.0-1-g{}", r.short());
    r.commit("doc", &[("README", "2")]);
    let j = decision(&dir, &[]);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "image-missing", "ref": oldest, "status": 404})
    );

    // An unreachable registry taken as absent on request: the status (none) and the attempts.
    let closed = harness::net::free_port();
    std::fs::write(
        dir.join(".ciux"),
        format!("registry: 127.0.0.1:{closed}/fink\nsourcePathes: [src]\n"),
    )
    .unwrap();
    r.commit("closed registry", &[]);
    let j = decision(&dir, &["--registry-unreachable=build"]);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "registry-error", "status": null, "attempts": 3})
    );
}

/// fink-broker builds `FROM` its `fink-deps` base: an image is reused only while the base it
/// records (manifest annotations, or config labels) is the base's current digest.
#[test]
fn a_changed_base_rebuilds() {
    const NAME: &str = "org.opencontainers.image.base.name";
    const DIGEST: &str = "org.opencontainers.image.base.digest";
    let reg = Registry::start();
    let host = reg.host();
    let base = format!("{host}/fink/fink-deps:v1");
    let old = reg.push_image("fink/fink-deps", "v1");
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("fink-broker");
    let r = Repo::init(&dir);
    r.commit(
        "c1",
        &[
            (
                ".ciux",
                &format!(
                    "registry: {host}/fink\nsourcePathes: [src]\ndependencies:\n  - image: {base}\n    base: true\n"
                ),
            ),
            ("src/a", "1"),
        ],
    );
    r.annotated("v1.0.0");

    // An image that records no base is not reused.
    reg.push_image("fink/fink-broker", "v1.0.0");
    let j = decision(&dir, &[]);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "base-image-changed", "ref": base, "old": null, "new": old})
    );

    // Built on the current base, recorded in the manifest: reused; one GET of the image and one of
    // the base.
    reg.push_annotated(
        "fink/fink-broker",
        "v1.0.0",
        &[(NAME, &base), (DIGEST, &old)],
        &[],
    );
    let before = reg.requests().len();
    let j = decision(&dir, &[]);
    assert_eq!(j["reason"]["kind"], "image-found", "{j}");
    assert_eq!(
        manifest_requests(&reg, before),
        [
            "GET /v2/fink/fink-broker/manifests/v1.0.0".to_string(),
            "GET /v2/fink/fink-deps/manifests/v1".to_string(),
        ]
    );

    // The base is re-pushed: rebuilt, naming the old and new digests.
    let new = reg.push_annotated("fink/fink-deps", "v1", &[], &[("rebuild", "2")]);
    assert_ne!(new, old);
    let j = decision(&dir, &[]);
    assert_eq!(j["build"], true);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "base-image-changed", "ref": base, "old": old, "new": new})
    );
    // ... in the env file too.
    ciux().args(["ignite"]).arg(&dir).assert().success();
    let env = std::fs::read_to_string(dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(
        env.contains("export CIUX_BUILD_REASON=base-image-changed\n"),
        "{env}"
    );

    // A later commit's image, built on the new base and recorded as labels (`docker build
    // --label`): it wins over the older one on the old base.
    r.commit("doc", &[("README", "1")]);
    let version = format!("v1.0.0-1-g{}", r.short());
    reg.push_annotated(
        "fink/fink-broker",
        &version,
        &[],
        &[(NAME, &base), (DIGEST, &new)],
    );
    let j = decision(&dir, &[]);
    assert_eq!(j["reason"]["kind"], "image-found", "{j}");
    assert_eq!(j["tag"], version);
}

/// `image promote` copies the manifest as it is: the base annotations stay (same digest).
#[test]
fn promote_keeps_the_base_annotations() {
    let reg = Registry::start();
    let host = reg.host();
    let digest = reg.push_annotated(
        "fink/fink-broker",
        "v1.0.0-1-gabc1234",
        &[
            (
                "org.opencontainers.image.base.name",
                "r.io/fink/fink-deps:v1",
            ),
            (
                "org.opencontainers.image.base.digest",
                &format!("sha256:{}", "0".repeat(64)),
            ),
        ],
        &[],
    );
    let image = format!("{host}/fink/fink-broker:v1.0.0-1-gabc1234");
    ciux()
        .args(["image", "promote", &image, "v1.0.0"])
        .assert()
        .success();
    ciux()
        .args([
            "image",
            "promote",
            &image,
            &format!("{host}/other/fink-broker:v1.0.0"),
        ])
        .assert()
        .success();
    assert_eq!(
        reg.manifest_digest("fink/fink-broker", "v1.0.0"),
        Some(digest.clone())
    );
    assert_eq!(
        reg.manifest_digest("other/fink-broker", "v1.0.0"),
        Some(digest)
    );
}

/// `imageTag: tree`: the tag comes from the git trees of the source paths at HEAD (as the git CLI
/// computes it), and one registry request decides, whatever the history length.
#[test]
fn tree_tags_take_one_request() {
    let reg = Registry::start();
    let host = reg.host();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    r.commit(
        "c1",
        &[
            (
                ".ciux",
                &format!(
                    "registry: {host}/fink\nsourcePathes: [src, Dockerfile]\nimageTag: tree\n"
                ),
            ),
            ("src/a", "1"),
            ("Dockerfile", "FROM x\n"),
        ],
    );
    r.annotated("v1.0.0");
    harness::git::GitRepo::init(&dir).commit_many(200, "src/a");
    let lines = format!(
        "{} src\n{} Dockerfile\n",
        r.git(&["rev-parse", "HEAD:src"]),
        r.git(&["rev-parse", "HEAD:Dockerfile"])
    );
    let blob = dir.join("../lines");
    std::fs::write(&blob, lines).unwrap();
    let id = r.git(&["hash-object", blob.to_str().unwrap()]);
    let tag = format!("tree-{}", &id[..12]);

    let before = reg.requests().len();
    let j = decision(&dir, &[]);
    assert_eq!(
        reg.requests().len() - before,
        1,
        "{:?}",
        &reg.requests()[before..]
    );
    assert_eq!(j["tag"], tag);
    assert_eq!(
        j["reason"],
        serde_json::json!({"kind": "image-missing", "ref": format!("{host}/fink/proj:{tag}"), "status": 404})
    );
    assert_eq!(j["promoted_url"], format!("{host}/fink/proj:{tag}"));

    reg.push_image("fink/proj", &tag);
    let before = reg.requests().len();
    let j = decision(&dir, &[]);
    assert_eq!(reg.requests().len() - before, 1);
    assert_eq!(
        (j["build"].clone(), j["tag"].clone()),
        (false.into(), tag.clone().into())
    );

    // Uncommitted source changes: built as `<tag>-dirty`, without asking the registry.
    std::fs::write(dir.join("Dockerfile"), "FROM y\n").unwrap();
    let before = reg.requests().len();
    let j = decision(&dir, &[]);
    assert_eq!(reg.requests().len(), before);
    assert_eq!(j["tag"], format!("{tag}-dirty"));
    assert_eq!(j["reason"]["kind"], "dirty-tree");
}
