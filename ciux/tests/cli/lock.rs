//! `ignite --lock`, `ignite --frozen` and `lock diff`: dependencies served by `git daemon` on
//! loopback (whose connection count proves what touched the network), a real registry.

use std::path::{Path, PathBuf};

use predicates::prelude::PredicateBooleanExt as _;

use crate::support::{GitDaemon, Registry, Repo, ciux, stdout_of};

/// Served dependencies `alpha` (cloned), `beta` (remote only), `gamma` (cloned), an image
/// dependency in a real registry, and a project listing the deps named in `deps`.
struct World {
    dir: tempfile::TempDir,
    registry: Registry,
    daemon: GitDaemon,
    alpha: Repo,
    beta: Repo,
    gamma: Repo,
    project: Repo,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::start();
        let remotes = dir.path().join("remotes");
        let served = |name: &str| {
            let repo = Repo::init(&remotes.join(format!("{name}.git")));
            repo.commit(&format!("{name} c1"), &[("src/a", "1\n")]);
            repo.annotated("v1.0.0");
            repo.commit(&format!("{name} c2"), &[("src/a", "2\n")]);
            repo
        };
        let (alpha, beta, gamma) = (served("alpha"), served("beta"), served("gamma"));
        let daemon = GitDaemon::serve(&remotes);
        registry.push_image("fink/base", "v1");
        let project = Repo::init(&dir.path().join("work/project"));
        let world = World {
            dir,
            registry,
            daemon,
            alpha,
            beta,
            gamma,
            project,
        };
        world.write_ciux(&["alpha", "beta", "gamma"]);
        world.project.commit("p1", &[("src/p", "1\n")]);
        world.project.annotated("v0.1.0");
        world
    }

    fn url(&self, name: &str) -> String {
        self.daemon.url(&format!("{name}.git"))
    }

    /// Writes `.ciux` with the dependencies in `deps` (alpha and gamma cloned, beta remote only).
    fn write_ciux(&self, deps: &[&str]) {
        let mut text = format!(
            "apiVersion: v1alpha1\nregistry: {}/fink\nsourcePathes: [src]\ndependencies:\n",
            self.registry.host()
        );
        for name in deps {
            let clone = if *name == "beta" { "false" } else { "true" };
            text.push_str(&format!(
                "  - url: {}\n    clone: {clone}\n    labels: {{itest: \"true\"}}\n",
                self.url(name)
            ));
        }
        text.push_str(&format!(
            "  - image: {}/fink/base:v1\n    labels: {{itest: \"true\"}}\n",
            self.registry.host()
        ));
        self.project.write(".ciux", &text);
    }

    fn ignite(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        ciux()
            .args(["ignite", "-l", "itest"])
            .args(extra)
            .arg(&self.project.dir)
            .assert()
    }

    fn env(&self) -> String {
        std::fs::read_to_string(self.project.dir.join(".ciux.d/ciux_itest.sh")).unwrap()
    }

    fn lock_path(&self) -> PathBuf {
        self.project.dir.join(".ciux.lock")
    }

    fn clone_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    fn head_of(dir: &Path) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

