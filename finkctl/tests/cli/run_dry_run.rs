//! `finkctl run <task> --dry-run` against the original's goldens (spec §4), and the error cases of
//! the run command (night, templates, config files, kubeconfig).

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::{self, read_fixture, write_sample_config};

/// A FINKCONFIG directory holding the e2e sample, with `edit` applied to finkctl.yaml.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) fn new(edit: impl Fn(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_sample_config(dir.path(), edit);
        Self { dir }
    }

    pub(crate) fn finkctl(&self) -> Command {
        let mut cmd = support::finkctl(self.dir.path());
        cmd.env("FINKCONFIG", self.dir.path()).env("TMPDIR", "/tmp");
        cmd
    }
}

pub(crate) fn dry_run(setup: &Setup, task: &str, extra: &[&str]) -> String {
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
        let flag = if task == "r" { "-n" } else { "--noscience" };
        assert_eq!(dry_run(&setup, task, &[flag]), expected);
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
            "--image",
            "param_image",
            "--night",
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
    let out = dry_run(&Setup::new(|c| c), "raw2science", &["-t"]);
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
    for level in ["-v1", "-v2"] {
        for command in [&["run", level][..], &["s3", level]] {
            let out = setup.finkctl().args(command).output().unwrap();
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
    }
    // At -v0 (the default) nothing is printed at all.
    setup
        .finkctl()
        .arg("run")
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

#[test]
fn distribution_dry_run_creates_no_file_and_reads_no_secret() {
    let setup = Setup::new(|c| c);
    // An empty password would be read from the Kafka user's Secret: not in a dry run (the
    // kubeconfig's server does not exist, so any request would fail).
    std::fs::write(
        setup.dir.path().join("finkctl.secret.yaml"),
        "s3:\n  id: minioadmin\n  secret: minioadmin\ndistribution:\n  kafka:\n    password: \"\"\n",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = setup
        .finkctl()
        .env("TMPDIR", tmp.path())
        .args([
            "run",
            "dis",
            "-i",
            "param_image",
            "-N",
            "20000101",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "podTemplateFile={}/fink-broker-",
            tmp.path().display()
        )),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn current_fink_broker_arguments_come_from_config_keys() {
    let setup = Setup::new(|c| {
        c.replace(
            "  night: 20240101\n",
            "  night: 20240101\n  script_dir: local:///home/fink/fink-broker/bin/ztf\n  service_account: fink\n  extra_args: [-max_core, \"2\"]\n",
        )
        .replace(
            "  max_offsets_per_trigger: 5000\n",
            "  max_offsets_per_trigger: 5000\n  night_arg: true\n",
        )
        .replace(
            "  distribution_schema: \"/home/fink/fink-alert-schemas/ztf/distribution_schema_0p2.avsc\"\n",
            "  kafka_security_protocol: SASL_PLAINTEXT\n",
        )
    });
    let s2r = dry_run(&setup, "s2r", &[]);
    assert!(
        s2r.contains("    local:///home/fink/fink-broker/bin/ztf/stream2raw.py \\\n"),
        "{s2r}"
    );
    assert!(s2r.contains("serviceAccountName=fink \\\n"), "{s2r}");
    assert!(
        s2r.ends_with(
            "    -max_offsets_per_trigger \"5000\" \\\n    -night \"20000101\" \\\n    -max_core 2\n"
        ),
        "{s2r}"
    );
    let dis = dry_run(&setup, "distribution", &[]);
    assert!(!dis.contains("-distribution_schema"), "{dis}");
    assert!(
        dis.contains(
            "    -kafka_security_protocol \"SASL_PLAINTEXT\" \\\n    -night \"20000101\" \\\n"
        ),
        "{dis}"
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
    assert_eq!(
        manifest["spec"]["sparkConf"]["spark.hadoop.fs.s3a.secret.key"],
        "<redacted>"
    );
    assert!(!out.contains("minioadmin"), "{out}");
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
    // `get` and `wait` alone show their help on stderr (not "get called").
    for (command, sub) in [("get", "topic"), ("wait", "task")] {
        setup
            .finkctl()
            .arg(command)
            .assert()
            .code(1)
            .stdout("")
            .stderr(
                predicate::str::contains(format!("Usage: finkctl {command}"))
                    .and(predicate::str::contains(sub)),
            );
    }
    harness::assert_cli_snapshot!("help_run", setup.finkctl().args(["help", "run"]));
    harness::assert_cli_snapshot!("help", setup.finkctl().arg("--help"));
    setup.finkctl().args(["-v", "version"]).assert().code(1);
    setup
        .finkctl()
        .args(["--bogus", "version"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unexpected argument '--bogus'"));
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
        // The commit field is filled by release builds (`cargo xtask dist`) only.
        .stdout(predicate::str::is_match(r"^v\d+\.\d+\.\d+  ([0-9a-f]{12}(-dirty)?)?$").unwrap());
}

#[test]
fn options_missing_from_the_config_are_left_out() {
    // fink-broker's deploy/fink_int/finkctl.yaml has no max_offsets_per_trigger and no Kafka
    // sizes for the distribution: `-max_offsets_per_trigger ""` stopped the Spark job at start.
    let setup = Setup::new(|c| {
        c.replace("  max_offsets_per_trigger: 5000\n", "")
            .replace("  kafka_buffer_memory: 134217728\n", "")
            .replace("  kafka_delivery_timeout_ms: 240000\n", "")
    });
    let stream2raw = dry_run(&setup, "stream2raw", &[]);
    let expected = read_fixture("stream2raw.out.expected")
        .replace(" \\\n    -max_offsets_per_trigger \"5000\"", "");
    assert_eq!(stream2raw, expected);
    let distribution = dry_run(&setup, "distribution", &[]);
    assert!(!distribution.contains("\"\""), "{distribution}");
    assert!(
        !distribution.contains("-kafka_buffer_memory"),
        "{distribution}"
    );
    assert!(
        !distribution.contains("-kafka_delivery_timeout_ms"),
        "{distribution}"
    );
    assert!(
        distribution.ends_with("-night \"20000101\"\n"),
        "{distribution}"
    );
}

#[test]
fn a_known_section_with_a_wrong_type_is_an_error_with_its_location() {
    let setup = Setup::new(|c| c.replace("raw2science:\n", "raw2science: 5\nold_raw2science:\n"));
    setup
        .finkctl()
        .args(["run", "r", "-N", "20000101", "--dry-run"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::is_match(r"^error: /\S+/finkctl.yaml:\d+:\d+: raw2science: ")
                .unwrap()
                .and(predicate::str::contains("mapping")),
        );
    // The secret file too, and whatever the case of the key.
    let setup = Setup::new(|c| c);
    std::fs::write(setup.dir.path().join("finkctl.secret.yaml"), "S3: [a, b]\n").unwrap();
    setup
        .finkctl()
        .args(["run", "r", "-N", "20000101", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::is_match(r"^error: /\S+/finkctl.secret.yaml:1:\d+: ").unwrap());
}
