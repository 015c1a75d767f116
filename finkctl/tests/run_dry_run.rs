//! `finkctl run <task> --dry-run` against the original's goldens (spec §4), and the error cases of
//! the run command (night, templates, config files, kubeconfig).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A FINKCONFIG directory holding the e2e sample, with `edit` applied to finkctl.yaml.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(edit: impl Fn(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("finkctl.yaml"),
            edit(read_fixture("finkctl.yaml.orig")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("finkctl.secret.yaml"),
            read_fixture("finkctl.secret.yaml"),
        )
        .unwrap();
        Self { dir }
    }

    fn finkctl(&self) -> Command {
        let mut cmd = Command::cargo_bin("finkctl").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("FINKCONFIG", self.dir.path())
            .env("KUBECONFIG", fixture("kubeconfig"))
            .env("TMPDIR", "/tmp")
            .current_dir(self.dir.path());
        cmd
    }
}

fn dry_run(setup: &Setup, task: &str, extra: &[&str]) -> String {
    let out = setup
        .finkctl()
        .args([
            "run",
            task,
            "--image=param_image",
            "-N",
            "20000101",
            "--dry-run",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn stream2raw_matches_the_golden() {
    assert_eq!(
        dry_run(&Setup::new(|c| c), "stream2raw", &[]),
        read_fixture("stream2raw.out.expected")
    );
}

#[test]
fn raw2science_matches_the_golden() {
    assert_eq!(
        dry_run(&Setup::new(|c| c), "raw2science", &[]),
        read_fixture("raw2science.out.expected")
    );
}

#[test]
fn stream2raw_zero_cpu_matches_the_golden() {
    let setup = Setup::new(|c| c.replace("  cpu: 1", "  cpu: 0"));
    assert_eq!(
        dry_run(&setup, "s2r", &[]),
        read_fixture("stream2raw-zerocpu.out.expected")
    );
}

#[test]
fn distribution_matches_the_golden_with_a_digit_temp_dir() {
    let out = dry_run(&Setup::new(|c| c), "distribution", &[]);
    let pattern = regex::Regex::new(
        r"(?m)^    --conf spark.kubernetes.executor.podTemplateFile=/tmp/fink-broker-[0-9]+/executor-pod-template.yaml \\$",
    )
    .unwrap();
    let golden = read_fixture("distribution.out.expected");
    assert!(pattern.is_match(&out), "{out}");
    assert_eq!(pattern.replace(&out, "X"), pattern.replace(&golden, "X"));
}

#[test]
fn noscience_line_follows_tinterval_for_every_task_and_from_the_environment() {
    let setup = Setup::new(|c| c);
    for (task, golden) in [
        ("s2r", "stream2raw.out.expected"),
        ("r", "raw2science.out.expected"),
    ] {
        let expected = read_fixture(golden).replace(
            "    -tinterval \"2\" \\\n",
            "    -tinterval \"2\" \\\n    --noscience \\\n",
        );
        assert_eq!(dry_run(&setup, task, &["--noscience"]), expected);
        let out = setup
            .finkctl()
            .env("NOSCIENCE", "true")
            .args([
                "run",
                task,
                "--image=param_image",
                "-N",
                "20000101",
                "--dry-run",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }
    setup
        .finkctl()
        .env("NOSCIENCE", "maybe")
        .args(["run", "r", "-N", "20000101", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "NOSCIENCE=\"maybe\" is not a boolean",
        ));
}

#[test]
fn flags_before_the_task_and_dash_i() {
    let setup = Setup::new(|c| c);
    let out = setup
        .finkctl()
        .args([
            "run",
            "--dry-run",
            "-i",
            "param_image",
            "-N",
            "20000101",
            "stream2raw",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        read_fixture("stream2raw.out.expected")
    );
}

#[test]
fn online_data_prefix_is_honoured() {
    let setup = Setup::new(|c| {
        c.replace(
            "  # online_data_prefix: s3a://fink-broker-online",
            "  online_data_prefix: hdfs://nn:8020/fink",
        )
    });
    let out = dry_run(&setup, "raw2science", &[]);
    assert!(
        out.contains("    -online_data_prefix \"hdfs://nn:8020/fink\" \\\n"),
        "{out}"
    );
    assert!(!out.contains("s3a"), "{out}");
}

#[test]
fn bad_nights_fail_with_the_original_messages() {
    let setup = Setup::new(|c| c);
    for night in ["2020111101011", "20200230", "2020-01-01"] {
        setup
            .finkctl()
            .args(["run", "raw2science", "--image=param_image", "-N", night, "--dry-run"])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: night has not the right format, please provide a night in the format YYYYMMDD",
            ));
    }
    let setup = Setup::new(|c| c.replace("  night: 20240101\n", ""));
    setup
        .finkctl()
        .args(["run", "raw2science", "--dry-run"])
        .assert()
        .code(1)
        .stderr("error: night is empty, please provide a night\n");
}

#[test]
fn tonight_uses_todays_utc_date() {
    let out = dry_run(&Setup::new(|c| c), "raw2science", &["--tonight"]);
    let today = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("-night \""))
        .map(|l| l[..8].to_string())
        .unwrap();
    assert_ne!(today, "20000101");
    assert!(today.bytes().all(|b| b.is_ascii_digit()), "{today}");
}

#[test]
fn unknown_template_variable_fails_clearly() {
    let setup = Setup::new(|c| c.replace("ztf-stream-{{.Night}}", "ztf-stream-{{.Image}}"));
    setup
        .finkctl()
        .args(["run", "s2r", "-N", "20000101", "--dry-run"])
        .assert()
        .code(1)
        .stderr(
            "error: stream2raw.kafka_topic: unsupported template variable `{{.Image}}`: only {{.Night}} is available\n",
        );
}

#[test]
fn missing_config_file_names_the_search_path() {
    let empty = tempfile::tempdir().unwrap();
    Setup::new(|c| c)
        .finkctl()
        .env_remove("FINKCONFIG")
        .env("HOME", empty.path())
        .current_dir(empty.path())
        .args(["run", "r", "--dry-run"])
        .assert()
        .code(1)
        .stderr(
            "error: finkctl.yaml not found (searched $FINKCONFIG, the working directory, $HOME/.finkctl): set FINKCONFIG to the directory that holds it, or pass --config <file>\n",
        );
    let setup = Setup::new(|c| c);
    std::fs::remove_file(setup.dir.path().join("finkctl.secret.yaml")).unwrap();
    setup
        .finkctl()
        .args(["run", "r", "--dry-run"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("error: no finkctl.secret.yaml in ")
                .and(predicate::str::contains("(from $FINKCONFIG)")),
        );
    Setup::new(|c| c)
        .finkctl()
        .args([
            "run",
            "r",
            "--dry-run",
            "--config",
            "/nonexistent/finkctl.yaml",
        ])
        .assert()
        .code(1)
        .stderr(
            "error: config file /nonexistent/finkctl.yaml (from the command line) does not exist\n",
        );
}

#[test]
fn explicit_config_and_secret_flags_replace_the_search() {
    let setup = Setup::new(|c| c);
    let other = tempfile::tempdir().unwrap();
    let out = setup
        .finkctl()
        .env("FINKCONFIG", other.path())
        .args([
            "run",
            "s2r",
            "--image=param_image",
            "-N",
            "20000101",
            "--dry-run",
            "--config",
        ])
        .arg(setup.dir.path().join("finkctl.yaml"))
        .arg("--secret")
        .arg(setup.dir.path().join("finkctl.secret.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        read_fixture("stream2raw.out.expected")
    );
}

#[test]
fn yaml_errors_name_the_file_and_location() {
    let setup = Setup::new(|c| c.replace("  cpu: 1\n", "  cpu: [1\n"));
    setup
        .finkctl()
        .args(["run", "r", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::is_match(r"^error: /\S+/finkctl.yaml:\d+:\d+: ").unwrap());
    let setup = Setup::new(|c| format!("{c}\nrun: {{}}\n"));
    setup
        .finkctl()
        .args(["run", "r", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("duplicate mapping key `run`"));
}

#[test]
fn unknown_keys_are_warned_about() {
    let setup = Setup::new(|c| c.replace("  cpu: 1\n", "  cpu: 1\n  cpus: 2\n"));
    setup
        .finkctl()
        .args([
            "run",
            "s2r",
            "--image=param_image",
            "-N",
            "20000101",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(read_fixture("stream2raw.out.expected"))
        .stderr(predicate::str::contains(
            "unknown configuration key run.cpus",
        ));
}

#[test]
fn missing_kubeconfig_is_a_clear_error() {
    let setup = Setup::new(|c| c);
    setup
        .finkctl()
        .env("KUBECONFIG", setup.dir.path().join("nope"))
        .args(["run", "r", "-N", "20000101", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("kubeconfig")));
}

#[test]
fn run_alone_logs_the_configuration_without_secrets() {
    let setup = Setup::new(|c| c);
    let out = setup.finkctl().args(["run", "-v1"]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("Current finkctl configuration") && stderr.contains("<redacted>"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("minioadmin") && !stderr.contains("changeme"),
        "{stderr}"
    );
}

#[test]
fn spark_operator_dry_run_prints_the_manifest() {
    let setup = Setup::new(|c| c);
    let out = dry_run(&setup, "distribution", &["--backend", "spark-operator"]);
    let manifest: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(manifest["kind"], "SparkApplication");
    assert_eq!(manifest["metadata"]["namespace"], "default");
    assert_eq!(manifest["spec"]["image"], "param_image");
    assert_eq!(
        manifest["spec"]["volumes"][0]["secret"]["secretName"],
        "fink-kafka-jaas"
    );
}

#[test]
fn completion_scripts_cover_the_commands() {
    let setup = Setup::new(|c| c);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        setup
            .finkctl()
            .args(["completion", shell])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("makebucket")
                    .and(predicate::str::contains("createsecrets")),
            );
    }
}

#[test]
fn usage_errors_exit_1() {
    let setup = Setup::new(|c| c);
    setup.finkctl().args(["run", "nosuchtask"]).assert().code(1);
    setup.finkctl().args(["wait"]).assert().code(1);
    setup.finkctl().args(["delete", "extra"]).assert().code(1);
    setup
        .finkctl()
        .args(["wait", "topics", "--timeout", "ten"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("invalid value 'ten' for '--timeout <TIMEOUT>'")
                .and(predicate::str::contains("invalid duration \"ten\"")),
        );
    setup
        .finkctl()
        .args(["createsecrets", "--timeout=-5s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "negative durations are not allowed",
        ));
    setup
        .finkctl()
        .args(["version"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^v\d+\.\d+\.\d+  $").unwrap());
}
