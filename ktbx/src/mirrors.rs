//! Registry mirrors of the kind nodes: `REGISTRY=ENDPOINT` pairs from the stack file, `--mirror`
//! and docker's `daemon.json` (`registry-mirrors`, which Docker applies to docker.io only), each
//! registry written as a containerd `hosts.toml` (see [`crate::registry`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable naming docker's `daemon.json` explicitly (instead of the usual places).
pub(crate) const DAEMON_JSON_ENV: &str = "KTBX_DOCKER_DAEMON_JSON";
/// The daemon.json of a rootful docker.
const ROOTFUL_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// The registry Docker's `registry-mirrors` apply to.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// Errors of mirror specifications and of `daemon.json`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MirrorError {
    /// `--mirror` without `=`.
    #[error("invalid mirror {0:?}: expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5001")]
    Spec(String),
    /// A registry name containerd cannot use as a directory name.
    #[error(
        "invalid mirror registry {0:?}: expected a host name with an optional port, e.g. docker.io or registry.example:5000"
    )]
    Registry(String),
    /// An endpoint that is not a plain http(s) URL.
    #[error("invalid mirror URL {0:?} for {1}: expected http://HOST[:PORT][/PATH] or https://…")]
    Endpoint(String, String),
    /// `daemon.json` could not be read.
    #[error("cannot read docker's daemon config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `daemon.json` is not valid JSON or `registry-mirrors` is not a list of strings.
    #[error(
        "invalid docker daemon config {path}: {source} (fix the file or drop --inherit-docker-mirrors)"
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's message, with line and column.
        source: serde_json::Error,
    },
}

/// Mirrors by registry (`docker.io`, `registry.example:5000`), each an ordered list of endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mirrors(BTreeMap<String, Vec<String>>);

impl Mirrors {
    /// Adds `endpoints` for `registry` (replacing what it had), after checking both.
    pub(crate) fn set(
        &mut self,
        registry: &str,
        endpoints: Vec<String>,
    ) -> Result<(), MirrorError> {
        let registry = registry.to_ascii_lowercase();
        validate_registry(&registry)?;
        let endpoints = endpoints
            .into_iter()
            .map(|e| validate_endpoint(&registry, &e))
            .collect::<Result<Vec<_>, _>>()?;
        self.0.insert(registry, endpoints);
        Ok(())
    }

    /// Adds `--mirror REGISTRY=URL` flags: repeated registries collect their URLs in order, and
    /// replace what the file said for them.
    pub(crate) fn apply_flags(&mut self, flags: &[String]) -> Result<(), MirrorError> {
        let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for flag in flags {
            let (registry, url) = flag
                .split_once('=')
                .ok_or_else(|| MirrorError::Spec(flag.clone()))?;
            given
                .entry(registry.to_ascii_lowercase())
                .or_default()
                .push(url.to_string());
        }
        for (registry, urls) in given {
            self.set(&registry, urls)?;
        }
        Ok(())
    }

    /// Adds docker's `registry-mirrors` for docker.io, unless docker.io already has mirrors.
    pub(crate) fn inherit(&mut self, docker_mirrors: Vec<String>) -> Result<(), MirrorError> {
        if docker_mirrors.is_empty() || self.0.contains_key(DOCKER_HUB) {
            return Ok(());
        }
        self.set(DOCKER_HUB, docker_mirrors)
    }

    /// These mirrors with the `--mirror` flags, then (with `--inherit-docker-mirrors`) docker's.
    pub(crate) fn with_flags(
        mut self,
        flags: &[String],
        inherit_docker: bool,
    ) -> Result<Self, MirrorError> {
        self.apply_flags(flags)?;
        if inherit_docker {
            self.inherit(docker_mirrors_from_env()?)?;
        }
        Ok(self)
    }

    /// The registries and their endpoints, by registry name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(r, e)| (r.as_str(), e.as_slice()))
    }

    /// True when there is no mirror.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One `REGISTRY=URL[,URL…]` line per registry (for plans, records and drift).
    pub(crate) fn summary(&self) -> String {
        self.iter()
            .map(|(r, e)| format!("{r}={}\n", e.join(",")))
            .collect()
    }
}

