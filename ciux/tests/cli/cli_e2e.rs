//! End-to-end cases of the spec (§5.2 `_e2e` scripts, project_test, error cases) against the built binary,
//! with real git repositories, `git daemon` and the Debian `docker-registry` on loopback.

use std::path::Path;

use crate::support::{FakeBins, GitDaemon, Registry, Repo, Script, calls, ciux};
use predicates::prelude::*;

/// `_e2e/create_git_repo.sh`: `.ciux` with `sourcePathes: [rootfs]`, one commit, ignite with
/// `--selector itest=true`, then `rootfs/hello.txt` and the annotated tag v1.0.0.
fn create_git_repo(dir: &Path, registry: &str) -> Repo {
    let r = Repo::init(dir);
    r.commit(
        "init",
        &[(
            ".ciux",
            &format!("apiVersion: v1alpha1\nregistry: {registry}\nsourcePathes:\n  - rootfs\n"),
        )],
    );
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    ciux()
        .args(["ignite"])
        .arg(dir)
        .args(["--selector", "itest=true"])
        .assert()
        .success();
    assert!(dir.join(".ciux.d/ciux_itest_true.sh").is_file());
    r.commit("hello", &[("rootfs/hello.txt", "hello")]);
    r.annotated("v1.0.0");
    r
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn get_imagetag() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/test_org", reg.host());
    let dir = d.path().join("get_imagetag");
    let r = create_git_repo(&dir, &registry);
    let image = |check: bool| {
        let mut c = ciux();
        c.args(["get", "image"]).arg(&dir);
        if check {
            c.arg("--check");
        }
        stdout_of(&mut c)
    };
    assert_eq!(
        image(false),
        format!("Image: {registry}/get_imagetag:v1.0.0, in registry: false\n")
    );
    r.commit("hello2", &[("hello2.txt", "2")]);
    assert_eq!(
        image(false),
        format!(
            "Image: {registry}/get_imagetag:v1.0.0-1-g{}, in registry: false\n",
            r.short()
        )
    );
    r.commit("hello3", &[("rootfs/hello3.txt", "3")]);
    let expected = format!(
        "Image: {registry}/get_imagetag:v1.0.0-2-g{}, in registry: false\n",
        r.short()
    );
    assert_eq!(image(false), expected);
    assert_eq!(image(true), expected);
    // The alias and the --env form that build.sh evaluates.
    let env = stdout_of(
        ciux()
            .args(["get", "img", "-c", "-e", "-p", "noscience"])
            .arg(&dir),
    );
    assert_eq!(
        env,
        format!(
            "export CIUX_IMAGE_URL={registry}/get_imagetag-noscience:v1.0.0-2-g{}\nexport CIUX_BUILD=true\n",
            r.short()
        )
    );
}

/// An image built at an older commit still holds the current sources: it is reused (oldest first).
#[test]
fn existing_image_of_an_older_commit_is_reused() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/fink", reg.host());
    let dir = d.path().join("proj");
    let r = create_git_repo(&dir, &registry);
    r.commit("src", &[("rootfs/a", "1")]);
    let src_version = format!("v1.0.0-1-g{}", r.short());
    r.commit("doc", &[("README", "doc")]);
    let doc_version = format!("v1.0.0-2-g{}", r.short());
    reg.push_image("fink/proj", &doc_version);
    reg.push_image("fink/proj", &src_version);
    let out = stdout_of(ciux().args(["get", "image", "--check"]).arg(&dir));
    assert_eq!(
        out,
        format!("Image: {registry}/proj:{src_version}, in registry: true\n")
    );
    let env = stdout_of(
        ciux()
            .args(["get", "image", "--check", "--env", "-t", "tmp.io"])
            .arg(&dir),
    );
    assert_eq!(
        env,
        format!("export CIUX_IMAGE_URL={registry}/proj:{src_version}\nexport CIUX_BUILD=false\n")
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        ciux().args(["get", "image", "-c", "-o", "json"]).arg(&dir),
    ))
    .unwrap();
    assert_eq!(json["in_registry"], true);
    assert_eq!(
        json["promoted_url"],
        format!("{registry}/proj:{doc_version}")
    );
}

#[test]
fn get_revision_isrelease() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("get_revision");
    let r = create_git_repo(&dir, &format!("{}/x", reg.host()));
    assert_eq!(
        stdout_of(ciux().args(["get", "revision", "--isrelease"]).arg(&dir)),
        "v1.0.0\n"
    );
    let full = stdout_of(ciux().args(["get", "rev"]).arg(&dir));
    assert_eq!(
        full,
        format!(
            "Revision: &{{Tag:v1.0.0 Counter:0 Hash:{} Dirty:false Branch:master}}\n",
            r.head()
        )
    );
    r.commit("hello2", &[("hello2.txt", "2")]);
    assert_eq!(
        stdout_of(ciux().args(["get", "revision", "-r"]).arg(&dir)),
        ""
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        ciux().args(["get", "revision", "-o", "json"]).arg(&dir),
    ))
    .unwrap();
    assert_eq!(json["counter"], 1);
    assert_eq!(json["version"], format!("v1.0.0-1-g{}", r.short()));
}

fn ciux_bin_dir() -> String {
    let bin = assert_cmd::cargo::cargo_bin("ciux");
    bin.parent().unwrap().display().to_string()
}

