//! Git fixtures checked with the git CLI, and `git daemon` over real git:// connections.

use std::process::Command;

use harness::git::{AUTHOR_EMAIL, AUTHOR_NAME, GitDaemon, GitRepo};

/// Runs a git command outside any fixture (as a client would) and returns its stdout.
fn git(args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The steps of ciux's GetHeadRevisionWithBranch-like fixture.
fn build_history(repo: &GitRepo) -> Vec<String> {
    let c1 = repo.commit("c1", &[("rootfs/file1.txt", "one\n")]);
    repo.annotated_tag("v1.0.0", "release v1.0.0");
    repo.branch("testbranch");
    repo.checkout("testbranch");
    let c2 = repo.commit("c2", &[("file2.txt", "two\n")]);
    repo.annotated_tag("v2.0.0", "release v2.0.0");
    repo.checkout("main");
    let c3 = repo.commit("c3", &[("rootfs/file1.txt", "changed\n")]);
    repo.tag("no-annot");
    let merge = repo.merge("testbranch");
    vec![c1, c2, c3, merge]
}

#[test]
fn same_steps_give_the_same_hashes() {
    let first = GitRepo::temp();
    let second = GitRepo::temp();
    assert_eq!(build_history(&first), build_history(&second));
    assert_eq!(first.rev_parse("v2.0.0"), second.rev_parse("v2.0.0"));
    // Tag objects too (annotated tags carry the tagger date).
    assert_eq!(
        first.git(["rev-parse", "v1.0.0"]),
        second.git(["rev-parse", "v1.0.0"])
    );
}

#[test]
fn commits_carry_the_fixture_identity_and_clock() {
    let repo = GitRepo::temp();
    repo.commit("first", &[("a.txt", "a\n")]);
    repo.commit("second", &[]);
    let log = repo.git(["log", "--format=%an|%ae|%cn|%ce|%at|%ct|%s"]);
    let expected_first = format!(
        "{AUTHOR_NAME}|{AUTHOR_EMAIL}|{AUTHOR_NAME}|{AUTHOR_EMAIL}|1704067260|1704067260|first"
    );
    let expected_second = format!(
        "{AUTHOR_NAME}|{AUTHOR_EMAIL}|{AUTHOR_NAME}|{AUTHOR_EMAIL}|1704067320|1704067320|second"
    );
    assert_eq!(log, format!("{expected_second}\n{expected_first}"));
}

#[test]
fn init_uses_main_and_commits_write_files() {
    let repo = GitRepo::temp();
    let c1 = repo.commit("c1", &[("rootfs/deep/file1.txt", "one\n")]);
    assert_eq!(repo.current_branch(), "main");
    assert_eq!(repo.head(), c1);
    assert_eq!(repo.git(["show", "HEAD:rootfs/deep/file1.txt"]), "one");
    assert_eq!(
        repo.git(["status", "--porcelain"]),
        "",
        "everything is committed"
    );
}

#[test]
fn annotated_and_lightweight_tags() {
    let repo = GitRepo::temp();
    let c1 = repo.commit("c1", &[]);
    repo.annotated_tag("v1.0.0", "release 1.0.0");
    repo.commit("c2", &[]);
    repo.tag("v2.0.0");
    assert_eq!(repo.git(["cat-file", "-t", "v1.0.0"]), "tag");
    assert_eq!(repo.git(["cat-file", "-t", "v2.0.0"]), "commit");
    assert_eq!(repo.rev_parse("v1.0.0"), c1);
    // describe only sees annotated tags: the lightweight v2.0.0 is ignored.
    let short = &repo.head()[..7];
    assert_eq!(
        repo.git(["describe", "--long"]),
        format!("v1.0.0-1-g{short}")
    );
}

#[test]
fn branches_checkout_and_merge_commits() {
    let repo = GitRepo::temp();
    let history = build_history(&repo);
    let (c2, c3, merge) = (&history[1], &history[2], &history[3]);
    assert_eq!(repo.current_branch(), "main");
    assert_eq!(repo.rev_parse("testbranch"), *c2);
    let parents = repo.git(["rev-list", "--parents", "-n", "1", "HEAD"]);
    assert_eq!(parents, format!("{merge} {c3} {c2}"));
    assert_eq!(
        repo.git(["log", "-1", "--format=%s"]),
        "Merge branch 'testbranch'"
    );
    assert!(
        repo.path().join("file2.txt").exists(),
        "the merge brought testbranch's file"
    );
}

#[test]
fn bare_clone_keeps_branches_and_tags() {
    let repo = GitRepo::temp();
    let history = build_history(&repo);
    let root = tempfile::tempdir().unwrap();
    let bare = repo.bare_clone(&root.path().join("project.git"));
    let refs = git(&["ls-remote", &format!("file://{}", bare.display())]);
    assert!(
        refs.contains(&format!("{}\trefs/heads/main\n", history[3])),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("{}\trefs/heads/testbranch\n", history[1])),
        "{refs}"
    );
    assert!(refs.contains("\trefs/tags/v1.0.0\n"), "{refs}");
    assert!(refs.contains("\trefs/tags/no-annot\n"), "{refs}");
}

