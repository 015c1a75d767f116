//! `finkctl run <task>` executing spark-submit: a fake `spark-submit` (harness::fakebin) records
//! its argv, which must be the golden's tokens without the shell quotes.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use harness::apiserver::FakeApiServer;
use harness::fakebin::{FakeBins, Script};
use predicates::prelude::*;
use serde_json::{Value, json};

use crate::support::{self, conf, read_fixture, write_sample_config};

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

    /// A fake API server, its kubeconfig (context namespace `namespace`) in the directory, and
    /// the kubeconfig's path.
    fn server(&self, namespace: &str) -> (FakeApiServer, PathBuf) {
        let server = FakeApiServer::start();
        let kubeconfig = self.dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig, namespace).unwrap();
        (server, kubeconfig)
    }

    fn finkctl(&self) -> Command {
        let mut cmd = support::finkctl(self.dir.path());
        cmd.env("PATH", self.fakes.path_env())
            .env("FINKCONFIG", self.dir.path());
        cmd
    }
}

/// A driver pod that ended with `phase`, its container terminated with `exit_code`/`reason`.
fn driver_status(phase: &str, exit_code: i32, reason: &str) -> Value {
    json!({
        "phase": phase,
        "containerStatuses": [{
            "name": "spark-kubernetes-driver", "ready": false, "restartCount": 0,
            "image": "param_image", "imageID": "",
            "state": {"terminated": {"exitCode": exit_code, "reason": reason}}
        }]
    })
}

/// Runs `cmd` while playing Spark's part: once the fake spark-submit has been called, the driver
/// pod it named appears in `server`, in its namespace, with `status`.
fn run_as_spark(
    server: &FakeApiServer,
    fakes: &FakeBins,
    status: Value,
    cmd: Command,
) -> assert_cmd::assert::Assert {
    let driver = |argv: &[String]| {
        let name = conf(argv, "spark.kubernetes.driver.pod.name").expect("the driver pod is named");
        let namespace = conf(argv, "spark.kubernetes.namespace").unwrap();
        vec![json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "param_image"}]},
            "status": status,
        })]
    };
    support::run_as_spark(server, fakes, driver, cmd)
}

/// The argv of a real run: the golden's, with the driver pod name (and the context) after
/// `--deploy-mode cluster`.
fn with_real_run_confs(mut expected: Vec<String>, call: &[String], context: &str) -> Vec<String> {
    let driver = conf(call, "spark.kubernetes.driver.pod.name").unwrap();
    let at = expected.iter().position(|a| a == "cluster").unwrap() + 1;
    expected.splice(
        at..at,
        [
            "--conf".to_string(),
            format!("spark.kubernetes.driver.pod.name={driver}"),
            "--conf".to_string(),
            format!("spark.kubernetes.context={context}"),
        ],
    );
    expected
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
    let setup = Setup::new(Script::default().record_env("KUBECONFIG"));
    let (server, kubeconfig) = setup.server("default");
    for (task, golden) in [
        ("stream2raw", "stream2raw.out.expected"),
        ("raw2science", "raw2science.out.expected"),
    ] {
        let mut cmd = setup.finkctl();
        cmd.env("KUBECONFIG", &kubeconfig).args([
            "run",
            task,
            "--image=param_image",
            "-N",
            "20000101",
            "-v1",
        ]);
        run_as_spark(
            &server,
            &setup.fakes,
            driver_status("Succeeded", 0, "Completed"),
            cmd,
        )
        .success()
        .stderr(
            predicate::str::contains("running").and(predicate::str::contains("minioadmin").not()),
        );
        let call = setup
            .fakes
            .calls("spark-submit")
            .pop()
            .expect("spark-submit was run");
        let driver = conf(&call.argv, "spark.kubernetes.driver.pod.name").unwrap();
        assert!(
            regex::Regex::new(&format!("^{task}-20000101-[0-9a-f]{{8}}-driver$"))
                .unwrap()
                .is_match(driver),
            "{driver}"
        );
        let mut expected = golden_argv(&read_fixture(golden));
        assert_eq!(expected.remove(0), "spark-submit");
        for arg in expected.iter_mut().filter(|a| a.starts_with("k8s://")) {
            *arg = format!("k8s://{}", server.url());
        }
        assert_eq!(call.argv, with_real_run_confs(expected, &call.argv, "fake"));
        assert_eq!(
            call.env.get("KUBECONFIG").map(String::as_str),
            kubeconfig.to_str()
        );
    }
}

