//! The command lines users and CI scripts really run (spec §9, the README, the e2e workflow),
//! one table: each must parse and behave — exit code, stdout, stderr and the argv ktbx gives
//! to kind and helm — against fakes on PATH, a fake API server and a release server.

use harness::apiserver::FakeApiServer;
use harness::fakebin::{FakeBins, Reply, Script};
use harness::release::ReleaseServer;
use serde_json::json;
use tempfile::TempDir;

use crate::support;

/// One real command line and what it must do.
struct Line {
    argv: &'static [&'static str],
    /// What `kind get clusters` answers.
    clusters: &'static str,
    code: i32,
    /// Every line of stdout, in order (`{bin}`: the install directory).
    stdout: &'static [&'static str],
    /// A text stderr must contain ("" for anything).
    stderr: &'static str,
    /// The kind calls besides `kind version -q` (`<config>`: the generated config file).
    kind: &'static [&'static str],
    /// The helm calls besides `helm version --short`.
    helm: &'static [&'static str],
}

const NO_CALLS: &[&str] = &[];

const LINES: &[Line] = &[
    Line {
        argv: &["install", "kind", "--kind-version=v0.20.0"],
        clusters: "",
        code: 0,
        stdout: &[
            "Install kind",
            "Successfully installed kind v0.20.0 in {bin}",
        ],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "kind"],
        clusters: "",
        code: 0,
        stdout: &["Install kind", "INFO: kind v0.31.0 is already installed"],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "kubectl"],
        clusters: "",
        code: 0,
        stdout: &[
            "Install kubectl",
            "INFO: kubectl v1.35.0 is already installed",
        ],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "helm"],
        clusters: "",
        code: 0,
        stdout: &["Install helm", "INFO: helm v3.16.2 is already installed"],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "kind", "kubectl", "helm"],
        clusters: "",
        code: 0,
        stdout: &[
            "Install kind",
            "Install kubectl",
            "Install helm",
            "INFO: kind v0.31.0 is already installed",
            "INFO: kubectl v1.35.0 is already installed",
            "INFO: helm v3.16.2 is already installed",
        ],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["create"],
        clusters: "",
        code: 0,
        stdout: &["Create k8s cluster"],
        stderr: "",
        kind: &[
            "get clusters",
            "create cluster --config <config>",
            "get nodes --name kind",
        ],
        helm: NO_CALLS,
    },
    Line {
        argv: &["create", "-s"],
        clusters: "",
        code: 0,
        stdout: &["Create k8s cluster"],
        stderr: "",
        kind: &[
            "get clusters",
            "create cluster --config <config>",
            "get nodes --name kind",
        ],
        helm: NO_CALLS,
    },
    Line {
        argv: &["create", "-s", "-n", "user-main-abc123"],
        clusters: "",
        code: 0,
        stdout: &["Create k8s cluster"],
        stderr: "",
        kind: &[
            "get clusters",
            "create cluster --config <config> --name user-main-abc123",
            "get nodes --name user-main-abc123",
        ],
        helm: NO_CALLS,
    },
    Line {
        argv: &["create", "-s", "-n", "fink-ci"],
        clusters: "fink-ci\n",
        code: 1,
        stdout: &["Create k8s cluster"],
        stderr: "error: a kind cluster named fink-ci already exists: use --if-not-exists to keep it, --recreate to replace it, or `ktbx delete -n fink-ci`\n",
        kind: &["get clusters"],
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "falco"],
        clusters: "",
        code: 0,
        stdout: &[],
        stderr: "",
        kind: NO_CALLS,
        helm: &[
            "repo add falcosecurity https://falcosecurity.github.io/charts --force-update",
            "upgrade --install falco falcosecurity/falco --namespace falco --create-namespace --set tty=true --set falcosidekick.enabled=true --set falcosidekick.webui.enabled=true",
        ],
    },
    Line {
        argv: &["delete"],
        clusters: "",
        code: 0,
        stdout: &["Delete kind cluster <kind default>"],
        stderr: "",
        kind: &["delete cluster"],
        helm: NO_CALLS,
    },
    Line {
        argv: &["delete", "--name", "fink-ci"],
        clusters: "",
        code: 0,
        stdout: &["Delete kind cluster fink-ci"],
        stderr: "",
        kind: &["delete cluster --name fink-ci"],
        helm: NO_CALLS,
    },
    Line {
        argv: &["delete", "cluster", "-n", "fink-ci"],
        clusters: "",
        code: 0,
        stdout: &["Delete kind cluster fink-ci"],
        stderr: "",
        kind: &["delete cluster --name fink-ci"],
        helm: NO_CALLS,
    },
    // The README's stale-cluster line; the fake docker knows no creation time, so nothing goes.
    Line {
        argv: &["delete", "-p", "^ci-", "--older-than", "6h", "--dry-run"],
        clusters: "ci-1\nkind\n",
        code: 0,
        stdout: &["No kind cluster matches \"^ci-\" and is older than 6h0m0s"],
        stderr: "keeping cluster ci-1: reading the creation time of ci-1-control-plane",
        kind: &["get clusters"],
        helm: NO_CALLS,
    },
    Line {
        argv: &["delete", "-p", "fink-ci"],
        clusters: "fink-ci-1\nkind\nmy-fink-ci\n",
        code: 0,
        stdout: &[
            "Delete kind cluster fink-ci-1",
            "Delete kind cluster my-fink-ci",
        ],
        stderr: "",
        kind: &[
            "get clusters",
            "delete cluster --name fink-ci-1",
            "delete cluster --name my-fink-ci",
        ],
        helm: NO_CALLS,
    },
    Line {
        argv: &["delete", "-p", "fink-ci"],
        clusters: "",
        code: 0,
        stdout: &["No kind cluster matches \"fink-ci\""],
        stderr: "",
        kind: &["get clusters"],
        helm: NO_CALLS,
    },
    // Tests have no terminal: desk refuses instead of hanging in `docker run -it`.
    Line {
        argv: &["desk"],
        clusters: "",
        code: 1,
        stdout: &[],
        stderr: "error: ktbx desk needs a terminal",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["version", "-q"],
        clusters: "",
        code: 0,
        stdout: &[concat!("v", env!("CARGO_PKG_VERSION"))],
        stderr: "",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install", "kubeclt"],
        clusters: "",
        code: 1,
        stdout: &[],
        stderr: "error: invalid value 'kubeclt' for '[TOOL]...'\n  [possible values: argocd, argowf, falco, helm, kind, kubectl, olm, prometheus, telepresence]",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
    Line {
        argv: &["install"],
        clusters: "",
        code: 1,
        stdout: &[],
        stderr: "error: which tool? `ktbx install TOOL...` where TOOL is one of argocd, argowf, falco, helm, kind, kubectl, olm, prometheus, telepresence (aliases: fa, prom)\n",
        kind: NO_CALLS,
        helm: NO_CALLS,
    },
];