#[test]
fn get_configpath_and_the_helper_script() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let registry = format!("{}/test_org", reg.host());
    let dir = d.path().join("get_configpath");
    create_git_repo(&dir, &registry);
    ciux()
        .args(["ignite", "-l", "e2e"])
        .arg(&dir)
        .assert()
        .success();
    let path = stdout_of(ciux().args(["get", "configpath", "-l", "e2e"]).arg(&dir));
    assert_eq!(path, format!("{}/.ciux.d/ciux_e2e.sh\n", dir.display()));
    assert_eq!(
        stdout_of(ciux().args(["get", "cp", "-l", "e2e"]).arg(&dir)),
        path
    );
    let script = format!(
        "set -e\nSELECTOR=e2e . '{}/.ciux.d/ciuxconfig.sh'\necho \"ciuxconfig=$ciuxconfig\"\necho \"url=$CIUX_IMAGE_URL\"\n",
        dir.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env(
            "PATH",
            format!("{}:{}", ciux_bin_dir(), std::env::var("PATH").unwrap()),
        )
        .env_remove("CIUXCONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "ciuxconfig={}/.ciux.d/ciux_e2e.sh\n",
            dir.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("url={registry}/get_configpath:v1.0.0\n")),
        "{stdout}"
    );
    // The helper returns instead of killing the sourcing shell.
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                ". '{}/.ciux.d/ciuxconfig.sh'; echo still-alive",
                dir.display()
            ),
        ])
        .env_remove("SELECTOR")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("still-alive"));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Selector environment variable ($SELECTOR) is required.")
    );
    // A selector never ignited has no file.
    ciux()
        .args(["get", "configpath", "-l", "ci"])
        .arg(&dir)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "ciux configuration file not found at {}/.ciux.d/ciux_ci.sh",
            dir.display()
        )));
}

#[test]
fn selector_file_names_and_ciuxconfig_override() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("names");
    create_git_repo(&dir, &format!("{}/o", reg.host()));
    for (sel, file) in [
        ("itest", "ciux_itest.sh"),
        ("itest,ci", "ciux_ci-itest.sh"),
        ("build=noscience", "ciux_build_noscience.sh"),
        ("a==b", "ciux_a__b.sh"),
        ("a in (y,x)", "ciux_a in (x-y).sh"),
    ] {
        ciux()
            .args(["ignite", "--selector", sel])
            .arg(&dir)
            .assert()
            .success();
        assert!(dir.join(".ciux.d").join(file).is_file(), "{sel} → {file}");
    }
    ciux()
        .args(["ignite", "--main", "-l", "itest"])
        .arg(&dir)
        .assert()
        .success();
    assert!(dir.join(".ciux.d/ciux_project_core.sh").is_file());
    let text = std::fs::read_to_string(dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(text.starts_with("# Label selector: project=core\n"));
    let custom = d.path().join("ciux.sh");
    ciux()
        .env("CIUXCONFIG", &custom)
        .args(["ignite", "--selector", "ci"])
        .arg(&dir)
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&custom)
            .unwrap()
            .starts_with("# Label selector: ci\n")
    );
    let path = stdout_of(
        ciux()
            .env("CIUXCONFIG", &custom)
            .args(["get", "configpath", "-l", "ci"])
            .arg(&dir),
    );
    assert_eq!(path, format!("{}\n", custom.display()));
    ciux()
        .args(["ignite", "--selector", "a in x"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("unable to parse label selector"));
}

