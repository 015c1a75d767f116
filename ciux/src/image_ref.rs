//! Container image references, normalised the way Docker and go-containerregistry do
//! (`alpine` → `index.docker.io/library/alpine:latest`), and the names derived from them.

use std::fmt;
use std::net::IpAddr;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// Registry host (`index.docker.io` for Docker Hub).
    pub(crate) registry: String,
    /// Repository path without the host (`library/alpine`).
    pub(crate) repository: String,
    /// Tag (`latest` when none is written), or the digest for `@sha256:` references.
    pub(crate) reference: String,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub(crate) struct ImageRefError {
    input: String,
    reason: &'static str,
}

const DOCKER_HUB: &str = "index.docker.io";

impl ImageRef {
    /// Parses `[host[:port]/]path[:tag][@digest]`.
    pub(crate) fn parse(input: &str) -> Result<Self, ImageRefError> {
        let err = |reason| ImageRefError {
            input: input.to_string(),
            reason,
        };
        let (name, reference) = if let Some((name, digest)) = input.split_once('@') {
            if !digest.starts_with("sha256:") || digest.len() != 71 {
                return Err(err("a digest must be sha256:<64 hex>"));
            }
            (name, digest.to_string())
        } else {
            let slash = input.rfind('/').map_or(0, |i| i + 1);
            match input[slash..].rfind(':') {
                Some(i) => {
                    let tag = &input[slash + i + 1..];
                    if tag.is_empty()
                        || tag.len() > 128
                        || !tag
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                        || !tag.as_bytes()[0].is_ascii_alphanumeric() && tag.as_bytes()[0] != b'_'
                    {
                        return Err(err(
                            "a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -",
                        ));
                    }
                    (&input[..slash + i], tag.to_string())
                }
                None => (input, "latest".to_string()),
            }
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if registry.is_empty() {
            return Err(err("empty registry host"));
        }
        let registry = if registry == "docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        };
        if !repository.split('/').all(component_ok) {
            return Err(err(
                "repository components are lower-case [a-z0-9] separated by . _ or -",
            ));
        }
        Ok(Self {
            registry,
            repository,
            reference,
        })
    }

    /// The reference is a digest (`sha256:…`) rather than a tag.
    pub(crate) fn is_digest(&self) -> bool {
        self.reference.starts_with("sha256:")
    }

    /// The env-variable prefix of an image dependency: repository path, non-alphanumerics → `_`, upper case
    /// (`docker.io/library/alpine:3` → `LIBRARY_ALPINE`).
    pub(crate) fn env_prefix(&self) -> String {
        env_name(&self.repository)
    }

    /// Base URL of the registry API: Docker Hub's API host, http for localhost, loopback and private
    /// (RFC 1918) addresses, https otherwise.
    pub(crate) fn api_base(&self) -> String {
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

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
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
    fn docker_hub_normalisation() {
        let r = ImageRef::parse("docker.io/library/alpine:3.18.3").unwrap();
        assert_eq!(r.to_string(), "index.docker.io/library/alpine:3.18.3");
        assert_eq!(
            ImageRef::parse("alpine").unwrap().to_string(),
            "index.docker.io/library/alpine:latest"
        );
        assert_eq!(
            ImageRef::parse("k8sschool/ktbx:v1").unwrap().to_string(),
            "index.docker.io/k8sschool/ktbx:v1"
        );
        assert_eq!(
            ImageRef::parse("localhost/a:b").unwrap().registry,
            "localhost"
        );
        let r = ImageRef::parse("127.0.0.1:5000/fink/img:v1").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("127.0.0.1:5000", "fink/img", "v1")
        );
        assert_eq!(r.api_base(), "http://127.0.0.1:5000");
        assert_eq!(
            ImageRef::parse("alpine").unwrap().api_base(),
            "https://registry-1.docker.io"
        );
        assert_eq!(
            ImageRef::parse("10.1.2.3/x").unwrap().api_base(),
            "http://10.1.2.3"
        );
        assert_eq!(
            ImageRef::parse("gitlab-registry.in2p3.fr/x")
                .unwrap()
                .api_base(),
            "https://gitlab-registry.in2p3.fr"
        );
        let d = format!("a/b@sha256:{}", "0".repeat(64));
        assert_eq!(
            ImageRef::parse(&d).unwrap().to_string(),
            format!("index.docker.io/a/b@sha256:{}", "0".repeat(64))
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
    fn invalid_references() {
        for bad in [
            "/name:tag",
            "Upper/Case",
            "a:",
            "a::b",
            "a@sha256:12",
            "",
            "a/:t",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
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
