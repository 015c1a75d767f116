//! The client-tool table: pinned versions, download URLs, published checksums and archive layout,
//! plus the resolution of per-tool overrides (flag, `KTBX_<TOOL>_VERSION` / `KTBX_<TOOL>_URL`,
//! config `tools.<tool>.{version,url}`) and of the download mirror (`KTBX_DOWNLOAD_MIRROR`).

use common::download::Checksum;

use crate::config::Config;

/// Environment variable replacing the scheme and host of every built-in download URL.
pub const MIRROR_ENV: &str = "KTBX_DOWNLOAD_MIRROR";

/// How upstream publishes the checksum of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// `<url><suffix>` holds `<hex>` or `<hex>  <name>`.
    Suffix(&'static str),
    /// A release-wide sums file (URL template) listing `<hex>  <file name>`.
    SumsFile(&'static str),
    /// Upstream publishes nothing to check against.
    Nothing(&'static str),
}

/// How the binary sits in the download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// The download is the binary.
    Raw,
    /// A gzip-compressed tarball; the binary is the member at this path template.
    TarGz(&'static str),
    /// A gzip-compressed binary.
    Gz,
}

/// One client tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Binary name (also the table key and the config/env key).
    pub name: &'static str,
    /// Pinned version (with its leading v).
    pub version: &'static str,
    /// Download URL template (`{version}`, `{os}`, `{arch}`).
    pub url: &'static str,
    /// Where the checksum comes from.
    pub checksum: Published,
    /// Archive layout.
    pub packaging: Packaging,
    /// Arguments that make the binary print its own version.
    pub version_args: &'static [&'static str],
}

/// Every client tool ktbx installs.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "kind",
        version: "v0.31.0",
        url: "https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{os}-{arch}",
        checksum: Published::Suffix(".sha256sum"),
        packaging: Packaging::Raw,
        version_args: &["version", "-q"],
    },
    Tool {
        name: "kubectl",
        version: "v1.35.0",
        url: "https://dl.k8s.io/release/{version}/bin/{os}/{arch}/kubectl",
        checksum: Published::Suffix(".sha256"),
        packaging: Packaging::Raw,
        version_args: &["version", "--client"],
    },
    Tool {
        name: "helm",
        version: "v3.16.2",
        url: "https://get.helm.sh/helm-{version}-{os}-{arch}.tar.gz",
        checksum: Published::Suffix(".sha256sum"),
        packaging: Packaging::TarGz("{os}-{arch}/helm"),
        version_args: &["version", "--short"],
    },
    Tool {
        name: "telepresence",
        version: "v2.15.0",
        url: "https://app.getambassador.io/download/tel2oss/releases/download/{version}/telepresence-{os}-{arch}",
        checksum: Published::Nothing("telepresence publishes no checksum for its client binaries"),
        packaging: Packaging::Raw,
        version_args: &["version"],
    },
    Tool {
        name: "cilium",
        version: "v0.18.6",
        url: "https://github.com/cilium/cilium-cli/releases/download/{version}/cilium-{os}-{arch}.tar.gz",
        checksum: Published::Suffix(".sha256sum"),
        packaging: Packaging::TarGz("cilium"),
        version_args: &["version", "--client"],
    },
    Tool {
        name: "argocd",
        version: "v2.12.3",
        url: "https://github.com/argoproj/argo-cd/releases/download/{version}/argocd-{os}-{arch}",
        checksum: Published::SumsFile(
            "https://github.com/argoproj/argo-cd/releases/download/{version}/cli_checksums.txt",
        ),
        packaging: Packaging::Raw,
        version_args: &["version", "--client", "--short"],
    },
    Tool {
        name: "argo",
        version: "v3.5.2",
        url: "https://github.com/argoproj/argo-workflows/releases/download/{version}/argo-{os}-{arch}.gz",
        checksum: Published::Nothing("ktbx knows no checksum file published for the argo CLI"),
        packaging: Packaging::Gz,
        version_args: &["version", "--short"],
    },
];

/// Looks a tool up by name.
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Errors of tool resolution.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The version string is not a release version.
    #[error("invalid {tool} version {version:?}: expected a release version like {example}")]
    BadVersion {
        /// Tool.
        tool: &'static str,
        /// Given value.
        version: String,
        /// The pinned version, as an example.
        example: &'static str,
    },
    /// No build for this machine.
    #[error("{tool} has no build for {os}/{arch}")]
    Platform {
        /// Tool.
        tool: &'static str,
        /// OS.
        os: &'static str,
        /// Architecture.
        arch: &'static str,
    },
}

/// Go-style os/arch names of this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `darwin`.
    pub os: &'static str,
    /// `amd64`, `arm64`, `arm`.
    pub arch: &'static str,
}