/// A project with a cloned + pulled dependency, a remote-only one, an image and a package, served by
/// `git daemon`: branch rule, sibling clones, image checks, env file byte for byte.
#[test]
fn ignite_with_dependencies() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let remotes = d.path().join("remotes");
    let sim = Repo::init(&remotes.join("fink-alert-simulator.git"));
    sim.commit("c1", &[("go.mod", "module sim\n"), ("go.sum", "")]);
    sim.annotated("v3.2.0");
    sim.git(&["checkout", "-q", "-b", "my-feature"]);
    sim.commit("c2", &[("x", "2")]);
    let sim_version = format!("v3.2.0-1-g{}", sim.short());
    sim.git(&["checkout", "-q", "master"]);
    let cd = Repo::init(&remotes.join("fink-cd"));
    cd.commit("c1", &[]);
    cd.git(&["branch", "-m", "main"]);
    let daemon = GitDaemon::serve(&remotes);
    let host = reg.host();
    reg.push_image("fink/fink-alert-simulator", &sim_version);
    reg.push_image("fink/stackable-hadoop", "v24.11.0");

    let work = d.path().join("work");
    let broker = Repo::init(&work.join("fink-broker"));
    let ciux_file = [
        "apiVersion: v1alpha1".to_string(),
        format!("registry: {host}/fink"),
        "sourcePathes: [fink_broker]".into(),
        "dependencies:".into(),
        "  - package: github.com/k8s-school/ink@v0.0.1-rc5".into(),
        "    labels: {itest: \"true\"}".into(),
        format!("  - url: {}", daemon.url("fink-alert-simulator.git")),
        "    clone: true".into(),
        "    pull: true".into(),
        "    labels: {itest: \"true\"}".into(),
        format!("  - url: {}", daemon.url("fink-cd")),
        "    labels: {itest: \"true\"}".into(),
        format!("  - image: {host}/fink/stackable-hadoop:v24.11.0"),
        "    labels: {itest: \"true\"}".into(),
        format!("  - image: {host}/fink/fink-deps-noscience-ztf:v2.54.9"),
        "    labels: {build: noscience}".into(),
        "  - package: ktbx@1.2.0".into(),
        "    labels: {itest: optional}".into(),
    ]
    .join("\n");
    broker.commit("c1", &[(".ciux", &ciux_file), ("fink_broker/a.py", "1")]);
    broker.annotated("v3.1.0");
    broker.git(&["checkout", "-q", "-b", "my-feature"]);
    broker.commit("c2", &[("fink_broker/a.py", "2")]);
    let broker_version = format!("v3.1.0-1-g{}", broker.short());
    broker.git(&["checkout", "-q", "--detach"]);

    let fakes = FakeBins::new();
    fakes.add("go", Script::stdout(""));
    fakes.add("cargo", Script::stdout(""));
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "ignite",
            "--selector",
            "itest",
            "--branch=my-feature",
            "--suffix",
            "noscience",
        ])
        .arg(&broker.dir)
        .assert()
        .success()
        .stdout("");
    let sim_dir = work.join("fink-alert-simulator");
    assert!(
        sim_dir.join(".git").is_dir(),
        "sibling clone without the .git suffix"
    );
    assert_eq!(
        calls(&fakes, "go"),
        [
            "install -- github.com/k8s-school/ink@v0.0.1-rc5".to_string(),
            format!("install -C {}", sim_dir.display())
        ]
    );
    assert_eq!(calls(&fakes, "cargo"), ["install --locked -- ktbx@1.2.0"]);
    let env = std::fs::read_to_string(broker.dir.join(".ciux.d/ciux_itest.sh")).unwrap();
    let expected = format!(
        "# Label selector: itest
export FINK_ALERT_SIMULATOR_DIR={sim_dir}
export FINK_ALERT_SIMULATOR_VERSION={sim_version}
export FINK_ALERT_SIMULATOR_WORKBRANCH=my-feature
export FINK_CD_WORKBRANCH=main
export FINK_BROKER_DIR={broker_dir}
export FINK_BROKER_VERSION={broker_version}
export FINK_BROKER_WORKBRANCH=my-feature
export FINK_STACKABLE_HADOOP_IMAGE={host}/fink/stackable-hadoop:v24.11.0
export CIUX_IMAGE_REGISTRY={host}/fink
export CIUX_IMAGE_NAME=fink-broker-noscience
# Image which contains latest code source changes FINK_BROKER_VERSION
export CIUX_IMAGE_TAG={broker_version}
export CIUX_IMAGE_URL={host}/fink/fink-broker-noscience:{broker_version}
# True if CIUX_IMAGE_URL need to be built
export CIUX_BUILD=true
# Promoted image is the image which will be push if CI run successfully
export CIUX_PROMOTED_IMAGE_URL={host}/fink/fink-broker-noscience:{broker_version}
",
        sim_dir = sim_dir.display(),
        broker_dir = broker.dir.display(),
    );
    assert_eq!(env, expected);

    // A second run reuses the clone (fetched, still on its branch) and honours --tmp-registry: every
    // line ends with a newline.
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "ig",
            "-l",
            "itest",
            "-b",
            "my-feature",
            "-p",
            "noscience",
            "-t",
            "tmp.io/ci",
        ])
        .arg(&broker.dir)
        .assert()
        .success();
    let env = std::fs::read_to_string(broker.dir.join(".ciux.d/ciux_itest.sh")).unwrap();
    assert!(env.ends_with(&format!(
        "export CIUX_IMAGE_URL=tmp.io/ci/fink-broker-noscience:{broker_version}\n# True if CIUX_IMAGE_URL need to be built\nexport CIUX_BUILD=true\n\
# Promoted image is the image which will be push if CI run successfully\nexport CIUX_PROMOTED_IMAGE_URL={host}/fink/fink-broker-noscience:{broker_version}\n\
# Temporary image is the image which will be push if CI run successfully\nexport CIUX_TEMPORARY_IMAGE_URL=tmp.io/ci/fink-broker-noscience:{broker_version}\n"
    )), "{env}");
    let sourced = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                ". '{}' && echo \"$CIUX_PROMOTED_IMAGE_URL|$CIUX_TEMPORARY_IMAGE_URL\"",
                broker.dir.join(".ciux.d/ciux_itest.sh").display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout),
        format!(
            "{host}/fink/fink-broker-noscience:{broker_version}|tmp.io/ci/fink-broker-noscience:{broker_version}\n"
        )
    );

    // Without the project branch in the dependency, `main`/`master` is used.
    reg.push_image("fink/fink-alert-simulator", "v3.2.0");
    ciux()
        .env("PATH", fakes.path_env())
        .args(["ignite", "-l", "itest", "-b", "other"])
        .arg(&broker.dir)
        .assert()
        .success();
    let env = std::fs::read_to_string(broker.dir.join(".ciux.d/ciux_itest.sh")).unwrap();
    assert!(
        env.contains("export FINK_ALERT_SIMULATOR_WORKBRANCH=master\n"),
        "{env}"
    );
    assert!(
        env.contains("export FINK_ALERT_SIMULATOR_VERSION=v3.2.0\n"),
        "moved to master: {env}"
    );

    // get deps lists without network; a missing dependency image is fatal and named.
    let deps = stdout_of(ciux().args(["get", "deps", "-l", "build"]).arg(&broker.dir));
    assert_eq!(
        deps,
        format!("  {host}/fink/fink-deps-noscience-ztf:v2.54.9\n")
    );
    ciux()
        .env("PATH", fakes.path_env())
        .args(["ignite", "-l", "build=noscience"])
        .arg(&broker.dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "dependency image {host}/fink/fink-deps-noscience-ztf:v2.54.9 not found in its registry"
        )));

    // `ignite env` rewrites the project-core file from the local clones, for a relative path too; the
    // remote-only dependency gets its work branch from the remote, as the original did.
    ciux()
        .current_dir(&work)
        .args(["ignite", "-b", "my-feature", "env", "fink-broker"])
        .assert()
        .success();
    let env = std::fs::read_to_string(broker.dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(
        env.contains(&format!(
            "export FINK_ALERT_SIMULATOR_DIR={}\n",
            sim_dir.display()
        )),
        "{env}"
    );
    assert!(env.contains("export FINK_CD_WORKBRANCH=main\n"), "{env}");
    assert!(
        env.contains("export FINK_BROKER_WORKBRANCH=my-feature\n"),
        "{env}"
    );
    assert!(env.contains("export CIUX_BUILD=true\n"), "{env}");
}