/// The lock records every dependency's branch and commit, the clones' versions and the image
/// digest; `--frozen` then writes the same env file byte for byte although every remote moved and
/// the project image appeared in the registry, with no connection to the git server.
#[test]
fn frozen_replays_the_locked_run_without_touching_the_network() {
    let w = World::new();
    w.ignite(&["--lock"]).success().stdout("");
    let locked_env = w.env();
    let lock = std::fs::read_to_string(w.lock_path()).unwrap();
    let digest = w.registry.manifest_digest("fink/base", "v1").unwrap();
    let project_version = "v0.1.0";
    assert_eq!(
        lock,
        format!(
            "# Written by `ciux ignite --lock`; replayed by `ciux ignite --frozen`.
lockVersion: 1
selector: \"itest\"
project:
  branch: \"master\"
  commit: \"{project}\"
  tree: \"{project_tree}\"
  version: \"{project_version}\"
  image: \"project\"
  tag: \"{project_version}\"
  build: true
  reason: {{\"kind\":\"root-commit\",\"commit\":\"{project}\"}}
dependencies:
  - url: \"{alpha_url}\"
    workbranch: \"master\"
    commit: \"{alpha}\"
    tree: \"{alpha_tree}\"
    version: \"v1.0.0-1-g{alpha_short}\"
  - url: \"{beta_url}\"
    workbranch: \"master\"
    commit: \"{beta}\"
  - url: \"{gamma_url}\"
    workbranch: \"master\"
    commit: \"{gamma}\"
    tree: \"{gamma_tree}\"
    version: \"v1.0.0-1-g{gamma_short}\"
images:
  - image: \"{host}/fink/base:v1\"
    digest: \"{digest}\"
",
            project = w.project.head(),
            project_tree = w.project.git(&["rev-parse", "HEAD^{tree}"]).trim(),
            alpha_url = w.url("alpha"),
            beta_url = w.url("beta"),
            gamma_url = w.url("gamma"),
            alpha = w.alpha.head(),
            alpha_tree = w.alpha.git(&["rev-parse", "HEAD^{tree}"]).trim(),
            alpha_short = w.alpha.short(),
            beta = w.beta.head(),
            gamma = w.gamma.head(),
            gamma_tree = w.gamma.git(&["rev-parse", "HEAD^{tree}"]).trim(),
            gamma_short = w.gamma.short(),
            host = w.registry.host(),
        )
    );
    let alpha_locked = w.alpha.head();
    w.alpha.commit("alpha c3", &[("src/a", "3\n")]);
    w.beta.git(&["checkout", "-q", "-b", "feature"]);
    w.beta.commit("beta on feature", &[]);
    w.beta.git(&["checkout", "-q", "master"]);
    w.beta.commit("beta c3", &[]);
    w.registry.push_image("fink/project", project_version);

    let before = w.daemon.connections();
    w.ignite(&["--frozen"]).success().stdout("");
    assert_eq!(w.daemon.connections(), before, "no listing, no fetch");
    assert_eq!(w.env(), locked_env);
    assert_eq!(World::head_of(&w.clone_dir("alpha")), alpha_locked);
    // A replay that changes nothing does not rewrite the env file (no fsync).
    let inode = |p: PathBuf| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let env_path = w.project.dir.join(".ciux.d/ciux_itest.sh");
    let before = inode(env_path.clone());
    w.ignite(&["--frozen"]).success();
    assert_eq!(inode(env_path), before);

    // Without --frozen the same run sees the new commits and the pushed image.
    w.ignite(&[]).success();
    assert_ne!(w.env(), locked_env);
    assert!(w.env().contains("CIUX_BUILD=false"), "{}", w.env());
    // And --frozen puts the clone back at the locked commit, still without the network.
    let before = w.daemon.connections();
    w.ignite(&["--frozen"]).success();
    assert_eq!(w.daemon.connections(), before);
    assert_eq!(w.env(), locked_env);
    assert_eq!(World::head_of(&w.clone_dir("alpha")), alpha_locked);
}

/// A clone with local changes, in its work tree or only in its index, is refused: the locked
/// version would not describe it. Without changes (the index rewritten by git since), it replays.
#[test]
fn frozen_refuses_a_clone_with_local_changes() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    let locked_env = w.env();
    let alpha = w.clone_dir("alpha");
    let refused = || {
        w.ignite(&["--frozen"]).failure().stderr(predicates::str::contains(format!(
            "dependency {}: {} has local changes: the locked version v1.0.0-1-g{} would not describe it; commit or stash them",
            w.url("alpha"),
            alpha.display(),
            w.alpha.short()
        )));
    };
    std::fs::write(alpha.join("src/a"), "edited\n").unwrap();
    refused();
    // Staged: the work tree matches the index, which no longer is HEAD's tree.
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(&alpha)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["add", "src/a"]);
    refused();
    git(&["reset", "-q", "--hard"]);
    w.ignite(&["--frozen"]).success();
    assert_eq!(w.env(), locked_env);
}

