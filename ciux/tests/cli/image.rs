//! `ciux image load | cleanup | promote` end to end: a fake `docker` recording its argv, the Debian
//! `docker-registry` on loopback for promotion.

use predicates::prelude::*;

use crate::support::{FakeBins, Registry, Script, calls, ciux, stdout_of};

#[test]
fn image_load_and_cleanup_with_fake_docker() {
    let d = tempfile::tempdir().unwrap();
    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout("Loaded image: x"));
    harness::assert_cli_snapshot!(
        "image_load_existing",
        ciux().env("PATH", fakes.path_env()).args([
            "image",
            "load",
            "-r",
            "['ubuntu-22.04']",
            "-i",
            "r.io/a:v1",
            "-b",
            "false"
        ])
    );
    assert!(calls(&fakes, "docker").is_empty());
    let tar = d.path().join("image.tar");
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['ubuntu-22.04']",
            "-i",
            "r.io/a:v1",
            "-b",
            "true",
            "-a",
        ])
        .arg(&tar)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "artifact file {} not found",
            tar.display()
        )));
    std::fs::write(&tar, "tar").unwrap();
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['ubuntu-22.04']",
            "-i",
            "r.io/a:v1",
            "-b",
            "TRUE",
            "-a",
        ])
        .arg(&tar)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "✓ Successfully loaded image from {}",
            tar.display()
        )));
    assert_eq!(
        calls(&fakes, "docker"),
        [format!("load --input {}", tar.display())]
    );

    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout("other/image:v1"));
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['self-hosted']",
            "-i",
            "r.io/a:v1",
            "-b",
            "true",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "image r.io/a:v1 not found in local Docker registry",
        ));

    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout(r#"{"Repository":"r.io/fink-broker","Tag":"old","CreatedAt":"2020-01-02 15:04:05 +0100 CET","ID":"111"}
{"Repository":"r.io/fink-broker","Tag":"new","CreatedAt":"1 minutes ago","ID":"222"}
{"Repository":"r.io/other","Tag":"old","CreatedAt":"2020-01-02 15:04:05 +0100 CET","ID":"333"}"#));
    let out = stdout_of(ciux().env("PATH", fakes.path_env()).args([
        "image",
        "cleanup",
        "--pattern",
        "fink-broker",
        "--max-age",
        "5d",
    ]));
    assert!(
        out.contains("Keeping recent image r.io/fink-broker:new"),
        "{out}"
    );
    assert!(
        out.ends_with("Cleanup completed: removed 1 images\n"),
        "{out}"
    );
    let calls = calls(&fakes, "docker");
    assert!(
        calls.contains(&"rmi 111".to_string()) && !calls.iter().any(|c| c.contains("333")),
        "{calls:?}"
    );
    assert!(calls.contains(&"image prune -f".to_string()));
    ciux()
        .env("PATH", fakes.path_env())
        .args(["image", "cleanup", "-p", "x", "-m", "5y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unsupported unit 'y' (use d, h, w, m)",
        ));
}

#[test]
fn promote_copies_the_manifest_in_the_registry() {
    let reg = Registry::start();
    let host = reg.host();
    reg.push_image("fink/broker", "v1.0.0-3-gabcdef0");
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:v1.0.0-3-gabcdef0"),
            &format!("{host}/fink/broker:v1.0.0"),
        ])
        .assert()
        .success();
    // The promoted tag now exists: it can be promoted in turn.
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:v1.0.0"),
            "v1.0.0-copy",
        ])
        .assert()
        .success()
        .stdout(format!(
            "Promoted {host}/fink/broker:v1.0.0 as {host}/fink/broker:v1.0.0-copy\n"
        ));
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:nope"),
            "v2",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("HTTP 404"));
}

/// Promotion to another repository or registry (the `--tmp-registry` flow) copies the blobs the
/// destination lacks, then the manifest: same digest; an index brings each of its images.
#[test]
fn promote_copies_across_repositories_and_registries() {
    let tmp = Registry::start();
    let main = Registry::start_with_htpasswd("ci", "s3cret");
    let digest = tmp.push_image("fink/broker", "v1.0.0-3-gabcdef0");
    let src = format!("{}/fink/broker:v1.0.0-3-gabcdef0", tmp.host());
    ciux()
        .args([
            "-v",
            "2",
            "image",
            "promote",
            &src,
            &format!("{}/fink/broker-copy:v1", tmp.host()),
        ])
        .assert()
        .success()
        .stdout(format!(
            "Promoted {src} as {}/fink/broker-copy:v1\n",
            tmp.host()
        ))
        // Within one registry the blobs are mounted, not streamed through ciux.
        .stderr(predicate::str::contains("mounted from"))
        .stderr(predicate::str::contains("copied from").not());
    assert_eq!(
        tmp.manifest_digest("fink/broker-copy", "v1"),
        Some(digest.clone())
    );

    let dst = format!("{}/fink/broker:v1.0.0", main.host());
    ciux()
        .args(["image", "promote", &src, &dst])
        .assert()
        .failure()
        .stderr(predicate::str::contains("registry refused access"));
    assert_eq!(main.manifest_digest("fink/broker", "v1.0.0"), None);
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args(["-v", "2", "image", "promote", &src, &dst])
        .assert()
        .success()
        .stdout(format!("Promoted {src} as {dst}\n"))
        .stderr(predicate::str::contains("copied from"));
    assert_eq!(
        main.manifest_digest("fink/broker", "v1.0.0"),
        Some(digest.clone())
    );
    // From a registry that needs credentials: the blobs are read with those its manifest needed.
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args([
            "image",
            "promote",
            &dst,
            &format!("{}/fink/back:v1", tmp.host()),
        ])
        .assert()
        .success();
    assert_eq!(tmp.manifest_digest("fink/back", "v1"), Some(digest));

    let index = tmp.push_index(
        "fink/multi",
        "v2",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    let dst = format!("{}/fink/multi:v2", main.host());
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args([
            "image",
            "promote",
            &format!("{}/fink/multi:v2", tmp.host()),
            &dst,
        ])
        .assert()
        .success();
    // The registry refuses an index whose images it lacks: this PUT proves they were copied.
    assert_eq!(main.manifest_digest("fink/multi", "v2"), Some(index));
    harness::assert_cli_snapshot!(
        "image_promote_dry_run",
        ciux().args(["image", "promote", "--dry-run", &src, &dst])
    );
}
