//! Package dependencies: `package:` values that would be options are refused before anything runs,
//! and valid ones reach `go install` / `cargo install` after `--` (fake `go` and `cargo` record argv).

use predicates::prelude::*;

use crate::support::{FakeBins, Registry, Repo, Script, calls, ciux};

/// A project whose `.ciux` declares `packages` (one dependency each).
fn project_with_packages(dir: &std::path::Path, registry: &Registry, packages: &[&str]) -> Repo {
    let project = Repo::init(&dir.join("proj"));
    let mut ciux_file = format!("registry: {}/x\ndependencies:\n", registry.host());
    for package in packages {
        ciux_file.push_str(&format!("  - package: \"{package}\"\n"));
    }
    project.commit("c", &[(".ciux", &ciux_file)]);
    project
}

#[test]
fn option_like_packages_are_refused_naming_the_dependency() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    for (index, bad) in [(1, "-toolexec=/x/evil.sh"), (1, "--path=.")] {
        let project = project_with_packages(d.path(), &reg, &["ktbx@1.2.0", bad]);
        let fakes = FakeBins::new();
        fakes.add("go", Script::stdout(""));
        fakes.add("cargo", Script::stdout(""));
        ciux()
            .env("PATH", fakes.path_env())
            .args(["ignite"])
            .arg(&project.dir)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "{}: dependency {index}: package {bad:?} starts with \"-\": it would be read as an option",
                project.dir.join(".ciux").display()
            )));
        assert!(calls(&fakes, "go").is_empty(), "{bad}: go ran");
        assert!(calls(&fakes, "cargo").is_empty(), "{bad}: cargo ran");
        std::fs::remove_dir_all(&project.dir).unwrap();
    }
}

#[test]
fn packages_reach_the_installers_after_the_end_of_options() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let project = project_with_packages(
        d.path(),
        &reg,
        &["github.com/k8s-school/ink@v0.0.1-rc5", "ktbx@1.2.0"],
    );
    let fakes = FakeBins::new();
    fakes.add("go", Script::stdout(""));
    fakes.add("cargo", Script::stdout(""));
    ciux()
        .env("PATH", fakes.path_env())
        .args(["ignite"])
        .arg(&project.dir)
        .assert()
        .success();
    assert_eq!(
        calls(&fakes, "go"),
        ["install -- github.com/k8s-school/ink@v0.0.1-rc5"]
    );
    assert_eq!(calls(&fakes, "cargo"), ["install --locked -- ktbx@1.2.0"]);
}