#[test]
fn a_failed_driver_pod_fails_the_run_with_its_reason() {
    // pyspark 4's spark-submit exits 0 when the driver pod ends Failed.
    let setup = Setup::new(Script::default());
    let (server, kubeconfig) = setup.server("spark");
    let mut cmd = setup.finkctl();
    cmd.env("KUBECONFIG", &kubeconfig)
        .args(["run", "r", "--image=param_image", "-N", "20000101"]);
    let assert = run_as_spark(
        &server,
        &setup.fakes,
        driver_status("Failed", 137, "OOMKilled"),
        cmd,
    )
    .code(1);
    let call = setup.fakes.calls("spark-submit").pop().unwrap();
    let driver = conf(&call.argv, "spark.kubernetes.driver.pod.name").unwrap();
    assert.stderr(format!(
        "error: spark-submit for raw2science returned: the driver pod spark/{driver} failed: container spark-kubernetes-driver: OOMKilled, exit code 137\n"
    ));
}

#[test]
fn spark_submit_uses_the_kubeconfig_and_context_finkctl_uses() {
    let server = FakeApiServer::start();
    let setup = Setup::new(Script::default().record_env("KUBECONFIG"));
    // The current context points nowhere; --context other is the fake server.
    let kubeconfig = setup.dir.path().join("two-contexts");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: current\n  context:\n    cluster: nowhere\n    user: u\n- name: other\n  context:\n    cluster: fake\n    user: u\n    namespace: spark\ncurrent-context: current\nusers:\n- name: u\n  user: {{}}\n",
            server.url()
        ),
    )
    .unwrap();
    let mut cmd = setup.finkctl();
    // $KUBECONFIG names another file: spark-submit must not use it.
    cmd.arg("--kubeconfig").arg(&kubeconfig).args([
        "--context",
        "other",
        "run",
        "r",
        "--image=param_image",
        "-N",
        "20000101",
    ]);
    run_as_spark(
        &server,
        &setup.fakes,
        driver_status("Succeeded", 0, "Completed"),
        cmd,
    )
    .success();
    let call = setup.fakes.calls("spark-submit").pop().unwrap();
    assert_eq!(
        call.env.get("KUBECONFIG").map(String::as_str),
        kubeconfig.to_str()
    );
    assert_eq!(conf(&call.argv, "spark.kubernetes.context"), Some("other"));
    assert_eq!(
        conf(&call.argv, "spark.kubernetes.namespace"),
        Some("spark")
    );
    assert!(call.argv.contains(&format!("k8s://{}", server.url())));
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
    let setup = Setup::new(Script::default());
    let (server, kubeconfig) = setup.server("spark");
    server.apply_json(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}}),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = setup.finkctl();
    cmd.env("KUBECONFIG", &kubeconfig)
        .env("TMPDIR", tmp.path())
        .args(["run", "dis", "--image=param_image", "-N", "20000101", "-v2"]);
    run_as_spark(
        &server,
        &setup.fakes,
        driver_status("Succeeded", 0, "Completed"),
        cmd,
    )
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
    expected.remove(0);
    assert_eq!(call.argv, with_real_run_confs(expected, &call.argv, "fake"));
}

#[test]
fn distribution_removes_its_temp_dir_when_the_pod_template_cannot_be_written() {
    let setup = Setup::new(Script::default());
    let (server, kubeconfig) = setup.server("spark");
    server.apply_json(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spark"}}),
    );
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
        .stderr(
            predicate::str::is_match(
                r"error: cannot write \S+/fink-broker-[0-9]+/executor-pod-template.yaml: ",
            )
            .unwrap(),
        );
    assert!(setup.fakes.calls("spark-submit").is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn image_references_are_checked_before_spark_submit_runs() {
    let setup = Setup::new(Script::default());
    for bad in ["img:1\n--conf x=y", "UPPER/x", "x@sha256:12"] {
        setup
            .finkctl()
            .args(["run", "r", "--image", bad, "-N", "20000101"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "invalid image reference {bad:?}"
            )));
    }
    write_sample_config(setup.dir.path(), |c| {
        c.replace(
            "gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker:2.7.1-33-ge27a2aa-dirty",
            "\"fink-broker:2.7.1\\n  --conf x=y\"",
        )
    });
    setup
        .finkctl()
        .args(["run", "r", "-N", "20000101"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "config key run.image: invalid image reference \"fink-broker:2.7.1\\n  --conf x=y\"",
        ));
    assert!(setup.fakes.calls("spark-submit").is_empty());
}
