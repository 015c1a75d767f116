//! The users' shell flows of spec §5.3, run by bash against the built `ciux` on PATH, with a project
//! served by `git daemon`, the Debian registry on loopback, and fake `go`, `cargo` and `docker`.

use std::path::Path;
use std::process::Command;

use crate::support::{FakeBins, GitDaemon, Registry, Repo, Script, calls};

struct Stack {
    _tmp: tempfile::TempDir,
    _daemon: GitDaemon,
    registry: Registry,
    broker: Repo,
    fakes: FakeBins,
}

fn stack() -> Stack {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let reg = &registry;
    let remotes = tmp.path().join("remotes");
    let sim = Repo::init(&remotes.join("fink-alert-simulator"));
    sim.commit("c1", &[("README", "sim")]);
    sim.annotated("v3.2.0");
    let cd = Repo::init(&remotes.join("fink-cd"));
    cd.commit("c1", &[]);
    cd.git(&["branch", "-m", "main"]);
    let daemon = GitDaemon::serve(&remotes);
    let host = registry.host();
    reg.push_image("astrolabsoftware/fink/fink-alert-simulator", "v3.2.0");
    reg.push_image("astrolabsoftware/fink/stackable-hadoop", "v24.11.0");
    reg.push_image("astrolabsoftware/fink/fink-deps-noscience-ztf", "v2.54.9");
    let ciux_file = [
        "apiVersion: v1alpha1".to_string(),
        format!("registry: {host}/astrolabsoftware/fink"),
        "sourcePathes: [Dockerfile, fink_broker, bin]".into(),
        "dependencies:".into(),
        "  - package: github.com/k8s-school/ink@v0.0.1-rc5".into(),
        "    labels: {itest: \"true\"}".into(),
        format!("  - url: {}", daemon.url("fink-alert-simulator")),
        "    clone: true".into(),
        "    pull: true".into(),
        "    labels: {dev: \"true\", itest: \"true\", release: \"true\"}".into(),
        format!("  - url: {}", daemon.url("fink-cd")),
        "    labels: {dev: \"true\", itest: \"true\", release: \"true\"}".into(),
        "  - package: github.com/k8s-school/home-ci-reporter@v0.0.2-rc8".into(),
        "    labels: {itest: \"true\", gha_dispatch: \"true\"}".into(),
        format!("  - image: {host}/astrolabsoftware/fink/stackable-hadoop:v24.11.0"),
        "    labels: {itest: \"true\"}".into(),
        format!("  - image: {host}/astrolabsoftware/fink/fink-deps-noscience-ztf:v2.54.9"),
        "    labels: {build: \"noscience\"}".into(),
        "  - package: github.com/k8s-school/ktbx@v1.1.6-rc5".into(),
        "    labels: {itest: \"optional\"}".into(),
        "  - package: finkctl@3.1.3".into(),
        "    labels: {itest: \"optional\", ci: \"true\"}".into(),
    ]
    .join("\n");
    let broker = Repo::init(&tmp.path().join("work/fink-broker"));
    broker.commit(
        "c1",
        &[
            (".ciux", &ciux_file),
            ("Dockerfile", "FROM x"),
            ("fink_broker/a.py", "1"),
            ("bin/run", "1"),
            (".gitignore", "/.ciux.d\n"),
        ],
    );
    broker.annotated("v3.1.0");
    let fakes = FakeBins::new();
    fakes.add("go", Script::stdout(""));
    fakes.add("cargo", Script::stdout(""));
    fakes.add("docker", Script::stdout("Loaded image"));
    Stack {
        _tmp: tmp,
        _daemon: daemon,
        registry,
        broker,
        fakes,
    }
}

