//! Sending registry requests: retries with backoff on transient failures, and the answer to a
//! `WWW-Authenticate` challenge (bearer token fetched once per scope and reused, or basic credentials).

use std::collections::HashMap;

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::{ATTEMPTS, MANIFEST_TYPES, RegistryClient, RegistryError, Reply, denied};
use crate::credentials::RegistryAuth;
use crate::image_ref::ImageRef;

impl RegistryClient {
    pub(super) async fn send(
        &self,
        image: &ImageRef,
        method: Method,
        url: &str,
        scope: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<Reply, RegistryError> {
        let key = (image.registry.clone(), scope.to_string());
        let mut auth = self.cached_auth(&key);
        let mut challenged = false;
        loop {
            let reply = self
                .send_with_retries(image, &method, url, auth.as_ref(), body.as_ref())
                .await?;
            let unauthorized = reply.0.status == StatusCode::UNAUTHORIZED;
            if !unauthorized {
                return Ok(reply.0);
            }
            if challenged {
                return Err(denied(image, reply.0.status));
            }
            challenged = true;
            let Some(challenge) = reply.1 else {
                return Err(denied(image, reply.0.status));
            };
            let used = match &auth {
                Some(RegistryAuth::Bearer(t)) => Some(t.clone()),
                _ => None,
            };
            auth = Some(
                self.answer_challenge(image, &challenge, scope, &key, used)
                    .await?,
            );
        }
    }

    pub(super) fn cached_auth(&self, key: &(String, String)) -> Option<RegistryAuth> {
        self.auths.lock().ok()?.get(key).cloned()
    }

    pub(super) fn cache_auth(&self, key: &(String, String), auth: &RegistryAuth) {
        if let Ok(mut auths) = self.auths.lock() {
            auths.insert(key.clone(), auth.clone());
        }
    }

    pub(super) async fn answer_challenge(
        &self,
        image: &ImageRef,
        challenge: &str,
        scope: &str,
        key: &(String, String),
        used: Option<String>,
    ) -> Result<RegistryAuth, RegistryError> {
        let creds = self.credentials.for_registry(&image.registry);
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            return match creds {
                Some((user, pass)) => {
                    let auth = RegistryAuth::Basic(user, pass);
                    self.cache_auth(key, &auth);
                    Ok(auth)
                }
                None => Err(denied(image, StatusCode::UNAUTHORIZED)),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(RegistryError::Protocol {
                image: image.to_string(),
                reason: format!("unsupported authentication scheme {scheme:?}"),
            });
        }
        let _fetching = self.token_fetch.lock().await;
        if let Some(RegistryAuth::Bearer(token)) = self.cached_auth(key)
            && Some(&token) != used.as_ref()
        {
            return Ok(RegistryAuth::Bearer(token));
        }
        let realm = params.get("realm").ok_or_else(|| RegistryError::Protocol {
            image: image.to_string(),
            reason: "bearer challenge without realm".into(),
        })?;
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let token_url = reqwest::Url::parse_with_params(realm, &query).map_err(|e| {
            RegistryError::Protocol {
                image: image.to_string(),
                reason: format!("invalid token realm {realm:?}: {e}"),
            }
        })?;
        let mut attempt = 0;
        let reply = loop {
            let mut req = self.http.get(token_url.clone());
            if let Some((user, pass)) = &creds {
                req = req.basic_auth(user, Some(pass));
            }
            match req.send().await {
                Ok(r) if r.status().is_server_error() && attempt + 1 < ATTEMPTS => {}
                Ok(r) => break r,
                Err(e) if attempt + 1 < ATTEMPTS => tracing::debug!("token request failed: {e}"),
                Err(source) => {
                    return Err(RegistryError::Transport {
                        image: image.to_string(),
                        source,
                    });
                }
            }
            attempt += 1;
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        };
        let status = reply.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(denied(image, status));
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                image: image.to_string(),
                status: status.as_u16(),
                detail: " (token service)".into(),
            });
        }
        let json: serde_json::Value =
            reply
                .json()
                .await
                .map_err(|source| RegistryError::Transport {
                    image: image.to_string(),
                    source,
                })?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| RegistryError::Protocol {
                image: image.to_string(),
                reason: "token service answered without a token".into(),
            })?
            .to_string();
        let auth = RegistryAuth::Bearer(token);
        self.cache_auth(key, &auth);
        Ok(auth)
    }

    /// Sends one request, retrying with exponential backoff on 5xx, 429 and network errors. Returns the
    /// reply and its `WWW-Authenticate` challenge.
    pub(super) async fn send_with_retries(
        &self,
        image: &ImageRef,
        method: &Method,
        url: &str,
        auth: Option<&RegistryAuth>,
        body: Option<&(String, Vec<u8>)>,
    ) -> Result<(Reply, Option<String>), RegistryError> {
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .header(ACCEPT, MANIFEST_TYPES);
            if let Some(auth) = auth {
                req = with_auth(req, auth);
            }
            if let Some((ct, bytes)) = body {
                req = req.header(CONTENT_TYPE, ct.as_str()).body(bytes.clone());
            }
            let last = attempt + 1 >= ATTEMPTS;
            match req.send().await {
                Ok(r) => {
                    let status = r.status();
                    if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                        && !last
                    {
                        tracing::debug!("{method} {url}: HTTP {status}, retrying");
                    } else {
                        let challenge = r
                            .headers()
                            .get(WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let location = r
                            .headers()
                            .get(LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let digest = r
                            .headers()
                            .get("docker-content-digest")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let content_type = r
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
                            .unwrap_or_default();
                        let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        return Ok((
                            Reply {
                                status,
                                content_type,
                                location,
                                digest,
                                body,
                            },
                            challenge,
                        ));
                    }
                }
                Err(source) if last => {
                    return Err(RegistryError::Transport {
                        image: image.to_string(),
                        source,
                    });
                }
                Err(e) => tracing::debug!("{method} {url}: {e}, retrying"),
            }
            attempt += 1;
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        }
    }
}

pub(super) fn with_auth(
    req: reqwest::RequestBuilder,
    auth: &RegistryAuth,
) -> reqwest::RequestBuilder {
    match auth {
        RegistryAuth::Bearer(t) => req.bearer_auth(t),
        RegistryAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
    }
}

/// Splits `Bearer realm="…",service="…"` into its scheme and parameters (quoted values may hold commas).
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => v.extend(chars.next()),
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("Basic", "Registry Realm")
        );
        let (s, p) = parse_challenge("Bearer");
        assert_eq!((s.as_str(), p.len()), ("Bearer", 0));
    }
}