impl Platform {
    /// This machine.
    pub fn current() -> Self {
        Self::from_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// Maps Rust's names to Go's.
    pub fn from_rust(os: &'static str, arch: &'static str) -> Self {
        let os = match os {
            "macos" => "darwin",
            other => other,
        };
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Self { os, arch }
    }
}

/// A tool resolved for this run: version, URLs, checksum source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The table entry.
    pub tool: &'static Tool,
    /// Version to install (with its leading v).
    pub version: String,
    /// Download URL.
    pub url: String,
    /// How the download is verified (the published checksum file, or why it cannot be).
    pub checksum: Checksum,
    /// Archive member holding the binary.
    pub member: Option<String>,
}

/// Checks that a version is a plain release version: `v1.2.3` with an optional `-rc.1`-style suffix.
pub fn validate_version(tool: &'static Tool, version: &str) -> Result<(), ToolError> {
    let bad = || ToolError::BadVersion {
        tool: tool.name,
        version: version.to_string(),
        example: tool.version,
    };
    let rest = version.strip_prefix('v').ok_or_else(bad)?;
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |s: &&str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    let core_ok = numbers.len() == 3 && numbers.iter().all(numeric);
    let pre_ok = pre
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if core_ok && pre_ok && version.len() <= 64 {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Reads an environment variable (injected so that tests need not touch the process environment).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Inputs of the resolution besides the table.
#[derive(Clone, Default)]
pub struct Overrides<'a> {
    /// Version given on the command line.
    pub flag_version: Option<&'a str>,
    /// Environment lookup (injected for tests).
    pub env: Option<EnvLookup<'a>>,
    /// The config file.
    pub config: Option<&'a Config>,
}

fn env_key(tool: &Tool, what: &str) -> String {
    format!("KTBX_{}_{what}", tool.name.to_ascii_uppercase())
}

fn fill(template: &str, version: &str, platform: Platform) -> String {
    template
        .replace("{version}", version)
        .replace("{os}", platform.os)
        .replace("{arch}", platform.arch)
}

/// Replaces `scheme://host` of a built-in URL by the mirror.
fn mirrored(url: &str, mirror: Option<&str>) -> String {
    match mirror {
        Some(mirror) => {
            let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
            let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
            format!("{}{path}", mirror.trim_end_matches('/'))
        }
        None => url.to_string(),
    }
}

/// A built-in URL with `$KTBX_DOWNLOAD_MIRROR` applied (manifests of the cluster add-ons).
pub fn mirror_url(url: &str) -> String {
    mirrored(
        url,
        std::env::var(MIRROR_ENV)
            .ok()
            .filter(|m| !m.is_empty())
            .as_deref(),
    )
}

/// Resolves version and URLs of `tool` for `platform`: flag, then env, then config, then the pin.
pub fn resolve(
    tool: &'static Tool,
    platform: Platform,
    o: &Overrides<'_>,
) -> Result<Resolved, ToolError> {
    let env = |key: &str| o.env.and_then(|f| f(key)).filter(|v| !v.is_empty());
    let settings = o.config.and_then(|c| c.tools.get(tool.name));
    let version = o
        .flag_version
        .map(str::to_string)
        .or_else(|| env(&env_key(tool, "VERSION")))
        .or_else(|| settings.and_then(|s| s.version.clone()))
        .unwrap_or_else(|| tool.version.to_string());
    validate_version(tool, &version)?;
    if platform.os == "windows" || (tool.name == "argo" && platform.arch == "arm") {
        return Err(ToolError::Platform {
            tool: tool.name,
            os: platform.os,
            arch: platform.arch,
        });
    }
    let mirror = env(MIRROR_ENV);
    let custom = env(&env_key(tool, "URL")).or_else(|| settings.and_then(|s| s.url.clone()));
    let url = match &custom {
        Some(template) => fill(template, &version, platform),
        None => mirrored(&fill(tool.url, &version, platform), mirror.as_deref()),
    };
    let checksum = match tool.checksum {
        Published::Suffix(suffix) => Checksum::SumsFile {
            url: format!("{url}{suffix}"),
        },
        Published::SumsFile(template) => Checksum::SumsFile {
            url: mirrored(&fill(template, &version, platform), mirror.as_deref()),
        },
        Published::Nothing(reason) => Checksum::Unverified { reason },
    };
    let member = match tool.packaging {
        Packaging::TarGz(template) => Some(fill(template, &version, platform)),
        Packaging::Raw | Packaging::Gz => None,
    };
    Ok(Resolved {
        tool,
        version,
        url,
        checksum,
        member,
    })
}

/// Whether a tool's version output names `version` (`0.31.0`, `v1.35.0`, `v3.16.2+g13654a5` all match).
pub fn reports_version(output: &str, version: &str) -> bool {
    let bare = version.trim_start_matches('v');
    output
        .split(|c: char| c.is_whitespace() || c == '+' || c == ',' || c == '"')
        .map(|token| token.trim_start_matches('v'))
        .any(|token| token == bare)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ToolSettings;

    fn sums(url: &str) -> Checksum {
        Checksum::SumsFile {
            url: url.to_string(),
        }
    }

    const LINUX: Platform = Platform {
        os: "linux",
        arch: "amd64",
    };

    fn resolve_with(
        name: &str,
        flag: Option<&str>,
        env: &[(&str, &str)],
        config: Option<&Config>,
    ) -> Result<Resolved, ToolError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        resolve(
            tool(name).unwrap(),
            LINUX,
            &Overrides {
                flag_version: flag,
                env: Some(&lookup),
                config,
            },
        )
    }

    #[test]
    fn pinned_urls_and_checksums() {
        let kind = resolve_with("kind", None, &[], None).unwrap();
        assert_eq!(
            kind.url,
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.31.0/kind-linux-amd64"
        );
        assert_eq!(
            kind.checksum,
            sums(
                "https://github.com/kubernetes-sigs/kind/releases/download/v0.31.0/kind-linux-amd64.sha256sum"
            )
        );
        let kubectl = resolve_with("kubectl", None, &[], None).unwrap();
        assert_eq!(
            kubectl.url,
            "https://dl.k8s.io/release/v1.35.0/bin/linux/amd64/kubectl"
        );
        assert_eq!(kubectl.checksum, sums(&format!("{}.sha256", kubectl.url)));
        let helm = resolve_with("helm", None, &[], None).unwrap();
        assert_eq!(
            helm.url,
            "https://get.helm.sh/helm-v3.16.2-linux-amd64.tar.gz"
        );
        assert_eq!(helm.member.as_deref(), Some("linux-amd64/helm"));
        assert!(matches!(
            resolve_with("telepresence", None, &[], None)
                .unwrap()
                .checksum,
            Checksum::Unverified { .. }
        ));
    }

    #[test]
    fn overrides_flag_then_env_then_config() {
        let mut config = Config::default();
        config.tools.insert(
            "kind".into(),
            ToolSettings {
                version: Some("v0.29.0".into()),
                url: None,
            },
        );
        assert_eq!(
            resolve_with("kind", None, &[], Some(&config))
                .unwrap()
                .version,
            "v0.29.0"
        );
        assert_eq!(
            resolve_with(
                "kind",
                None,
                &[("KTBX_KIND_VERSION", "v0.30.0")],
                Some(&config)
            )
            .unwrap()
            .version,
            "v0.30.0"
        );
        let r = resolve_with(
            "kind",
            Some("v0.20.0"),
            &[("KTBX_KIND_VERSION", "v0.30.0")],
            Some(&config),
        )
        .unwrap();
        assert_eq!(r.version, "v0.20.0");
        assert!(r.url.contains("/v0.20.0/"));
    }

    #[test]
    fn mirror_and_url_override() {
        let r = resolve_with("kind", None, &[(MIRROR_ENV, "http://127.0.0.1:9/")], None).unwrap();
        assert_eq!(
            r.url,
            "http://127.0.0.1:9/kubernetes-sigs/kind/releases/download/v0.31.0/kind-linux-amd64"
        );
        let r = resolve_with("argocd", None, &[(MIRROR_ENV, "http://127.0.0.1:9")], None).unwrap();
        assert_eq!(
            r.checksum,
            sums("http://127.0.0.1:9/argoproj/argo-cd/releases/download/v2.12.3/cli_checksums.txt")
        );
        let r = resolve_with(
            "helm",
            None,
            &[(
                "KTBX_HELM_URL",
                "http://127.0.0.1:9/h/{version}/{os}-{arch}.tgz",
            )],
            None,
        )
        .unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/h/v3.16.2/linux-amd64.tgz");
    }

    #[test]
    fn versions_with_metacharacters_are_rejected() {
        for bad in [
            "0.31.0",
            "v0.31",
            "v0.31.0; rm -rf /",
            "v$(id).0.0",
            "v0.31.0-rc 1",
            "v1.2.3\n",
            "",
        ] {
            assert!(
                resolve_with("kind", Some(bad), &[], None).is_err(),
                "{bad:?}"
            );
        }
        assert!(resolve_with("kind", Some("v0.31.0-rc.1"), &[], None).is_ok());
        let err = resolve_with("kind", Some("0.20.0"), &[], None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid kind version \"0.20.0\": expected a release version like v0.31.0"
        );
    }

    #[test]
    fn platform_names_follow_go() {
        assert_eq!(
            Platform::from_rust("macos", "aarch64"),
            Platform {
                os: "darwin",
                arch: "arm64"
            }
        );
        assert_eq!(Platform::from_rust("linux", "x86_64"), LINUX);
    }

    #[test]
    fn version_outputs_of_the_tools() {
        assert!(reports_version("0.31.0\n", "v0.31.0"));
        assert!(reports_version(
            "Client Version: v1.35.0\nKustomize Version: v5.7.1\n",
            "v1.35.0"
        ));
        assert!(reports_version("v3.16.2+g13654a5\n", "v3.16.2"));
        assert!(!reports_version("v3.16.20+g13654a5\n", "v3.16.2"));
        assert!(!reports_version("0.30.0\n", "v0.31.0"));
    }
}