fn bash(stack: &Stack, script: &str, cwd: &Path, envs: &[(&str, String)]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("ciux");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows")
        .join(script);
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .arg(&stack.broker.dir)
        .current_dir(cwd)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.parent().unwrap().display(),
                stack.fakes.path_env().to_string_lossy()
            ),
        )
        .env("DIR", &stack.broker.dir)
        .env("CIUX_REGISTRY_TIMEOUT", "5")
        .env("DOCKER_CONFIG", "/nonexistent-ciux-test")
        .env("USER", "fink-ci")
        .env_remove("CIUXCONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn build_sh_builds_then_skips_once_the_image_exists() {
    let s = stack();
    let host = s.registry.host();
    let out = bash(&s, "build.sh", &s.broker.dir, &[]);
    let url = format!("{host}/astrolabsoftware/fink/fink-broker-noscience:v3.1.0");
    assert!(out.ends_with(&format!("built {url}\n")), "{out}");
    assert_eq!(
        calls(&s.fakes, "docker"),
        [format!(
            "image build --tag {url} --build-arg base_image={host}/astrolabsoftware/fink/fink-deps-noscience-ztf:v2.54.9 {}",
            s.broker.dir.display()
        )]
    );
    assert!(
        s.broker
            .dir
            .join(".ciux.d/ciux_build_noscience.sh")
            .is_file()
    );
    // Once pushed, a commit outside the sources reuses it.
    s.registry
        .push_image("astrolabsoftware/fink/fink-broker-noscience", "v3.1.0");
    s.broker.commit("docs", &[("README.md", "doc")]);
    let out = bash(&s, "build.sh", &s.broker.dir, &[]);
    assert!(
        out.contains(&format!("Image {url} already exists, skipping build")),
        "{out}"
    );
}

#[test]
fn github_e2e_steps() {
    let s = stack();
    let host = s.registry.host();
    s.broker.git(&["checkout", "-q", "-b", "my-feature"]);
    s.broker.commit("feat", &[("fink_broker/b.py", "2")]);
    let version = format!("v3.1.0-1-g{}", s.broker.short());
    s.broker.git(&["checkout", "-q", "--detach"]);
    let artifact = s.broker.dir.join("image.tar");
    std::fs::write(&artifact, "tar").unwrap();
    let out = bash(
        &s,
        "e2e.sh",
        &s.broker.dir,
        &[
            ("GHA_BRANCH_NAME", "my-feature".into()),
            ("SUFFIX", "noscience".into()),
            ("ARTIFACT", artifact.display().to_string()),
        ],
    );
    assert!(out.contains("# Label selector: itest\n"), "{out}");
    assert!(
        out.contains(&format!("cluster=fink-ci-head-{}\n", &s.broker.head()[..6])),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "promoted={host}/astrolabsoftware/fink/fink-broker-noscience:{version} build=true\n"
        )),
        "{out}"
    );
    assert!(out.contains("cd_branch=main\n"), "{out}");
    assert!(
        out.contains("Cleanup completed: removed 0 images\n"),
        "{out}"
    );
    let go = calls(&s.fakes, "go");
    assert!(
        go.contains(&"install -- github.com/k8s-school/ktbx@v1.1.6-rc5".to_string()),
        "itest selects optional: {go:?}"
    );
    assert!(calls(&s.fakes, "docker").contains(&format!("load --input {}", artifact.display())));
}

#[test]
fn finkctl_ciuxconfig_and_release_flows() {
    let s = stack();
    let out_dir = tempfile::tempdir().unwrap();
    let out = bash(
        &s,
        "finkctl_ci.sh",
        &s.broker.dir,
        &[("OUT", out_dir.path().display().to_string())],
    );
    assert!(
        out.contains(&format!(
            "url={}/astrolabsoftware/fink/fink-broker:v3.1.0\n",
            s.registry.host()
        )),
        "{out}"
    );
    assert_eq!(
        calls(&s.fakes, "cargo"),
        ["install --locked -- finkctl@3.1.3"]
    );
    let out = bash(&s, "release.sh", &s.broker.dir, &[]);
    assert!(out.starts_with("  git://127.0.0.1:"), "{out}");
    assert!(
        out.contains("/fink-alert-simulator\n  git://127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.ends_with("git tag -m \"Release v3.1.1-rc0\" v3.1.1-rc0\ngit push --tag\n"),
        "{out}"
    );
    assert!(s.broker.dir.join(".ciux.d/ciux_gha_dispatch.sh").is_file());
}
