//! kind cluster names, the container runtime and the kind commands shared by
//! `create`, `delete` and `status`.

use anyhow::{Context, bail};
use common::process::{Cmd, Runner, which};

/// Hint printed when kind is missing.
pub(crate) const KIND_HINT: &str = "install it with `ktbx install kind`";

/// The cluster names `--count` gives: one name (possibly empty = kind's default) or `<base>-i`.
pub(crate) fn cluster_names(name: Option<&str>, count: u32) -> Vec<Option<String>> {
    if count <= 1 {
        return vec![name.map(str::to_string)];
    }
    let base = name.unwrap_or("kind");
    (0..count).map(|i| Some(format!("{base}-{i}"))).collect()
}

/// The name kind will use: the given one, else `$KIND_CLUSTER_NAME`, else `kind`.
pub(crate) fn effective_name(name: Option<&str>, kind_cluster_name: Option<&str>) -> String {
    if let Some(name) = name {
        return name.to_string();
    }
    kind_cluster_name
        .filter(|n| !n.is_empty())
        .unwrap_or("kind")
        .to_string()
}

/// The kube context kind writes for a cluster.
pub(crate) fn context_of(cluster: &str) -> String {
    format!("kind-{cluster}")
}

/// Above this length kind warns that the node host names (`<name>-control-plane`, 64 characters
/// at most on Linux) may not work (`clusterNameMax` in kind's `pkg/cluster/internal/create`).
const KIND_NAME_WARN_LEN: usize = 50;

/// Checks a cluster name with kind's rule, `^[a-z0-9.-]+$` (`pkg/internal/apis/config/validate.go`),
/// plus a letter or digit first: kind's node containers (`<name>-control-plane`) need one, as docker
/// and podman refuse other names, and the name never reads as an option. No length limit and no
/// trimming: a name cut by `ciux get clustername` (`…-for-`) is used as given, like `kind load` and
/// `kind delete` in the same workflow use it.
pub(crate) fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !ok {
        let suggestion: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let suggestion = suggestion.trim_start_matches(['-', '.']);
        let hint = if suggestion.is_empty() || suggestion == name {
            String::new()
        } else {
            format!(" (for example {suggestion:?})")
        };
        bail!(
            "invalid cluster name {name:?}: kind takes lower-case letters, digits, '.' and '-', starting with a letter or digit{hint}"
        );
    }
    Ok(())
}

/// kind's warning for a name longer than 50 characters, which still is a valid name.
pub(crate) fn long_name_warning(name: &str) -> Option<String> {
    (name.len() > KIND_NAME_WARN_LEN).then(|| {
        format!(
            "cluster name {name:?} has {} characters: kind warns above {KIND_NAME_WARN_LEN}, as the node host name `{name}-control-plane` exceeds 64 characters",
            name.len()
        )
    })
}

/// `kind create cluster` / `kind delete cluster` with `--name` only when a name was given.
pub(crate) fn kind_cluster_cmd(verb: &str, name: Option<&str>) -> Cmd {
    let cmd = Cmd::new("kind").args([verb, "cluster"]).hint(KIND_HINT);
    match name {
        Some(name) => cmd.args(["--name", name]),
        None => cmd,
    }
}

/// The clusters kind knows (`kind get clusters`; "No kind clusters found." goes to stderr).
pub(crate) fn list_clusters(runner: &Runner) -> anyhow::Result<Vec<String>> {
    kind_list(runner, &["get", "clusters"])
}

/// The node containers of a cluster (`kind get nodes --name N`).
pub(crate) fn list_nodes(runner: &Runner, cluster: &str) -> anyhow::Result<Vec<String>> {
    kind_list(runner, &["get", "nodes", "--name", cluster])
}

