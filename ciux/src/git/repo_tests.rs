//! Ports of the Go `git_test` / `git_repository_test` cases on real repositories (built with the git CLI).

use git2::Oid;
use harness::git::{GitDaemon, GitRepo};

use crate::git::{self, SourcePaths};

/// The short hash of HEAD.
fn short(r: &GitRepo) -> String {
    r.head()[..7].to_string()
}

/// The `file://` URL of a repository.
fn url(r: &GitRepo) -> String {
    format!("file://{}", r.path().display())
}

fn oid(s: &str) -> Oid {
    Oid::from_str(s).unwrap()
}

fn tag_map(r: &GitRepo) -> Vec<(String, String)> {
    let repo = git::open_root(r.path()).unwrap();
    let mut v: Vec<_> = git::version_tags(&repo)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    v.sort();
    v
}

#[test]
fn semver_tag_map_keeps_annotated_version_tags_only() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    r.commit("c0", &[]);
    assert!(tag_map(&r).is_empty());
    let c1 = r.commit("c1", &[]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    assert_eq!(tag_map(&r), [(c1.clone(), "v1.0.0".to_string())]);
    let c2 = r.commit("c2", &[]);
    r.annotated_tag("v2.0.0", "v2.0.0");
    let mut both = vec![
        (c1.clone(), "v1.0.0".to_string()),
        (c2.clone(), "v2.0.0".to_string()),
    ];
    both.sort();
    assert_eq!(tag_map(&r), both);
    r.commit("c3", &[]);
    r.annotated_tag("no-semver", "no-semver");
    r.commit("c4", &[]);
    r.tag("v9.9.9");
    assert_eq!(tag_map(&r), both);
}

#[test]
fn several_tags_on_one_commit_pick_the_highest_precedence() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let c = r.commit("c", &[]);
    for t in ["v1.0.0-rc2", "v1.0.0", "v1.0.0-rc10", "v0.9.0"] {
        r.annotated_tag(t, t);
    }
    assert_eq!(tag_map(&r), [(c, "v1.0.0".to_string())]);
}

#[test]
fn head_revision_counts_commits_since_the_tag() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let c1 = r.commit("c1", &[]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    let rev = || {
        git::head_revision(
            &git::open_root(r.path()).unwrap(),
            git::IndexRefresh::WhenRacy,
        )
        .unwrap()
    };
    let v = rev();
    assert_eq!(
        (v.tag.as_deref(), v.counter, v.hash.as_str(), v.dirty),
        (Some("v1.0.0"), 0, c1.as_str(), false)
    );
    assert_eq!(v.branch, "master");
    let c2 = r.commit("c2", &[]);
    let v = rev();
    assert_eq!(
        (v.tag.as_deref(), v.counter, v.hash.as_str()),
        (Some("v1.0.0"), 1, c2.as_str())
    );
    let c3 = r.commit("c3", &[]);
    assert_eq!(rev().counter, 2);
    r.tag("v2.0.0");
    let v = rev();
    assert_eq!(
        (v.tag.as_deref(), v.counter, v.hash.as_str()),
        (Some("v1.0.0"), 2, c3.as_str())
    );
    assert_eq!(v.version(), format!("v1.0.0-2-g{}", &c3[..7]));
}

#[test]
fn head_revision_on_a_branch() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    r.commit("c1", &[]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    r.git(["checkout", "-q", "-b", "testbranch"]);
    let c2 = r.commit("c2", &[]);
    r.annotated_tag("v2.0.0", "v2.0.0");
    let v = git::head_revision(
        &git::open_root(r.path()).unwrap(),
        git::IndexRefresh::WhenRacy,
    )
    .unwrap();
    assert_eq!(
        (v.tag.as_deref(), v.counter, v.hash.as_str()),
        (Some("v2.0.0"), 0, c2.as_str())
    );
    assert_eq!(v.branch, "testbranch");
    assert!(!v.is_release());
    r.git(["checkout", "-q", "--detach"]);
    assert_eq!(git::head_branch(&git::open_root(r.path()).unwrap()), "HEAD");
}

