//! The names ciux derives from image references (parsed by [`common::image_ref`]) and from
//! repository URLs.

use std::net::IpAddr;

pub(crate) use common::image_ref::{DOCKER_HUB, ImageRef, ImageRefError};

/// What ciux derives from an image reference.
pub(crate) trait ImageRefExt {
    /// The env-variable prefix of an image dependency: repository path, non-alphanumerics → `_`,
    /// upper case (`docker.io/library/alpine:3` → `LIBRARY_ALPINE`).
    fn env_prefix(&self) -> String;

    /// Base URL of the registry API: Docker Hub's API host, http for localhost, loopback and
    /// private (RFC 1918) addresses, https otherwise.
    fn api_base(&self) -> String;
}

impl ImageRefExt for ImageRef {
    fn env_prefix(&self) -> String {
        env_name(&self.repository)
    }

    fn api_base(&self) -> String {
        let host = if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            self.registry.as_str()
        };
        let scheme = if is_insecure_host(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }
}

fn is_insecure_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name == "localhost" {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// An env-variable prefix from a name: every character outside `[A-Za-z0-9]` becomes `_`, then upper case
/// (`fink-alert-simulator` → `FINK_ALERT_SIMULATOR`).
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The repository name of a git URL: its last path element without a trailing `.git` suffix
/// (`…/fink-alert-simulator.git` → `fink-alert-simulator`, `…/go-git` stays `go-git`).
pub(crate) fn repo_name(url: &str) -> String {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => url.rsplit_once(':').map_or(url, |(_, p)| p), // scp-like git@host:org/repo
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() {
        ".".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases() {
        let base = |s: &str| ImageRef::parse(s).unwrap().api_base();
        assert_eq!(base("127.0.0.1:5000/fink/img:v1"), "http://127.0.0.1:5000");
        assert_eq!(base("alpine"), "https://registry-1.docker.io");
        assert_eq!(base("10.1.2.3/x"), "http://10.1.2.3");
        assert_eq!(base("localhost:5000/x"), "http://localhost:5000");
        assert_eq!(
            base("gitlab-registry.in2p3.fr/x"),
            "https://gitlab-registry.in2p3.fr"
        );
    }

    #[test]
    fn env_prefixes_of_image_test() {
        let p = |s: &str| ImageRef::parse(s).unwrap().env_prefix();
        assert_eq!(p("docker.io/library/alpine:3.18.3"), "LIBRARY_ALPINE");
        assert_eq!(p("alpine:3"), "LIBRARY_ALPINE");
        assert_eq!(
            p("gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker:latest"),
            "ASTROLABSOFTWARE_FINK_FINK_BROKER"
        );
        assert_eq!(
            p("gitlab-registry.in2p3.fr/astrolabsoftware/fink/spark-py:k8s-3.4.1"),
            "ASTROLABSOFTWARE_FINK_SPARK_PY"
        );
        assert_eq!(p("r.io/a.b/c_d:1"), "A_B_C_D");
    }

    #[test]
    fn repository_names_strip_a_real_git_suffix() {
        assert_eq!(
            repo_name("https://github.com/astrolabsoftware/fink-alert-simulator"),
            "fink-alert-simulator"
        );
        assert_eq!(
            repo_name("https://github.com/astrolabsoftware/fink-alert-simulator.git"),
            "fink-alert-simulator"
        );
        assert_eq!(repo_name("https://github.com/go-git/go-git"), "go-git");
        assert_eq!(repo_name("https://example.org/kit/"), "kit");
        assert_eq!(repo_name("file:///tmp/ciux-test-git"), "ciux-test-git");
        assert_eq!(repo_name("git@github.com:org/repo.git"), "repo");
        assert_eq!(repo_name(""), ".");
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("fink-alert-simulator"), "FINK_ALERT_SIMULATOR");
        assert_eq!(env_name("my.repo"), "MY_REPO");
    }
}
