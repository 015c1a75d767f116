//! The argv sequences of `ktbx` commands against fake `kind`, `docker`, `helm` on PATH, their
//! output, failure paths and exit codes.

use std::path::Path;

use assert_cmd::Command;
use harness::fakebin::{FakeBins, Reply, Script};
use predicates::prelude::*;
use tempfile::TempDir;

use crate::support;

struct World {
    fakes: FakeBins,
    home: TempDir,
}

impl World {
    fn new() -> Self {
        let world = World {
            fakes: FakeBins::new(),
            home: tempfile::tempdir().unwrap(),
        };
        world.fakes.add("docker", Script::default());
        world.fakes.add(
            "kind",
            Script::default().on(&["version", "-q"], Reply::stdout("0.31.0\n")),
        );
        world
    }

    fn kind(&self, script: Script) -> &Self {
        self.fakes.add(
            "kind",
            script.on(&["version", "-q"], Reply::stdout("0.31.0\n")),
        );
        self
    }

    /// `ktbx` in a clean environment: only the fakes on PATH, HOME and the working dir in a temp dir.
    fn ktbx(&self) -> Command {
        let mut cmd = support::ktbx(self.home.path());
        cmd.env("PATH", self.fakes.path_env());
        cmd
    }

    fn argv(&self, name: &str) -> Vec<String> {
        support::argv(self.fakes.calls(name))
    }

    fn kind_calls(&self) -> Vec<String> {
        self.argv("kind")
            .into_iter()
            .filter(|c| c != "version -q")
            .collect()
    }

