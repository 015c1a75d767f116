//! `cargo xtask real-apiserver`: builds `kube-apiserver` and `kube-controller-manager` from
//! Debian's `kubernetes` source package (1.20.2 with `vendor/`) once, for the tests that run
//! against a real API server, and installs `etcd-server` for them.
//!
//! The binaries are cached in `${XDG_CACHE_HOME:-~/.cache}/fink-tools/kube-<source version>/`
//! (see `harness::kube_bin`); a second run finds them and does nothing. On a machine where apt
//! cannot be used (not root, no `apt-get`, the source package or the build packages not
//! reachable) it prints why and exits 0: the real-server tests then skip with that reason. A
//! build that fails once everything is installed is an error.
//!
//! The build facts (GOPATH mode, Debian's reflect2 1.0.2 in place of the vendored 1.0.1, the one
//! generated OpenAPI file the tarball lacks, version stamping) are in the shared spec
//! `real-apiserver.md`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use harness::kube_bin;

/// The Debian source package.
const SOURCE_PACKAGE: &str = "kubernetes";
/// Packages the build needs.
const BUILD_PACKAGES: &[&str] = &["golang-1.19-go", "golang-github-modern-go-reflect2-dev"];
/// Packages the tests need at run time.
const RUN_PACKAGES: &[&str] = &["etcd-server", "openssl"];
/// Where `golang-1.19-go` puts `go`.
const GO: &str = "/usr/lib/go-1.19/bin/go";
/// Debian's reflect2 1.0.2, which works with Go ≥ 1.18 (the vendored 1.0.1 does not).
const REFLECT2: &str = "/usr/share/gocode/src/github.com/modern-go/reflect2";
/// The deb-src entry this command adds when apt has none for `kubernetes`.
const SOURCES_FILE: &str = "/etc/apt/sources.list.d/fink-tools-deb-src.sources";
/// The upstream version the tree is, stamped into `/version` (clients parse it).
const GIT_VERSION: &str = "v1.20.2";

