//! The one table of pinned versions: client tools (download URL, published checksum, archive
//! layout) and cluster add-ons (manifest URLs, helm chart), plus the resolution of per-tool
//! overrides (`--<tool>-version` / `--pin NAME=VERSION`, `KTBX_<NAME>_VERSION` / `KTBX_<NAME>_URL`,
//! config `tools.<name>.{version,url}`) and of the download mirror (`KTBX_DOWNLOAD_MIRROR`).

use std::collections::BTreeMap;

use common::download::Checksum;

use crate::config::ToolSettings;

/// Environment variable replacing the scheme and host of every built-in download URL.
pub(crate) const MIRROR_ENV: &str = "KTBX_DOWNLOAD_MIRROR";

/// How upstream publishes the checksum of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Published {
    /// `<url><suffix>` holds `<hex>` or `<hex>  <name>`.
    Suffix(&'static str),
    /// A release-wide sums file (URL template) listing `<hex>  <file name>`.
    SumsFile(&'static str),
    /// Upstream publishes nothing to check against.
    Nothing(&'static str),
}

/// How the binary sits in the download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packaging {
    /// The download is the binary.
    Raw,
    /// A gzip-compressed tarball; the binary is the member at this path template.
    TarGz(&'static str),
    /// A gzip-compressed binary.
    Gz,
}

/// How a version is spelled upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionStyle {
    /// A release tag with its leading v: `v1.2.3[-pre]`.
    Tag,
    /// A bare semantic version (charts, Cilium): `1.2.3[-pre]`.
    Semver,
}

/// A client binary downloaded from upstream releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Binary {
    /// File name in the install directory.
    pub(crate) file: &'static str,
    /// Download URL template (`{version}`, `{os}`, `{arch}`).
    pub(crate) url: &'static str,
    /// Where the checksum comes from.
    pub(crate) checksum: Published,
    /// Archive layout.
    pub(crate) packaging: Packaging,
    /// Arguments that make the binary print its own version.
    pub(crate) version_args: &'static [&'static str],
}

/// A helm chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chart {
    /// Local name of the chart repository.
    pub(crate) repo: &'static str,
    /// URL of the chart repository.
    pub(crate) repo_url: &'static str,
    /// Chart reference (`<repo>/<chart>`).
    pub(crate) chart: &'static str,
}

/// One pinned component: a client binary, a cluster add-on, or both (ArgoCD, Argo Workflows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tool {
    /// Table key: `--pin NAME=…`, config `tools.<name>`, env `KTBX_<NAME>_VERSION` (`-` as `_`).
    pub(crate) name: &'static str,
    /// Pinned version; empty: the chart repository's latest.
    pub(crate) version: &'static str,
    /// How versions are spelled.
    pub(crate) style: VersionStyle,
    /// The client binary, if any.
    pub(crate) binary: Option<Binary>,
    /// Manifest URL templates (`{version}`), applied in this order.
    pub(crate) manifests: &'static [&'static str],
    /// The helm chart, if any.
    pub(crate) chart: Option<Chart>,
}

impl Tool {
    const fn pin(name: &'static str, version: &'static str, style: VersionStyle) -> Self {
        Self {
            name,
            version,
            style,
            binary: None,
            manifests: &[],
            chart: None,
        }
    }
}

const fn binary(
    file: &'static str,
    url: &'static str,
    checksum: Published,
    packaging: Packaging,
    version_args: &'static [&'static str],
) -> Option<Binary> {
    Some(Binary {
        file,
        url,
        checksum,
        packaging,
        version_args,
    })
}

