//! Fake executables run as real processes found on PATH.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use harness::fakebin::{Call, FakeBins, Reply, Script};

/// Runs `program args…` with the fakes first on PATH, feeding `stdin`.
fn run(fakes: &FakeBins, program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("PATH", fakes.path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn records_argv_stdin_cwd_and_chosen_env() {
    let fakes = FakeBins::new();
    fakes.add(
        "kubectl",
        Script::stdout("applied\n").record_env("KUBECONFIG"),
    );
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .env("PATH", fakes.path_env())
        .env("KUBECONFIG", "/tmp/kc")
        .env("NOT_RECORDED", "x")
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"kind: Pod\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, b"applied\n");
    assert_eq!(
        fakes.calls("kubectl"),
        [Call {
            name: "kubectl".into(),
            argv: vec!["apply".into(), "-f".into(), "-".into()],
            stdin: "kind: Pod\n".into(),
            env: BTreeMap::from([("KUBECONFIG".into(), "/tmp/kc".into())]),
            cwd: cwd.path().canonicalize().unwrap(),
        }]
    );
}

#[test]
fn rules_match_on_argument_prefix() {
    let fakes = FakeBins::new();
    fakes.add(
        "kind",
        Script::stdout("kind v0.31.0\n")
            .on(&["get", "clusters"], Reply::stdout("a\nb\n"))
            .on(&["delete"], Reply::fail(1, "no such cluster\n")),
    );
    assert_eq!(
        run(&fakes, "kind", &["get", "clusters"], b"").stdout,
        b"a\nb\n"
    );
    assert_eq!(
        run(&fakes, "kind", &["get", "clusters", "-q"], b"").stdout,
        b"a\nb\n"
    );
    let deleted = run(&fakes, "kind", &["delete", "cluster"], b"");
    assert_eq!(deleted.status.code(), Some(1));
    assert_eq!(deleted.stderr, b"no such cluster\n");
    let other = run(&fakes, "kind", &["version"], b"");
    assert!(other.status.success());
    assert_eq!(other.stdout, b"kind v0.31.0\n");
}

#[test]
fn sequence_answers_successive_calls_then_falls_back() {
    let fakes = FakeBins::new();
    fakes.add(
        "helm",
        Script::stdout("default\n")
            .then(Reply::fail(3, "first fails\n"))
            .then(Reply::stdout("second\n")),
    );
    let first = run(&fakes, "helm", &["install"], b"");
    assert_eq!(first.status.code(), Some(3));
    assert_eq!(first.stderr, b"first fails\n");
    assert_eq!(run(&fakes, "helm", &["install"], b"").stdout, b"second\n");
    assert_eq!(run(&fakes, "helm", &["install"], b"").stdout, b"default\n");
}

#[test]
fn default_script_fails_with_code_and_stderr() {
    let fakes = FakeBins::new();
    fakes.add("cilium", Script::fail(42, "cilium exploded\n"));
    let output = run(&fakes, "cilium", &["status"], b"");
    assert_eq!(output.status.code(), Some(42));
    assert_eq!(output.stderr, b"cilium exploded\n");
    assert!(output.stdout.is_empty());
}

#[test]
fn several_fakes_share_one_ordered_log() {
    let fakes = FakeBins::new();
    fakes.add("docker", Script::default());
    fakes.add("spark-submit", Script::default());
    run(&fakes, "docker", &["ps"], b"");
    run(&fakes, "spark-submit", &["--master", "k8s://x"], b"");
    run(&fakes, "docker", &["images"], b"");
    let names: Vec<_> = fakes
        .all_calls()
        .into_iter()
        .map(|call| (call.name, call.argv))
        .collect();
    assert_eq!(
        names,
        [
            ("docker".to_owned(), vec!["ps".to_owned()]),
            (
                "spark-submit".to_owned(),
                vec!["--master".to_owned(), "k8s://x".to_owned()]
            ),
            ("docker".to_owned(), vec!["images".to_owned()]),
        ]
    );
    assert_eq!(fakes.calls("docker").len(), 2);
    assert!(fakes.calls("go").is_empty());
}

#[test]
fn rescripting_a_fake_changes_its_answer() {
    let fakes = FakeBins::new();
    fakes.add("go", Script::stdout("go1.22\n"));
    assert_eq!(run(&fakes, "go", &["version"], b"").stdout, b"go1.22\n");
    fakes.add("go", Script::stdout("go1.23\n"));
    assert_eq!(run(&fakes, "go", &["version"], b"").stdout, b"go1.23\n");
}

#[test]
fn closed_stdin_records_empty_and_does_not_hang() {
    let fakes = FakeBins::new();
    fakes.add("cargo", Script::default());
    let status = Command::new("cargo")
        .arg("build")
        .env("PATH", fakes.path_env())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fakes.calls("cargo")[0].stdin, "");
}

#[test]
fn fakes_come_first_on_path_in_a_kept_directory() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = FakeBins::in_dir(&dir.path().join("bin"));
    // `sh` exists on every machine: the fake must shadow it.
    fakes.add("sh", Script::stdout("fake sh\n"));
    assert_eq!(
        run(&fakes, "sh", &["-c", "echo real"], b"").stdout,
        b"fake sh\n"
    );
    assert!(dir.path().join("bin/sh").exists());
}

#[test]
fn fresh_fake_exe_beside_the_test_binary_is_used_without_cargo() {
    // cargo built `fake-exe` for this package's integration tests, in <target>/debug.
    let test_exe = std::env::current_exe().unwrap();
    let beside = test_exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("fake-exe");
    assert_eq!(harness::fakebin::fake_exe_path(), beside);
    let fingerprint = Command::new(&beside).arg("--fingerprint").output().unwrap();
    assert!(fingerprint.status.success());
    assert_eq!(fingerprint.stdout.len(), 17, "16 hex digits and a newline");
}

#[test]
fn fake_exe_under_its_own_name_refuses_to_act() {
    let output = Command::new(harness::fakebin::fake_exe_path())
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&output.stderr).contains("link named after the faked program"));
}

#[test]
fn stdin_left_open_is_given_up_on_after_a_while() {
    let fakes = FakeBins::new();
    fakes.add("go", Script::stdout("go1.23\n"));
    let mut child = Command::new("go")
        .env("PATH", fakes.path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"partial").unwrap();
    // The write end stays open until the fake has answered.
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(output.stdout, b"go1.23\n");
    assert_eq!(
        fakes.calls("go")[0].stdin,
        "",
        "nothing recorded without end-of-file"
    );
}
