//! Where the real Kubernetes binaries of the tests live: `kube-apiserver` and
//! `kube-controller-manager` built from Debian's `kubernetes` source package by
//! `cargo xtask real-apiserver`, and Debian's `etcd`.
//!
//! The build is cached outside the repository, keyed by the source package version:
//! `${XDG_CACHE_HOME:-~/.cache}/fink-tools/kube-<version>/`. `$FINK_KUBE_BIN_DIR` names another
//! directory holding the two binaries (and wins over the cache).

use std::path::{Path, PathBuf};

/// The environment variable naming a directory with `kube-apiserver` and `kube-controller-manager`.
pub const BIN_DIR_VAR: &str = "FINK_KUBE_BIN_DIR";

/// The two binaries the build makes, in build order.
pub const BINARIES: [&str; 2] = ["kube-apiserver", "kube-controller-manager"];

/// The paths of the binaries a real API server needs.
#[derive(Clone, Debug)]
pub struct KubeBinaries {
    /// `kube-apiserver`.
    pub apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub controller_manager: PathBuf,
    /// `etcd` (Debian's `etcd-server`).
    pub etcd: PathBuf,
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/fink-tools`.
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"))
                .join(".cache")
        });
    base.join("fink-tools")
}

/// The cache directory of the build of source package version `version`.
pub fn cache_dir(version: &str) -> PathBuf {
    cache_root().join(format!("kube-{version}"))
}

/// True when `dir` holds both built binaries.
pub fn is_complete(dir: &Path) -> bool {
    BINARIES.iter().all(|name| dir.join(name).is_file())
}

/// Finds the binaries: `$FINK_KUBE_BIN_DIR`, else the newest complete `kube-*` directory of the
/// cache; `etcd` on `PATH` (or `/usr/bin/etcd`). The error says what is missing and how to get it.
pub fn find() -> Result<KubeBinaries, String> {
    let dir = match std::env::var_os(BIN_DIR_VAR) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !is_complete(&dir) {
                return Err(format!(
                    "${BIN_DIR_VAR}={} lacks kube-apiserver or kube-controller-manager",
                    dir.display()
                ));
            }
            dir
        }
        None => newest_cached().ok_or_else(|| {
            format!(
                "no kube-apiserver build in {} (run `cargo xtask real-apiserver`, or set ${BIN_DIR_VAR})",
                cache_root().display()
            )
        })?,
    };
    let etcd = on_path("etcd").ok_or("etcd is not installed (Debian package etcd-server)")?;
    Ok(KubeBinaries {
        apiserver: dir.join(BINARIES[0]),
        controller_manager: dir.join(BINARIES[1]),
        etcd,
    })
}

/// The complete build directory of the cache with the greatest name.
fn newest_cached() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache_root())
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("kube-"))
                && is_complete(path)
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

/// `name` in a directory of `PATH`, or in `/usr/bin` and `/usr/sbin`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