/// Runs the command: builds (or finds) the binaries, or explains why it skips.
pub(crate) fn run() -> Result<()> {
    if let Some(dir) = std::env::var_os(kube_bin::BIN_DIR_VAR) {
        let dir = PathBuf::from(dir);
        if !kube_bin::is_complete(&dir) {
            bail!(
                "${}={} lacks kube-apiserver or kube-controller-manager",
                kube_bin::BIN_DIR_VAR,
                dir.display()
            );
        }
        eprintln!(
            "xtask: real-apiserver: using ${}={}",
            kube_bin::BIN_DIR_VAR,
            dir.display()
        );
        return Ok(());
    }
    if let Err(reason) = apt_usable() {
        return skip(&reason);
    }
    let version = match source_version() {
        Ok(version) => version,
        Err(reason) => return skip(&format!("{reason:#}")),
    };
    let dir = kube_bin::cache_dir(&version);
    if kube_bin::is_complete(&dir) {
        if let Err(err) = install(RUN_PACKAGES) {
            return skip(&format!("{err:#}"));
        }
        eprintln!("xtask: real-apiserver: cached in {}", dir.display());
        return Ok(());
    }
    if let Err(err) = install(&[BUILD_PACKAGES, RUN_PACKAGES].concat()) {
        return skip(&format!("{err:#}"));
    }
    let started = Instant::now();
    build(&version, &dir)?;
    eprintln!(
        "xtask: real-apiserver: built {} in {:.0} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prints why nothing is built and succeeds.
fn skip(reason: &str) -> Result<()> {
    eprintln!(
        "xtask: real-apiserver: SKIPPED: {reason}. The tests against a real kube-apiserver will skip."
    );
    Ok(())
}

/// Why apt cannot be used here, if it cannot.
fn apt_usable() -> Result<(), String> {
    if !on_path("apt-get") {
        return Err("apt-get is not available (not a Debian-like machine)".into());
    }
    let uid = Command::new("id").arg("-u").output();
    let root = uid.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !root {
        return Err("apt-get needs root, and this user is not root".into());
    }
    Ok(())
}

/// The version of the `kubernetes` source package apt would fetch, adding the deb-src entry and
/// updating the lists when apt knows no such source.
fn source_version() -> Result<String> {
    if let Some(version) = print_uris_version()? {
        return Ok(version);
    }
    add_deb_src()?;
    eprintln!("xtask: real-apiserver: apt-get update");
    run_checked(Command::new("apt-get").args(["update", "-qq"]))
        .context("apt-get update failed (no access to the Debian mirror?)")?;
    print_uris_version()?.with_context(|| {
        format!("apt knows no source package {SOURCE_PACKAGE} even after adding {SOURCES_FILE}")
    })
}

/// The version in `apt-get source --print-uris kubernetes`, `None` when apt has no such source.
fn print_uris_version() -> Result<Option<String>> {
    let output = Command::new("apt-get")
        .args(["source", "--print-uris", "-qq", SOURCE_PACKAGE])
        .stdin(Stdio::null())
        .output()
        .context("running apt-get source --print-uris")?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(version_in_uris(&String::from_utf8_lossy(&output.stdout)))
}

/// The version of `kubernetes_<version>.dsc` in `--print-uris` output.
fn version_in_uris(uris: &str) -> Option<String> {
    uris.split_whitespace()
        .map(|word| word.trim_matches('\''))
        .filter_map(|word| word.rsplit('/').next())
        .find_map(|file| {
            file.strip_prefix("kubernetes_")
                .and_then(|rest| rest.strip_suffix(".dsc"))
        })
        .map(|version| version.replace("%2b", "+").replace("%2B", "+"))
}

/// Writes a deb822 `deb-src` entry for bookworm main with the mirror and key of the existing
/// `debian.sources`.
fn add_deb_src() -> Result<()> {
    let existing =
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let field = |name: &str, default: &str| {
        existing
            .lines()
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| default.to_string())
    };
    let uris = field("URIs:", "http://deb.debian.org/debian");
    let signed_by = field(
        "Signed-By:",
        "/usr/share/keyrings/debian-archive-keyring.gpg",
    );
    let entry = format!(
        "# Added by `cargo xtask real-apiserver` (fink-tools) for `apt-get source kubernetes`.\n\
         Types: deb-src\nURIs: {uris}\nSuites: bookworm\nComponents: main\nSigned-By: {signed_by}\n"
    );
    eprintln!("xtask: real-apiserver: adding {SOURCES_FILE}");
    std::fs::write(SOURCES_FILE, entry).with_context(|| format!("writing {SOURCES_FILE}"))
}

/// Installs the packages of `packages` that are not installed yet.
fn install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: real-apiserver: installing {}", missing.join(" "));
    let install = || {
        run_checked(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        // Stale package lists on a fresh machine: refresh once and try again.
        run_checked(Command::new("apt-get").args(["update", "-qq"]))?;
        install().with_context(|| format!("apt-get install {}", missing.join(" ")))?;
    }
    Ok(())
}

/// True when dpkg says `package` is installed.
fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).ends_with("installed"))
}

