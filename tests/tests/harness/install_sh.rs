//! The repository's `install.sh` run by `sh`, `dash` and `bash` against the release server: good,
//! tampered and missing archives, platforms with and without releases, wget and curl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::release::{LATEST, ReleaseServer, fake_tool_binary, tool_archive};

/// Each shell, with each downloader at least once.
const SHELLS: &[(&str, &str)] = &[
    ("sh", "wget"),
    ("dash", "curl"),
    ("bash", "wget"),
    ("bash", "curl"),
];
const HOST: &str = "x86_64-unknown-linux-gnu";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../install.sh")
}

/// A release server with ciux 0.2.0 and 0.3.0-rc1 (a pre-release, not latest) and ktbx 0.3.1 for
/// `targets`.
fn releases(targets: &[&str]) -> ReleaseServer {
    let server = ReleaseServer::start();
    for target in targets {
        for (tool, version) in [("ciux", "0.2.0"), ("ciux", "0.3.0-rc1"), ("ktbx", "0.3.1")] {
            server.publish_fake_tool(tool, version, target);
        }
    }
    server
}

/// `<shell> install.sh <args>` downloading with `downloader`, with the release server as base URL
/// and `home` as `$HOME`.
fn install(
    (shell, downloader): (&str, &str),
    server: &ReleaseServer,
    home: &Path,
    args: &[&str],
) -> Command {
    let mut command = Command::new(harness_which(shell));
    command
        .arg(script())
        .args(args)
        .env("FINK_TOOLS_BASE_URL", server.url(""))
        .env("HOME", home)
        .env_remove("FINK_TOOLS_INSTALL_DIR")
        .env_remove("FINK_TOOLS_OS")
        .env_remove("FINK_TOOLS_ARCH")
        .env("FINK_TOOLS_DOWNLOADER", downloader);
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// The entries of a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn installs_latest_and_pinned_versions_verified_under_every_shell() {
    let server = releases(&[HOST]);
    assert_eq!(
        server_text(&server, LATEST),
        "ciux 0.2.0\nktbx 0.3.1\n",
        "a pre-release is never latest"
    );
    for shell in SHELLS {
        let home = tempfile::tempdir().unwrap();
        let (out, stdout, stderr) = run(&mut install(*shell, &server, home.path(), &["ciux"]));
        assert!(out.status.success(), "{shell:?}: {stderr}");
        let bin = home.path().join(".local/bin");
        assert_eq!(
            stdout,
            format!("ciux 0.2.0 installed in {}\n", bin.display())
        );
        assert_eq!(entries(&bin), ["ciux"], "{shell:?}: no leftovers");
        let version = Command::new(bin.join("ciux"))
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(version.stdout, b"ciux 0.2.0\n");

        // Several tools, a version after its tool or after @, into --dir (with a space).
        let dir = home.path().join("my tools");
        let (out, stdout, stderr) = run(&mut install(
            *shell,
            &server,
            home.path(),
            &[
                "--dir",
                dir.to_str().unwrap(),
                "ciux",
                "v0.3.0-rc1",
                "ktbx@0.3.1",
            ],
        ));
        assert!(out.status.success(), "{shell:?}: {stderr}");
        assert_eq!(
            stdout,
            format!(
                "ciux 0.3.0-rc1 installed in {0}\nktbx 0.3.1 installed in {0}\n",
                dir.display()
            )
        );
        assert_eq!(entries(&dir), ["ciux", "ktbx"]);
    }
}

#[test]
fn resolve_prints_versions_and_installs_nothing() {
    let server = releases(&[HOST]);
    let home = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(&mut install(
        ("dash", "wget"),
        &server,
        home.path(),
        &["--resolve", "ciux", "ktbx@v0.3.1"],
    ));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "ciux@0.2.0 ktbx@0.3.1\n");
    assert_eq!(server.requests(), [LATEST]);
    assert!(!home.path().join(".local").exists());
}

