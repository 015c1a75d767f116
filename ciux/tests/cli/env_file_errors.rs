//! Errors writing the env file name the place once, with the operating system's reason.

use predicates::prelude::*;

use crate::support::{Repo, ciux};

#[test]
fn a_missing_ciuxconfig_directory_is_named_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(&tmp.path().join("project"));
    repo.commit("init", &[(".ciux", "registry: 127.0.0.1:1\n")]);
    let missing = tmp.path().join("missing/dir");
    ciux()
        .env("CIUXCONFIG", missing.join("ciux.sh"))
        .args(["ignite", "env"])
        .arg(&repo.dir)
        .assert()
        .code(1)
        .stderr(
            predicate::str::ends_with(format!(
                "error: cannot create a temporary file in {}: No such file or directory (os error 2)\n",
                missing.display()
            ))
            .and(predicate::str::contains("at path").not()),
        );
}