/// Every pinned version ktbx uses.
pub(crate) const TOOLS: &[Tool] = &[
    Tool {
        binary: binary(
            "kind",
            "https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{os}-{arch}",
            Published::Suffix(".sha256sum"),
            Packaging::Raw,
            &["version", "-q"],
        ),
        ..Tool::pin("kind", "v0.31.0", VersionStyle::Tag)
    },
    Tool {
        binary: binary(
            "kubectl",
            "https://dl.k8s.io/release/{version}/bin/{os}/{arch}/kubectl",
            Published::Suffix(".sha256"),
            Packaging::Raw,
            &["version", "--client"],
        ),
        ..Tool::pin("kubectl", "v1.35.0", VersionStyle::Tag)
    },
    Tool {
        binary: binary(
            "helm",
            "https://get.helm.sh/helm-{version}-{os}-{arch}.tar.gz",
            Published::Suffix(".sha256sum"),
            Packaging::TarGz("{os}-{arch}/helm"),
            &["version", "--short"],
        ),
        ..Tool::pin("helm", "v3.16.2", VersionStyle::Tag)
    },
    Tool {
        binary: binary(
            "telepresence",
            "https://app.getambassador.io/download/tel2oss/releases/download/{version}/telepresence-{os}-{arch}",
            Published::Nothing("telepresence publishes no checksum for its client binaries"),
            Packaging::Raw,
            &["version"],
        ),
        ..Tool::pin("telepresence", "v2.15.0", VersionStyle::Tag)
    },
    Tool {
        binary: binary(
            "cilium",
            "https://github.com/cilium/cilium-cli/releases/download/{version}/cilium-{os}-{arch}.tar.gz",
            Published::Suffix(".sha256sum"),
            Packaging::TarGz("cilium"),
            &["version", "--client"],
        ),
        ..Tool::pin("cilium-cli", "v0.18.6", VersionStyle::Tag)
    },
    // Installed by `cilium install --version`.
    Tool::pin("cilium", "1.18.0", VersionStyle::Semver),
    Tool {
        manifests: &[
            "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/tigera-operator.yaml",
            "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/custom-resources.yaml",
        ],
        ..Tool::pin("calico", "v3.28.2", VersionStyle::Tag)
    },
    Tool {
        manifests: &[
            "https://github.com/operator-framework/operator-lifecycle-manager/releases/download/{version}/crds.yaml",
            "https://github.com/operator-framework/operator-lifecycle-manager/releases/download/{version}/olm.yaml",
        ],
        ..Tool::pin("olm", "v0.28.0", VersionStyle::Tag)
    },
    // The operator OLM installs (`startingCSV: argocd-operator.<version>`, manual approval).
    Tool::pin("argocd-operator", "v0.11.0", VersionStyle::Tag),
    // The argocd CLI and the `spec.version` of the ArgoCD instance.
    Tool {
        binary: binary(
            "argocd",
            "https://github.com/argoproj/argo-cd/releases/download/{version}/argocd-{os}-{arch}",
            Published::SumsFile(
                "https://github.com/argoproj/argo-cd/releases/download/{version}/cli_checksums.txt",
            ),
            Packaging::Raw,
            &["version", "--client", "--short"],
        ),
        ..Tool::pin("argocd", "v2.12.3", VersionStyle::Tag)
    },
    // Argo Workflows: the release manifest and the argo CLI.
    Tool {
        binary: binary(
            "argo",
            "https://github.com/argoproj/argo-workflows/releases/download/{version}/argo-{os}-{arch}.gz",
            Published::Nothing("ktbx knows no checksum file published for the argo CLI"),
            Packaging::Gz,
            &["version", "--short"],
        ),
        manifests: &[
            "https://github.com/argoproj/argo-workflows/releases/download/{version}/install.yaml",
        ],
        ..Tool::pin("argowf", "v3.5.2", VersionStyle::Tag)
    },
    // Unpinned as in the original: the repository's latest chart unless overridden.
    Tool {
        chart: Some(Chart {
            repo: "falcosecurity",
            repo_url: "https://falcosecurity.github.io/charts",
            chart: "falcosecurity/falco",
        }),
        ..Tool::pin("falco", "", VersionStyle::Semver)
    },
    Tool {
        chart: Some(Chart {
            repo: "prometheus-community",
            repo_url: "https://prometheus-community.github.io/helm-charts",
            chart: "prometheus-community/kube-prometheus-stack",
        }),
        ..Tool::pin("prometheus", "69.3.0", VersionStyle::Semver)
    },
];