#[test]
fn help_is_the_header_comment() {
    let server = releases(&[HOST]);
    let home = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(&mut install(
        ("sh", "curl"),
        &server,
        home.path(),
        &["--help"],
    ));
    assert!(out.status.success());
    assert!(
        stdout.starts_with("Installs release binaries of fink-tools"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FINK_TOOLS_OS, FINK_TOOLS_ARCH"),
        "{stdout}"
    );
    assert!(!stdout.contains("set -eu"), "{stdout}");
}

#[test]
fn downloads_the_archive_and_its_checksum_for_the_platform() {
    let darwin = "aarch64-apple-darwin";
    let server = releases(&[HOST, darwin]);
    let home = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(
        install(("sh", "curl"), &server, home.path(), &["ciux", "0.2.0"])
            .env("FINK_TOOLS_OS", "Darwin")
            .env("FINK_TOOLS_ARCH", "arm64"),
    );
    // The archive is for macOS: its binary is a shell script here, so it runs all the same.
    assert!(out.status.success(), "{stderr}");
    let stem = format!("/download/ciux-v0.2.0/ciux-0.2.0-{darwin}.tar.gz");
    assert_eq!(server.requests(), [stem.clone(), format!("{stem}.sha256")]);
}

#[test]
fn a_tampered_archive_installs_nothing() {
    let server = releases(&[HOST]);
    let path = format!("/download/ciux-v0.2.0/ciux-0.2.0-{HOST}.tar.gz");
    let evil = fake_tool_binary("ciux", "0.2.0 (tampered)");
    // Another archive, and bytes that are no archive at all (tar fails too: the digest speaks first).
    for bytes in [
        tool_archive("ciux", "0.2.0", HOST, &evil),
        b"not a gzip stream".to_vec(),
    ] {
        server.add_file(&path, bytes);
        tampered_archive_installs_nothing(&server, &path);
    }
}

fn tampered_archive_installs_nothing(server: &ReleaseServer, path: &str) {
    for shell in SHELLS {
        let home = tempfile::tempdir().unwrap();
        let (out, stdout, stderr) = run(&mut install(*shell, server, home.path(), &["ciux"]));
        assert_eq!(out.status.code(), Some(1), "{shell:?}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains(&format!(
                "install.sh: error: checksum mismatch for {}: expected sha256 ",
                server.url(path)
            )) && stderr.contains("nothing was installed"),
            "{shell:?}: {stderr}"
        );
        assert!(
            entries(&home.path().join(".local/bin")).is_empty(),
            "{shell:?}"
        );
    }
}