#[test]
fn dry_run_and_github_outputs() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("dry");
    create_git_repo(&dir, &format!("{}/o", reg.host()));
    let out = stdout_of(ciux().args(["--dry-run", "ignite", "-l", "ci"]).arg(&dir));
    assert!(
        out.starts_with(&format!(
            "# would write {}/.ciux.d/ciux_ci.sh\n# Label selector: ci\n",
            dir.display()
        )),
        "{out}"
    );
    assert!(!dir.join(".ciux.d/ciux_ci.sh").exists());
    let gh_env = d.path().join("gh_env");
    let gh_out = d.path().join("gh_out");
    ciux()
        .env("GITHUB_ENV", &gh_env)
        .env("GITHUB_OUTPUT", &gh_out)
        .args(["ignite", "--github", "-l", "ci"])
        .arg(&dir)
        .assert()
        .success();
    let text = std::fs::read_to_string(&gh_env).unwrap();
    assert!(text.contains("CIUX_BUILD=true\n"), "{text}");
    assert!(
        text.contains(&format!("CIUX_IMAGE_URL={}/o/dry:v1.0.0\n", reg.host())),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&gh_out).unwrap(), text);
}

/// Repositories `<dir>/remotes/<name>` with one commit tagged `v1.0.0`, served by `git daemon`.
fn served_deps(dir: &std::path::Path, names: &[&str]) -> (Vec<Repo>, GitDaemon) {
    let remotes = dir.join("remotes");
    let deps = names
        .iter()
        .map(|name| {
            let dep = Repo::init(&remotes.join(name));
            dep.commit("c1", &[("f", name)]);
            dep.annotated("v1.0.0");
            dep
        })
        .collect();
    (deps, GitDaemon::serve(&remotes))
}

/// `--dry-run` with git dependencies prints the equivalent git commands in dependency order and
/// clones, fetches and moves nothing.
#[test]
fn dry_run_prints_the_git_commands() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let (deps, daemon) = served_deps(d.path(), &["dep-a", "dep-b"]);
    let project = Repo::init(&d.path().join("work/proj"));
    let (a, b) = (daemon.url("dep-a"), daemon.url("dep-b"));
    project.commit(
        "c",
        &[(
            ".ciux",
            &format!(
                "registry: {}/x\ndependencies:\n  - url: {a}\n    clone: true\n  - url: {b}\n    clone: true\n    revision: master\n",
                reg.host()
            ),
        )],
    );
    let w = d.path().join("work");
    let w = w.display();
    let out = stdout_of(ciux().args(["--dry-run", "ignite"]).arg(&project.dir));
    let plan = format!(
        "git clone --branch master --single-branch {a} {w}/dep-a\n\
         git clone {b} {w}/dep-b\n\
         git -C {w}/dep-b checkout master\n\
         # would write "
    );
    assert!(out.starts_with(&plan), "{out}");
    assert!(!d.path().join("work/dep-a").exists());

    ciux().args(["ignite"]).arg(&project.dir).assert().success();
    let c1 = deps[0].head();
    deps[0].commit("c2", &[("f", "2")]);
    let out = stdout_of(ciux().args(["--dry-run", "ignite"]).arg(&project.dir));
    let plan = format!(
        "git -C {w}/dep-a fetch --tags origin master\n\
         git -C {w}/dep-a checkout master\n\
         git -C {w}/dep-b fetch --tags origin\n\
         git -C {w}/dep-b checkout master\n\
         # would write "
    );
    assert!(out.starts_with(&plan), "{out}");
    let clone = git2::Repository::open(d.path().join("work/dep-a")).unwrap();
    let head = clone
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    assert_eq!(head, c1, "nothing fetched or moved");
}

