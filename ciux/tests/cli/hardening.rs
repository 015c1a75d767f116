//! Inputs and situations that broke ciux: missing source paths at the first commit, `get` alone, huge
//! cleanup ages, prefixed selector keys, non-ASCII users, leftovers of killed runs, multi-line values
//! for `$GITHUB_ENV`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::{FakeBins, Registry, Repo, Script, calls, ciux, stdout_of};
use predicates::prelude::*;

fn stderr_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stderr.clone();
    String::from_utf8(out).unwrap()
}

/// ciux's own acceptance case: a project at its first commit lists `sourcePathes: [rootfs]` before
/// `rootfs` exists. The missing path contributes no change, with one warning.
#[test]
fn missing_source_path_at_the_first_commit() {
    let reg = Registry::start();
    let registry = format!("{}/test_org", reg.host());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("first");
    let r = Repo::init(&dir);
    r.commit(
        "init",
        &[(
            ".ciux",
            &format!("apiVersion: v1alpha1\nregistry: {registry}\nsourcePathes:\n  - rootfs\n"),
        )],
    );
    let stderr = stderr_of(
        ciux()
            .args(["ignite"])
            .arg(&dir)
            .args(["--selector", "itest=true"]),
    );
    let warned: Vec<_> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains("source path \"rootfs\"") && warned[0].contains("counts as unchanged"),
        "{stderr}"
    );
    let env = std::fs::read_to_string(dir.join(".ciux.d/ciux_itest_true.sh")).unwrap();
    assert!(
        env.contains(&format!(
            "export CIUX_IMAGE_URL={registry}/first:{}\n",
            r.short()
        )),
        "{env}"
    );
    // Still missing two commits later: no commit touched the sources, so the image of the second
    // commit (the oldest after the root) holds them and is reused.
    r.commit("c2", &[("README", "1")]);
    let second = r.short();
    r.commit("c3", &[("README", "2")]);
    reg.push_image("test_org/first", &second);
    assert_eq!(
        stdout_of(ciux().args(["get", "image", "--check"]).arg(&dir)),
        format!("Image: {registry}/first:{second}, in registry: true\n")
    );
}

/// `ciux get` alone prints the usage of `get` on stderr and exits 1 (COMPAT.md).
#[test]
fn get_alone_is_a_usage_error() {
    ciux()
        .arg("get")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("Usage: ciux get"));
}

/// Ages beyond what a cutoff can represent remove nothing: no wrap (everything removed) and no panic.
#[test]
fn image_cleanup_with_huge_ages_removes_nothing() {
    let listing = r#"{"Repository":"r.io/fink-broker","Tag":"old","CreatedAt":"2020-01-02 15:04:05 +0100 CET","ID":"111"}
{"Repository":"r.io/fink-broker","Tag":"new","CreatedAt":"1 minutes ago","ID":"222"}"#;
    // 99999999999999999w saturates u64 seconds (it used to remove everything); 200000000000000d fits
    // u64 but not i64 (it used to panic with `attempt to subtract with overflow`).
    for age in ["99999999999999999w", "200000000000000d"] {
        let fakes = FakeBins::new();
        fakes.add("docker", Script::stdout(listing));
        let out = ciux()
            .env("PATH", fakes.path_env())
            .args(["image", "cleanup", "-p", "fink-broker", "-m", age])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{age}: {stderr}");
        assert!(
            stdout.starts_with("Removing images created before: 1970-01-01 00:00:00 UTC\n")
                && stdout.contains("Keeping recent image r.io/fink-broker:old")
                && stdout.ends_with("Cleanup completed: removed 0 images\n"),
            "{age}: {stdout}"
        );
        assert!(stderr.contains("no image is that old"), "{age}: {stderr}");
        assert!(
            !calls(&fakes, "docker").iter().any(|c| c.starts_with("rmi")),
            "{age}: {:?}",
            calls(&fakes, "docker")
        );
    }
}

/// A prefixed label key (`example.com/itest`) is a valid selector: its `/` becomes `%2F` in the env
/// file name, which `ignite` writes and `get configpath` finds. A selector whose file name would be too
/// long fails before any network or disk work.
#[test]
fn prefixed_selector_keys_name_one_env_file() {
    let reg = Registry::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    r.commit(
        "c",
        &[(
            ".ciux",
            &format!(
                "registry: {}/x\ndependencies:\n  - url: git://127.0.0.1:1/nothing\n    labels: {{ other: \"1\" }}\n",
                reg.host()
            ),
        )],
    );
    let file = dir.join(".ciux.d/ciux_example.com%2Fitest.sh");
    ciux()
        .args(["ignite", "-l", "example.com/itest"])
        .arg(&dir)
        .assert()
        .success();
    let env = std::fs::read_to_string(&file).unwrap();
    assert!(
        env.starts_with("# Label selector: example.com/itest\n"),
        "{env}"
    );
    assert_eq!(
        stdout_of(
            ciux()
                .args(["get", "configpath", "-l", "example.com/itest"])
                .arg(&dir)
        ),
        format!("{}\n", file.display())
    );

    // A 243-byte prefix: `ciux_!<key>.sh` would be 260 bytes. `!key` selects the dependency, whose
    // remote would be listed first: the error comes before any attempt to reach it.
    let prefix = vec!["a".repeat(60); 4].join(".");
    let selector = format!("!{prefix}/itest");
    std::fs::remove_dir_all(dir.join(".ciux.d")).unwrap();
    ciux()
        .args(["ignite", "-l", &selector])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "makes an env-file name of 260 bytes",
        ))
        .stderr(predicate::str::contains("set CIUXCONFIG"))
        .stderr(predicate::str::contains("127.0.0.1:1").not());
    assert!(!dir.join(".ciux.d").exists());
}