/// Downloads, prepares and builds the tree in a work directory next to the cache, then moves
/// the two binaries into `dir`. The work directory is removed on success (it holds the 1.4 GB
/// Go build cache) and kept on failure, for a look and a faster retry.
fn build(version: &str, dir: &Path) -> Result<()> {
    let work = kube_bin::cache_root().join(format!("build-{version}"));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let tree = unpack_source(&work)?;
    let gopath = work.join("gopath");
    let link = gopath.join("src/k8s.io/kubernetes");
    if !link.exists() {
        std::fs::create_dir_all(link.parent().expect("link has a parent"))?;
        std::os::unix::fs::symlink(&tree, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    let go = Go {
        tree: link.clone(),
        gopath,
        cache: work.join("go-cache"),
    };
    swap_reflect2(&tree)?;
    generate_openapi(&go)?;
    let staging = work.join("bin");
    std::fs::create_dir_all(&staging)?;
    for name in kube_bin::BINARIES {
        eprintln!("xtask: real-apiserver: go build ./cmd/{name}");
        go.run(&[
            OsStr::new("build"),
            OsStr::new("-tags"),
            OsStr::new("selinux,notest"),
            OsStr::new("-trimpath"),
            OsStr::new("-ldflags"),
            OsStr::new(&ldflags()),
            OsStr::new("-o"),
            staging.join(name).as_os_str(),
            OsStr::new(&format!("./cmd/{name}")),
        ])?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in kube_bin::BINARIES {
        std::fs::rename(staging.join(name), dir.join(name))
            .with_context(|| format!("moving {name} into {}", dir.display()))?;
    }
    std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))
}

/// `apt-get source --download-only kubernetes` into `work/src`, and the `.orig.tar.gz` unpacked
/// into `work/tree` (once).
fn unpack_source(work: &Path) -> Result<PathBuf> {
    let tree = work.join("tree");
    if tree.join("cmd/kube-apiserver").is_dir() {
        return Ok(tree);
    }
    let download = work.join("src");
    std::fs::create_dir_all(&download)?;
    eprintln!("xtask: real-apiserver: apt-get source --download-only {SOURCE_PACKAGE}");
    run_checked(
        Command::new("apt-get")
            .args(["source", "--download-only", "-qq", SOURCE_PACKAGE])
            .current_dir(&download),
    )?;
    let orig = std::fs::read_dir(&download)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.contains(".orig.tar."))
        })
        .with_context(|| format!("no .orig.tar.* in {}", download.display()))?;
    let partial = work.join("tree.partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    eprintln!("xtask: real-apiserver: unpacking {}", orig.display());
    run_checked(
        Command::new("tar")
            .arg("-xf")
            .arg(&orig)
            .arg("--strip-components=1")
            .arg("-C")
            .arg(&partial),
    )?;
    std::fs::rename(&partial, &tree)?;
    Ok(tree)
}

/// Replaces the vendored reflect2's `.go` and `.s` files with Debian's 1.0.2.
fn swap_reflect2(tree: &Path) -> Result<()> {
    let vendored = tree.join("vendor/github.com/modern-go/reflect2");
    let is_source = |path: &Path| {
        path.extension()
            .is_some_and(|ext| ext == "go" || ext == "s")
    };
    for entry in std::fs::read_dir(&vendored)? {
        let path = entry?.path();
        if is_source(&path) {
            std::fs::remove_file(&path)?;
        }
    }
    for entry in std::fs::read_dir(REFLECT2).with_context(|| format!("reading {REFLECT2}"))? {
        let path = entry?.path();
        if is_source(&path) {
            std::fs::copy(&path, vendored.join(path.file_name().expect("a file name")))?;
        }
    }
    Ok(())
}

/// Writes `pkg/generated/openapi/zz_generated.openapi.go` with the vendored `openapi-gen`, over
/// the packages upstream's `Makefile.generated_files` lists.
fn generate_openapi(go: &Go) -> Result<()> {
    let target = go
        .tree
        .join("pkg/generated/openapi/zz_generated.openapi.go");
    if target.is_file() {
        return Ok(());
    }
    eprintln!("xtask: real-apiserver: generating {}", target.display());
    let generator = go.gopath.join("bin/openapi-gen");
    go.run(&[
        OsStr::new("build"),
        OsStr::new("-o"),
        generator.as_os_str(),
        OsStr::new("./vendor/k8s.io/kube-openapi/cmd/openapi-gen"),
    ])?;
    let mut packages = Vec::new();
    collect_openapi_packages(&go.tree, Path::new(""), &mut packages)?;
    packages.sort();
    packages.dedup();
    let report = go.gopath.join("api-violations.list");
    run_checked(
        go.command(&generator)
            .arg("-i")
            .arg(packages.join(","))
            .args(["-O", "zz_generated.openapi"])
            .args(["-p", "k8s.io/kubernetes/pkg/generated/openapi"])
            .args(["-h", "vendor/k8s.io/code-generator/hack/boilerplate.go.txt"])
            .arg("--report-filename")
            .arg(&report),
    )
}

