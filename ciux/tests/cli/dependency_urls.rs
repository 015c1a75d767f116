//! Dependency URLs that must not be used as they are (a clone directory that is the project, names
//! that are no directory, remote helpers), URLs with credentials that must never be printed, and a
//! `git://` server that never answers.

use std::path::Path;

use harness::git_http::GitHttpServer;
use predicates::prelude::*;

use crate::support::{GitDaemon, Registry, Repo, ciux};

/// The output of a finished command, stdout then stderr.
fn printed(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A project that depends on a repository with its own directory name: refused before any git
/// operation, the project stays on its branch with its files (ciux used to fetch `master` into the
/// project and check it out there).
#[test]
fn a_clone_directory_that_is_the_project_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let upstream = Repo::init(&d.path().join("remotes/proj"));
    upstream.commit("c1", &[("README", "upstream\n")]);
    let daemon = GitDaemon::serve(&d.path().join("remotes"));
    let work = d.path().join("work/proj");
    let project = Repo::init(&work);
    project.git(&["remote", "add", "origin", &upstream.url()]);
    project.git(&["fetch", "-q", "origin"]);
    project.git(&["checkout", "-q", "-b", "feature", "origin/master"]);
    project.commit(
        "feature",
        &[
            ("feature.txt", "work in progress\n"),
            (
                ".ciux",
                &format!(
                    "registry: {}/x\ndependencies:\n  - url: {}\n    clone: true\n",
                    reg.host(),
                    daemon.url("proj")
                ),
            ),
        ],
    );
    for args in [&["ignite"][..], &["ignite", "env"]] {
        ciux()
            .args(args)
            .arg(&work)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "{}/.ciux: dependency \"{}\": it would be cloned into {}, the project itself; check the URL, or clone the project into a directory of another name",
                work.display(),
                daemon.url("proj"),
                work.display()
            )));
    }
    assert_eq!(daemon.connections(), 0, "no git operation");
    assert_eq!(
        project.git(&["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature"
    );
    assert!(work.join("feature.txt").is_file() && work.join(".ciux").is_file());
}

/// A URL whose last segment is `..` (the project's grandparent) or that ends with a newline names no
/// clone directory: refused before anything is listed or created.
#[test]
fn repository_names_that_are_no_directory_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dep = Repo::init(&d.path().join("remotes/dep"));
    dep.commit("c1", &[("f", "1")]);
    std::fs::create_dir(d.path().join("remotes/dep/sub")).unwrap();
    let project = Repo::init(&d.path().join("work/proj"));
    let up = format!("file://{}/remotes/dep/sub/..", d.path().display());
    let newline = format!("{}\n", dep.url());
    for (url, reason) in [
        (
            &up,
            "its repository name (the URL's last path segment) is \"..\", which cannot name a directory",
        ),
        (
            &newline,
            "the URL contains a control character (a stray newline?)",
        ),
    ] {
        project.commit(
            "ciux",
            &[(
                ".ciux",
                &format!(
                    "registry: 127.0.0.1:1/x\ndependencies:\n  - url: {url:?}\n    clone: true\n"
                ),
            )],
        );
        ciux()
            .args(["ignite"])
            .arg(&project.dir)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                ".ciux: dependency {url:?}: {reason}"
            )));
    }
    assert!(
        !d.path().join(".git").exists(),
        "nothing cloned above work/"
    );
    let entries: Vec<_> = std::fs::read_dir(d.path().join("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["proj"]);
}

/// `ext::` and `fd::` URLs are refused for what they are (git would run a command or use inherited
/// file descriptors), not as ssh remotes.
#[test]
fn remote_helper_urls_are_refused_for_what_they_are() {
    let d = tempfile::tempdir().unwrap();
    let project = Repo::init(&d.path().join("work/proj"));
    let marker = d.path().join("pwned");
    for (url, message) in [
        (
            format!("ext::sh -c touch% {}", marker.display()),
            "`ext::` URLs make git run the command they contain as the transport; ciux does not run git remote helpers: use an https://, git:// or file:// URL",
        ),
        (
            "fd::3".to_string(),
            "fd::3: `fd::` URLs make git talk over file descriptors it inherited; ciux does not run git remote helpers",
        ),
    ] {
        project.commit(
            "ciux",
            &[(
                ".ciux",
                &format!("registry: 127.0.0.1:1/x\ndependencies:\n  - url: {url:?}\n"),
            )],
        );
        ciux()
            .args(["ignite"])
            .arg(&project.dir)
            .assert()
            .failure()
            .stderr(predicate::str::contains(message))
            .stderr(predicate::str::contains("ssh").not());
    }
    assert!(!marker.exists());
}

/// A `git://` server that accepts the connection and never answers fails after `CIUX_GIT_TIMEOUT`.
#[test]
fn a_silent_git_daemon_times_out() {
    let d = tempfile::tempdir().unwrap();
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("git://{}/dep", silent.local_addr().unwrap());
    let project = Repo::init(&d.path().join("work/proj"));
    project.commit(
        "ciux",
        &[(
            ".ciux",
            &format!("registry: 127.0.0.1:1/x\ndependencies:\n  - url: {url}\n"),
        )],
    );
    ciux()
        .env("CIUX_GIT_TIMEOUT", "1")
        .timeout(std::time::Duration::from_secs(60))
        .args(["ignite"])
        .arg(&project.dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "dependency {url}: unable to list the branches of {url}"
        )))
        .stderr(predicate::str::contains("timed out"));
}