/// The non-empty lines a read-only `kind` command prints.
fn kind_list(runner: &Runner, args: &[&str]) -> anyhow::Result<Vec<String>> {
    let out = runner.query(&Cmd::new("kind").args(args).hint(KIND_HINT))?;
    Ok(out
        .stdout_str()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// When a cluster was created: the `.Created` time of its `<name>-control-plane` container, as
/// the runtime reports it (`docker inspect`, `podman inspect`).
pub(crate) fn created_at(
    runner: &Runner,
    runtime: &str,
    cluster: &str,
) -> anyhow::Result<k8s_openapi::jiff::Timestamp> {
    let node = format!("{cluster}-control-plane");
    let out = runner.query(&Cmd::new(runtime).args([
        "inspect",
        "--format",
        "{{json .Created}}",
        &node,
    ]))?;
    parse_created(&out.stdout_str())
        .with_context(|| format!("reading the creation time of {node} from `{runtime} inspect`"))
}

/// Parses `"2026-12-05T18:00:00.123456789Z"` (docker) or `"…+01:00"` (podman), JSON-quoted.
fn parse_created(text: &str) -> anyhow::Result<k8s_openapi::jiff::Timestamp> {
    let text: String = serde_json::from_str(text.trim())
        .with_context(|| format!("expected a quoted time, got {:?}", text.trim()))?;
    text.parse()
        .with_context(|| format!("not an RFC 3339 time: {text:?}"))
}

/// The container runtime kind uses: `$KIND_EXPERIMENTAL_PROVIDER`, else the first of docker,
/// podman, nerdctl on PATH.
pub(crate) fn container_runtime(
    provider: Option<&str>,
    on_path: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    if let Some(p) = provider.filter(|p| !p.is_empty()) {
        if !["docker", "podman", "nerdctl"].contains(&p) {
            bail!(
                "KIND_EXPERIMENTAL_PROVIDER={p:?} is not a kind provider: use docker, podman or nerdctl"
            );
        }
        if !on_path(p) {
            bail!("KIND_EXPERIMENTAL_PROVIDER={p} but `{p}` is not on PATH");
        }
        return Ok(p.to_string());
    }
    ["docker", "podman", "nerdctl"]
        .into_iter()
        .find(|r| on_path(r))
        .map(str::to_string)
        .context("no container runtime found on PATH: install docker, podman or nerdctl")
}

/// The runtime of this process's environment.
pub(crate) fn runtime_from_env() -> anyhow::Result<String> {
    container_runtime(
        std::env::var("KIND_EXPERIMENTAL_PROVIDER").ok().as_deref(),
        |p| which(p).is_some(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_names() {
        assert_eq!(cluster_names(None, 1), vec![None]);
        assert_eq!(cluster_names(Some("x"), 0), vec![Some("x".to_string())]);
        assert_eq!(
            cluster_names(None, 3),
            [
                Some("kind-0".into()),
                Some("kind-1".into()),
                Some("kind-2".into())
            ]
        );
        assert_eq!(
            cluster_names(Some("ci"), 2),
            [Some("ci-0".into()), Some("ci-1".into())]
        );
    }

    #[test]
    fn effective_names() {
        assert_eq!(effective_name(None, None), "kind");
        assert_eq!(effective_name(None, Some("dev")), "dev");
        assert_eq!(effective_name(Some("x"), Some("dev")), "x");
        assert_eq!(context_of("x"), "kind-x");
    }

    #[test]
    fn names_follow_kinds_rule() {
        for bad in [
            "a;rm -rf /",
            "$(id)",
            "A",
            "x y",
            "-x",
            ".x",
            "a_b",
            "a\nb",
            "é",
            "",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        let err = validate_name("My_Cluster").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid cluster name \"My_Cluster\": kind takes lower-case letters, digits, '.' and '-', starting with a letter or digit (for example \"my-cluster\")"
        );
        // A name cut at 49 characters by `ciux get clustername`, from a real fink-broker branch.
        for good in [
            "runner-2-add-support-for-revision-management-for-",
            "fink-ci-0",
            "a.b",
            "a--b.",
            "0",
            &"a".repeat(80),
        ] {
            validate_name(good).unwrap();
        }
        assert_eq!(long_name_warning(&"a".repeat(50)), None);
        assert!(
            long_name_warning(&"a".repeat(51))
                .unwrap()
                .contains("has 51 characters: kind warns above 50")
        );
    }

    #[test]
    fn kind_argv() {
        let c = kind_cluster_cmd("delete", None);
        assert_eq!(c.to_shell_line(), "kind delete cluster");
        assert_eq!(
            kind_cluster_cmd("delete", Some("a")).to_shell_line(),
            "kind delete cluster --name a"
        );
    }

    #[test]
    fn creation_times_of_docker_and_podman() {
        let docker = parse_created("\"2026-12-05T18:00:00.123456789Z\"\n").unwrap();
        let podman = parse_created("\"2026-12-05T19:00:00.123456789+01:00\"").unwrap();
        assert_eq!(docker, podman);
        assert_eq!(docker.as_second(), 1_796_493_600);
        assert!(parse_created("2026-12-05").is_err());
        assert!(parse_created("\"yesterday\"").is_err());
    }

    #[test]
    fn runtime_choice() {
        assert_eq!(
            container_runtime(None, |p| p == "podman").unwrap(),
            "podman"
        );
        assert_eq!(container_runtime(None, |_| true).unwrap(), "docker");
        assert_eq!(
            container_runtime(Some("nerdctl"), |_| true).unwrap(),
            "nerdctl"
        );
        assert!(container_runtime(Some("lxc"), |_| true).is_err());
        assert!(container_runtime(Some("podman"), |p| p == "docker").is_err());
        let err = container_runtime(None, |_| false).unwrap_err().to_string();
        assert!(err.contains("install docker, podman or nerdctl"), "{err}");
    }
}
