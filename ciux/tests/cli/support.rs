//! Small conveniences over the shared harness (`harness::git`, `harness::registry`,
//! `harness::fakebin`) for the ciux tests.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::{Path, PathBuf};

pub use harness::fakebin::{FakeBins, Script};
pub use harness::git::{GitDaemon, GitRepo};
pub use harness::registry::Registry;

/// A harness repository on `master` (as the Go originals' tests), with short helpers.
pub struct Repo {
    pub dir: PathBuf,
    repo: GitRepo,
}

impl Repo {
    pub fn init(dir: &Path) -> Repo {
        let repo = GitRepo::init_on(dir, "master");
        Repo {
            dir: repo.path().to_path_buf(),
            repo,
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.repo.git(args)
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Commits the given files (or an empty commit) and returns the full hash.
    pub fn commit(&self, msg: &str, files: &[(&str, &str)]) -> String {
        self.repo.commit(msg, files)
    }

    pub fn merge(&self, branch: &str) -> String {
        self.repo.merge(branch)
    }

    pub fn head(&self) -> String {
        self.repo.head()
    }

    pub fn short(&self) -> String {
        self.head()[..7].to_string()
    }

    pub fn annotated(&self, tag: &str) {
        self.repo.annotated_tag(tag, tag);
    }

    pub fn lightweight(&self, tag: &str) {
        self.repo.tag(tag);
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// `_e2e/create_git_repo.sh`: `.ciux` with `sourcePathes: [rootfs]`, one commit, ignite with
/// `--selector itest=true`, then `rootfs/hello.txt` and the annotated tag v1.0.0.
pub fn create_git_repo(dir: &Path, registry: &str) -> Repo {
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

/// The stdout of a command that must succeed.
pub fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// The calls of a fake as `argv` joined by spaces.
pub fn calls(fakes: &FakeBins, name: &str) -> Vec<String> {
    fakes
        .calls(name)
        .into_iter()
        .map(|c| c.argv.join(" "))
        .collect()
}

/// `ciux` with a clean environment for the tests.
pub fn ciux() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("ciux").unwrap();
    c.env_remove("CIUXCONFIG")
        .env_remove("GITHUB_ENV")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("CIUX_GIT_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("CIUX_REGISTRY_USERNAME")
        .env_remove("CIUX_REGISTRY_PASSWORD")
        .env_remove("CIUX_REGISTRY_UNREACHABLE")
        .env_remove("CIUX_FORCE_BUILD")
        .env_remove("RUST_LOG")
        .env("CIUX_REGISTRY_TIMEOUT", "5")
        .env("DOCKER_CONFIG", "/nonexistent-ciux-test");
    c
}
