//! End-to-end flow on a real machine with docker and network (opt-in, ignored by default:
//! `cargo xtask e2e`): install kind and kubectl, create a single-node cluster (nodes Ready),
//! re-run create idempotently, list it, delete it twice.

use assert_cmd::Command;
use predicates::prelude::*;

const CLUSTER: &str = "ktbx-e2e";

/// Deletes the cluster even when an assertion fails.
struct Cleanup(Vec<(String, std::ffi::OsString)>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::cargo_bin("ktbx")
            .unwrap()
            .envs(self.0.clone())
            .args(["delete", "-n", CLUSTER])
            .output();
    }
}

#[test]
#[ignore = "needs docker and network: run with `cargo xtask e2e`"]
fn real_kind_cluster_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let env = vec![
        ("KTBX_INSTALL_DIR".to_string(), bin.clone().into_os_string()),
        ("PATH".to_string(), path),
        (
            "KUBECONFIG".to_string(),
            dir.path().join("kubeconfig").into_os_string(),
        ),
        ("KTBXCONFIG".to_string(), std::ffi::OsString::new()),
    ];
    let ktbx = || {
        let mut cmd = Command::cargo_bin("ktbx").unwrap();
        cmd.envs(env.clone()).current_dir(dir.path());
        cmd
    };
    ktbx()
        .args(["install", "kind", "kubectl"])
        .assert()
        .success();
    assert!(bin.join("kind").is_file() && bin.join("kubectl").is_file());
    ktbx()
        .args(["install", "kind", "kubectl"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already installed").count(2));

    let _cleanup = Cleanup(env.clone());
    ktbx()
        .args(["create", "-s", "-n", CLUSTER, "--timeout", "5m"])
        .assert()
        .success();
    ktbx()
        .args(["create", "-s", "-n", CLUSTER, "--if-not-exists"])
        .assert()
        .success();
    ktbx().arg("status").assert().success().stdout(
        predicate::str::contains(format!("{CLUSTER}  ")).and(predicate::str::contains("1/1")),
    );
    ktbx().args(["delete", "-n", CLUSTER]).assert().success();
    ktbx().args(["delete", "-n", CLUSTER]).assert().success();
}