#[test]
fn clustername_and_tag() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("cn");
    let r = Repo::init(&dir);
    r.commit("c", &[(".ciux", "registry: r.io\n")]);
    let name = stdout_of(
        ciux()
            .env("USER", "fink-ci")
            .args(["get", "clustername"])
            .arg(&dir),
    );
    assert_eq!(name, format!("fink-ci-master-{}\n", &r.head()[..6]));
    let name = stdout_of(
        ciux()
            .env_remove("USER")
            .args(["get", "cn", "-l", "x"])
            .arg(&dir),
    );
    assert_eq!(name, format!("unknown-master-{}\n", &r.head()[..6]));
    assert_eq!(
        stdout_of(ciux().args(["tag"]).arg(&dir)),
        "git tag -m \"Release v0.0.1-rc0\" v0.0.1-rc0\ngit push --tag\n"
    );
    r.annotated("v1.0.0");
    assert_eq!(
        stdout_of(ciux().args(["rel"]).arg(&dir).arg("ignored")),
        "git tag -m \"Release v1.0.1-rc0\" v1.0.1-rc0\ngit push --tag\n"
    );
    r.commit("c2", &[]);
    r.annotated("v1.0.1-rc3");
    assert_eq!(
        stdout_of(ciux().args(["tag"]).arg(&dir)),
        "git tag -m \"Release v1.0.1-rc4\" v1.0.1-rc4\ngit push --tag\n"
    );
    r.commit("c3", &[]);
    r.annotated("v1.0.2-beta");
    ciux()
        .args(["tag"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid release candidate prefix"));
}

#[test]
fn bad_inputs_have_clear_messages() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("bad");
    let r = Repo::init(&dir);
    r.commit(
        "c",
        &[
            (
                ".ciux",
                "registry: r.io\ndependencies:\n  - url: x\n    clone: maybe\n",
            ),
            ("sub/f", "1"),
        ],
    );
    ciux()
        .args(["get", "deps"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{}/.ciux:4:",
            dir.display()
        )));
    // A missing `.ciux`: the path, the cause once, and what to do.
    let plain = d.path().join("plain");
    Repo::init(&plain).commit("c", &[("f", "1")]);
    let out = ciux().args(["get", "deps"]).arg(&plain).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("unable to read {}/.ciux", plain.display()))
            && stderr.contains("every ciux project has a `.ciux` file")
            && stderr.matches("os error 2").count() == 1,
        "{stderr}"
    );
    r.commit(
        "c",
        &[(
            ".ciux",
            "registry: r.io\nsurprise: 1\nsourcePathes: [missing]\n",
        )],
    );
    ciux()
        .args(["get", "image"])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("unknown key \"surprise\" ignored"))
        .stderr(predicate::str::contains(
            "source path \"missing\" listed in",
        ));
    r.commit(
        "c",
        &[(".ciux", "registry: r.io\nsourcePathes: [rootfs/]\n")],
    );
    ciux()
        .args(["get", "image"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("must be clean"));
    ciux()
        .args(["get", "image"])
        .arg(dir.join("sub"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is a sub-directory of the git repository",
        ));
    ciux()
        .args(["get", "image"])
        .arg(d.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not a git repository"));
    let nociux = d.path().join("nociux");
    Repo::init(&nociux).commit("c", &[]);
    ciux()
        .args(["get", "image"])
        .arg(&nociux)
        .assert()
        .failure()
        .stderr(predicate::str::contains("unable to read"));
    ciux()
        .args(["ignite"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("required"));
    ciux()
        .args(["ignite", "env"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("required"));
    // pull without clone, unreachable remote.
    r.commit("c", &[(".ciux", "registry: 127.0.0.1:1/x\ndependencies:\n  - url: git://127.0.0.1:1/nothing\n    pull: true\n")]);
    ciux()
        .args(["ignite"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("`pull: true` needs `clone: true`"));
    r.commit(
        "c",
        &[(
            ".ciux",
            "registry: 127.0.0.1:1/x\ndependencies:\n  - url: git://127.0.0.1:1/nothing\n",
        )],
    );
    ciux()
        .args(["ignite"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "dependency git://127.0.0.1:1/nothing",
        ))
        .stderr(predicate::str::contains("unable to list the branches"));
    // An ssh remote is refused before any connection, with the way out.
    r.commit(
        "c",
        &[(
            ".ciux",
            "registry: 127.0.0.1:1/x\ndependencies:\n  - url: git@github.com:astrolabsoftware/fink-cd.git\n",
        )],
    );
    ciux()
        .args(["ignite"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "git@github.com:astrolabsoftware/fink-cd.git: ssh remotes are not supported; use the https URL",
        ));
}

#[test]
fn missing_toolchain_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dir = d.path().join("tools");
    let r = Repo::init(&dir);
    r.commit(
        "c",
        &[(
            ".ciux",
            &format!(
                "registry: {}/x\ndependencies:\n  - package: ripgrep@14.1.0\n",
                reg.host()
            ),
        )],
    );
    let empty = tempfile::tempdir().unwrap();
    ciux()
        .env("PATH", empty.path())
        .args(["ignite"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains("`cargo` not found on PATH"))
        .stderr(predicate::str::contains("install a Rust toolchain"));
}

#[test]
fn image_load_and_cleanup_with_fake_docker() {
    let d = tempfile::tempdir().unwrap();
    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout("Loaded image: x"));
    ciux()
        .env("PATH", fakes.path_env())
        .args(["image", "load", "-r", "['ubuntu-22.04']", "-i", "r.io/a:v1", "-b", "false"])
        .assert()
        .success()
        .stdout("Loading image: r.io/a:v1 (build-status: false, runner: ['ubuntu-22.04'])\nUsing existing remote image: r.io/a:v1\n");
    assert!(calls(&fakes, "docker").is_empty());
    let tar = d.path().join("image.tar");
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['ubuntu-22.04']",
            "-i",
            "r.io/a:v1",
            "-b",
            "true",
            "-a",
        ])
        .arg(&tar)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "artifact file {} not found",
            tar.display()
        )));
    std::fs::write(&tar, "tar").unwrap();
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['ubuntu-22.04']",
            "-i",
            "r.io/a:v1",
            "-b",
            "TRUE",
            "-a",
        ])
        .arg(&tar)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "✓ Successfully loaded image from {}",
            tar.display()
        )));
    assert_eq!(
        calls(&fakes, "docker"),
        [format!("load --input {}", tar.display())]
    );

    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout("other/image:v1"));
    ciux()
        .env("PATH", fakes.path_env())
        .args([
            "image",
            "load",
            "-r",
            "['self-hosted']",
            "-i",
            "r.io/a:v1",
            "-b",
            "true",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "image r.io/a:v1 not found in local Docker registry",
        ));

    let fakes = FakeBins::new();
    fakes.add("docker", Script::stdout(r#"{"Repository":"r.io/fink-broker","Tag":"old","CreatedAt":"2020-01-02 15:04:05 +0100 CET","ID":"111"}
{"Repository":"r.io/fink-broker","Tag":"new","CreatedAt":"1 minutes ago","ID":"222"}
{"Repository":"r.io/other","Tag":"old","CreatedAt":"2020-01-02 15:04:05 +0100 CET","ID":"333"}"#));
    let out = stdout_of(ciux().env("PATH", fakes.path_env()).args([
        "image",
        "cleanup",
        "--pattern",
        "fink-broker",
        "--max-age",
        "5d",
    ]));
    assert!(
        out.contains("Keeping recent image r.io/fink-broker:new"),
        "{out}"
    );
    assert!(
        out.ends_with("Cleanup completed: removed 1 images\n"),
        "{out}"
    );
    let calls = calls(&fakes, "docker");
    assert!(
        calls.contains(&"rmi 111".to_string()) && !calls.iter().any(|c| c.contains("333")),
        "{calls:?}"
    );
    assert!(calls.contains(&"image prune -f".to_string()));
    ciux()
        .env("PATH", fakes.path_env())
        .args(["image", "cleanup", "-p", "x", "-m", "5y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unsupported unit 'y' (use d, h, w, m)",
        ));
}

#[test]
fn promote_copies_the_manifest_in_the_registry() {
    let reg = Registry::start();
    let host = reg.host();
    reg.push_image("fink/broker", "v1.0.0-3-gabcdef0");
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:v1.0.0-3-gabcdef0"),
            &format!("{host}/fink/broker:v1.0.0"),
        ])
        .assert()
        .success();
    // The promoted tag now exists: it can be promoted in turn.
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:v1.0.0"),
            "v1.0.0-copy",
        ])
        .assert()
        .success()
        .stdout(format!(
            "Promoted {host}/fink/broker:v1.0.0 as {host}/fink/broker:v1.0.0-copy\n"
        ));
    ciux()
        .args([
            "image",
            "promote",
            &format!("{host}/fink/broker:nope"),
            "v2",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("HTTP 404"));
}

