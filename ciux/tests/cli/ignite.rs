//! `ciux ignite` end to end: dependencies served by `git daemon` on loopback, the env file byte for
//! byte, `--dry-run`, `--github`, warm runs, pinned revisions, tool installs.

use predicates::prelude::*;

use crate::support::{
    FakeBins, GitDaemon, Registry, Repo, Script, calls, ciux, create_git_repo, stdout_of,
};

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
    let broker_head = broker.head();
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
# Build reason: commit {short12} changed fink_broker and no image exists from it up to HEAD
export CIUX_BUILD_REASON=source-change
# Promoted image is the image which will be push if CI run successfully
export CIUX_PROMOTED_IMAGE_URL={host}/fink/fink-broker-noscience:{broker_version}
",
        short12 = &broker_head[..12],
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
# Build reason: commit {short12} changed fink_broker and no image exists from it up to HEAD\nexport CIUX_BUILD_REASON=source-change\n\
# Promoted image is the image which will be push if CI run successfully\nexport CIUX_PROMOTED_IMAGE_URL={host}/fink/fink-broker-noscience:{broker_version}\n\
# Temporary image is the image which will be push if CI run successfully\nexport CIUX_TEMPORARY_IMAGE_URL=tmp.io/ci/fink-broker-noscience:{broker_version}\n",
        short12 = &broker_head[..12],
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
    // Indexes written in the tick of their files (racily clean): a real run would rewrite them once
    // the files are known unchanged, a dry run leaves them as they are.
    let racy = [project.dir.clone(), d.path().join("work/dep-a")].map(|dir| {
        let file = if dir == project.dir { ".ciux" } else { "f" };
        let written = std::fs::metadata(dir.join(file))
            .unwrap()
            .modified()
            .unwrap();
        let index = dir.join(".git/index");
        std::fs::File::options()
            .write(true)
            .open(&index)
            .unwrap()
            .set_modified(written)
            .unwrap();
        (index.clone(), std::fs::read(&index).unwrap(), written)
    });
    let out = stdout_of(ciux().args(["--dry-run", "ignite"]).arg(&project.dir));
    for (index, bytes, written) in &racy {
        let meta = std::fs::metadata(index).unwrap();
        assert_eq!(meta.modified().unwrap(), *written, "{}", index.display());
        assert_eq!(&std::fs::read(index).unwrap(), bytes, "{}", index.display());
    }
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

/// A cold `ignite` opens one connection per dependency (the clone's listing chooses the branch); a
/// warm one, one per dependency (its listing) when nothing is new upstream, and fetches only the
/// dependency that changed.
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
    assert_eq!(
        ignite(),
        2,
        "cold: one connection per dependency (its clone lists the branches)"
    );
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