/// Releases whose archive matches its digest but cannot be installed: no binary under the expected
/// name, a binary that does not run here, one that reports another version. Each fails with what is
/// wrong, and nothing is installed (an older binary already there is kept).
#[test]
fn a_verified_archive_that_cannot_serve_installs_nothing() {
    let server = ReleaseServer::start();
    server.publish_tool(
        "ciux",
        "0.5.0",
        HOST,
        tool_archive("ktbx", "0.5.0", HOST, &fake_tool_binary("ktbx", "0.5.0")),
    );
    server.publish_tool(
        "ciux",
        "0.6.0",
        HOST,
        tool_archive(
            "ciux",
            "0.6.0",
            HOST,
            b"\x7fELF\x02\x01\x01 not for this machine",
        ),
    );
    server.publish_tool(
        "ciux",
        "0.7.0",
        HOST,
        tool_archive("ciux", "0.7.0", HOST, &fake_tool_binary("ciux", "0.6.9")),
    );
    let url = |version: &str| {
        server.url(&format!(
            "/download/ciux-v{version}/ciux-{version}-{HOST}.tar.gz"
        ))
    };
    let cases = [
        (
            "0.5.0",
            format!(
                "install.sh: error: {} holds no ciux-0.5.0-{HOST}/ciux (tar: ",
                url("0.5.0")
            ),
        ),
        (
            "0.6.0",
            format!(
                "install.sh: error: the ciux of {} does not run on this machine; nothing was installed\n",
                url("0.6.0")
            ),
        ),
        (
            "0.7.0",
            format!(
                "install.sh: error: the ciux of {} reports \"ciux 0.6.9\", not version 0.7.0; nothing was installed\n",
                url("0.7.0")
            ),
        ),
    ];
    for shell in SHELLS {
        for (version, message) in &cases {
            let home = tempfile::tempdir().unwrap();
            let bin = home.path().join(".local/bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("ciux"), "old").unwrap();
            let (out, stdout, stderr) = run(&mut install(
                *shell,
                &server,
                home.path(),
                &["ciux", version],
            ));
            assert_eq!(out.status.code(), Some(1), "{shell:?} {version}");
            assert_eq!(stdout, "");
            assert!(
                stderr.contains(message.as_str()),
                "{shell:?} {version}: {stderr}"
            );
            assert_eq!(entries(&bin), ["ciux"], "{shell:?} {version}: no leftovers");
            assert_eq!(std::fs::read_to_string(bin.join("ciux")).unwrap(), "old");
        }
    }
}

#[test]
fn a_missing_version_is_an_error_naming_it() {
    let server = releases(&[HOST]);
    for shell in SHELLS {
        let home = tempfile::tempdir().unwrap();
        let (out, _, stderr) = run(&mut install(
            *shell,
            &server,
            home.path(),
            &["ciux", "9.9.9"],
        ));
        assert_eq!(out.status.code(), Some(1), "{shell:?}");
        assert!(
            stderr.contains(&format!(
                "install.sh: error: cannot download ciux 9.9.9 for {HOST} from {}",
                server.url("/download/ciux-v9.9.9/ciux-9.9.9-x86_64-unknown-linux-gnu.tar.gz")
            )),
            "{shell:?}: {stderr}"
        );
        assert!(entries(&home.path().join(".local/bin")).is_empty());
    }
    // A tool that the latest list does not name.
    let home = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(&mut install(
        ("sh", "curl"),
        &server,
        home.path(),
        &["finkctl"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("names no version of finkctl"), "{stderr}");
}

#[test]
fn an_unsupported_platform_is_refused_before_any_download() {
    let server = releases(&[HOST]);
    for (os, arch) in [("FreeBSD", "x86_64"), ("Linux", "riscv64")] {
        for shell in SHELLS {
            let home = tempfile::tempdir().unwrap();
            let (out, _, stderr) = run(install(*shell, &server, home.path(), &["ciux"])
                .env("FINK_TOOLS_OS", os)
                .env("FINK_TOOLS_ARCH", arch));
            assert_eq!(out.status.code(), Some(1), "{shell:?}");
            assert!(
                stderr.contains(&format!("install.sh: error: no release for {os} {arch}: ")),
                "{shell:?}: {stderr}"
            );
        }
    }
    assert!(server.requests().is_empty());
}

#[test]
fn bad_arguments_are_refused() {
    let server = releases(&[HOST]);
    let home = tempfile::tempdir().unwrap();
    for (args, message) in [
        (&["kubectl"][..], "unknown tool \"kubectl\""),
        (&["ciux", "1.2"], "invalid version \"1.2\""),
        (&["ciux@../x"], "invalid version \"../x\""),
        (&["--force"], "unknown option --force"),
        (&["--dir"], "--dir needs a directory"),
    ] {
        let (out, _, stderr) = run(&mut install(("sh", "curl"), &server, home.path(), args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let (out, _, stderr) = run(&mut install(
        ("sh", "fetch"),
        &server,
        home.path(),
        &["ciux"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("FINK_TOOLS_DOWNLOADER=fetch: expected wget or curl"),
        "{stderr}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn curl_serves_when_wget_is_missing() {
    let server = releases(&[HOST]);
    let home = tempfile::tempdir().unwrap();
    // A PATH with the tools install.sh needs, curl but no wget.
    let bin = home.path().join("path");
    std::fs::create_dir(&bin).unwrap();
    for tool in [
        "uname",
        "mkdir",
        "mktemp",
        "rm",
        "mv",
        "sha256sum",
        "tar",
        "gzip",
        "curl",
    ] {
        let found = harness_which(tool);
        std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
    }
    let (out, stdout, stderr) = run(install(("sh", "wget"), &server, home.path(), &["ciux"])
        .env_remove("FINK_TOOLS_DOWNLOADER")
        .env("PATH", &bin));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("ciux 0.2.0 installed in "), "{stdout}");
    assert!(stderr.contains("is not on PATH"), "{stderr}");
}

fn harness_which(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{tool} is not installed"))
}

fn server_text(server: &ReleaseServer, path: &str) -> String {
    let output = Command::new("curl")
        .args(["-fsS", &server.url(path)])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}
