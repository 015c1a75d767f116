//! A real OCI registry on loopback: Debian's `docker-registry` (distribution 2.8) with filesystem
//! storage in a temporary directory, optional htpasswd (basic) or Docker-v2 token auth, and
//! image pushes through the registry HTTP API.
//!
//! ```no_run
//! use harness::registry::Registry;
//! let registry = Registry::start();
//! let digest = registry.push_image("fink/fink-broker", "v3.1.0");
//! let reference = format!("{}/fink/fink-broker:v3.1.0", registry.host());
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use crate::archive::{self, Entry};
use crate::release::sha256_hex;

mod token;

pub use token::TokenRequest;
use token::TokenServer;

const REGISTRY_BIN: &str = "docker-registry";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The manifest flavour of a pushed image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// `application/vnd.oci.image.manifest.v1+json`.
    Oci,
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerV2,
}

impl ManifestFormat {
    /// The manifest media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.manifest.v1+json",
            ManifestFormat::DockerV2 => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }

    fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.config.v1+json",
            ManifestFormat::DockerV2 => "application/vnd.docker.container.image.v1+json",
        }
    }

    fn layer_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
            ManifestFormat::DockerV2 => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

/// How clients authenticate.
enum Auth {
    Anonymous,
    Htpasswd,
    Token(TokenServer),
}

/// A running `docker-registry` process; killed on drop, its storage removed.
pub struct Registry {
    addr: SocketAddr,
    child: Child,
    credentials: Option<(String, String)>,
    auth: Auth,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts an anonymous registry on 127.0.0.1 and waits until `/v2/` answers.
    pub fn start() -> Registry {
        let dir = registry_dir();
        Registry::launch(dir, None, Auth::Anonymous)
    }