/// Tokens in dependency URLs never leave the process: not in the summary of a remote-only dependency,
/// the INFO `work branch` lines, the `--dry-run` git plan, `get deps`, nor the `dependency <url>:`
/// context of an error. The branch rule's message names each branch once.
#[test]
fn tokens_in_dependency_urls_are_never_printed() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let served = d.path().join("served");
    let dep = Repo::init(&d.path().join("upstream/dep"));
    dep.commit("c1", &[("f", "1")]);
    dep.annotated("v1.0.0");
    dep.git(&["clone", "-q", "--bare", ".", "../../served/dep.git"]);
    dep.git(&["branch", "-m", "dev"]);
    dep.git(&["clone", "-q", "--bare", ".", "../../served/dev-only.git"]);
    let server = GitHttpServer::builder().serve(&served);
    let with_token = |name: &str| {
        server
            .url(name)
            .replacen("http://", "http://ci:tok-SECRET@", 1)
    };
    let project = Repo::init(&d.path().join("work/proj"));
    let write_ciux = |deps: &[(&str, bool)]| {
        let mut text = format!("registry: {}/x\ndependencies:\n", reg.host());
        for (name, clone) in deps {
            text.push_str(&format!(
                "  - url: {}\n    clone: {clone}\n",
                with_token(name)
            ));
        }
        project.commit("ciux", &[(".ciux", &text)]);
    };
    let run = |args: &[&str]| {
        let output = ciux().args(args).arg(&project.dir).output().unwrap();
        let text = printed(&output);
        assert!(!text.contains("tok-SECRET"), "{text}");
        (output.status.success(), text)
    };
    let plain = server.url("dep.git");

    write_ciux(&[("dep.git", false)]);
    let (ok, text) = run(&["-v", "1", "ignite"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("  {plain} remote-only=true branch=master\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{plain} work branch = master")),
        "{text}"
    );
    let (ok, text) = run(&["get", "deps"]);
    assert!(ok && text == format!("  {plain}\n"), "{text}");

    write_ciux(&[("dep.git", true)]);
    let (ok, text) = run(&["--dry-run", "ignite"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "git clone --branch master --single-branch {plain} {}\n",
            d.path().join("work/dep").display()
        )),
        "{text}"
    );

    write_ciux(&[("dev-only.git", false)]);
    let (ok, text) = run(&["ignite"]);
    assert!(!ok);
    assert!(
        text.contains(&format!(
            "error: dependency {}: none of the branches \"master\", \"main\" exists (remote has: dev)",
            server.url("dev-only.git")
        )),
        "{text}"
    );
}

/// `ignite env` fills `<DEP>_WORKBRANCH` of a dependency that is not cloned from its remote, with the
/// branch rule `ignite` applies.
#[test]
fn ignite_env_asks_the_remote_for_dependencies_not_on_disk() {
    let d = tempfile::tempdir().unwrap();
    let remotes = d.path().join("remotes");
    for (name, branches) in [("fink-cd", &["main"][..]), ("sim", &["master", "feature"])] {
        let r = Repo::init(&remotes.join(name));
        r.commit("c1", &[("f", name)]);
        for b in branches {
            r.git(&["branch", "-M", b]);
        }
    }
    let daemon = GitDaemon::serve(&remotes);
    let project = Repo::init(&d.path().join("work/proj"));
    project.commit(
        "ciux",
        &[(
            ".ciux",
            &format!(
                "registry: r.io/x\ndependencies:\n  - url: {}\n  - url: {}\n    clone: true\n",
                daemon.url("fink-cd"),
                daemon.url("sim")
            ),
        )],
    );
    ciux()
        .args(["ignite", "-b", "feature", "env"])
        .arg(&project.dir)
        .assert()
        .success();
    let env = std::fs::read_to_string(project.dir.join(".ciux.d/ciux_project_core.sh")).unwrap();
    assert!(
        env.contains("export FINK_CD_WORKBRANCH=main\nexport SIM_WORKBRANCH=feature\n"),
        "{env}"
    );
    assert!(
        !Path::new(&d.path().join("work/sim")).exists(),
        "nothing cloned"
    );
}

/// A clone directory that holds files but no repository is not cloned into, and its files stay.
#[test]
fn a_non_empty_clone_directory_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let dep = Repo::init(&d.path().join("remotes/dep"));
    dep.commit("c1", &[("f", "1")]);
    let daemon = GitDaemon::serve(&d.path().join("remotes"));
    let project = Repo::init(&d.path().join("work/proj"));
    project.commit(
        "ciux",
        &[(
            ".ciux",
            &format!(
                "registry: {}/x\ndependencies:\n  - url: {}\n    clone: true\n",
                reg.host(),
                daemon.url("dep")
            ),
        )],
    );
    let notes = d.path().join("work/dep/notes.txt");
    std::fs::create_dir_all(notes.parent().unwrap()).unwrap();
    std::fs::write(&notes, "mine\n").unwrap();
    ciux()
        .args(["ignite"])
        .arg(&project.dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "unable to clone {} into {}: the directory exists and is not empty",
            daemon.url("dep"),
            d.path().join("work/dep").display()
        )));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine\n");
    assert!(!d.path().join("work/dep/.git").exists());
}
