//! Registry credentials: `CIUX_REGISTRY_USERNAME`/`CIUX_REGISTRY_PASSWORD`, then Docker's
//! `config.json` (`$DOCKER_CONFIG` or `~/.docker`): `credHelpers`, `auths`, `credsStore`.
//! Secrets are never logged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use serde::Deserialize;

/// How a request authenticates.
#[derive(Clone)]
pub(crate) enum RegistryAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic` with user and password.
    Basic(String, String),
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Where credentials come from; helper answers are cached per registry.
#[derive(Default)]
pub(crate) struct Credentials {
    env: Option<(String, String)>,
    docker: DockerConfig,
    cache: Mutex<HashMap<String, Option<(String, String)>>>,
}

impl Credentials {
    /// Reads the environment and Docker's config file (a broken file is a warning, not an error).
    pub(crate) fn load() -> Self {
        let env = match (
            std::env::var("CIUX_REGISTRY_USERNAME"),
            std::env::var("CIUX_REGISTRY_PASSWORD"),
        ) {
            (Ok(u), Ok(p)) if !u.is_empty() => Some((u, p)),
            _ => None,
        };
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        Self {
            env,
            ..dir
                .map(|d| Self::from_docker_config_dir(&d))
                .unwrap_or_default()
        }
    }

    /// Credentials from `<dir>/config.json` only.
    pub(crate) fn from_docker_config_dir(dir: &std::path::Path) -> Self {
        let path = dir.join("config.json");
        let docker = match std::fs::read_to_string(&path) {
            Err(_) => DockerConfig::default(),
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(
                    "{}: unreadable, registry credentials ignored: {e}",
                    path.display()
                );
                DockerConfig::default()
            }),
        };
        Self {
            env: None,
            docker,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// User and password (or token) for a registry host, if any source has them.
    pub(crate) fn for_registry(&self, host: &str) -> Option<(String, String)> {
        if let Some(env) = &self.env {
            return Some(env.clone());
        }
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(host).cloned()) {
            return hit;
        }
        let found = self.lookup(host);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(host.to_string(), found.clone());
        }
        found
    }

    fn lookup(&self, host: &str) -> Option<(String, String)> {
        let keys: Vec<String> = if host == "index.docker.io" {
            vec![
                "https://index.docker.io/v1/".into(),
                "index.docker.io".into(),
                "docker.io".into(),
            ]
        } else {
            vec![
                host.into(),
                format!("https://{host}"),
                format!("http://{host}"),
            ]
        };
        for key in &keys {
            if let Some(helper) = self.docker.cred_helpers.get(key) {
                return run_helper(helper, key);
            }
        }
        for key in &keys {
            if let Some(entry) = self.docker.auths.get(key) {
                if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                    return Some((u.clone(), p.clone()));
                }
                let decoded = entry
                    .auth
                    .as_deref()
                    .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
                    .and_then(|b| String::from_utf8(b).ok());
                if let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                    return Some((u.to_string(), p.to_string()));
                }
            }
        }
        let store = self.docker.creds_store.as_deref()?;
        keys.iter().find_map(|k| run_helper(store, k))
    }
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-<helper> get` with the server on stdin.
fn run_helper(helper: &str, server: &str) -> Option<(String, String)> {
    let program = format!("docker-credential-{helper}");
    let cmd = common::process::Cmd::new(&program)
        .arg("get")
        .stdin_bytes(server.as_bytes().to_vec());
    match common::process::Runner::new(false).query(&cmd) {
        Ok(out) => match serde_json::from_slice::<HelperReply>(&out.stdout) {
            Ok(r) => Some((r.username, r.secret)),
            Err(e) => {
                tracing::warn!("{program} answered something unreadable for {server}: {e}");
                None
            }
        },
        Err(e) => {
            tracing::debug!("{program} has no credentials for {server}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths() {
        let docker: DockerConfig = serde_json::from_str(
            r#"{"auths": {"r.io": {"auth": "dXNlcjpwYTpzcw=="}, "https://index.docker.io/v1/": {"username": "u", "password": "p"}}}"#,
        )
        .unwrap();
        let c = Credentials {
            docker,
            ..Default::default()
        };
        assert_eq!(
            c.for_registry("r.io"),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(
            c.for_registry("index.docker.io"),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(c.for_registry("other.io"), None);
    }
}