    fn write(&self, rel: &str, text: &str) -> std::path::PathBuf {
        let path = self.home.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

#[test]
fn version_output_is_exact_and_has_no_newline() {
    let w = World::new();
    let v = env!("CARGO_PKG_VERSION");
    w.ktbx()
        .arg("version")
        .assert()
        .success()
        .stdout(format!("k8s-toolbox, version: v{v}, checksum: "));
    w.ktbx()
        .args(["version", "-q"])
        .assert()
        .success()
        .stdout(format!("v{v}"));
}

#[test]
fn no_arguments_prints_help_and_succeeds() {
    World::new()
        .ktbx()
        .assert()
        .success()
        .stdout(predicate::str::contains("A high-level cli on top of kind"));
}

#[test]
fn usage_errors_exit_one() {
    let w = World::new();
    w.ktbx().arg("shell").assert().code(1);
    w.ktbx()
        .args(["install", "kubeclt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("kubectl"));
    w.ktbx().args(["-v"]).assert().code(1);
    w.ktbx().args(["create", "-c", "flannel"]).assert().code(1);
    assert!(w.fakes.calls("kind").is_empty());
}

#[test]
fn delete_runs_kind_with_and_without_a_name() {
    let w = World::new();
    w.ktbx()
        .arg("delete")
        .assert()
        .success()
        .stdout("Delete kind cluster <kind default>\n");
    w.ktbx()
        .args(["delete", "cluster", "-n", "ci"])
        .assert()
        .success();
    w.ktbx().args(["delete", "--name", "x"]).assert().success();
    assert_eq!(
        w.kind_calls(),
        vec![
            "delete cluster",
            "delete cluster --name ci",
            "delete cluster --name x"
        ]
    );
}

#[test]
fn delete_pattern_matches_anywhere_and_skips_empty_lines() {
    let w = World::new();
    w.kind(Script::default().on(
        &["get", "clusters"],
        Reply::stdout("fink-ci-1\nkind\nmy-fink-ci\n\n"),
    ));
    w.ktbx()
        .args(["delete", "-p", "fink-ci"])
        .assert()
        .success();
    assert_eq!(
        w.kind_calls(),
        vec![
            "get clusters",
            "delete cluster --name fink-ci-1",
            "delete cluster --name my-fink-ci"
        ]
    );
}

#[test]
fn delete_pattern_matching_everything_never_deletes_the_unnamed_default() {
    let w = World::new();
    w.kind(Script::default().on(&["get", "clusters"], Reply::stdout("a\n")));
    w.ktbx().args(["delete", "-p", ".*"]).assert().success();
    assert_eq!(
        w.kind_calls(),
        vec!["get clusters", "delete cluster --name a"]
    );
}

#[test]
fn invalid_pattern_is_an_error_not_a_panic() {
    let w = World::new();
    w.ktbx()
        .args(["delete", "-p", "("])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: invalid --pattern \"(\"",
        ));
    assert!(w.kind_calls().is_empty());
}

#[test]
fn delete_failure_exits_one() {
    let w = World::new();
    w.kind(Script::default().on(&["delete"], Reply::fail(3, "boom\n")));
    w.ktbx()
        .args(["delete", "-n", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Error while deleting cluster x"));
}

#[test]
fn delete_dry_run_prints_and_runs_nothing() {
    let w = World::new();
    harness::assert_cli_snapshot!(
        "delete_dry_run",
        w.ktbx().args(["delete", "-n", "x", "--dry-run"])
    );
    assert!(w.kind_calls().is_empty());
}

#[test]
fn names_with_shell_metacharacters_are_rejected_before_kind_runs() {
    let w = World::new();
    for name in ["a;touch pwned", "$(id)", "x y"] {
        w.ktbx()
            .args(["delete", "-n", name])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("invalid cluster name"));
        w.ktbx()
            .args(["create", "-n", name])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("invalid cluster name"));
    }
    assert!(w.kind_calls().is_empty());
    assert!(!w.home.path().join("pwned").exists());
}

/// A name `ciux get clustername` cut at 49 characters, from a real fink-broker branch.
const CUT_NAME: &str = "runner-2-add-support-for-revision-management-for-";

#[test]
fn cluster_names_are_what_kind_accepts_and_reach_kind_untrimmed() {
    let w = World::new();
    w.ktbx()
        .args(["delete", "--name", CUT_NAME])
        .assert()
        .success();
    w.ktbx()
        .args(["create", "-s", "--name", CUT_NAME, "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "kind create cluster --config '$TMPDIR/kind-config.yaml' --name {CUT_NAME}\n"
        )));
    // Longer than 50: kind's warning, not a refusal.
    let long = format!("{CUT_NAME}and-more");
    w.ktbx()
        .args(["create", "-s", "--name", &long, "--dry-run"])
        .assert()
        .success()
        .stderr(predicate::str::contains("kind warns above 50"));
    assert_eq!(
        w.kind_calls(),
        vec![
            format!("delete cluster --name {CUT_NAME}"),
            "get clusters".to_string(),
            "get clusters".to_string()
        ]
    );
    for bad in ["UPPER", "a_b", "--name=-x", "--name=.x"] {
        let name_args: Vec<&str> = if bad.starts_with("--") {
            vec![bad]
        } else {
            vec!["--name", bad]
        };
        for verb in ["create", "delete"] {
            w.ktbx()
                .arg(verb)
                .args(&name_args)
                .assert()
                .code(1)
                .stderr(predicate::str::contains(
                    "kind takes lower-case letters, digits, '.' and '-', starting with a letter or digit",
                ));
        }
    }
    assert_eq!(w.kind_calls().len(), 3);
}

#[test]
fn create_dry_run_prints_the_kind_config_and_the_commands() {
    let w = World::new();
    harness::assert_cli_snapshot!(
        "create_dry_run",
        w.ktbx().args(["create", "-s", "-n", "ci", "--dry-run"])
    );
    // Only read-only queries ran.
    assert_eq!(w.kind_calls(), vec!["get clusters"]);
}

#[test]
fn create_dry_run_plans_cni_components_and_kind_v0_32_patches() {
    let w = World::new();
    w.fakes.add(
        "kind",
        Script::default().on(&["version", "-q"], Reply::stdout("0.32.0\n")),
    );
    let out = w
        .ktbx()
        .args([
            "create",
            "-s",
            "-c",
            "calico",
            "-i",
            "argocd,olm",
            "--dry-run",
        ])
        .env("KTBX_INSTALL_DIR", w.home.path().join("bin"))
        .assert()
        .success();
    let out = support::stdout(&out);
    assert!(
        out.contains("apiVersion: kubeadm.k8s.io/v1beta4\n"),
        "{out}"
    );
    let calico = out.find("apply --server-side https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/tigera-operator.yaml").unwrap();
    let nodes = out.find("wait for nodes to be Ready").unwrap();
    let olm = out
        .find("operator-lifecycle-manager/releases/download/v0.28.0/crds.yaml")
        .unwrap();
    let argocd = out
        .find("apply --server-side Subscription/argocd-operator -n operators")
        .unwrap();
    assert!(calico < nodes && nodes < olm && olm < argocd, "{out}");
    assert!(!w.home.path().join("bin").exists());
}

#[test]
fn create_runs_kind_with_the_generated_config() {
    let w = World::new();
    // kind fails right after creating, so the test needs no API server; the config must have been passed.
    w.kind(Script::default().on(
        &["create"],
        Reply::fail(1, "ERROR: failed to create cluster\n"),
    ));
    w.ktbx()
        .args(["create", "-n", "ci", "-v", "2"])
        .assert()
        .code(1)
        .stdout("Create k8s cluster\n")
        .stderr(predicate::str::contains("kind create cluster failed"));
    let calls = w.fakes.calls("kind");
    let create = calls
        .iter()
        .find(|c| c.argv.first().map(String::as_str) == Some("create"))
        .unwrap();
    assert_eq!(create.argv[..3], ["create", "cluster", "--config"]);
    assert!(
        create.argv[3].ends_with("/kind-config.yaml"),
        "{:?}",
        create.argv
    );
    assert_eq!(create.argv[4..], ["--name", "ci", "--verbosity", "2"]);
    // The temp dir is cleaned up.
    assert!(!Path::new(&create.argv[3]).exists());
}

#[test]
fn existing_cluster_is_an_error_unless_asked_otherwise() {
    let w = World::new();
    w.kind(Script::default().on(&["get", "clusters"], Reply::stdout("ci\n")));
    w.ktbx()
        .args(["create", "-n", "ci"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "a kind cluster named ci already exists: use --if-not-exists",
        ));
    w.ktbx()
        .args(["create", "-n", "ci", "--if-not-exists"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Cluster ci already exists"));
    assert_eq!(w.kind_calls(), vec!["get clusters", "get clusters"]);
}

#[test]
fn recreate_deletes_first() {
    let w = World::new();
    w.kind(
        Script::default()
            .on(&["get", "clusters"], Reply::stdout("ci\n"))
            .on(&["create"], Reply::fail(1, "stop here\n")),
    );
    w.ktbx()
        .args(["create", "-n", "ci", "--recreate"])
        .assert()
        .code(1);
    let calls = w.kind_calls();
    assert_eq!(calls[..2], ["get clusters", "delete cluster --name ci"]);
    assert!(calls[2].starts_with("create cluster --config "));
}

#[test]
fn kind_missing_suggests_ktbx_install_kind() {
    let w = World::new();
    let empty = tempfile::tempdir().unwrap();
    w.ktbx()
        .env("PATH", empty.path())
        .arg("create")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`kind` not found on PATH: install it with `ktbx install kind`",
        ));
}

#[test]
fn no_container_runtime_is_a_preflight_error() {
    let w = World::new();
    let only_kind = FakeBins::new();
    only_kind.add("kind", Script::default());
    w.ktbx()
        .env("PATH", only_kind.dir())
        .arg("create")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "install docker, podman or nerdctl",
        ));
    assert!(only_kind.calls("kind").is_empty());
}