/// The nearest tag by graph distance, like `git describe`, even when a merged branch holds newer commits.
#[test]
fn describe_uses_graph_distance_like_git_describe() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    r.commit("base", &[("a", "1")]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    r.git(["checkout", "-q", "-b", "side"]);
    r.commit("s1", &[("s", "1")]);
    r.commit("s2", &[("s", "2")]);
    r.commit("s3", &[("s", "3")]);
    r.git(["checkout", "-q", "master"]);
    r.commit("m1", &[("m", "1")]);
    r.annotated_tag("v1.1.0", "v1.1.0");
    r.git(["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let expected = r.git(["describe", "--abbrev=7", "--match=v*"]);
    let v = git::head_revision(
        &git::open_root(r.path()).unwrap(),
        git::IndexRefresh::WhenRacy,
    )
    .unwrap();
    assert_eq!(v.version(), expected);
    assert_eq!(v.tag.as_deref(), Some("v1.1.0"));
    assert_eq!(v.counter, 4);
}

#[test]
fn untagged_history_gives_the_short_hash_and_dirty_is_marked() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    r.commit("c1", &[("f", "1")]);
    let repo = git::open_root(r.path()).unwrap();
    assert_eq!(
        git::head_revision(&repo, git::IndexRefresh::WhenRacy)
            .unwrap()
            .version(),
        short(&r)
    );
    std::fs::write(r.path().join("untracked"), "x").unwrap();
    assert!(
        !git::is_dirty(&repo, git::IndexRefresh::WhenRacy).unwrap(),
        "untracked files do not make a tree dirty"
    );
    std::fs::write(r.path().join("f"), "2").unwrap();
    assert!(git::is_dirty(&repo, git::IndexRefresh::WhenRacy).unwrap());
    assert_eq!(
        git::head_revision(&repo, git::IndexRefresh::WhenRacy)
            .unwrap()
            .version(),
        format!("{}-dirty", short(&r))
    );
    std::fs::write(r.path().join("f"), "1").unwrap();
    std::fs::write(r.path().join("g"), "staged").unwrap();
    r.git(["add", "g"]);
    assert!(
        git::is_dirty(&repo, git::IndexRefresh::WhenRacy).unwrap(),
        "a staged file makes it dirty"
    );
}

fn revision_fixture(r: &GitRepo) -> (String, String, String) {
    let c1 = r.commit("c1", &[("rootfs/file1.txt", "1")]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    let c2 = r.commit("c2", &[("file2.txt", "2")]);
    r.annotated_tag("v2.0.0", "v2.0.0");
    let c3 = r.commit("c3", &[("rootfs/file1.txt", "3")]);
    (c1, c2, c3)
}

#[test]
fn revision_of_older_commits() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let (c1, _, c3) = revision_fixture(&r);
    let repo = git::open_root(r.path()).unwrap();
    let tags = git::version_tags(&repo).unwrap();
    let v1 = git::revision_of(&repo, oid(&c1), &tags).unwrap();
    assert_eq!(
        (v1.tag.as_deref(), v1.counter, v1.dirty),
        (Some("v1.0.0"), 0, false)
    );
    let v3 = git::revision_of(&repo, oid(&c3), &tags).unwrap();
    assert_eq!(
        (v3.tag.as_deref(), v3.counter, v3.hash.as_str()),
        (Some("v2.0.0"), 1, c3.as_str())
    );
}

#[test]
fn has_diff_with_source_paths() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let (c1, c2, c3) = revision_fixture(&r);
    let repo = git::open_root(r.path()).unwrap();
    let rootfs = SourcePaths::new(r.path(), &["rootfs".into()]);
    let all = SourcePaths::new(r.path(), &[]);
    assert!(!git::touches(&repo, oid(&c1), oid(&c2), &rootfs).unwrap());
    assert!(git::touches(&repo, oid(&c1), oid(&c2), &all).unwrap());
    assert!(git::touches(&repo, oid(&c1), oid(&c3), &rootfs).unwrap());
}

#[test]
fn find_code_change_lists_commits_oldest_first() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let c1 = r.commit("c1", &[("rootfs/file1", "1")]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    let c2 = r.commit("c2", &[("rootfs/file2", "2")]);
    r.annotated_tag("v2.0.0", "v2.0.0");
    let c3 = r.commit("c3", &[("file3", "3")]);
    r.annotated_tag("v3.0.0", "v3.0.0");
    let c4 = r.commit("c4", &[("file4", "4")]);
    r.annotated_tag("v4.0.0", "v4.0.0");
    let repo = git::open_root(r.path()).unwrap();
    let sp = SourcePaths::new(r.path(), &["rootfs".into()]);
    let change = |c: &str| -> Vec<String> {
        git::code_change_commits(&repo, oid(c), &sp)
            .unwrap()
            .iter()
            .map(|o| o.to_string())
            .collect()
    };
    assert_eq!(change(&c1), std::slice::from_ref(&c1));
    assert_eq!(change(&c2), std::slice::from_ref(&c2));
    assert_eq!(change(&c4), [c2.clone(), c3.clone(), c4.clone()]);
    // No commit after the root touches `other`: the root is left out.
    std::fs::create_dir_all(r.path().join("other")).unwrap();
    let other = SourcePaths::new(r.path(), &["other".into()]);
    let none: Vec<String> = git::code_change_commits(&repo, oid(&c4), &other)
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(none, [c2, c3, c4]);
}

