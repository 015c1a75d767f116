//! `ktbx install` of client tools against the harness release server on 127.0.0.1: checksum
//! verification, faults, parallel installs, idempotent re-runs, version validation.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use assert_cmd::Command;
use harness::release::{Fault, ReleaseServer};
use predicates::prelude::*;
use tempfile::TempDir;

use crate::support;

const KIND_PATH: &str = "/kubernetes-sigs/kind/releases/download/v0.31.0/kind-linux-amd64";
const KUBECTL_PATH: &str = "/release/v1.35.0/bin/linux/amd64/kubectl";
const HELM_PATH: &str = "/helm-v3.16.2-linux-amd64.tar.gz";

/// A tiny "binary" answering its version probe like the real tool.
fn fake_tool(version_output: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho '{version_output}'\n").into_bytes()
}

fn helm_tarball(version_output: &str) -> Vec<u8> {
    let data = fake_tool(version_output);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder
        .append_data(&mut header, "linux-amd64/helm", data.as_slice())
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

struct World {
    server: ReleaseServer,
    home: TempDir,
}

impl World {
    fn new() -> Self {
        let server = ReleaseServer::start();
        server.add_file(KIND_PATH, fake_tool("0.31.0"));
        server.add_file(KUBECTL_PATH, fake_tool("Client Version: v1.35.0"));
        server.add_file(HELM_PATH, helm_tarball("v3.16.2+g13654a5"));
        World {
            server,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn bin(&self) -> PathBuf {
        self.home.path().join("bin")
    }

    fn ktbx(&self) -> Command {
        let mut cmd = support::ktbx(self.home.path());
        cmd.env("PATH", "/usr/bin:/bin")
            .env("KTBX_DOWNLOAD_MIRROR", self.server.url(""))
            .env("KTBX_INSTALL_DIR", self.bin());
        cmd
    }

    fn binary_requests(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| !r.contains(".sha256"))
            .collect()
    }
}

fn is_linux_amd64() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

#[test]
fn kind_is_verified_installed_and_then_skipped() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.ktbx()
        .args(["install", "kind"])
        .assert()
        .success()
        .stdout(format!(
            "Install kind\nSuccessfully installed kind v0.31.0 in {}\n",
            w.bin().display()
        ));
    let kind = w.bin().join("kind");
    assert_eq!(std::fs::read(&kind).unwrap(), fake_tool("0.31.0"));
    assert_eq!(
        std::fs::metadata(&kind).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(
        w.server
            .requests()
            .iter()
            .any(|r| r.ends_with("kind-linux-amd64.sha256sum")),
        "{:?}",
        w.server.requests()
    );
    w.ktbx()
        .args(["install", "kind"])
        .assert()
        .success()
        .stdout("Install kind\nINFO: kind v0.31.0 is already installed\n");
    assert_eq!(w.binary_requests().len(), 1, "{:?}", w.server.requests());
}

#[test]
fn several_tools_in_one_call() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.ktbx()
        .args(["install", "kind", "kubectl", "helm"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Successfully installed kind v0.31.0")
                .and(predicate::str::contains(
                    "Successfully installed kubectl v1.35.0",
                ))
                .and(predicate::str::contains(
                    "Successfully installed helm v3.16.2",
                )),
        );
    assert_eq!(
        std::fs::read(w.bin().join("helm")).unwrap(),
        fake_tool("v3.16.2+g13654a5")
    );
    assert!(
        w.server
            .requests()
            .iter()
            .any(|r| r.ends_with("kubectl.sha256"))
    );
    w.ktbx()
        .args(["install", "kind", "kubectl", "helm"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already installed").count(3));
}

#[test]
fn a_wrong_checksum_installs_nothing() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server.fault(KIND_PATH, Fault::WrongChecksum);
    w.ktbx()
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("downloading kind v0.31.0"));
    assert!(!w.bin().join("kind").exists());
}

#[test]
fn a_missing_release_is_an_error() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server.fault(KIND_PATH, Fault::NotFound);
    w.ktbx()
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("404"));
    assert!(!w.bin().join("kind").exists());
}

#[test]
fn a_truncated_download_is_an_error() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server.fault(KIND_PATH, Fault::Truncated);
    w.ktbx().args(["install", "kind"]).assert().code(1);
    assert!(!w.bin().join("kind").exists());
}

#[test]
fn a_failing_tool_does_not_hide_the_others() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server.fault(HELM_PATH, Fault::NotFound);
    w.ktbx().args(["install", "kind", "helm"]).assert().code(1);
    assert!(w.bin().join("kind").exists());
    assert!(!w.bin().join("helm").exists());
}

#[test]
fn version_override_by_flag_env_and_config() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    let path = "/kubernetes-sigs/kind/releases/download/v0.20.0/kind-linux-amd64";
    w.server.add_file(path, fake_tool("0.20.0"));
    w.ktbx()
        .args(["install", "kind", "--kind-version=v0.20.0"])
        .assert()
        .success();
    assert!(w.server.requests().iter().any(|r| r.contains(path)));
    w.ktbx()
        .args(["install", "kind"])
        .env("KTBX_KIND_VERSION", "v0.20.0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "INFO: kind v0.20.0 is already installed",
        ));
    std::fs::write(
        w.home.path().join("config.yaml"),
        "tools:\n  kind:\n    version: v0.20.0\n",
    )
    .unwrap();
    w.ktbx()
        .args(["install", "kind"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "INFO: kind v0.20.0 is already installed",
        ));
}

#[test]
fn versions_with_shell_metacharacters_are_rejected_before_any_download() {
    let w = World::new();
    for bad in [
        "v0.31.0; touch pwned",
        "$(touch pwned)",
        "0.31.0",
        "v1.2.3-",
        "v1.2.3-rc..1",
    ] {
        w.ktbx()
            .args(["install", "kind", "--kind-version", bad])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("invalid kind version"));
    }
    assert!(w.server.requests().is_empty());
    assert!(!w.home.path().join("pwned").exists());
}

#[test]
fn dry_run_downloads_nothing() {
    let w = World::new();
    w.ktbx()
        .args(["install", "kind", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("download ").and(predicate::str::contains("kind-")));
    assert!(w.server.requests().is_empty());
    assert!(!w.bin().exists());
}

#[test]
fn an_unwritable_directory_without_a_terminal_never_prompts() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    let ro = w.home.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if tempfile::tempfile_in(&ro).is_ok() {
        return; // running as root: every directory is writable
    }
    w.ktbx()
        .env("KTBX_INSTALL_DIR", &ro)
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no write access to")
                .and(predicate::str::contains("KTBX_INSTALL_DIR")),
        );
}
