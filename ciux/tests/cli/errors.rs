//! Bad inputs of every command: each error names what failed and the way out.

use predicates::prelude::*;

use crate::support::{Repo, ciux};

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