#[test]
fn ls_remote_lists_branches_without_cloning() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    r.commit("c1", &[]);
    r.git(["branch", "testbranch"]);
    let listing = git::ls_remote(&url(&r)).unwrap();
    let branches = crate::branch_rule::remote_branches(&listing);
    assert!(
        branches.contains(&"master".to_string()) && branches.contains(&"testbranch".to_string())
    );
    assert!(!branches.contains(&"notexist".to_string()));
    let daemon = GitDaemon::serve(d.path());
    let listing = git::ls_remote(&daemon.url("origin")).unwrap();
    assert!(crate::branch_rule::remote_branches(&listing).contains(&"testbranch".to_string()));
    let err = git::ls_remote(&daemon.url("missing"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unable to list the branches of git://127.0.0.1"),
        "{err}"
    );
}

#[test]
fn clone_work_branch_is_single_branch_with_tags() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    r.commit("c1", &[]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    r.git(["checkout", "-q", "-b", "testbranch"]);
    let c2 = r.commit("c2", &[]);
    r.annotated_tag("v2.0.0", "v2.0.0");
    r.git(["checkout", "-q", "master"]);
    let daemon = GitDaemon::serve(d.path());
    let dest = d.path().join("clone");
    let repo = git::clone(&daemon.url("origin"), &dest, Some("testbranch")).unwrap();
    assert_eq!(git::head_branch(&repo), "testbranch");
    let v = git::head_revision(&repo, git::IndexRefresh::WhenRacy).unwrap();
    assert_eq!(
        (v.tag.as_deref(), v.counter, v.hash.as_str()),
        (Some("v2.0.0"), 0, c2.as_str())
    );
    assert!(
        repo.find_reference("refs/remotes/origin/master").is_err(),
        "single branch"
    );
}

#[test]
fn existing_clones_are_fetched_and_moved_unless_dirty() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    r.commit("c1", &[("f", "1")]);
    let dest = d.path().join("clone");
    let repo = git::clone(&url(&r), &dest, Some("master")).unwrap();
    r.git(["checkout", "-q", "-b", "feature"]);
    let c2 = r.commit("c2", &[("f", "2")]);
    git::update(&repo, "feature", None).unwrap();
    assert_eq!(git::head_branch(&repo), "feature");
    assert_eq!(git::head_commit(&repo).unwrap().to_string(), c2);
    let c3 = r.commit("c3", &[("f", "3")]);
    std::fs::write(dest.join("f"), "local change").unwrap();
    git::update(&repo, "feature", None).unwrap();
    assert_eq!(
        git::head_commit(&repo).unwrap().to_string(),
        c2,
        "a dirty clone is left alone"
    );
    std::fs::write(dest.join("f"), "2").unwrap();
    git::update(&repo, "feature", None).unwrap();
    assert_eq!(
        git::head_commit(&repo).unwrap().to_string(),
        c3,
        "fast-forwarded"
    );
    assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "3");
    assert!(
        !git::is_dirty(&repo, git::IndexRefresh::WhenRacy).unwrap(),
        "the work tree follows the branch"
    );
}

