//! The stat check against the git CLI on real repositories: the tree it computes is `git write-tree`'s,
//! and it says `Clean` only for what `git status` calls clean.

use std::path::Path;
use std::time::{Duration, SystemTime};

use harness::git::GitRepo;

use super::{Index, StatCheck, check, clean_at, tree_id};
use crate::git;

/// Sets a file's modification time (its change time becomes now).
fn set_mtime(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn make_executable(path: &Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A committed repository whose files were written an hour ago and whose index was refreshed since:
/// no entry is racily clean.
fn settled(files: &[(&str, &str)]) -> GitRepo {
    let r = GitRepo::temp();
    r.commit("c1", files);
    settle(&r, files);
    r
}

/// Moves the files' modification time an hour back and refreshes the index.
fn settle(r: &GitRepo, files: &[(&str, &str)]) {
    let past = SystemTime::now() - Duration::from_secs(3600);
    for (path, _) in files {
        set_mtime(&r.path().join(path), past);
    }
    r.git(["update-index", "--really-refresh"]);
}

fn state(r: &GitRepo) -> StatCheck {
    check(&git::open_root(r.path()).unwrap())
}

fn index_tree(r: &GitRepo) -> String {
    let index = Index::parse(&std::fs::read(r.path().join(".git/index")).unwrap()).unwrap();
    tree_id(&index.entries).unwrap().to_string()
}

/// Names whose order differs between plain byte order and tree order if directories were not
/// compared with their `/`.
const TRICKY: &[(&str, &str)] = &[
    ("a.b", "1\n"),
    ("a/b", "2\n"),
    ("a/c/d", "3\n"),
    ("a-b", "4\n"),
    ("a0", "5\n"),
    ("b/x/y/z", "6\n"),
    ("b/x.y", "7\n"),
    ("top", "8\n"),
];

#[test]
fn the_tree_of_the_index_is_git_write_tree_in_every_index_version() {
    let r = settled(TRICKY);
    std::os::unix::fs::symlink("top", r.path().join("link")).unwrap();
    std::fs::write(r.path().join("run.sh"), "#!/bin/sh\n").unwrap();
    make_executable(&r.path().join("run.sh"));
    r.git(["add", "link", "run.sh"]);
    for version in ["2", "3", "4"] {
        r.git(["update-index", "--index-version", version]);
        assert_eq!(
            index_tree(&r),
            r.git(["write-tree"]).trim(),
            "index version {version}"
        );
    }
}

#[test]
fn a_submodule_entry_counts_in_the_tree_but_is_not_stat_checked() {
    let r = settled(&[("f", "1\n")]);
    let head = r.head();
    r.git([
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},sub"),
    ]);
    r.git(["commit", "-q", "-m", "submodule"]);
    assert_eq!(index_tree(&r), r.git(["write-tree"]).trim());
    assert_eq!(state(&r), StatCheck::Clean);
}

#[test]
fn a_settled_clean_tree_is_clean_without_libgit2_status() {
    let r = settled(TRICKY);
    assert_eq!(state(&r), StatCheck::Clean);
    std::fs::write(r.path().join("untracked"), "x").unwrap();
    assert_eq!(state(&r), StatCheck::Clean, "untracked files do not count");
}

#[test]
fn anything_the_stat_data_cannot_vouch_for_is_unknown() {
    type Change = fn(&GitRepo);
    let cases: [(&str, Change); 6] = [
        ("a modified file", |r| {
            std::fs::write(r.path().join("a/b"), "changed\n").unwrap()
        }),
        ("a deleted file", |r| {
            std::fs::remove_file(r.path().join("a/b")).unwrap()
        }),
        ("a staged change", |r| {
            std::fs::write(r.path().join("a/b"), "staged\n").unwrap();
            r.git(["add", "a/b"]);
        }),
        ("an executable bit", |r| {
            make_executable(&r.path().join("top"))
        }),
        ("an assume-unchanged entry", |r| {
            r.git(["update-index", "--assume-unchanged", "top"]);
        }),
        ("a skip-worktree entry", |r| {
            r.git(["update-index", "--skip-worktree", "top"]);
        }),
    ];
    for (what, change) in cases {
        let r = settled(TRICKY);
        change(&r);
        assert_eq!(state(&r), StatCheck::Unknown, "{what}");
    }
}

#[test]
fn a_file_written_in_the_tick_of_the_index_is_racy_until_the_index_is_rewritten() {
    let r = settled(TRICKY);
    // The index written at the same time as the files: racily clean.
    let files = std::fs::metadata(r.path().join("top"))
        .unwrap()
        .modified()
        .unwrap();
    set_mtime(&r.path().join(".git/index"), files);
    assert_eq!(state(&r), StatCheck::Racy);
    let repo = git::open_root(r.path()).unwrap();
    let index = std::fs::read(r.path().join(".git/index")).unwrap();
    assert!(!git::is_dirty(&repo, git::IndexRefresh::Never).unwrap());
    assert_eq!(
        std::fs::read(r.path().join(".git/index")).unwrap(),
        index,
        "a dry run leaves the index as it is"
    );
    assert_eq!(state(&r), StatCheck::Racy);
    assert!(!git::is_dirty(&repo, git::IndexRefresh::WhenRacy).unwrap());
    assert_eq!(
        state(&r),
        StatCheck::Clean,
        "is_dirty rewrites the index once its racy files are known clean, as git status does"
    );
    assert_eq!(r.git(["status", "--porcelain"]), "");
}

#[test]
fn a_clone_at_its_commit_is_known_clean_from_its_files() {
    let r = settled(TRICKY);
    let head = git2::Oid::from_str(&r.head()).unwrap();
    let tree = git2::Oid::from_str(r.git(["rev-parse", "HEAD^{tree}"]).trim()).unwrap();
    assert!(clean_at(r.path(), head, None), "tree read from the objects");
    assert!(
        clean_at(r.path(), head, Some(tree)),
        "tree given by the lock"
    );
    assert!(!clean_at(r.path(), head, Some(head)), "another tree");
    let first = r.head();
    r.commit("c2", &[("top", "changed\n")]);
    settle(&r, &[("top", "")]);
    let old = git2::Oid::from_str(&first).unwrap();
    assert!(!clean_at(r.path(), old, None), "HEAD elsewhere");

    // HEAD through packed refs, then detached.
    let head = git2::Oid::from_str(&r.head()).unwrap();
    r.git(["pack-refs", "--all"]);
    assert!(!r.path().join(".git/refs/heads/main").exists());
    assert!(clean_at(r.path(), head, None), "packed branch");
    r.git(["checkout", "-q", "--detach"]);
    assert!(clean_at(r.path(), head, None), "detached HEAD");
}

#[test]
fn a_linked_work_tree_is_left_to_libgit2() {
    let r = settled(TRICKY);
    let linked = tempfile::tempdir().unwrap();
    let dir = linked.path().join("wt");
    r.git(["worktree", "add", "-q", "--detach", dir.to_str().unwrap()]);
    let head = git2::Oid::from_str(&r.head()).unwrap();
    assert!(!clean_at(&dir, head, None));
}
