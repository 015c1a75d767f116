//! Test fixtures: git repositories through the git CLI, a `git daemon` on loopback, the Debian
//! `docker-registry` on loopback, fake executables that record their calls.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

static CLOCK: AtomicI64 = AtomicI64::new(1_700_000_000);

/// A git work tree driven through the git CLI, with increasing commit dates.
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn init(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir).unwrap();
        let r = Repo {
            dir: dir.to_path_buf(),
        };
        r.git(&["init", "-q", "-b", "master"]);
        r.git(&["config", "user.name", "ciux test"]);
        r.git(&["config", "user.email", "ciux@example.org"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        r.git(&["config", "tag.gpgsign", "false"]);
        r
    }

    pub fn git(&self, args: &[&str]) -> String {
        let t = CLOCK.fetch_add(60, Ordering::SeqCst);
        let date = format!("@{t} +0000");
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Commits the given files (or an empty commit) and returns the full hash.
    pub fn commit(&self, msg: &str, files: &[(&str, &str)]) -> String {
        for (p, c) in files {
            self.write(p, c);
            self.git(&["add", p]);
        }
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn short(&self) -> String {
        self.head()[..7].to_string()
    }

    pub fn annotated(&self, tag: &str) {
        self.git(&["tag", "-a", tag, "-m", tag]);
    }

    pub fn lightweight(&self, tag: &str) {
        self.git(&["tag", tag]);
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `git daemon` serving every repository under `base`.
    pub fn git_daemon(base: &Path) -> Server {
        let port = free_port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--listen=127.0.0.1",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_port(port);
        Server { child, port }
    }

    pub fn git_url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Debian's `docker-registry` storing under `dir`.
    pub fn registry(dir: &Path) -> Server {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        wait_port(port);
        Server { child, port }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Pushes a tiny image `repo:tag` through the registry API with curl (config blob, one layer, manifest).
pub fn push_image(host: &str, repo: &str, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer = b"layer".to_vec();
    let mut descs = Vec::new();
    for blob in [&config, &layer] {
        let digest = format!("sha256:{}", sha256_hex(blob));
        let f = dir.path().join("blob");
        std::fs::write(&f, blob).unwrap();
        curl(&[
            "-X",
            "POST",
            "-o",
            "/dev/null",
            "-D",
            &dir.path().join("h").to_string_lossy(),
            &format!("http://{host}/v2/{repo}/blobs/uploads/"),
        ]);
        let headers = std::fs::read_to_string(dir.path().join("h")).unwrap();
        let location = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .unwrap()
            .trim()
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{host}{location}")
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &format!("@{}", f.display()),
            &format!("{location}{sep}digest={digest}"),
        ]);
        descs.push((digest, blob.len()));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{}"}}]}}"#,
        descs[0].1, descs[0].0, descs[1].1, descs[1].0
    );
    let f = dir.path().join("manifest");
    std::fs::write(&f, manifest).unwrap();
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
        "--data-binary",
        &format!("@{}", f.display()),
        &format!("http://{host}/v2/{repo}/manifests/{tag}"),
    ]);
}

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["-sS", "-f"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Fake executables in one directory; each records its argv (one line per call, NUL-free) in `<name>.calls`.
pub struct FakeBins {
    pub dir: tempfile::TempDir,
}

impl FakeBins {
    pub fn new() -> FakeBins {
        FakeBins {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Adds `name` printing `stdout` and exiting with `code`.
    pub fn add(&self, name: &str, stdout: &str, code: i32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        let calls = self.dir.path().join(format!("{name}.calls"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\ncat <<'CIUX_EOF'\n{stdout}\nCIUX_EOF\nexit {code}\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn calls(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.calls")))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// PATH with the fakes first.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// `ciux` with a clean environment for the tests.
pub fn ciux() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("ciux").unwrap();
    c.env_remove("CIUXCONFIG")
        .env_remove("GITHUB_ENV")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("CIUX_GIT_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("RUST_LOG")
        .env("CIUX_REGISTRY_TIMEOUT", "5")
        .env("DOCKER_CONFIG", "/nonexistent-ciux-test");
    c
}