/// Adds the import path of every package under `dir` (relative `rel`) with a Go file carrying a
/// `+k8s:openapi-gen=` tag.
fn collect_openapi_packages(root: &Path, rel: &Path, out: &mut Vec<String>) -> Result<()> {
    const EXCLUDED: &[&str] = &[
        "vendor",
        "staging/src/k8s.io/code-generator",
        "staging/src/k8s.io/sample-apiserver",
        ".git",
        "_output",
    ];
    if EXCLUDED.iter().any(|excluded| rel == Path::new(excluded)) {
        return Ok(());
    }
    let mut tagged = false;
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_openapi_packages(root, &rel.join(&name), out)?;
        } else if !tagged
            && kind.is_file()
            && Path::new(&name).extension().is_some_and(|ext| ext == "go")
        {
            let text = std::fs::read(entry.path())?;
            tagged = text
                .windows(b"+k8s:openapi-gen=".len())
                .any(|window| window == b"+k8s:openapi-gen=");
        }
    }
    if tagged {
        let rel = rel.to_string_lossy();
        let path = match rel.strip_prefix("staging/src/") {
            Some(staged) => format!("vendor/{staged}"),
            None => rel.into_owned(),
        };
        out.push(format!("k8s.io/kubernetes/{path}"));
    }
    Ok(())
}

/// The `-ldflags` that strip the binaries and stamp the version in both version packages.
fn ldflags() -> String {
    let mut flags = vec!["-s".to_string(), "-w".to_string()];
    for package in [
        "k8s.io/kubernetes/vendor/k8s.io/component-base/version",
        "k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version",
    ] {
        for (name, value) in [
            ("gitVersion", GIT_VERSION),
            ("gitMajor", "1"),
            ("gitMinor", "20"),
            ("gitTreeState", "clean"),
        ] {
            flags.push(format!("-X {package}.{name}={value}"));
        }
    }
    flags.join(" ")
}

/// Go 1.19 in GOPATH mode over the tree, as upstream 1.20 built itself.
struct Go {
    /// `$GOPATH/src/k8s.io/kubernetes`.
    tree: PathBuf,
    gopath: PathBuf,
    cache: PathBuf,
}

impl Go {
    /// A command run in the tree with the build environment.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        // `PWD` keeps the symlinked path: Go resolves `vendor/` only inside `$GOPATH/src`.
        command
            .current_dir(&self.tree)
            .env("PWD", &self.tree)
            .env("GOPATH", &self.gopath)
            .env("GOCACHE", &self.cache)
            .env("GO111MODULE", "off")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("CGO_ENABLED", "0");
        command
    }

    /// `go <args>`, failing when it fails.
    fn run(&self, args: &[&OsStr]) -> Result<()> {
        run_checked(self.command(Path::new(GO)).args(args))
    }
}

/// Runs `command` with inherited output and fails on a non-zero exit.
fn run_checked(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}

/// True when `name` is an executable in a directory of `PATH`.
fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
}

#[cfg(test)]
mod tests {
    use super::version_in_uris;

    #[test]
    fn the_version_comes_from_the_dsc_uri() {
        let uris = "'http://deb.debian.org/debian/pool/main/k/kubernetes/kubernetes_1.20.5%2breally1.20.2-1.1%2bdeb12u1.dsc' kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc 2890 SHA256:ab\n\
                    'http://deb.debian.org/debian/pool/main/k/kubernetes/kubernetes_1.20.5%2breally1.20.2.orig.tar.gz' kubernetes_1.20.5+really1.20.2.orig.tar.gz 1 SHA256:cd\n";
        assert_eq!(
            version_in_uris(uris).as_deref(),
            Some("1.20.5+really1.20.2-1.1+deb12u1")
        );
    }

    #[test]
    fn no_dsc_no_version() {
        assert_eq!(version_in_uris(""), None);
    }
}
