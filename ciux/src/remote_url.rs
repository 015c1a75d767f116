//! What ciux does with a dependency's URL before it uses or shows one: git's `url.<base>.insteadOf`
//! rewriting (from the git configuration files as git reads them), the transports ciux can reach, and
//! the one redaction of credentials for every URL that is printed or logged.

use std::path::PathBuf;
use std::sync::OnceLock;

/// A URL ciux cannot connect to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// `ssh://…`, `git+ssh://…` or scp-like `[user@]host:path`.
    Ssh,
    /// `<helper>::<address>`: git would hand it to the remote helper `git-remote-<helper>`.
    RemoteHelper(String),
}

/// Refuses the URLs ciux's libgit2 cannot reach (it speaks `git://`, `http(s)://` and `file://`).
pub(crate) fn check_supported(url: &str) -> Result<(), Unsupported> {
    if let Some(helper) = remote_helper(url) {
        return Err(Unsupported::RemoteHelper(helper.to_string()));
    }
    let ssh = match url.split_once("://") {
        Some((scheme, _)) => scheme.to_ascii_lowercase().contains("ssh"),
        None => url
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/')),
    };
    if ssh { Err(Unsupported::Ssh) } else { Ok(()) }
}

/// The helper of git's `<transport>::<address>` syntax (`ext::ssh host %S`, `fd::3`): a name of
/// letters, digits, `+`, `-` and `.` starting with a letter, followed by `::`.
fn remote_helper(url: &str) -> Option<&str> {
    let (name, _) = url.split_once("::")?;
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(name)
}

/// `url` without the user info of a `scheme://user:password@host/…` URL, for every message and log
/// line (tokens are often given as the user name). Anything else is returned as it is.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `url` after git's `url.<base>.insteadOf` rules: the longest matching prefix is replaced by its base
/// (applied once, as git does). The rules are read once per process.
pub(crate) fn rewrite(url: &str) -> String {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        load_rules().unwrap_or_else(|e| {
            tracing::warn!("git configuration not read, url.<base>.insteadOf ignored: {e}");
            Vec::new()
        })
    });
    let rewritten = apply(rules, url);
    if rewritten != url {
        tracing::debug!(
            "{} rewritten to {} (url.<base>.insteadOf)",
            redact(url),
            redact(&rewritten)
        );
    }
    rewritten
}

/// One `url.<base>.insteadOf = <prefix>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    base: String,
    prefix: String,
}

fn apply(rules: &[Rule], url: &str) -> String {
    let mut best: Option<&Rule> = None;
    for rule in rules {
        if url.starts_with(&rule.prefix) && best.is_none_or(|b| rule.prefix.len() > b.prefix.len())
        {
            best = Some(rule);
        }
    }
    match best {
        Some(rule) => format!("{}{}", rule.base, &url[rule.prefix.len()..]),
        None => url.to_string(),
    }
}

/// `url.<base>.insteadof` as a configuration key gives its base.
fn base_of(key: &str) -> Option<&str> {
    if !key.get(..4)?.eq_ignore_ascii_case("url.") {
        return None;
    }
    let (base, var) = key[4..].rsplit_once('.')?;
    var.eq_ignore_ascii_case("insteadof").then_some(base)
}

/// The rules of the configuration files git reads (system, XDG, global; `GIT_CONFIG_SYSTEM`,
/// `GIT_CONFIG_NOSYSTEM` and `GIT_CONFIG_GLOBAL` honoured, includes followed) and of
/// `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`, in git's order.
fn load_rules() -> Result<Vec<Rule>, git2::Error> {
    let mut config = git2::Config::new()?;
    for (path, level) in config_files() {
        if path.is_file() {
            config.add_file(&path, level, false)?;
        }
    }
    let mut rules = Vec::new();
    let mut entries = config.entries(Some(r"url\..*\.insteadof"))?;
    while let Some(entry) = entries.next() {
        let entry = entry?;
        if let (Some(base), Some(prefix)) =
            (entry.name().ok().and_then(base_of), entry.value().ok())
        {
            rules.push(Rule {
                base: base.to_string(),
                prefix: prefix.to_string(),
            });
        }
    }
    rules.extend(env_rules());
    Ok(rules)
}