    /// Starts a registry that requires basic auth as `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        let dir = registry_dir();
        let credentials = (user.to_owned(), password.to_owned());
        Registry::launch(dir, Some(credentials), Auth::Htpasswd)
    }

    /// Starts a registry with Docker-v2 token auth, like Docker Hub or GitLab: `/v2/` answers
    /// `401` with `WWW-Authenticate: Bearer realm=…,service=…`, and a token server on loopback
    /// gives anyone pull access and `user`/`password` (basic auth on the token request) every
    /// action. Needs `openssl` (see [`TokenRequest`] for what it records).
    pub fn start_with_token_auth(user: &str, password: &str) -> Registry {
        let dir = registry_dir();
        let credentials = (user.to_owned(), password.to_owned());
        let token = TokenServer::start(dir.path(), credentials.clone(), None);
        Registry::launch(dir, Some(credentials), Auth::Token(token))
    }

    /// Like [`Registry::start_with_token_auth`], answering like Docker Hub for a repository never
    /// pushed: the anonymous token grants nothing for it, so the manifest request gets `401`
    /// (`insufficient_scope`) instead of `404`. Repositories pushed to answer as usual.
    pub fn start_like_docker_hub(user: &str, password: &str) -> Registry {
        let dir = registry_dir();
        let credentials = (user.to_owned(), password.to_owned());
        let repositories = dir.path().join("storage/docker/registry/v2/repositories");
        let token = TokenServer::start(dir.path(), credentials.clone(), Some(repositories));
        Registry::launch(dir, Some(credentials), Auth::Token(token))
    }

    fn launch(
        dir: tempfile::TempDir,
        credentials: Option<(String, String)>,
        auth: Auth,
    ) -> Registry {
        let mut last_error = String::new();
        // The free port may be taken between probing and binding: retry with another one.
        for _ in 0..3 {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, crate::net::free_port()));
            let config = write_config(dir.path(), addr, credentials.as_ref(), &auth);
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("creating the registry log");
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the registry log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| {
                    panic!("starting {REGISTRY_BIN}: {err} (install the Debian package docker-registry)")
                });
            match wait_ready(addr, &mut child) {
                Ok(()) => {
                    return Registry {
                        addr,
                        child,
                        credentials,
                        auth,
                        _dir: dir,
                    };
                }
                Err(err) => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_error = format!("{err}; registry log:\n{log}");
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("docker-registry did not start on loopback: {last_error}");
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The user and password of a registry started with authentication.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The token requests received so far (empty unless started with token auth).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        match &self.auth {
            Auth::Token(token) => token.requests(),
            Auth::Anonymous | Auth::Htpasswd => Vec::new(),
        }
    }

    /// Pushes a small linux/amd64 image with an OCI manifest as `repo:tag`; returns the manifest
    /// digest (`sha256:…`). The same repo and tag always give the same digest.
    pub fn push_image(&self, repo: &str, tag: &str) -> String {
        self.push_image_as(repo, tag, ManifestFormat::Oci)
    }

    /// Like [`Registry::push_image`] with the chosen manifest format.
    pub fn push_image_as(&self, repo: &str, tag: &str, format: ManifestFormat) -> String {
        let manifest =
            self.push_platform_image(repo, &format!("{repo}:{tag}"), "linux", "amd64", format);
        self.put_manifest(repo, tag, format.media_type(), &manifest)
    }

    /// Pushes an OCI image index as `repo:tag` with one small image per `(os, architecture)`;
    /// returns the index digest.
    pub fn push_index(&self, repo: &str, tag: &str, platforms: &[(&str, &str)]) -> String {
        let format = ManifestFormat::Oci;
        let manifests: Vec<_> = platforms
            .iter()
            .map(|(os, arch)| {
                let content = format!("{repo}:{tag} {os}/{arch}");
                let manifest = self.push_platform_image(repo, &content, os, arch, format);
                let digest =
                    self.put_manifest(repo, &digest_of(&manifest), format.media_type(), &manifest);
                json!({
                    "mediaType": format.media_type(),
                    "digest": digest,
                    "size": manifest.len(),
                    "platform": {"architecture": arch, "os": os},
                })
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let index = serde_json::to_vec(&index).expect("serialising an image index");
        self.put_manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index)
    }

    /// Pushes a small linux/amd64 image (OCI manifest) as `repo:tag` with these manifest
    /// `annotations` and config `labels` (as `docker buildx build --annotation manifest:…` and
    /// `--label` write them); returns the manifest digest. Other annotations or labels give another
    /// digest under the same tag (a re-pushed image).
    pub fn push_annotated(
        &self,
        repo: &str,
        tag: &str,
        annotations: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) -> String {
        let format = ManifestFormat::Oci;
        let content = format!("{repo}:{tag}");
        let manifest = self.push_labelled_image(repo, &content, "linux", "amd64", format, labels);
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&manifest).expect("reading back a manifest");
        if !annotations.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> = annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            manifest["annotations"] = serde_json::Value::Object(map);
        }
        let manifest = serde_json::to_vec(&manifest).expect("serialising a manifest");
        self.put_manifest(repo, tag, format.media_type(), &manifest)
    }

    /// The requests the registry served so far, as `METHOD /path?query` in order (its access log).
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self._dir.path().join("registry.log"))
            .expect("reading the registry log");
        log.lines()
            .filter_map(|line| {
                let request = line.split('"').nth(1)?;
                let (method, rest) = request.split_once(' ')?;
                let (target, protocol) = rest.rsplit_once(' ')?;
                protocol
                    .starts_with("HTTP/")
                    .then(|| format!("{method} {target}"))
            })
            .collect()
    }

    /// Uploads the layer and config blobs of a one-file image; returns its manifest bytes.
    fn push_platform_image(
        &self,
        repo: &str,
        content: &str,
        os: &str,
        arch: &str,
        format: ManifestFormat,
    ) -> Vec<u8> {
        self.push_labelled_image(repo, content, os, arch, format, &[])
    }

    /// [`Registry::push_platform_image`] with extra config labels.
    fn push_labelled_image(
        &self,
        repo: &str,
        content: &str,
        os: &str,
        arch: &str,
        format: ManifestFormat,
        labels: &[(&str, &str)],
    ) -> Vec<u8> {
        let tar = archive::tar(&[Entry {
            path: "image.txt",
            content: content.as_bytes(),
            mode: 0o644,
        }]);
        let layer = archive::gzip(&tar);
        let mut all_labels = serde_json::Map::new();
        all_labels.insert("org.opencontainers.image.title".into(), json!(content));
        for (k, v) in labels {
            all_labels.insert((*k).to_owned(), json!(v));
        }
        let config = json!({
            "architecture": arch,
            "os": os,
            "config": {"Labels": all_labels},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(&tar)]},
        });
        let config = serde_json::to_vec(&config).expect("serialising an image config");
        self.upload_blob(repo, &layer);
        self.upload_blob(repo, &config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": format.media_type(),
            "config": {"mediaType": format.config_media_type(), "digest": digest_of(&config), "size": config.len()},
            "layers": [{"mediaType": format.layer_media_type(), "digest": digest_of(&layer), "size": layer.len()}],
        });
        serde_json::to_vec(&manifest).expect("serialising a manifest")
    }

    /// Monolithic blob upload: `POST /v2/<repo>/blobs/uploads/`, then `PUT <location>&digest=…`.
    fn upload_blob(&self, repo: &str, blob: &[u8]) {
        let started = self.call(
            repo,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            b"",
            202,
        );
        let location = started
            .header("location")
            .unwrap_or_else(|| panic!("blob upload for {repo} answered without a Location"));
        let location = location.strip_prefix(&self.url()).unwrap_or(location);
        let separator = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{separator}digest={}", digest_of(blob));
        self.call(
            repo,
            "PUT",
            &target,
            &[("Content-Type", "application/octet-stream")],
            blob,
            201,
        );
    }

    /// `PUT /v2/<repo>/manifests/<reference>`; returns the digest the registry computed.
    fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> String {
        let response = self.call(
            repo,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            manifest,
            201,
        );
        let digest = response
            .header("docker-content-digest")
            .expect("manifest PUT answered without Docker-Content-Digest")
            .to_owned();
        assert_eq!(
            digest,
            digest_of(manifest),
            "the registry digest differs from ours"
        );
        digest
    }

    /// One authenticated request about `repo` that must answer `expected`. Basic credentials go
    /// with every request of an htpasswd registry; with token auth, a `pull,push` token for `repo`
    /// is first fetched from the token server with the basic credentials (sending a body without
    /// it would meet a `401` and a reset connection).
    /// The digest of the manifest `repo:reference` (a tag or digest), `None` when absent.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Option<String> {
        let accept = [
            ManifestFormat::Oci.media_type(),
            ManifestFormat::DockerV2.media_type(),
            "application/vnd.oci.image.index.v1+json",
        ]
        .join(", ");
        let target = format!("/v2/{repo}/manifests/{reference}");
        let response = self.request(repo, "HEAD", &target, &[("Accept", &accept)], b"");
        match response.status {
            200 => response.header("docker-content-digest").map(str::to_owned),
            404 => None,
            status => panic!("HEAD {target} on the registry: HTTP {status}"),
        }
    }

    fn call(
        &self,
        repo: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        expected: u16,
    ) -> Response {
        let response = self.request(repo, method, target, headers, body);
        assert_eq!(
            response.status,
            expected,
            "{method} {target} on the registry: {}",
            String::from_utf8_lossy(&response.body)
        );
        response
    }

    /// One request with the registry's credentials (a token from its token server, or basic).
    fn request(
        &self,
        repo: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let basic = self.credentials.as_ref().map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        });
        let authorization = match (&self.auth, basic) {
            (Auth::Token(token), Some(basic)) => {
                Some(format!("Bearer {}", fetch_token(token, repo, &basic)))
            }
            (Auth::Htpasswd, basic) => basic,
            _ => None,
        };
        let mut all_headers = headers.to_vec();
        if let Some(authorization) = &authorization {
            all_headers.push(("Authorization", authorization));
        }
        http(self.addr, method, target, &all_headers, body)
            .unwrap_or_else(|err| panic!("{method} {target} on the registry: {err}"))
    }
}