/// The table's names, comma separated (for help and errors).
pub(crate) fn names() -> String {
    TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Looks a tool up by name.
pub(crate) fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Errors of tool resolution.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    /// The name is not in the table.
    #[error("unknown tool {name:?}: expected one of {known}")]
    Unknown {
        /// Given name.
        name: String,
        /// The table's names.
        known: String,
    },
    /// The version string is not a release version.
    #[error("invalid {tool} version {version:?}: expected a release version like {example}")]
    BadVersion {
        /// Tool.
        tool: &'static str,
        /// Given value.
        version: String,
        /// An example of the expected form.
        example: &'static str,
    },
    /// The tool has no client binary to download.
    #[error("{tool} is not a client binary")]
    NoBinary {
        /// Tool.
        tool: &'static str,
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

/// Looks a tool up by name, or says which names exist.
pub(crate) fn lookup(name: &str) -> Result<&'static Tool, ToolError> {
    tool(name).ok_or_else(|| ToolError::Unknown {
        name: name.to_string(),
        known: names(),
    })
}

/// Go-style os/arch names of this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Platform {
    /// `linux`, `darwin`.
    pub(crate) os: &'static str,
    /// `amd64`, `arm64`, `arm`.
    pub(crate) arch: &'static str,
}

impl Platform {
    /// This machine.
    pub(crate) fn current() -> Self {
        Self::from_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// Maps Rust's names to Go's.
    pub(crate) fn from_rust(os: &'static str, arch: &'static str) -> Self {
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

/// A client binary resolved for this run: version, URLs, checksum source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The table entry.
    pub(crate) tool: &'static Tool,
    /// Its binary.
    pub(crate) binary: &'static Binary,
    /// Version to install.
    pub(crate) version: String,
    /// Download URL.
    pub(crate) url: String,
    /// How the download is verified (the published checksum file, or why it cannot be).
    pub(crate) checksum: Checksum,
    /// Archive member holding the binary.
    pub(crate) member: Option<String>,
}

/// Checks that a version is a plain release version in the tool's style (`v1.2.3` or `1.2.3`,
/// with an optional `-rc.1`-style suffix), so that nothing odd reaches a URL or a command line.
pub(crate) fn validate_version(tool: &'static Tool, version: &str) -> Result<(), ToolError> {
    let bad = || ToolError::BadVersion {
        tool: tool.name,
        version: version.to_string(),
        example: match (tool.style, tool.version) {
            (VersionStyle::Tag, "") => "v1.2.3",
            (VersionStyle::Semver, "") => "1.2.3",
            (_, pinned) => pinned,
        },
    };
    let rest = match tool.style {
        VersionStyle::Tag => version.strip_prefix('v').ok_or_else(bad)?,
        VersionStyle::Semver => version,
    };
    // Semantic versioning 2.0 without build metadata: three numbers without leading zeros, then
    // optionally `-` and non-empty dot-separated identifiers of [0-9A-Za-z-].
    let semver = semver::Version::parse(rest).is_ok_and(|v| v.build.is_empty());
    if semver && version.len() <= 64 {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Reads an environment variable (injected so that tests need not touch the process environment).
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Inputs of the resolution besides the table.
#[derive(Clone, Default)]
pub(crate) struct Overrides<'a> {
    /// Version given on the command line.
    pub(crate) flag_version: Option<&'a str>,
    /// Environment lookup (injected for tests).
    pub(crate) env: Option<EnvLookup<'a>>,
    /// The `tools:` map of the config file, keyed by lower-case tool name.
    pub(crate) settings: Option<&'a BTreeMap<String, ToolSettings>>,
}

impl Overrides<'_> {
    fn env(&self, key: &str) -> Option<String> {
        self.env.and_then(|f| f(key)).filter(|v| !v.is_empty())
    }
}

/// `KTBX_<NAME>_<WHAT>` (`cilium-cli` → `KTBX_CILIUM_CLI_VERSION`).
pub(crate) fn env_key(tool: &Tool, what: &str) -> String {
    format!(
        "KTBX_{}_{what}",
        tool.name.to_ascii_uppercase().replace('-', "_")
    )
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

/// The version of `tool` for this run: flag, then env, then config, then the pin; validated.
/// Empty (falco's chart) means the repository's latest.
pub(crate) fn resolve_version(tool: &'static Tool, o: &Overrides<'_>) -> Result<String, ToolError> {
    let settings = o.settings.and_then(|c| c.get(tool.name));
    let version = o
        .flag_version
        .map(str::to_string)
        .or_else(|| o.env(&env_key(tool, "VERSION")))
        .or_else(|| settings.and_then(|s| s.version.clone()))
        .unwrap_or_else(|| tool.version.to_string());
    if !(version.is_empty() && tool.version.is_empty()) {
        validate_version(tool, &version)?;
    }
    Ok(version)
}

/// The manifest URLs of `tool` at `version`, through the mirror.
pub(crate) fn manifest_urls(tool: &'static Tool, version: &str, o: &Overrides<'_>) -> Vec<String> {
    let mirror = o.env(MIRROR_ENV);
    tool.manifests
        .iter()
        .map(|t| mirrored(&t.replace("{version}", version), mirror.as_deref()))
        .collect()
}

/// Resolves version and URLs of the client binary of `tool` for `platform`.
pub(crate) fn resolve(
    tool: &'static Tool,
    platform: Platform,
    o: &Overrides<'_>,
) -> Result<Resolved, ToolError> {
    let binary = tool
        .binary
        .as_ref()
        .ok_or(ToolError::NoBinary { tool: tool.name })?;
    let version = resolve_version(tool, o)?;
    if platform.os == "windows" || (binary.file == "argo" && platform.arch == "arm") {
        return Err(ToolError::Platform {
            tool: tool.name,
            os: platform.os,
            arch: platform.arch,
        });
    }
    let settings = o.settings.and_then(|c| c.get(tool.name));
    let mirror = o.env(MIRROR_ENV);
    let custom = o
        .env(&env_key(tool, "URL"))
        .or_else(|| settings.and_then(|s| s.url.clone()));
    let url = match &custom {
        Some(template) => fill(template, &version, platform),
        None => mirrored(&fill(binary.url, &version, platform), mirror.as_deref()),
    };
    let checksum = match binary.checksum {
        Published::Suffix(suffix) => Checksum::SumsFile {
            url: format!("{url}{suffix}"),
        },
        Published::SumsFile(template) => Checksum::SumsFile {
            url: mirrored(&fill(template, &version, platform), mirror.as_deref()),
        },
        Published::Nothing(reason) => Checksum::Unverified { reason },
    };
    let member = match binary.packaging {
        Packaging::TarGz(template) => Some(fill(template, &version, platform)),
        Packaging::Raw | Packaging::Gz => None,
    };
    Ok(Resolved {
        tool,
        binary,
        version,
        url,
        checksum,
        member,
    })
}

/// Whether a tool's version output names `version` (`0.31.0`, `v1.35.0`, `v3.16.2+g13654a5` all match).
pub(crate) fn reports_version(output: &str, version: &str) -> bool {
    let bare = version.trim_start_matches('v');
    output
        .split(|c: char| c.is_whitespace() || c == '+' || c == ',' || c == '"')
        .map(|token| token.trim_start_matches('v'))
        .any(|token| token == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        config: Option<&BTreeMap<String, ToolSettings>>,
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
                settings: config,
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
        let mut config = BTreeMap::new();
        config.insert(
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
            "v1.2.3-",
            "v1.2.3-rc..1",
            "v1.2.3-.rc",
            "v1.2.3-rc.",
            "v1.2.3+build",
            "v01.2.3",
            "v1.2.3-01",
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

    proptest::proptest! {
        #[test]
        fn release_versions_pass_and_an_empty_pre_release_never_does(
            core in "(0|[1-9][0-9]{0,5})\\.(0|[1-9][0-9]{0,5})\\.(0|[1-9][0-9]{0,5})",
            pre in proptest::collection::vec("[0-9A-Za-z-]{0,4}[A-Za-z-][0-9A-Za-z-]{0,4}|0|[1-9][0-9]{0,4}", 0..3),
            cut in proptest::collection::vec(0usize..3, 1..3),
        ) {
            let kind = lookup("kind").unwrap();
            let good = if pre.is_empty() { format!("v{core}") } else { format!("v{core}-{}", pre.join(".")) };
            proptest::prop_assert!(validate_version(kind, &good).is_ok(), "{good:?}");
            // An empty identifier anywhere in the pre-release (`v1.2.3-`, `-a..b`, `-a.`) is refused.
            let mut ids = pre.clone();
            for at in cut {
                ids.insert(at.min(ids.len()), String::new());
            }
            let bad = format!("v{core}-{}", ids.join("."));
            proptest::prop_assert!(validate_version(kind, &bad).is_err(), "{bad:?}");
        }

        #[test]
        fn accepted_versions_are_plain_words(v in "\\PC{0,20}") {
            let kind = lookup("kind").unwrap();
            if validate_version(kind, &v).is_ok() {
                proptest::prop_assert!(v.starts_with('v') && !v.ends_with(['-', '.']));
                proptest::prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            }
        }
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

    fn version_with(
        name: &str,
        flag: Option<&str>,
        env: &[(&str, &str)],
        config: Option<&BTreeMap<String, ToolSettings>>,
    ) -> Result<String, ToolError> {
        let lookup = |k: &str| {
            env.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        resolve_version(
            tool(name).unwrap(),
            &Overrides {
                flag_version: flag,
                env: Some(&lookup),
                settings: config,
            },
        )
    }

    #[test]
    fn addon_versions_are_in_the_table_and_overridable() {
        assert_eq!(version_with("calico", None, &[], None).unwrap(), "v3.28.2");
        assert_eq!(version_with("cilium", None, &[], None).unwrap(), "1.18.0");
        assert_eq!(version_with("olm", None, &[], None).unwrap(), "v0.28.0");
        assert_eq!(version_with("argocd", None, &[], None).unwrap(), "v2.12.3");
        assert_eq!(version_with("argowf", None, &[], None).unwrap(), "v3.5.2");
        assert_eq!(
            version_with("prometheus", None, &[], None).unwrap(),
            "69.3.0"
        );
        assert_eq!(version_with("falco", None, &[], None).unwrap(), "");
        let mut config = BTreeMap::new();
        config.insert(
            "olm".into(),
            ToolSettings {
                version: Some("v0.29.0".into()),
                url: None,
            },
        );
        assert_eq!(
            version_with("olm", None, &[], Some(&config)).unwrap(),
            "v0.29.0"
        );
        assert_eq!(
            version_with(
                "olm",
                None,
                &[("KTBX_OLM_VERSION", "v0.30.0")],
                Some(&config)
            )
            .unwrap(),
            "v0.30.0"
        );
        assert_eq!(
            version_with(
                "cilium-cli",
                None,
                &[("KTBX_CILIUM_CLI_VERSION", "v0.19.0")],
                None
            )
            .unwrap(),
            "v0.19.0"
        );
        assert_eq!(
            version_with("falco", Some("4.20.1"), &[], None).unwrap(),
            "4.20.1"
        );
    }

    #[test]
    fn version_style_follows_upstream() {
        let err = version_with("prometheus", Some("v70.0.0"), &[], None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid prometheus version \"v70.0.0\": expected a release version like 69.3.0"
        );
        let err = version_with("falco", Some("latest"), &[], None)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("like 1.2.3"), "{err}");
        assert!(version_with("calico", Some("3.29.0"), &[], None).is_err());
        assert!(version_with("cilium", Some("1.18.0; id"), &[], None).is_err());
    }

    #[test]
    fn manifests_follow_the_version_and_the_mirror() {
        let lookup = |k: &str| (k == MIRROR_ENV).then(|| "http://127.0.0.1:9".to_string());
        let o = Overrides {
            env: Some(&lookup),
            ..Overrides::default()
        };
        assert_eq!(
            manifest_urls(tool("olm").unwrap(), "v0.30.0", &o),
            vec![
                "http://127.0.0.1:9/operator-framework/operator-lifecycle-manager/releases/download/v0.30.0/crds.yaml",
                "http://127.0.0.1:9/operator-framework/operator-lifecycle-manager/releases/download/v0.30.0/olm.yaml",
            ]
        );
        assert_eq!(
            manifest_urls(tool("calico").unwrap(), "v3.28.2", &Overrides::default())[1],
            "https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/custom-resources.yaml"
        );
    }

    #[test]
    fn every_entry_is_usable_and_named_once() {
        let mut seen = std::collections::HashSet::new();
        for t in TOOLS {
            assert!(seen.insert(t.name), "{} twice", t.name);
            assert!(
                t.binary.is_some()
                    || !t.manifests.is_empty()
                    || t.chart.is_some()
                    || ["cilium", "argocd-operator"].contains(&t.name),
                "{} is used for nothing",
                t.name
            );
            if !t.version.is_empty() {
                validate_version(t, t.version).unwrap();
            }
        }
        assert!(matches!(
            resolve(tool("olm").unwrap(), LINUX, &Overrides::default()),
            Err(ToolError::NoBinary { tool: "olm" })
        ));
        assert_eq!(
            lookup("flannel").unwrap_err().to_string(),
            format!("unknown tool \"flannel\": expected one of {}", names())
        );
    }
}