/// Promotion to another repository or registry (the `--tmp-registry` flow) copies the blobs the
/// destination lacks, then the manifest: same digest; an index brings each of its images.
#[test]
fn promote_copies_across_repositories_and_registries() {
    let tmp = Registry::start();
    let main = Registry::start_with_htpasswd("ci", "s3cret");
    let digest = tmp.push_image("fink/broker", "v1.0.0-3-gabcdef0");
    let src = format!("{}/fink/broker:v1.0.0-3-gabcdef0", tmp.host());
    ciux()
        .args([
            "-v",
            "2",
            "image",
            "promote",
            &src,
            &format!("{}/fink/broker-copy:v1", tmp.host()),
        ])
        .assert()
        .success()
        .stdout(format!(
            "Promoted {src} as {}/fink/broker-copy:v1\n",
            tmp.host()
        ))
        // Within one registry the blobs are mounted, not streamed through ciux.
        .stderr(predicate::str::contains("mounted from"))
        .stderr(predicate::str::contains("copied from").not());
    assert_eq!(
        tmp.manifest_digest("fink/broker-copy", "v1"),
        Some(digest.clone())
    );

    let dst = format!("{}/fink/broker:v1.0.0", main.host());
    ciux()
        .args(["image", "promote", &src, &dst])
        .assert()
        .failure()
        .stderr(predicate::str::contains("registry refused access"));
    assert_eq!(main.manifest_digest("fink/broker", "v1.0.0"), None);
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args(["-v", "2", "image", "promote", &src, &dst])
        .assert()
        .success()
        .stdout(format!("Promoted {src} as {dst}\n"))
        .stderr(predicate::str::contains("copied from"));
    assert_eq!(
        main.manifest_digest("fink/broker", "v1.0.0"),
        Some(digest.clone())
    );
    // From a registry that needs credentials: the blobs are read with those its manifest needed.
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args([
            "image",
            "promote",
            &dst,
            &format!("{}/fink/back:v1", tmp.host()),
        ])
        .assert()
        .success();
    assert_eq!(tmp.manifest_digest("fink/back", "v1"), Some(digest));

    let index = tmp.push_index(
        "fink/multi",
        "v2",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    let dst = format!("{}/fink/multi:v2", main.host());
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args([
            "image",
            "promote",
            &format!("{}/fink/multi:v2", tmp.host()),
            &dst,
        ])
        .assert()
        .success();
    // The registry refuses an index whose images it lacks: this PUT proves they were copied.
    assert_eq!(main.manifest_digest("fink/multi", "v2"), Some(index));
    ciux()
        .args(["image", "promote", "--dry-run", &src, &dst])
        .assert()
        .success()
        .stdout(format!("promote {src} as {dst}\n"));
}

/// A warm `ignite` opens one connection per dependency (its listing) when nothing is new upstream, and
/// fetches only the dependency that changed.
#[test]
fn warm_ignite_fetches_only_what_changed() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let (deps, daemon) = served_deps(d.path(), &["dep-a", "dep-b"]);
    let project = Repo::init(&d.path().join("work/proj"));
    let mut ciux_file = format!("registry: {}/x\ndependencies:\n", reg.host());
    for name in ["dep-a", "dep-b"] {
        ciux_file.push_str(&format!("  - url: {}\n    clone: true\n", daemon.url(name)));
    }
    project.commit("c", &[(".ciux", &ciux_file)]);
    let ignite = || {
        let before = daemon.connections();
        ciux().args(["ignite"]).arg(&project.dir).assert().success();
        daemon.connections() - before
    };
    assert_eq!(ignite(), 4, "cold: a listing and a clone per dependency");
    assert_eq!(ignite(), 2, "warm: the listings only");
    let c2 = deps[1].commit("c2", &[("f", "new")]);
    assert_eq!(ignite(), 3, "the changed dependency is fetched");
    let env = std::fs::read_to_string(project.dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(
        env.contains(&format!("export DEP_B_VERSION=v1.0.0-1-g{}\n", &c2[..7])),
        "{env}"
    );
    assert_eq!(ignite(), 2);
}

/// `_e2e/test_revision_pin.sh` (original unmerged branch): a dependency pinned to a tag, then to a commit.
#[test]
fn pinned_dependency_revision() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let remotes = d.path().join("remotes");
    let dep = Repo::init(&remotes.join("dep"));
    let c1 = dep.commit("c1", &[("one", "1")]);
    dep.annotated("v1.0.0");
    let c2 = dep.commit("c2", &[("two", "2")]);
    dep.commit("c3", &[("three", "3")]);
    let daemon = GitDaemon::serve(&remotes);
    let project = Repo::init(&d.path().join("work/proj"));
    let write_ciux = |rev: &str| {
        project.commit(
            "ciux",
            &[(".ciux", &format!(
                "registry: {}/x\ndependencies:\n  - url: {}\n    clone: true\n    revision: {rev}\n",
                reg.host(),
                daemon.url("dep")
            ))],
        );
    };
    write_ciux("v1.0.0");
    ciux().args(["ignite"]).arg(&project.dir).assert().success();
    let clone = d.path().join("work/dep");
    let head = || {
        std::process::Command::new("git")
            .args(["-C"])
            .arg(&clone)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&head().stdout).trim(), c1);
    assert!(clone.join("one").exists() && !clone.join("two").exists());
    let env = std::fs::read_to_string(project.dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(
        env.contains("export DEP_VERSION=v1.0.0\nexport DEP_WORKBRANCH=v1.0.0\n"),
        "{env}"
    );
    write_ciux(&c2);
    ciux().args(["ignite"]).arg(&project.dir).assert().success();
    assert_eq!(String::from_utf8_lossy(&head().stdout).trim(), c2);
    assert!(clone.join("two").exists() && !clone.join("three").exists());
    write_ciux("no-such-thing");
    ciux()
        .args(["ignite"])
        .arg(&project.dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "pinned revision \"no-such-thing\" is neither a branch, a tag nor a commit id",
        ));
}