/// The listing taken when the work branch was chosen tells whether a fetch would bring anything: a
/// new commit on the work branch or a new tag does, a commit on another branch does not, and a clone
/// whose `origin` is another URL is always fetched.
#[test]
fn a_listing_with_nothing_new_skips_the_fetch() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    let c1 = r.commit("c1", &[("f", "1")]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    let repo = git::clone(&url(&r), &d.path().join("clone"), Some("master")).unwrap();
    let url = url(&r);
    let listed = || git::ls_remote(&url).unwrap();
    let current = |refs: &[(String, Oid)], branch: Option<&str>| {
        git::has_everything(&repo, &git::Listing { url: &url, refs }, branch)
    };
    let before = listed();
    assert!(current(&before, Some("master")));
    assert!(current(&before, None), "every branch is master here");

    r.git(["branch", "other"]);
    let with_branch = listed();
    assert!(
        current(&with_branch, Some("master")),
        "another branch is not fetched"
    );
    assert!(
        !current(&with_branch, None),
        "but `fetch_all` would bring it"
    );
    assert!(
        !current(&with_branch, Some("other")),
        "nor is it in the clone"
    );

    r.git(["tag", "-a", "-m", "t", "v1.1.0", "other"]);
    assert!(!current(&listed(), Some("master")), "a new tag is fetched");

    let other_url = format!("{url}/");
    let refs = listed();
    let elsewhere = git::Listing {
        url: &other_url,
        refs: &refs,
    };
    assert!(!git::has_everything(&repo, &elsewhere, Some("master")));

    // With a stale listing the fetch is skipped, so the new commit stays upstream; with a fresh one
    // it is fetched and checked out.
    let c2 = r.commit("c2", &[("f", "2")]);
    let stale = git::Listing {
        url: &url,
        refs: &before,
    };
    git::update(&repo, "master", Some(&stale)).unwrap();
    assert_eq!(git::head_commit(&repo).unwrap().to_string(), c1);
    let fresh = listed();
    git::update(
        &repo,
        "master",
        Some(&git::Listing {
            url: &url,
            refs: &fresh,
        }),
    )
    .unwrap();
    assert_eq!(git::head_commit(&repo).unwrap().to_string(), c2);
    assert!(current(&fresh, Some("master")));
}

#[test]
fn pinned_revisions() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    let c1 = r.commit("c1", &[("a", "1")]);
    r.annotated_tag("v1.0.0", "v1.0.0");
    let c2 = r.commit("c2", &[("b", "2")]);
    r.git(["branch", "stable"]);
    let c3 = r.commit("c3", &[("c", "3")]);
    let repo = git::clone(&url(&r), &d.path().join("clone"), None).unwrap();
    git::checkout_revision(&repo, "v1.0.0").unwrap();
    assert_eq!(git::head_commit(&repo).unwrap().to_string(), c1);
    assert!(!d.path().join("clone/b").exists());
    git::checkout_revision(&repo, &c2[..10]).unwrap();
    assert_eq!(git::head_commit(&repo).unwrap().to_string(), c2);
    git::checkout_revision(&repo, "stable").unwrap();
    assert_eq!(git::head_branch(&repo), "stable");
    git::checkout_revision(&repo, &c3).unwrap();
    assert!(d.path().join("clone/c").exists());
    let e = git::checkout_revision(&repo, "nope")
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither a branch, a tag nor a commit"), "{e}");
}

#[test]
fn opening_errors_are_clear() {
    let d = tempfile::tempdir().unwrap();
    let e = git::open_root(d.path()).err().unwrap().to_string();
    assert!(e.contains("is not a git repository"), "{e}");
    let r = GitRepo::init_on(&d.path().join("repo"), "master");
    r.commit("c", &[("sub/f", "1")]);
    let e = git::open_root(&r.path().join("sub"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("is a sub-directory of the git repository"),
        "{e}"
    );
    assert!(e.contains("pass the repository root"), "{e}");
}

#[test]
fn a_root_commit_adding_sources_is_the_last_change() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(d.path(), "master");
    let c1 = r.commit("c1", &[("rootfs/a", "1")]);
    let c2 = r.commit("c2", &[("README", "doc")]);
    let repo = git::open_root(r.path()).unwrap();
    let sp = SourcePaths::new(r.path(), &["rootfs".into()]);
    let change: Vec<String> = git::code_change_commits(&repo, oid(&c2), &sp)
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(change, [c1, c2]);
}

#[test]
fn a_diverged_local_branch_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let r = GitRepo::init_on(&d.path().join("origin"), "master");
    r.commit("c1", &[("f", "1")]);
    let dest = d.path().join("clone");
    let repo = git::clone(&url(&r), &dest, Some("master")).unwrap();
    r.commit("upstream", &[("f", "2")]);
    std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "local",
        ])
        .current_dir(&dest)
        .status()
        .unwrap();
    let before = git::head_commit(&repo).unwrap();
    git::update(&repo, "master", None).unwrap();
    assert_eq!(
        git::head_commit(&repo).unwrap(),
        before,
        "local commits are never thrown away"
    );
}
