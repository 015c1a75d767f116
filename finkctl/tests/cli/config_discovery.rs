//! Where the configuration comes from ($FINKCONFIG, the working directory, `$HOME/.finkctl`, each
//! file on its own) and how values are read (case-insensitive keys, numbers as strings, Go
//! booleans), seen through `run <task> --dry-run`.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::{self, read_fixture, write_sample_config};

fn dry_run(home: &Path, cwd: &Path) -> Command {
    let mut cmd = support::finkctl(home);
    cmd.current_dir(cwd).args([
        "run",
        "s2r",
        "--image=param_image",
        "-N",
        "20000101",
        "--dry-run",
    ]);
    cmd
}

#[test]
fn home_dot_finkctl_is_searched_after_the_working_directory() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let dot = home.path().join(".finkctl");
    std::fs::create_dir(&dot).unwrap();
    write_sample_config(&dot, |c| c);
    dry_run(home.path(), cwd.path())
        .assert()
        .success()
        .stdout(read_fixture("stream2raw.out.expected"));

    // The working directory wins, file by file: its finkctl.yaml, $HOME/.finkctl's secret.
    std::fs::write(
        cwd.path().join("finkctl.yaml"),
        read_fixture("finkctl.yaml.orig").replace("producer: sims", "producer: ztf"),
    )
    .unwrap();
    dry_run(home.path(), cwd.path()).assert().success().stdout(
        read_fixture("stream2raw.out.expected").replace("-producer \"sims\"", "-producer \"ztf\""),
    );
}

#[test]
fn finkconfig_is_the_only_directory_searched() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let finkconfig = tempfile::tempdir().unwrap();
    write_sample_config(cwd.path(), |c| c.replace("producer: sims", "producer: ztf"));
    write_sample_config(finkconfig.path(), |c| c);
    dry_run(home.path(), cwd.path())
        .env("FINKCONFIG", finkconfig.path())
        .assert()
        .success()
        .stdout(read_fixture("stream2raw.out.expected"));
    std::fs::remove_file(finkconfig.path().join("finkctl.yaml")).unwrap();
    dry_run(home.path(), cwd.path())
        .env("FINKCONFIG", finkconfig.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: no finkctl.yaml in "));
}

#[test]
fn keys_are_case_insensitive_and_values_loosely_typed() {
    let dir = tempfile::tempdir().unwrap();
    write_sample_config(dir.path(), |c| {
        c.replace("fink_trigger_update: \"2\"", "Fink_Trigger_Update: 2")
            .replace("use_ssl: \"false\"", "use_ssl: T")
            .replace(
                "max_offsets_per_trigger: 5000",
                "max_offsets_per_trigger: \"5000\"",
            )
    });
    dry_run(dir.path(), dir.path()).assert().success().stdout(
        read_fixture("stream2raw.out.expected").replace(
            "fs.s3a.connection.ssl.enabled=false",
            "fs.s3a.connection.ssl.enabled=true",
        ),
    );
    write_sample_config(dir.path(), |c| {
        c.replace("use_ssl: \"false\"", "use_ssl: maybe")
    });
    dry_run(dir.path(), dir.path())
        .assert()
        .code(1)
        .stderr(format!(
            "error: {}:65:12: s3.use_ssl: \"maybe\" is not a boolean (use true or false)\n",
            dir.path().join("finkctl.yaml").display()
        ));
}

#[test]
fn a_fifo_as_config_file_is_refused_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    write_sample_config(dir.path(), |c| c);
    let fifo = dir.path().join("finkctl.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for flag in ["--config", "--secret"] {
        dry_run(dir.path(), dir.path())
            .arg(flag)
            .arg(&fifo)
            .assert()
            .code(1)
            .stdout("")
            .stderr(format!(
                "error: config file {} is not a regular file (it is a FIFO): give the path of a YAML file\n",
                fifo.display()
            ));
    }
}