/// A cloned dependency holding a Cargo workspace: each publishable binary package is installed.
#[test]
fn cloned_cargo_workspace_is_installed_with_cargo() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let remotes = d.path().join("remotes");
    let tools = Repo::init(&remotes.join("fink-tools"));
    tools.commit(
        "c1",
        &[(
            "Cargo.toml",
            "[workspace]\nmembers = [\"ktbx\", \"xtask\"]\n",
        )],
    );
    let daemon = GitDaemon::serve(&remotes);
    let project = Repo::init(&d.path().join("work/proj"));
    project.commit(
        "c",
        &[(
            ".ciux",
            &format!(
                "registry: {}/x\ndependencies:\n  - url: {}\n    clone: true\n",
                reg.host(),
                daemon.url("fink-tools")
            ),
        )],
    );
    let clone = d.path().join("work/fink-tools");
    let metadata = format!(
        r#"{{"packages":[{{"name":"ktbx","publish":null,"manifest_path":"{0}/ktbx/Cargo.toml","targets":[{{"kind":["bin"]}}]}},{{"name":"xtask","publish":[],"manifest_path":"{0}/xtask/Cargo.toml","targets":[{{"kind":["bin"]}}]}},{{"name":"common","publish":null,"manifest_path":"{0}/common/Cargo.toml","targets":[{{"kind":["lib"]}}]}}]}}"#,
        clone.display()
    );
    let fakes = FakeBins::new();
    fakes.add("cargo", Script::stdout(&metadata));
    ciux()
        .env("PATH", fakes.path_env())
        .args(["ignite"])
        .arg(&project.dir)
        .assert()
        .success();
    assert_eq!(
        calls(&fakes, "cargo"),
        [
            format!(
                "metadata --no-deps --format-version 1 --manifest-path {}/Cargo.toml",
                clone.display()
            ),
            format!("install --locked --path {}/ktbx", clone.display()),
        ]
    );
}