/// A registry name: lower-case host name or address, optional port (also `localhost:5001`).
fn validate_registry(registry: &str) -> Result<(), MirrorError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.starts_with(|c: char| c.is_ascii_alphanumeric())
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(MirrorError::Registry(registry.to_string()))
    }
}

/// An endpoint URL (trailing `/` dropped): `http://` or `https://`, a host, only URL-safe characters.
fn validate_endpoint(registry: &str, endpoint: &str) -> Result<String, MirrorError> {
    let bad = || MirrorError::Endpoint(endpoint.to_string(), registry.to_string());
    let trimmed = endpoint.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(bad)?;
    let ok = !rest.is_empty()
        && !rest.starts_with(['/', ':'])
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_~:/[]%@".contains(c));
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(bad())
    }
}

/// The upstream a registry name stands for (Docker Hub's API host is not `docker.io`).
fn upstream(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://registry-1.docker.io".to_string()
    } else {
        format!("https://{registry}")
    }
}

/// The containerd `hosts.toml` of one registry: its mirrors tried in order (pull and resolve
/// only), then the registry itself.
pub(crate) fn hosts_toml(registry: &str, endpoints: &[String]) -> String {
    let mut out = format!("server = \"{}\"\n", upstream(registry));
    for endpoint in endpoints {
        let _ = write!(
            out,
            "\n[host.\"{endpoint}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
    }
    out
}

#[derive(Deserialize)]
struct DaemonJson {
    #[serde(rename = "registry-mirrors", default)]
    registry_mirrors: Vec<String>,
}

/// Where docker's `daemon.json` is looked for, in order: `$KTBX_DOCKER_DAEMON_JSON` only when
/// set; else, for a user other than root, the rootless daemon's
/// `$XDG_CONFIG_HOME/docker/daemon.json` (default `~/.config`), then `/etc/docker/daemon.json`.
pub(crate) fn daemon_json_candidates(
    env: impl Fn(&str) -> Option<String>,
    is_root: bool,
) -> Vec<PathBuf> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(explicit) = env(DAEMON_JSON_ENV) {
        return vec![PathBuf::from(explicit)];
    }
    let mut found = Vec::new();
    if !is_root {
        let config = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")));
        if let Some(config) = config {
            found.push(config.join("docker/daemon.json"));
        }
    }
    found.push(PathBuf::from(ROOTFUL_DAEMON_JSON));
    found
}