/// Where git looks for its configuration, lowest precedence first.
fn config_files() -> Vec<(PathBuf, git2::ConfigLevel)> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    let no_system = std::env::var("GIT_CONFIG_NOSYSTEM").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    if !no_system {
        let system = var("GIT_CONFIG_SYSTEM")
            .map(PathBuf::from)
            .or_else(|| git2::Config::find_system().ok())
            .unwrap_or_else(|| PathBuf::from("/etc/gitconfig"));
        files.push((system, git2::ConfigLevel::System));
    }
    if let Some(global) = std::env::var_os("GIT_CONFIG_GLOBAL") {
        files.push((PathBuf::from(global), git2::ConfigLevel::Global));
    } else {
        let home = var("HOME").map(PathBuf::from);
        let xdg = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        if let Some(xdg) = xdg {
            files.push((xdg.join("git/config"), git2::ConfigLevel::XDG));
        }
        if let Some(home) = home {
            files.push((home.join(".gitconfig"), git2::ConfigLevel::Global));
        }
    }
    files
}

/// Rules given through `GIT_CONFIG_COUNT` and `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`.
fn env_rules() -> Vec<Rule> {
    let count = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            let key = std::env::var(format!("GIT_CONFIG_KEY_{i}")).ok()?;
            let prefix = std::env::var(format!("GIT_CONFIG_VALUE_{i}")).ok()?;
            let base = base_of(&key)?.to_string();
            Some(Rule { base, prefix })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact("https://ci:s3cret@git.example/org/repo.git"),
            "https://git.example/org/repo.git"
        );
        assert_eq!(
            redact("https://tok@git.example:8443/a@b"),
            "https://git.example:8443/a@b"
        );
        assert_eq!(redact("http://a:b@c@host"), "http://host");
        for same in [
            "git://127.0.0.1/repo.git",
            "git@github.com:org/repo.git",
            "/tmp/a@b",
            "",
        ] {
            assert_eq!(redact(same), same);
        }
    }

    #[test]
    fn unsupported_urls() {
        for url in [
            "ssh://git@github.com/org/repo.git",
            "git+ssh://host/repo",
            "git@github.com:org/repo.git",
            "host:repo",
        ] {
            assert_eq!(check_supported(url), Err(Unsupported::Ssh), "{url}");
        }
        assert_eq!(
            check_supported("ext::sh -c touch% /tmp/pwned"),
            Err(Unsupported::RemoteHelper("ext".into()))
        );
        assert_eq!(
            check_supported("fd::3,4"),
            Err(Unsupported::RemoteHelper("fd".into()))
        );
        for url in [
            "https://github.com/org/repo",
            "git://127.0.0.1:9418/repo",
            "file:///tmp/repo",
            "/tmp/a:b",
            "/tmp/a::b",
            "relative/repo",
        ] {
            assert_eq!(check_supported(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn longest_insteadof_prefix_wins_once() {
        let rule = |base: &str, prefix: &str| Rule {
            base: base.into(),
            prefix: prefix.into(),
        };
        let rules = [
            rule(
                "https://x-access-token:T@github.com/",
                "https://github.com/",
            ),
            rule("https://mirror/org/", "https://github.com/org/"),
            rule("https://github.com/", "git@github.com:"),
        ];
        assert_eq!(
            apply(&rules, "https://github.com/org/repo"),
            "https://mirror/org/repo"
        );
        assert_eq!(
            apply(&rules, "https://github.com/other/repo"),
            "https://x-access-token:T@github.com/other/repo"
        );
        assert_eq!(
            apply(&rules, "git@github.com:a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(apply(&rules, "git://elsewhere/x"), "git://elsewhere/x");
        assert_eq!(
            base_of("url.https://a.b/c.d/.insteadof"),
            Some("https://a.b/c.d/")
        );
        assert_eq!(base_of("URL.x.insteadOf"), Some("x"));
        assert_eq!(base_of("url.x.pushinsteadof"), None);
    }
}
