//! `finkctl run <task>` executing spark-submit: a fake `spark-submit` (harness::fakebin) records
//! its argv, which must be the golden's tokens without the shell quotes.

use std::path::Path;

use assert_cmd::Command;
use harness::fakebin::{FakeBins, Script};
use predicates::prelude::*;

use crate::support::{self, read_fixture, write_sample_config};

/// The argv a shell would build from a golden text (continuation lines, double quotes).
fn golden_argv(text: &str) -> Vec<String> {
    let joined = text.replace(" \\\n    ", " ");
    let mut argv = Vec::new();
    let mut word = String::new();
    let mut in_quotes = false;
    let mut started = false;
    for c in joined.trim_end().chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            ' ' if !in_quotes => {
                if started {
                    argv.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        argv.push(word);
    }
    argv
}

struct Setup {
    dir: tempfile::TempDir,
    fakes: FakeBins,
}

impl Setup {
    fn new(script: Script) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_sample_config(dir.path(), |c| c);
        let fakes = FakeBins::new();
        fakes.add("spark-submit", script);
        Self { dir, fakes }
    }

    fn finkctl(&self) -> Command {
        let mut cmd = support::finkctl(self.dir.path());
        cmd.env("PATH", self.fakes.path_env())
            .env("FINKCONFIG", self.dir.path());
        cmd
    }
}

#[test]
fn golden_argv_strips_shell_quotes() {
    assert_eq!(
        golden_argv("a --conf k=\"v w\" \\\n    \"x=y z\" \\\n    -n \"\""),
        ["a", "--conf", "k=v w", "x=y z", "-n", ""]
    );
}

#[test]
fn spark_submit_receives_the_golden_tokens_without_quotes() {
    let setup = Setup::new(Script::default());
    for (task, golden) in [
        ("stream2raw", "stream2raw.out.expected"),
        ("raw2science", "raw2science.out.expected"),
    ] {
        setup
            .finkctl()
            .args(["run", task, "--image=param_image", "-N", "20000101", "-v1"])
            .assert()
            .success()
            .stderr(
                predicate::str::contains("running")
                    .and(predicate::str::contains("minioadmin").not()),
            );
        let expected = golden_argv(&read_fixture(golden));
        let call = setup
            .fakes
            .calls("spark-submit")
            .pop()
            .expect("spark-submit was run");
        assert_eq!(expected[0], "spark-submit");
        assert_eq!(call.argv, expected[1..]);
    }
}

#[test]
fn a_failing_spark_submit_exits_1() {
    let setup = Setup::new(Script::fail(3, "Exception in thread main"));
    setup
        .finkctl()
        .args(["run", "r", "--image=param_image", "-N", "20000101"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("Exception in thread main")
                .and(predicate::str::contains(
                    "error: spark-submit for raw2science failed",
                ))
                .and(predicate::str::contains("minioadmin").not()),
        );
}

#[test]
fn a_missing_spark_submit_is_a_clear_error() {
    let setup = Setup::new(Script::default());
    setup
        .finkctl()
        .env("PATH", setup.dir.path())
        .args(["run", "r", "--image=param_image", "-N", "20000101"])
        .assert()
        .code(1)
        .stderr("error: `spark-submit` not found on PATH: install Spark and add $SPARK_HOME/bin to PATH\n");
}

#[test]
fn distribution_applies_the_jaas_secret_then_submits_with_a_pod_template() {
    use harness::apiserver::FakeApiServer;
    let server = FakeApiServer::start();
    server.apply_json(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}}),
    );
    let setup = Setup::new(Script::default());
    let kubeconfig = setup.dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "spark").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    setup
        .finkctl()
        .env("KUBECONFIG", &kubeconfig)
        .env("TMPDIR", tmp.path())
        .args(["run", "dis", "--image=param_image", "-N", "20000101", "-v2"])
        .assert()
        .success()
        .stderr(
            // Debug logs (finkctl, kube, the runner) show neither the S3 keys nor the password.
            predicate::str::contains("running")
                .and(predicate::str::contains("minioadmin").not())
                .and(predicate::str::contains("changeme").not())
                .and(predicate::str::contains("Y2hhbmdlbWU").not()),
        );

    let secret = server
        .get_json("v1", "Secret", Some("spark"), "fink-kafka-jaas")
        .expect("the JAAS Secret");
    assert!(secret["data"]["kafka-jaas.conf"].is_string());
    let call = setup
        .fakes
        .calls("spark-submit")
        .pop()
        .expect("spark-submit was run");
    let template_conf = call
        .argv
        .iter()
        .find_map(|a| a.strip_prefix("spark.kubernetes.executor.podTemplateFile="))
        .expect("a pod template conf")
        .to_string();
    let pattern = regex::Regex::new(&format!(
        "^{}/fink-broker-[0-9]+/executor-pod-template.yaml$",
        regex::escape(&tmp.path().display().to_string())
    ))
    .unwrap();
    assert!(pattern.is_match(&template_conf), "{template_conf}");
    assert!(
        !Path::new(&template_conf).exists(),
        "the temp dir is removed after spark-submit"
    );

    let golden = read_fixture("distribution.out.expected");
    let mut expected = golden_argv(&golden);
    for arg in expected
        .iter_mut()
        .filter(|a| a.starts_with("spark.kubernetes.executor.podTemplateFile="))
    {
        *arg = format!("spark.kubernetes.executor.podTemplateFile={template_conf}");
    }
    for arg in expected
        .iter_mut()
        .filter(|a| *a == "spark.kubernetes.namespace=default")
    {
        *arg = "spark.kubernetes.namespace=spark".into();
    }
    let master = format!("k8s://{}", server.url());
    for arg in expected.iter_mut().filter(|a| a.starts_with("k8s://")) {
        *arg = master.clone();
    }
    assert_eq!(call.argv, expected[1..]);
}

#[test]
fn distribution_removes_its_temp_dir_when_the_pod_template_cannot_be_written() {
    use harness::apiserver::FakeApiServer;
    let server = FakeApiServer::start();
    server.apply_json(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}}),
    );
    let setup = Setup::new(Script::default());
    let kubeconfig = setup.dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "spark").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A file size limit of 0 (as on a full quota): the directory is created, the file is not.
    let finkctl = assert_cmd::cargo::cargo_bin("finkctl");
    Command::new("prlimit")
        .env_clear()
        .env("PATH", setup.fakes.path_env())
        .env("HOME", setup.dir.path())
        .env("FINKCONFIG", setup.dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .env("TMPDIR", tmp.path())
        .args(["--fsize=0", "env", "--ignore-signal=XFSZ"])
        .arg(&finkctl)
        .args(["run", "dis", "--image=param_image", "-N", "20000101"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::is_match(r"error: cannot write \S+/fink-broker-[0-9]+/executor-pod-template.yaml: ").unwrap());
    assert!(setup.fakes.calls("spark-submit").is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