/// Docker-v2 token auth (Docker Hub / GitLab style) on the real registry: anonymous pull tokens are
/// fetched once per repository and reused for every candidate; promotion needs credentials.
#[test]
fn token_auth_registry() {
    let reg = Registry::start_with_token_auth("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit(
        "c1",
        &[
            (
                ".ciux",
                &format!("registry: {host}/fink\nsourcePathes: [src]\n"),
            ),
            ("src/a", "1"),
        ],
    );
    project.annotated("v1.0.0");
    project.commit("c2", &[("doc", "1")]);
    project.commit("c3", &[("doc", "2")]);
    reg.push_image("fink/proj", &format!("v1.0.0-2-g{}", project.short()));
    let before = reg.token_requests().len();
    let out = stdout_of(ciux().args(["get", "image", "--check"]).arg(&project.dir));
    assert_eq!(
        out,
        format!(
            "Image: {host}/fink/proj:v1.0.0-2-g{}, in registry: true\n",
            project.short()
        )
    );
    let tokens: Vec<_> = reg.token_requests().into_iter().skip(before).collect();
    assert_eq!(
        tokens.len(),
        1,
        "one token for three candidates: {tokens:?}"
    );
    assert_eq!(tokens[0].scopes, ["repository:fink/proj:pull"]);
    assert_eq!(tokens[0].account, None);

    let image = format!("{host}/fink/proj:v1.0.0-2-g{}", project.short());
    ciux()
        .args(["image", "promote", &image, "v1.0.0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("refused access"));
    ciux()
        .env("CIUX_REGISTRY_USERNAME", "ci")
        .env("CIUX_REGISTRY_PASSWORD", "s3cret")
        .args(["image", "promote", &image, "v1.0.0"])
        .assert()
        .success()
        .stderr(predicate::str::contains("s3cret").not());
    assert_eq!(
        reg.token_requests().last().unwrap().account.as_deref(),
        Some("ci")
    );
}

/// Basic auth (htpasswd): without credentials the image is taken as absent, with a warning (as a
/// repository never pushed on Docker Hub); with `~/.docker/config.json` credentials it is found.
#[test]
fn basic_auth_registry_with_docker_config() {
    let reg = Registry::start_with_htpasswd("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit("c1", &[(".ciux", &format!("registry: {host}/fink\n"))]);
    project.annotated("v1.0.0");
    reg.push_image("fink/proj", "v1.0.0");
    ciux()
        .args(["get", "image", "--check"])
        .arg(&project.dir)
        .assert()
        .success()
        .stdout(format!(
            "Image: {host}/fink/proj:v1.0.0, in registry: false\n"
        ))
        .stderr(predicate::str::contains(format!(
            "registry {host} answered HTTP 401"
        )));
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    let out = stdout_of(
        ciux()
            .env("DOCKER_CONFIG", &docker)
            .args(["get", "image", "--check"])
            .arg(&project.dir),
    );
    assert_eq!(
        out,
        format!("Image: {host}/fink/proj:v1.0.0, in registry: true\n")
    );
}

/// Docker credential helpers (`credHelpers` per registry, then `credsStore`) answer with the
/// registry host on stdin; they are asked once per registry.
#[test]
fn registry_credentials_from_docker_credential_helpers() {
    let reg = Registry::start_with_htpasswd("ci", "s3cret");
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let project = Repo::init(&dir.path().join("proj"));
    project.commit("c1", &[(".ciux", &format!("registry: {host}/fink\n"))]);
    project.annotated("v1.0.0");
    reg.push_image("fink/proj", "v1.0.0");
    let fakes = FakeBins::new();
    let answer = r#"{"ServerURL":"x","Username":"ci","Secret":"s3cret"}"#;
    fakes.add("docker-credential-pass", Script::stdout(answer));
    fakes.add("docker-credential-desktop", Script::stdout(answer));
    for (config, helper) in [
        (format!(r#"{{"credHelpers":{{"{host}":"pass"}}}}"#), "pass"),
        (r#"{"credsStore":"desktop"}"#.to_string(), "desktop"),
    ] {
        let docker = dir.path().join(helper);
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(docker.join("config.json"), config).unwrap();
        let out = stdout_of(
            ciux()
                .env("PATH", fakes.path_env())
                .env("DOCKER_CONFIG", &docker)
                .args(["get", "image", "--check"])
                .arg(&project.dir),
        );
        assert_eq!(
            out,
            format!("Image: {host}/fink/proj:v1.0.0, in registry: true\n")
        );
        let calls = fakes.calls(&format!("docker-credential-{helper}"));
        assert_eq!(calls.len(), 1, "{helper}: {calls:?}");
        assert_eq!(calls[0].argv, ["get"]);
        assert_eq!(calls[0].stdin, host);
    }
}
