//! The `fake-apiserver` binary: writes its kubeconfig, prints `ready`, serves until killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn binary_writes_kubeconfig_and_prints_ready() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--namespace",
            "spark",
            "--crds",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("namespace: spark"), "{text}");
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let output = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args(["get", "--raw", "/apis/kafka.strimzi.io/v1beta2"])
        .output();
    child.kill().unwrap();
    child.wait().unwrap();
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "kubectl against {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"kafkatopics\""));
}

#[test]
fn binary_without_kubeconfig_fails_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing --kubeconfig"));
}