/// The project is replayed from its files only while it is at the locked commit with a clean tree:
/// an uncommitted change, even one only staged, makes its version `-dirty` again.
#[test]
fn frozen_sees_a_project_changed_since_the_lock() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    let locked_env = w.env();
    w.ignite(&["--frozen"]).success();
    assert_eq!(w.env(), locked_env);
    w.project.write("src/p", "edited\n");
    w.ignite(&["--frozen"]).success();
    assert!(w.env().contains("v0.1.0-dirty"), "{}", w.env());
    w.project.git(&["add", "src/p"]);
    w.ignite(&["--frozen"]).success();
    assert!(w.env().contains("v0.1.0-dirty"), "{}", w.env());
    w.project.git(&["reset", "-q", "--hard"]);
    w.ignite(&["--frozen"]).success();
    assert_eq!(w.env(), locked_env);
}

/// A clone that is missing is cloned once (one connection per cloned dependency, none for the
/// remote-only one) and put at its locked commit, not at the branch head.
#[test]
fn frozen_clones_a_missing_dependency_at_its_locked_commit() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    let locked_env = w.env();
    let (alpha_locked, gamma_locked) = (w.alpha.head(), w.gamma.head());
    w.alpha.commit("alpha c3", &[]);
    std::fs::remove_dir_all(w.clone_dir("alpha")).unwrap();
    std::fs::remove_dir_all(w.clone_dir("gamma")).unwrap();
    let before = w.daemon.connections();
    w.ignite(&["--frozen"]).success();
    assert_eq!(w.daemon.connections() - before, 2);
    assert_eq!(w.env(), locked_env);
    assert_eq!(World::head_of(&w.clone_dir("alpha")), alpha_locked);
    assert_eq!(World::head_of(&w.clone_dir("gamma")), gamma_locked);
}

/// A locked commit the remote lost (history rewritten) is an error naming the dependency and what
/// to do, after one fetch.
#[test]
fn frozen_names_a_dependency_whose_locked_commit_is_gone() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    w.alpha.git(&["reset", "-q", "--hard", "HEAD~1"]);
    w.alpha.commit("alpha rewritten", &[("src/a", "other\n")]);
    w.alpha.git(&["reflog", "expire", "--expire=now", "--all"]);
    w.alpha.git(&["gc", "-q", "--prune=now"]);
    std::fs::remove_dir_all(w.clone_dir("alpha")).unwrap();
    let before = w.daemon.connections();
    w.ignite(&["--frozen"]).failure().stderr(predicates::str::contains(format!(
        "dependency {}: the locked commit",
    w.url("alpha")
    )).and(predicates::str::contains(
        "is no longer on the remote (history rewritten or branch deleted): update the lock with `ciux ignite --lock`",
    )));
    assert_eq!(w.daemon.connections() - before, 1);
}

/// A lock written for other dependencies, another selector or another project branch is refused
/// with what differs, before any network access.
#[test]
fn frozen_refuses_a_lock_that_does_not_match() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    w.write_ciux(&["alpha", "beta"]);
    let before = w.daemon.connections();
    w.ignite(&["--frozen"]).failure().stderr(predicates::str::contains(format!(
        "does not match this run: locked dependency no longer in .ciux: {}; update it with `ciux ignite --lock`",
        w.url("gamma")
    )));
    w.write_ciux(&["alpha", "beta", "gamma"]);
    w.ignite(&["--frozen", "-b", "other"])
        .failure()
        .stderr(predicates::str::contains(
            "it was written on project branch \"master\", this run is on \"other\" (pass `--branch master` to replay it)",
        ));
    assert_eq!(w.daemon.connections(), before);
    std::fs::remove_file(w.lock_path()).unwrap();
    w.ignite(&["--frozen"])
        .failure()
        .stderr(predicates::str::contains(
            "(write one with `ciux ignite --lock`)",
        ));
}

