//! Package dependencies: `package:` values that would be options are refused before anything runs,
//! and valid ones reach `go install` / `cargo install` after `--` (fake `go` and `cargo` record argv);
//! `release:` dependencies install prebuilt fink-tools binaries from the harness release server.

use predicates::prelude::*;

use harness::release::{ReleaseServer, fake_tool_binary, tool_archive};

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

/// The target triple of the release archives for the machine running the tests.
fn host_target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        other => panic!("no release archives for {other:?}"),
    }
}

/// A project with one dependency made of `lines`, run with `ciux ignite` against the release
/// server, installing into `<d>/bin`, with fake `go` and `cargo`.
struct ReleaseSetup {
    d: tempfile::TempDir,
    _registry: Registry,
    project: Repo,
    server: ReleaseServer,
    fakes: FakeBins,
}

impl ReleaseSetup {
    fn new(lines: &str) -> ReleaseSetup {
        let d = tempfile::tempdir().unwrap();
        let registry = Registry::start();
        let project = Repo::init(&d.path().join("proj"));
        project.commit(
            "c",
            &[(
                ".ciux",
                &format!(
                    "registry: {}/x\ndependencies:\n  - {lines}\n",
                    registry.host()
                ),
            )],
        );
        let server = ReleaseServer::start();
        let target = host_target();
        server.publish_fake_tool("ciux", "0.2.0", target);
        let fakes = FakeBins::new();
        fakes.add("go", Script::stdout(""));
        fakes.add("cargo", Script::stdout(""));
        ReleaseSetup {
            d,
            _registry: registry,
            project,
            server,
            fakes,
        }
    }

    fn bin(&self) -> std::path::PathBuf {
        self.d.path().join("bin")
    }

    fn ignite(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        ciux()
            .env("PATH", self.fakes.path_env())
            .env("HOME", self.d.path())
            .env("XDG_CACHE_HOME", self.d.path().join("cache"))
            .env("FINK_TOOLS_BASE_URL", self.server.url(""))
            .env("FINK_TOOLS_INSTALL_DIR", self.bin())
            .arg("ignite")
            .args(extra)
            .arg(&self.project.dir)
            .assert()
    }

    fn archive_path(&self) -> String {
        format!("/download/ciux-v0.2.0/ciux-0.2.0-{}.tar.gz", host_target())
    }
}

#[test]
fn a_release_dependency_installs_the_verified_prebuilt_binary() {
    // `package:` stays for the Go ciux; `release:` takes precedence here.
    let s = ReleaseSetup::new(
        "package: github.com/k8s-school/ciux@v0.0.4-rc10\n    release: ciux-v0.2.0",
    );
    s.ignite(&[])
        .success()
        .stderr(predicate::str::contains("  Release: ciux-v0.2.0\n"))
        .stderr(predicate::str::contains(
            "Tools installed:\n  ciux-v0.2.0 prebuilt=true\n",
        ));
    let installed = s.bin().join("ciux");
    let version = std::process::Command::new(&installed)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(version.stdout, b"ciux 0.2.0\n");
    let archive = s.archive_path();
    assert_eq!(
        s.server.requests(),
        [format!("{archive}.sha256"), archive.clone()]
    );
    assert!(calls(&s.fakes, "go").is_empty());
    assert!(calls(&s.fakes, "cargo").is_empty());
    let mut left: Vec<_> = std::fs::read_dir(s.bin())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["ciux"], "no temporary files left");
}

#[test]
fn a_tampered_release_archive_installs_nothing_and_builds_nothing() {
    let s = ReleaseSetup::new("release: ciux-v0.2.0");
    let target = host_target();
    let evil = fake_tool_binary("ciux", "6.6.6");
    s.server.add_file(
        &s.archive_path(),
        tool_archive("ciux", "0.2.0", target, &evil),
    );
    s.ignite(&[])
        .failure()
        .stderr(predicate::str::contains(format!(
            "checksum mismatch for {}",
            s.server.url(&s.archive_path())
        )));
    assert!(!s.bin().join("ciux").exists());
    assert!(
        calls(&s.fakes, "cargo").is_empty(),
        "no fallback on a bad checksum"
    );
}

#[test]
fn a_release_without_an_archive_is_built_with_cargo_from_the_tag() {
    let s = ReleaseSetup::new("release: ktbx-v0.9.0");
    s.ignite(&[]).success();
    assert_eq!(
        calls(&s.fakes, "cargo"),
        [
            "install --locked --git https://github.com/astrolabsoftware/fink-tools --tag ktbx-v0.9.0 -- ktbx"
        ]
    );
    assert!(!s.bin().join("ktbx").exists());
}

#[test]
fn a_release_dependency_in_dry_run_prints_the_plan_and_downloads_nothing() {
    let s = ReleaseSetup::new("release: ciux-v0.2.0");
    let url = s.server.url(&s.archive_path());
    s.ignite(&["--dry-run"]).success().stdout(predicate::str::contains(format!(
        "# would download {url}, verify it against {url}.sha256 and install {}\n\
         # if that archive does not exist: cargo install --locked --git https://github.com/astrolabsoftware/fink-tools --tag ciux-v0.2.0 -- ciux\n",
        s.bin().join("ciux").display()
    )));
    assert!(s.server.requests().is_empty());
    assert!(!s.bin().exists());
}

#[test]
fn a_bad_release_tag_is_refused_naming_the_dependency() {
    let s = ReleaseSetup::new("release: kubectl-v1.35.0");
    s.ignite(&[]).failure().stderr(predicate::str::contains(format!(
        "{}: dependency 0: release \"kubectl-v1.35.0\" is not a fink-tools release tag: expected <tool>-vX.Y.Z with tool ktbx, ciux, finkctl",
        s.project.dir.join(".ciux").display()
    )));
    assert!(s.server.requests().is_empty());
}