/// The `registry-mirrors` of the first existing candidate; none when no file exists (a docker
/// without a daemon.json has no mirrors). An explicit `$KTBX_DOCKER_DAEMON_JSON` must exist.
pub(crate) fn docker_mirrors(
    candidates: &[PathBuf],
    explicit: bool,
) -> Result<Vec<String>, MirrorError> {
    for path in candidates {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => continue,
            Err(source) => {
                return Err(MirrorError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        let parsed: DaemonJson =
            serde_json::from_str(&text).map_err(|source| MirrorError::Json {
                path: path.clone(),
                source,
            })?;
        tracing::info!(file = %path.display(), mirrors = ?parsed.registry_mirrors, "docker registry-mirrors");
        return Ok(parsed.registry_mirrors);
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    tracing::warn!(
        "--inherit-docker-mirrors: no docker daemon.json ({}), so no mirror to inherit",
        looked.join(", ")
    );
    Ok(Vec::new())
}

/// Docker's `registry-mirrors` of this machine (see [`daemon_json_candidates`]).
pub(crate) fn docker_mirrors_from_env() -> Result<Vec<String>, MirrorError> {
    use std::os::unix::fs::MetadataExt;
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let explicit = std::env::var_os(DAEMON_JSON_ENV).is_some_and(|v| !v.is_empty());
    docker_mirrors(
        &daemon_json_candidates(|k| std::env::var(k).ok(), is_root),
        explicit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env;

    #[test]
    fn hosts_toml_golden() {
        assert_eq!(
            hosts_toml(DOCKER_HUB, &["http://127.0.0.1:5001".into()]),
            "server = \"https://registry-1.docker.io\"\n\n[host.\"http://127.0.0.1:5001\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        assert_eq!(
            hosts_toml(
                "ghcr.io",
                &[
                    "https://m1.example".into(),
                    "http://m2.example:80/v2".into()
                ]
            ),
            "server = \"https://ghcr.io\"\n\n[host.\"https://m1.example\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n[host.\"http://m2.example:80/v2\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
    }

    #[test]
    fn flags_replace_the_file_and_collect_in_order() {
        let mut m = Mirrors::default();
        m.set("docker.io", vec!["http://a:1".into()]).unwrap();
        m.set("quay.io", vec!["http://q/".into()]).unwrap();
        m.apply_flags(&["Docker.io=http://b:2".into(), "docker.io=https://c".into()])
            .unwrap();
        assert_eq!(
            m.summary(),
            "docker.io=http://b:2,https://c\nquay.io=http://q\n"
        );
        m.inherit(vec!["https://mirror.gcr.io".into()]).unwrap();
        assert_eq!(m.iter().next().unwrap().1, ["http://b:2", "https://c"]);
        let mut empty = Mirrors::default();
        empty.inherit(vec!["https://mirror.gcr.io".into()]).unwrap();
        assert_eq!(empty.summary(), "docker.io=https://mirror.gcr.io\n");
    }

    #[test]
    fn odd_mirrors_are_rejected() {
        let mut m = Mirrors::default();
        for (registry, url) in [
            ("docker.io", "127.0.0.1:5001"),
            ("docker.io", "ftp://x"),
            ("docker.io", "http://"),
            ("docker.io", "http://a\"]\nx"),
            ("docker.io", "http://a b"),
            ("../etc", "http://a"),
            ("a/b", "http://a"),
            ("x:0", "http://a"),
            ("", "http://a"),
        ] {
            assert!(
                m.set(registry, vec![url.into()]).is_err(),
                "{registry} {url}"
            );
        }
        let err = m
            .apply_flags(&["docker.io".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected REGISTRY=URL"), "{err}");
        assert!(m.is_empty());
    }

    #[test]
    fn daemon_json_places() {
        assert_eq!(
            daemon_json_candidates(env(&[("HOME", "/home/u")]), false),
            [
                PathBuf::from("/home/u/.config/docker/daemon.json"),
                PathBuf::from("/etc/docker/daemon.json")
            ]
        );
        assert_eq!(
            daemon_json_candidates(
                env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")]),
                false
            )[0],
            PathBuf::from("/x/docker/daemon.json")
        );
        assert_eq!(
            daemon_json_candidates(env(&[("HOME", "/root")]), true),
            [PathBuf::from("/etc/docker/daemon.json")]
        );
        assert_eq!(
            daemon_json_candidates(env(&[(DAEMON_JSON_ENV, "/t/d.json")]), false),
            [PathBuf::from("/t/d.json")]
        );
    }

    #[test]
    fn daemon_json_is_read_like_docker() {
        let tmp = tempfile::tempdir().unwrap();
        let rootless = tmp.path().join("rootless.json");
        let rootful = tmp.path().join("rootful.json");
        let both = [rootless.clone(), rootful.clone()];
        // No file anywhere: nothing to inherit.
        assert!(docker_mirrors(&both, false).unwrap().is_empty());
        std::fs::write(
            &rootful,
            r#"{"registry-mirrors": ["https://mirror.gcr.io"], "log-driver": "json-file"}"#,
        )
        .unwrap();
        assert_eq!(
            docker_mirrors(&both, false).unwrap(),
            ["https://mirror.gcr.io"]
        );
        // The rootless daemon's file comes first; a file without the key has no mirrors.
        std::fs::write(&rootless, r#"{"data-root": "/d"}"#).unwrap();
        assert!(docker_mirrors(&both, false).unwrap().is_empty());
        std::fs::write(
            &rootless,
            "{\n  \"registry-mirrors\": [\"https://a\",]\n}\n",
        )
        .unwrap();
        let err = docker_mirrors(&both, false).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid docker daemon config {}: ",
                rootless.display()
            )) && err.contains("line 2 column"),
            "{err}"
        );
        std::fs::write(&rootless, r#"{"registry-mirrors": "https://a"}"#).unwrap();
        assert!(docker_mirrors(&both, false).is_err());
        // An explicit file must exist.
        let missing = [tmp.path().join("missing.json")];
        assert!(docker_mirrors(&missing, false).unwrap().is_empty());
        let err = docker_mirrors(&missing, true).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read docker's daemon config "),
            "{err}"
        );
    }
}
