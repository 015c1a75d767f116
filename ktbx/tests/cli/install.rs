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

/// A binary published as is is streamed straight next to its install path and written once:
/// nothing goes through `$TMPDIR` (here a directory that does not exist).
#[test]
fn a_raw_binary_is_written_straight_into_the_install_directory() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.ktbx()
        .args(["install", "kind"])
        .env("TMPDIR", w.home.path().join("no-such-tmp"))
        .assert()
        .success();
    assert_eq!(
        std::fs::read(w.bin().join("kind")).unwrap(),
        fake_tool("0.31.0")
    );
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

/// An install directory nobody can create, root included: its parent is a regular file.
fn unwritable_dir(w: &World) -> PathBuf {
    let file = w.home.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    file.join("bin")
}

#[test]
fn an_unwritable_directory_without_a_terminal_uses_sudo_n_and_says_what_to_do() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    let dir = unwritable_dir(&w);
    let fakes = harness::fakebin::FakeBins::new();
    fakes.add(
        "sudo",
        harness::fakebin::Script::fail(1, "sudo: a password is required\n"),
    );
    let path = format!("{}:/usr/bin:/bin", fakes.path_env().to_string_lossy());
    let out = w
        .ktbx()
        .env("PATH", &path)
        .env("KTBX_INSTALL_DIR", &dir)
        .args(["install", "kind"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = format!(
        "no write access to {}, and `sudo -n` (no terminal, so no password prompt) was refused: sudo: a password is required; set KTBX_INSTALL_DIR (or --install-dir) to a writable directory on PATH, such as $HOME/.local/bin, or allow this user passwordless sudo",
        dir.display()
    );
    assert_eq!(
        stderr,
        format!("error: installing {}/kind: {expected}\n", dir.display())
    );
    let calls = fakes.calls("sudo");
    assert_eq!(calls.len(), 1);
    let argv = &calls[0].argv;
    assert_eq!(argv[..5], ["-n", "install", "-D", "-m", "0755"]);
    assert_eq!(argv[6], format!("{}/kind", dir.display()));
    // With passwordless sudo the same call installs it.
    fakes.add("sudo", harness::fakebin::Script::default());
    w.ktbx()
        .env("PATH", &path)
        .env("KTBX_INSTALL_DIR", &dir)
        .args(["install", "kind"])
        .assert()
        .success()
        .stdout(format!(
            "Install kind\nSuccessfully installed kind v0.31.0 in {}\n",
            dir.display()
        ));
    assert_eq!(fakes.calls("sudo").len(), 2);
    // Without sudo at all: the way out, once.
    let no_sudo = harness::fakebin::FakeBins::new();
    w.ktbx()
        .env("PATH", no_sudo.path_env())
        .env("KTBX_INSTALL_DIR", &dir)
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(format!(
            "error: installing {d}/kind: no write access to {d}: set KTBX_INSTALL_DIR (or --install-dir) to a writable directory on PATH, such as $HOME/.local/bin, or install sudo\n",
            d = dir.display()
        ));
}

#[test]
fn an_endless_download_stops_at_the_maximum_size() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server.fault(KIND_PATH, Fault::Endless);
    let url = w.server.url(KIND_PATH);
    w.ktbx()
        .env("KTBX_DOWNLOAD_MAX_MIB", "1")
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(format!(
            "error: downloading kind v0.31.0: cannot download {url}: it is larger than the maximum download size of 1048576 bytes\n"
        ));
    assert!(!w.bin().join("kind").exists());
    w.ktbx()
        .env("KTBX_DOWNLOAD_MAX_MIB", "0")
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "KTBX_DOWNLOAD_MAX_MIB=\"0\" is not a size in MiB",
        ));
}

#[test]
fn a_silent_download_is_a_read_timeout_reported_once() {
    if !is_linux_amd64() {
        return;
    }
    let w = World::new();
    w.server
        .fault(KIND_PATH, Fault::Slow(std::time::Duration::from_secs(3600)));
    let url = w.server.url(KIND_PATH);
    w.ktbx()
        .env("KTBX_DOWNLOAD_TIMEOUT", "300ms")
        .args(["install", "kind"])
        .assert()
        .code(1)
        .stderr(format!(
            "error: downloading kind v0.31.0: cannot download {url}: the server sent nothing for 300ms (read timeout)\n"
        ));
    assert!(!w.bin().join("kind").exists());
}