#[test]
fn config_errors_stop_create_before_kind_runs() {
    let w = World::new();
    w.write("config.yaml", "kind:\n  workers: -1\n");
    w.ktbx().arg("create").assert().code(1).stderr(
        predicate::str::contains("invalid config file")
            .and(predicate::str::contains("config.yaml")),
    );
    let missing_audit = w.write(
        ".ktbx/config",
        "kind:\n  auditPolicy: /nonexistent/audit.yaml\n",
    );
    std::fs::remove_file(w.home.path().join("config.yaml")).unwrap();
    w.ktbx()
        .arg("create")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "audit policy file not found: /nonexistent/audit.yaml",
        ));
    w.ktbx()
        .env("KTBXCONFIG", w.home.path().join("nope"))
        .arg("create")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope"));
    assert!(missing_audit.exists());
    assert!(w.kind_calls().is_empty());
}

#[test]
fn golden_config_from_the_sample_file() {
    let w = World::new();
    let audit = w.write(
        "audit-policy.yaml",
        include_str!("../fixtures/audit-policy.yaml"),
    );
    let text = include_str!("../fixtures/dot-config-audit")
        .replace("/tmp/audit-policy.yaml", audit.to_str().unwrap());
    let config = w.write("cfg/ktbx.yaml", &text);
    let out = w
        .ktbx()
        .env("KTBXCONFIG", &config)
        .args(["create", "--dry-run"])
        .assert()
        .success();
    let out = support::stdout(&out);
    assert!(out.contains(&format!("  - hostPath: {}\n    containerPath: /etc/kubernetes/policies/audit-policy.yaml\n    readOnly: true\n", audit.display())), "{out}");
    assert!(
        out.contains("registry.configs.\"docker-registry.docker-registry:5000\".tls]"),
        "{out}"
    );
    assert_eq!(out.matches("- role: worker\n").count(), 1);
}