/// Go's os/arch names of this machine, as in the release URLs.
fn platform() -> (&'static str, &'static str) {
    let os = if cfg!(target_os = "macos") {
        "darwin"
    } else {
        "linux"
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (os, arch)
}

struct World {
    api: FakeApiServer,
    release: ReleaseServer,
    fakes: FakeBins,
    home: TempDir,
}

impl World {
    /// Fakes of kind, kubectl and helm at their pinned versions on PATH, which is also
    /// `$KTBX_INSTALL_DIR`; a Ready node and a Ready falco pod in the API server.
    fn new(clusters: &str) -> Self {
        let w = World {
            api: FakeApiServer::start(),
            release: ReleaseServer::start(),
            fakes: FakeBins::new(),
            home: tempfile::tempdir().unwrap(),
        };
        w.fakes.add("docker", Script::default());
        w.fakes.add(
            "kind",
            Script::default()
                .on(&["version", "-q"], Reply::stdout("0.31.0\n"))
                .on(&["get", "clusters"], Reply::stdout(clusters))
                .on(&["get", "nodes"], Reply::stdout("kind-control-plane\n")),
        );
        w.fakes.add(
            "kubectl",
            Script::default().on(
                &["version", "--client"],
                Reply::stdout("Client Version: v1.35.0\nKustomize Version: v5.7.1\n"),
            ),
        );
        w.fakes.add(
            "helm",
            Script::default().on(&["version", "--short"], Reply::stdout("v3.16.2+g13654a5\n")),
        );
        let (os, arch) = platform();
        w.release.add_file(
            &format!("/kubernetes-sigs/kind/releases/download/v0.20.0/kind-{os}-{arch}"),
            "#!/bin/sh\necho 0.20.0\n",
        );
        w.api.apply_json(json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "kind-control-plane"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }));
        w.api.apply_json(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "falco-x", "namespace": "falco"},
            "spec": {"containers": [{"name": "falco", "image": "falco"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let contexts: String = ["kind", "fink-ci", "user-main-abc123"]
            .iter()
            .map(|c| format!("- name: kind-{c}\n  context:\n    cluster: c\n    user: u\n"))
            .collect();
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\ncontexts:\n{contexts}current-context: kind-kind\nusers:\n- name: u\n  user: {{}}\n",
            w.api.url()
        );
        std::fs::write(w.home.path().join("kubeconfig"), kubeconfig).unwrap();
        w
    }

    fn calls(&self, name: &str, skip: &[&str]) -> Vec<String> {
        support::argv(self.fakes.calls(name))
            .into_iter()
            .filter(|c| !skip.contains(&c.as_str()))
            .map(|c| {
                // The config file is a fresh temp file: name it by role.
                let mut words: Vec<&str> = c.split(' ').collect();
                if let Some(i) = words.iter().position(|w| *w == "--config") {
                    assert!(
                        !std::path::Path::new(words[i + 1]).exists(),
                        "temp config left behind"
                    );
                    words[i + 1] = "<config>";
                }
                words.join(" ")
            })
            .collect()
    }
}

#[test]
fn real_command_lines_parse_and_behave() {
    for line in LINES {
        let w = World::new(line.clusters);
        let assert = support::ktbx(w.home.path())
            .env("PATH", w.fakes.path_env())
            .env("KUBECONFIG", w.home.path().join("kubeconfig"))
            .env("KTBX_INSTALL_DIR", w.fakes.dir())
            .env("KTBX_DOWNLOAD_MIRROR", w.release.url(""))
            .args(line.argv)
            .assert();
        let output = assert.get_output();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let context = format!(
            "ktbx {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            line.argv.join(" ")
        );
        assert_eq!(output.status.code(), Some(line.code), "{context}");
        let bin = w.fakes.dir().display().to_string();
        let expected: Vec<String> = line
            .stdout
            .iter()
            .map(|l| l.replace("{bin}", &bin))
            .collect();
        assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{context}");
        assert!(stderr.contains(line.stderr), "{context}");
        assert_eq!(w.calls("kind", &["version -q"]), line.kind, "{context}");
        assert_eq!(
            w.calls("helm", &["version --short"]),
            line.helm,
            "{context}"
        );
    }
}