#[test]
fn daemon_serves_ls_remote_and_shallow_clone() {
    let repo = GitRepo::temp();
    let history = build_history(&repo);
    let root = tempfile::tempdir().unwrap();
    repo.bare_clone(&root.path().join("project.git"));
    let daemon = GitDaemon::serve(root.path());
    let url = daemon.url("project.git");
    assert!(url.starts_with("git://127.0.0.1:"), "{url}");
    let refs = git(&["ls-remote", &url]);
    assert!(
        refs.contains(&format!("{}\trefs/heads/main\n", history[3])),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("{}\trefs/tags/v2.0.0^{{}}\n", history[1])),
        "{refs}"
    );

    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("clone");
    git(&[
        "clone",
        "-q",
        "--depth",
        "1",
        "--branch",
        "testbranch",
        &url,
        clone.to_str().unwrap(),
    ]);
    assert_eq!(
        git(&["-C", clone.to_str().unwrap(), "rev-list", "--count", "HEAD"]),
        "1\n"
    );
    assert_eq!(
        git(&["-C", clone.to_str().unwrap(), "rev-parse", "HEAD"]).trim(),
        history[1]
    );
}

#[test]
fn new_upstream_commits_reach_the_served_repository() {
    let repo = GitRepo::temp();
    repo.commit("c1", &[]);
    let root = tempfile::tempdir().unwrap();
    repo.bare_clone(&root.path().join("project.git"));
    let daemon = GitDaemon::serve(root.path());
    let url = daemon.url("project.git");

    // From the original repository, pushed to the daemon (receive-pack is enabled).
    let c2 = repo.commit("c2", &[("new.txt", "new\n")]);
    repo.annotated_tag("v2.0.0", "v2");
    repo.push(&url, &["main", "--tags"]);
    let refs = git(&["ls-remote", &url]);
    assert!(refs.contains(&format!("{c2}\trefs/heads/main\n")), "{refs}");
    assert!(refs.contains("\trefs/tags/v2.0.0\n"), "{refs}");

    // From a working clone of the served repository.
    let work = tempfile::tempdir().unwrap();
    let clone = GitRepo::clone_from(&url, &work.path().join("clone"));
    assert_eq!(clone.head(), c2);
    let c3 = clone.commit("c3", &[("other.txt", "x\n")]);
    clone.push("origin", &["main"]);
    assert!(git(&["ls-remote", &url]).contains(&format!("{c3}\trefs/heads/main\n")));
}

#[test]
fn daemon_stops_on_drop() {
    let root = tempfile::tempdir().unwrap();
    let daemon = GitDaemon::serve(root.path());
    let addr = daemon.addr();
    drop(daemon);
    // The handler git-daemon forked for the readiness probe may hold the listening socket for a
    // moment after the daemon is killed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn initial_branch_can_be_master() {
    let repo = GitRepo::temp_on("master");
    repo.commit("c1", &[]);
    assert_eq!(repo.current_branch(), "master");
    let dir = tempfile::tempdir().unwrap();
    let kept = GitRepo::init_on(&dir.path().join("nested/repo"), "develop");
    kept.commit("c1", &[]);
    assert_eq!(kept.current_branch(), "develop");
    assert_eq!(kept.path(), dir.path().join("nested/repo"));
}