#[test]
fn desk_dry_run_prints_the_docker_command_without_side_effects() {
    let w = World::new();
    let out = w
        .ktbx()
        .args(["desk", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    let home = w.home.path().display().to_string();
    assert!(line.starts_with(&format!("docker run -it --net=host --mount type=bind,source={home}/.ktbx/homefs,target={home} --mount type=bind,source={home}/.kube,target={home}/.kube --mount type=bind,source=/tmp,target=/tmp")), "{line}");
    assert!(line.contains("/kind,target=/usr/local/bin/kind "), "{line}");
    assert!(
        line.trim_end().ends_with(&format!(
            "-w {home} -- docker.io/k8sschool/k8s-toolbox:latest"
        )),
        "{line}"
    );
    assert!(!w.home.path().join(".ktbx").exists());
    assert!(w.fakes.calls("docker").is_empty());
    w.ktbx().args(["d", "--dry-run"]).assert().success();
}

#[test]
fn desk_on_a_terminal_mounts_a_home_with_a_colon_unambiguously() {
    let w = World::new();
    let home = w.home.path().join("ada:x,y");
    std::fs::create_dir(&home).unwrap();
    // `script` gives ktbx a real terminal, as a user running `ktbx desk` has.
    let ktbx = assert_cmd::cargo::cargo_bin("ktbx");
    Command::new("script")
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", w.fakes.path_env().to_string_lossy()),
        )
        .env("HOME", &home)
        .current_dir(&home)
        .args(["-qec", &format!("'{}' desk", ktbx.display()), "/dev/null"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Welcome in k8s toolbox desk"));
    let calls = w.fakes.calls("docker");
    assert_eq!(calls.len(), 1);
    let argv = &calls[0].argv;
    let h = home.display();
    let homefs_mount = format!("type=bind,\"source={h}/.ktbx/homefs\",\"target={h}\"");
    let kube_mount = format!("type=bind,\"source={h}/.kube\",\"target={h}/.kube\"");
    assert!(argv.contains(&homefs_mount), "{argv:?}");
    assert!(argv.contains(&kube_mount), "{argv:?}");
    assert!(!argv.iter().any(|a| a == "-v"), "{argv:?}");
    assert_eq!(argv.last().map(String::as_str), Some("bash"));
    // The bind sources exist (docker refuses a missing one; `-v` created them as root).
    assert!(home.join(".kube").is_dir() && home.join(".ktbx/homefs/.bashrc").is_file());
}

#[test]
fn desk_needs_a_terminal() {
    let w = World::new();
    w.ktbx()
        .arg("desk")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs a terminal"));
    assert!(w.fakes.calls("docker").is_empty());
}

#[test]
fn falco_and_prometheus_go_through_helm_upgrade_install() {
    let w = World::new();
    w.fakes.add("helm", Script::default());
    w.ktbx().args(["-n", "ci", "install", "fa", "prom", "--dry-run"]).assert().success().stdout(predicate::str::contains(
        "helm upgrade --install falco falcosecurity/falco --namespace falco --create-namespace --set tty=true --set falcosidekick.enabled=true --set falcosidekick.webui.enabled=true --kube-context kind-ci\n",
    ).and(predicate::str::contains(
        "helm upgrade --install prometheus-stack prometheus-community/kube-prometheus-stack --version 69.3.0 --namespace monitoring --create-namespace -f - --kube-context kind-ci\n",
    )));
    assert!(w.fakes.calls("helm").is_empty());
}

#[test]
fn completion_scripts() {
    let w = World::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        w.ktbx()
            .args(["completion", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("ktbx"));
    }
}

#[test]
fn image_and_port_mappings_reach_kind() {
    let w = World::new();
    let out = w
        .ktbx()
        .args([
            "create",
            "-s",
            "--image",
            "kindest/node:v1.36.1",
            "--port",
            "127.0.0.1:8080:80",
            "--dry-run",
        ])
        .assert()
        .success();
    let out = support::stdout(&out);
    // A 1.36 node uses kubeadm v1beta4 even with kind v0.31: both patches are written.
    assert!(
        out.contains("apiVersion: kubeadm.k8s.io/v1beta3\n")
            && out.contains("apiVersion: kubeadm.k8s.io/v1beta4\n")
    );
    assert!(out.contains("  extraPortMappings:\n  - containerPort: 80\n    hostPort: 8080\n    listenAddress: \"127.0.0.1\"\n"), "{out}");
    assert!(
        out.contains(
            "kind create cluster --config '$TMPDIR/kind-config.yaml' --image kindest/node:v1.36.1\n"
        ),
        "{out}"
    );
    w.ktbx()
        .args(["create", "--port", "80", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid port mapping"));
}

#[test]
fn image_references_are_checked_by_the_shared_validator() {
    let w = World::new();
    let digest = format!("sha256:{}", "0a".repeat(32));
    for bad in ["x;id", "UPPER/x", "x@sha256:12", "x\nid"] {
        w.ktbx()
            .args(["create", "--image", bad, "--dry-run"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "invalid image reference {bad:?}"
            )));
        w.ktbx()
            .args(["desk", "--image", bad, "--dry-run"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "invalid image reference {bad:?}"
            )));
    }
    let config = w.write(
        "cfg/ktbx.yaml",
        "kind:\n  workers: 0\n  image: UPPER/node:v1\n",
    );
    w.ktbx()
        .env("KTBXCONFIG", &config)
        .args(["create", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "ktbx.yaml:3:10: kind.image: invalid image reference \"UPPER/node:v1\": repository path components are lower-case",
        ));
    // kind's documented form, a tag pinned by digest, passes unchanged.
    let pinned = format!("kindest/node:v1.35.0@{digest}");
    w.write("cfg/ktbx.yaml", &format!("kind:\n  image: {pinned}\n"));
    w.ktbx()
        .env("KTBXCONFIG", &config)
        .args(["create", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("--image {pinned}\n")));
    w.ktbx()
        .args(["desk", "--image", "127.0.0.1:5000/my/desk:1", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("-- 127.0.0.1:5000/my/desk:1\n"));
    assert!(!w.kind_calls().iter().any(|c| c.starts_with("create")));
    assert!(w.fakes.calls("docker").is_empty());
}

#[test]
fn dash_dash_version_reads_no_config() {
    let w = World::new();
    w.write("config.yaml", "kind: [broken\n");
    w.ktbx()
        .env("KTBXCONFIG", w.home.path().join("missing"))
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("ktbx {}\n", env!("CARGO_PKG_VERSION")))
        .stderr("");
    w.ktbx()
        .args(["version", "-q", "extra"])
        .assert()
        .success()
        .stderr("");
}

#[test]
fn logs_go_to_stderr_and_data_to_stdout() {
    let w = World::new();
    w.write("config.yaml", "kind:\n  wrokers: 1\n");
    let run = |verbosity: &str| {
        let out = w
            .ktbx()
            .args(["create", "-s", "-n", "ci", "--dry-run", "-v", verbosity])
            .assert()
            .success()
            .get_output()
            .clone();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (stdout, stderr) = run("1");
    assert!(
        stdout.starts_with("Create k8s cluster\n# kind config "),
        "{stdout}"
    );
    assert!(!stdout.contains("Current ktbx configuration") && !stdout.contains("INFO"));
    assert!(stderr.contains("Current ktbx configuration"), "{stderr}");
    assert!(stderr.contains("Use config file"), "{stderr}");
    // Warnings are visible at the default level, info is not.
    let (_, stderr) = run("0");
    assert!(
        stderr.contains("unknown config key ignored") && stderr.contains("kind.wrokers"),
        "{stderr}"
    );
    assert!(!stderr.contains("Current ktbx configuration"), "{stderr}");
}

#[test]
fn negative_verbosity_means_debug_and_is_not_forwarded_to_kind() {
    let w = World::new();
    w.kind(Script::default().on(&["create"], Reply::fail(1, "stop\n")));
    w.ktbx()
        .args(["create", "cluster", "-n", "ci", "-v", "-1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ignoring extra arguments"));
    let create = w
        .kind_calls()
        .into_iter()
        .find(|c| c.starts_with("create "))
        .unwrap();
    assert!(create.ends_with(" --name ci"), "{create}");
}

#[test]
fn help_succeeds_and_parse_errors_exit_one_on_stderr() {
    let w = World::new();
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_create", &["help", "create"]),
        ("help_install", &["install", "--help"]),
    ] {
        harness::assert_cli_snapshot!(name, w.ktbx().args(args));
    }
    // The other spellings print the same.
    let help = |args: &[&str]| w.ktbx().args(args).output().unwrap();
    assert_eq!(help(&["help"]), help(&["--help"]));
    assert_eq!(help(&["create", "--help"]), help(&["help", "create"]));
    for args in [
        &["create", "--nope"][..],
        &["create", "--count", "x"],
        &["install"],
    ] {
        w.ktbx()
            .args(args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with("error: "));
    }
    w.ktbx()
        .args(["install", "kubeclt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "[possible values: argocd, argowf, falco, helm, kind, kubectl, olm, prometheus, telepresence]",
        ));
    w.ktbx()
        .args(["completion", "bash", "--no-descriptions"])
        .assert()
        .success();
}

#[test]
fn addon_versions_follow_config_env_and_pins() {
    let w = World::new();
    w.write(
        "config.yaml",
        "tools:\n  calico:\n    version: v3.29.0\n  argocd:\n    version: v2.13.0\n",
    );
    let out = w
        .ktbx()
        .env("KTBX_OLM_VERSION", "v0.30.0")
        .env("KTBX_INSTALL_DIR", w.home.path().join("bin"))
        .args([
            "create",
            "-s",
            "-c",
            "calico",
            "-i",
            "olm,argocd",
            "--dry-run",
        ])
        .assert()
        .success();
    let out = support::stdout(&out);
    assert!(out.contains("apply --server-side https://raw.githubusercontent.com/projectcalico/calico/v3.29.0/manifests/tigera-operator.yaml\n"), "{out}");
    assert!(out.contains("apply --server-side https://github.com/operator-framework/operator-lifecycle-manager/releases/download/v0.30.0/olm.yaml\n"), "{out}");
    assert!(
        out.contains("argoproj/argo-cd/releases/download/v2.13.0/argocd-"),
        "{out}"
    );
    assert!(out.contains("install argocd v2.13.0 as "), "{out}");
    w.ktbx()
        .args(["install", "prom", "--pin", "prometheus=70.1.0", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "helm upgrade --install prometheus-stack prometheus-community/kube-prometheus-stack --version 70.1.0 ",
        ));
    w.ktbx()
        .args(["install", "falco", "--pin", "falco=4.20.1", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "helm upgrade --install falco falcosecurity/falco --version 4.20.1 --namespace falco",
        ));
    w.ktbx()
        .env("KTBX_INSTALL_DIR", w.home.path().join("bin"))
        .args([
            "create",
            "-s",
            "-c",
            "cilium",
            "--pin",
            "cilium=1.19.0,cilium-cli=v0.19.0",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("cilium-cli/releases/download/v0.19.0/cilium-").and(
                predicate::str::contains("install --version 1.19.0 --context kind-kind\n"),
            ),
        );
    assert!(!w.home.path().join("bin").exists());
}

#[test]
fn a_bad_addon_version_stops_create_before_kind_runs() {
    let w = World::new();
    w.ktbx()
        .args(["create", "-c", "calico", "--pin", "calico=3.29.0"])
        .assert()
        .code(1)
        .stderr(
            "error: invalid calico version \"3.29.0\": expected a release version like v3.28.2\n",
        );
    w.write("config.yaml", "tools:\n  olm:\n    version: latest\n");
    w.ktbx()
        .args(["create", "-i", "olm"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid olm version \"latest\""));
    w.ktbx()
        .args(["install", "olm", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid olm version \"latest\""));
    assert!(w.kind_calls().is_empty());
}

#[test]
fn a_fifo_as_config_file_is_refused_instead_of_blocking() {
    let w = World::new();
    let fifo = w.home.path().join("config.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    w.ktbx()
        .env("KTBXCONFIG", &fifo)
        .args(["create", "--dry-run"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "config file {} is not a regular file (it is a FIFO)",
            fifo.display()
        )));
    assert!(w.kind_calls().is_empty());
}