/// A `pull,push` token for `repo` from the token server, authenticated with `basic`.
fn fetch_token(token: &TokenServer, repo: &str, basic: &str) -> String {
    let target = format!(
        "/token?service={}&scope=repository:{repo}:pull,push",
        token::SERVICE
    );
    let response = http(
        token.addr(),
        "GET",
        &target,
        &[("Authorization", basic)],
        b"",
    )
    .unwrap_or_else(|err| panic!("GET {target} on the token server: {err}"));
    assert_eq!(response.status, 200, "GET {target} on the token server");
    let answer: serde_json::Value =
        serde_json::from_slice(&response.body).expect("token server answered JSON");
    answer["token"]
        .as_str()
        .expect("token server answer has a token")
        .to_owned()
}

fn registry_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("registry-")
        .tempdir()
        .expect("creating a temporary directory for the registry")
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET /v2/` answers 200 or 401 (auth required), or the process exits.
fn wait_ready(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("docker-registry exited early ({status})"));
        }
        match http(addr, "GET", "/v2/", &[], b"") {
            Ok(response) if matches!(response.status, 200 | 401) => return Ok(()),
            Ok(response) => {
                return Err(format!("GET /v2/ answered {}", response.status));
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => return Err(format!("GET /v2/ failed for {READY_TIMEOUT:?}: {err}")),
        }
    }
}

/// Writes the registry configuration (and htpasswd file) into `dir`; returns the config path.
fn write_config(
    dir: &std::path::Path,
    addr: SocketAddr,
    credentials: Option<&(String, String)>,
    auth: &Auth,
) -> PathBuf {
    let storage = dir.join("storage");
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n  secret: fink-tools-test-registry\n",
        storage = storage.display(),
    );
    if let (Auth::Htpasswd, Some((user, password))) = (auth, credentials) {
        let htpasswd = dir.join("htpasswd");
        let hash = bcrypt::hash(password, 4).expect("bcrypt-hashing the registry password");
        std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("writing the htpasswd file");
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: fink-tools-test\n    path: {}\n",
            htpasswd.display()
        ));
    }
    if let Auth::Token(token) = auth {
        config.push_str(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            token.realm(),
            token::SERVICE,
            token::ISSUER,
            token.certificate().display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, config).expect("writing the registry configuration");
    path
}

/// `sha256:<hex>` of `bytes`.
fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A response of the small HTTP/1.1 client below.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request over a new connection (`Connection: close`), enough for the registry API.
fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response"))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body)?;
    }
    Some(response)
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