/// `lock diff`: per dependency the commits between the two locks (short id, subject, author), a
/// rewritten history said so with both sides, an added and a removed dependency.
#[test]
fn lock_diff_is_the_cross_repository_changelog() {
    let w = World::new();
    w.ignite(&["--lock"]).success();
    let old = w.dir.path().join("old.lock");
    std::fs::copy(w.lock_path(), &old).unwrap();
    let alpha_old = w.alpha.short();
    let beta_old = w.beta.short();
    let gamma_old = w.gamma.short();
    let a3 = w.alpha.commit("alpha c3", &[]);
    let a4 = w.alpha.commit("alpha c4", &[]);
    // The old beta commit stays reachable on the server from another branch.
    w.beta.git(&["branch", "before-rewrite"]);
    w.beta.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let b3 = w.beta.commit("beta rewritten", &[]);
    w.write_ciux(&["alpha", "beta"]);
    w.ignite(&["--lock"]).success();
    let out = stdout_of(ciux().args(["lock", "diff"]).arg(&old).arg(w.lock_path()));
    assert_eq!(
        out,
        format!(
            "{alpha}: master {alpha_old}..{a4s}, 2 commits
  {a4s} alpha c4 (Fink Tester)
  {a3s} alpha c3 (Fink Tester)
{beta}: master {beta_old}..{b3s}, not a fast-forward (history rewritten): 1 commit only in the new lock, 1 commit only in the old
  + {b3s} beta rewritten (Fink Tester)
  - {beta_old} beta c2 (Fink Tester)
{gamma}: removed (was master at {gamma_old})
",
            alpha = w.url("alpha"),
            beta = w.url("beta"),
            gamma = w.url("gamma"),
            a3s = &a3[..7],
            a4s = &a4[..7],
            b3s = &b3[..7],
        )
    );
    // Reversed: gamma is added; alpha went back.
    let new = w.dir.path().join("new.lock");
    std::fs::copy(w.lock_path(), &new).unwrap();
    let out = stdout_of(ciux().args(["lock", "diff"]).arg(&new).arg(&old));
    assert!(
        out.starts_with(&format!(
            "{alpha}: master {a4s}..{alpha_old}, went back 2 commits
  - {a4s} alpha c4 (Fink Tester)
  - {a3s} alpha c3 (Fink Tester)
",
            alpha = w.url("alpha"),
            a3s = &a3[..7],
            a4s = &a4[..7],
        )),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "{}: added, master at {gamma_old}\n",
            w.url("gamma")
        )),
        "{out}"
    );
}

/// Under `--dry-run`, `--lock` prints the lock instead of writing it, and `--frozen` prints the git
/// commands that would put the clones at their locked commits, changing nothing.
#[test]
fn lock_and_frozen_change_nothing_under_dry_run() {
    let w = World::new();
    let out = stdout_of(
        ciux()
            .args(["--dry-run", "ignite", "-l", "itest", "--lock"])
            .arg(&w.project.dir),
    );
    let lock_path = w.lock_path();
    assert!(!lock_path.exists(), "no lock written");
    assert!(
        out.contains(&format!(
            "# would write {}\n# Written by `ciux ignite --lock`",
            lock_path.display()
        )),
        "{out}"
    );
    w.ignite(&["--lock"]).success();
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    let locked_env = w.env();
    let alpha_locked = w.alpha.head();
    w.alpha.commit("alpha c3", &[]);
    w.ignite(&[]).success();
    let moved = World::head_of(&w.clone_dir("alpha"));
    assert_ne!(moved, alpha_locked);
    let out = stdout_of(
        ciux()
            .args(["--dry-run", "ignite", "-l", "itest", "--frozen"])
            .arg(&w.project.dir),
    );
    assert!(
        out.starts_with(&format!(
            // gamma is already at its locked commit: nothing to do there.
            "git -C {alpha} checkout {alpha_locked}\n# would write ",
            alpha = w.clone_dir("alpha").display(),
        )),
        "{out}"
    );
    assert!(out.ends_with(&locked_env), "{out}");
    assert_eq!(
        World::head_of(&w.clone_dir("alpha")),
        moved,
        "clone not moved"
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock);
}