/// `get clustername` never starts with `-` nor drops a part (a non-ASCII `$USER` squeezes to nothing);
/// ordinary names are unchanged.
#[test]
fn clustername_of_a_non_ascii_user() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    r.commit("c", &[(".ciux", "registry: r.io\n")]);
    let hash = &r.head()[..6];
    let name = |user: &str| {
        stdout_of(
            ciux()
                .env("USER", user)
                .args(["get", "clustername"])
                .arg(&dir),
        )
    };
    assert_eq!(name("\u{e9}\u{e8}"), format!("unknown-master-{hash}\n"));
    assert_eq!(name("_runner"), format!("runner-master-{hash}\n"));
    assert_eq!(name("fink-ci"), format!("fink-ci-master-{hash}\n"));
    assert_eq!(name(""), format!("unknown-master-{hash}\n"));
}

/// Sets a file's modification time `ago` in the past.
fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

/// A SIGKILLed `ignite` leaves `.ciux.d/.<name>.XXXXXX.tmp`: the next run removes the old ones of its
/// own naming, and keeps a recent one (a concurrent run's file in the making) and everything else.
#[test]
fn stale_temp_files_of_killed_runs_are_removed() {
    let reg = Registry::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    r.commit("c", &[(".ciux", &format!("registry: {}/x\n", reg.host()))]);
    let ciux_d = dir.join(".ciux.d");
    std::fs::create_dir_all(&ciux_d).unwrap();
    let hour = Duration::from_secs(3600);
    let stale = [
        ".ciux_itest.sh.Ab12Cd.tmp",
        ".ciuxconfig.sh.Zz99Yy.tmp",
        ".ciux_e2e.sh.q1W2e3.tmp",
    ];
    let kept_old = [
        ".notes.md.Ab12Cd.tmp",
        "ciux_itest.sh.Ab12Cd.tmp",
        ".ciux_itest.sh.tmp",
    ];
    for name in stale.iter().chain(&kept_old) {
        std::fs::write(ciux_d.join(name), "partial").unwrap();
        age(&ciux_d.join(name), hour);
    }
    let fresh = ".ciux_itest.sh.Fresh1.tmp";
    std::fs::write(ciux_d.join(fresh), "being written").unwrap();

    // A dry run changes nothing.
    ciux()
        .args(["--dry-run", "ignite", "-l", "itest"])
        .arg(&dir)
        .assert()
        .success();
    assert!(stale.iter().all(|n| ciux_d.join(n).exists()));

    ciux()
        .args(["ignite", "-l", "itest"])
        .arg(&dir)
        .assert()
        .success();
    for name in stale {
        assert!(!ciux_d.join(name).exists(), "{name} left");
    }
    for name in kept_old.iter().chain([&fresh]) {
        assert!(ciux_d.join(name).exists(), "{name} removed");
    }
    assert!(ciux_d.join("ciux_itest.sh").is_file());

    // With CIUXCONFIG elsewhere, only that file's own temporary files are touched there.
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for name in [".ci.sh.Old111.tmp", ".ciux_x.sh.Old222.tmp"] {
        std::fs::write(elsewhere.join(name), "partial").unwrap();
        age(&elsewhere.join(name), hour);
    }
    ciux()
        .env("CIUXCONFIG", elsewhere.join("ci.sh"))
        .args(["ignite", "-l", "itest"])
        .arg(&dir)
        .assert()
        .success();
    assert!(!elsewhere.join(".ci.sh.Old111.tmp").exists());
    assert!(elsewhere.join(".ciux_x.sh.Old222.tmp").exists());
    assert!(elsewhere.join("ci.sh").is_file());
}

/// GitHub's reading of `$GITHUB_ENV`: `NAME=value` lines, and `NAME<<DELIMITER` … `DELIMITER`.
fn read_github_env(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let eq = line.find('=').unwrap_or(usize::MAX);
        match line.find("<<") {
            Some(h) if h < eq => {
                let delimiter = &line[h + 2..];
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
                out.push((line[..h].to_string(), value.join("\n")));
            }
            _ => {
                if let Some((k, v)) = line.split_once('=') {
                    out.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

/// A value holding a newline reaches `$GITHUB_ENV` and `$GITHUB_OUTPUT` in GitHub's multi-line form
/// (it used to be skipped silently).
#[test]
fn github_env_takes_multi_line_values() {
    let reg = Registry::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proj");
    let r = Repo::init(&dir);
    r.commit("c", &[(".ciux", &format!("registry: {}/x\n", reg.host()))]);
    let github_env = d.path().join("github_env");
    let github_output = d.path().join("github_output");
    ciux()
        .env("GITHUB_ENV", &github_env)
        .env("GITHUB_OUTPUT", &github_output)
        .args(["ignite", "--github", "-b", "feature\nsecond line"])
        .arg(&dir)
        .assert()
        .success();
    for file in [&github_env, &github_output] {
        let text = std::fs::read_to_string(file).unwrap();
        let vars = read_github_env(&text);
        assert!(
            vars.contains(&("PROJ_WORKBRANCH".into(), "feature\nsecond line".into())),
            "{text}"
        );
        assert!(
            vars.iter().any(|(k, v)| k == "CIUX_BUILD" && v == "true"),
            "{text}"
        );
        assert!(text.contains("PROJ_WORKBRANCH<<ghadelimiter_"), "{text}");
    }
}
