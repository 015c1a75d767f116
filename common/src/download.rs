//! Verified downloads of release artifacts (kind, kubectl, helm, CLIs) and manifests.
//!
//! One shared HTTP client (rustls with the `ring` provider, redirects followed, plain HTTP refused
//! except to loopback). Every artifact is checked against a sha256 digest, pinned or taken from the
//! published checksum file, and the check fails closed: a mismatch or a checksum file without an
//! entry for the artifact is an error. HTTP errors and bodies shorter than their `Content-Length`
//! are failures, and so are bodies larger than the maximum size ([`DEFAULT_MAX_SIZE`], 512 MiB, per
//! download) and a server that sends nothing for the read timeout (60 s). Nothing is held in memory
//! but manifests: installs stream to a temporary file next to the destination and are renamed into
//! place (mode 0755) only once verified, their sync to disk started while the body arrives (a
//! helper thread syncs every 8 MiB); [`Downloader::fetch_file`] streams to an anonymous temporary
//! file. Verified artifacts are cached (kernel-side copies, not synced: a cached file is checked on every use) under
//! `$XDG_CACHE_HOME/fink-tools/downloads` (or `~/.cache/fink-tools/downloads`), keyed by URL and
//! digest.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::duration::format_duration;
use crate::fs::{AtomicFile, FsError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between two chunks of a response before the transfer is abandoned (default).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body one download may have unless [`Downloader::with_max_size`] says otherwise: ten
/// times the largest client binary ktbx installs (argocd, about 50 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 512 * 1024 * 1024;
const MAX_REDIRECTS: usize = 10;

/// How a downloaded artifact is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// A pinned sha256 digest (hex).
    Sha256(String),
    /// A published checksum file: a bare digest (`.sha256`), a `<digest>  <name>` line
    /// (`.sha256sum`) or a list of such lines (`checksums.txt`), where the entry for the
    /// artifact's file name is used.
    SumsFile {
        /// The checksum file's URL.
        url: String,
    },
    /// No verification, because upstream publishes no checksum; logged as a warning.
    Unverified {
        /// Why, such as `upstream publishes no checksums`.
        reason: &'static str,
    },
}

/// A download that failed or could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The URL cannot be used.
    #[error("invalid download URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request failed (connection, TLS, redirect policy); the cause is the source.
    #[error("cannot download {url}")]
    Request {
        /// The URL.
        url: String,
        /// The client error (without the URL, which the message names).
        #[source]
        source: reqwest::Error,
    },
    /// The server sent nothing for the read timeout (the headers or the next part of the body).
    #[error("cannot download {url}: the server sent nothing for {} (read timeout)", format_duration(*.timeout))]
    Timeout {
        /// The URL.
        url: String,
        /// The read timeout.
        timeout: Duration,
    },
    /// The body is larger than the maximum size.
    #[error("cannot download {url}: it is larger than the maximum download size of {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The maximum in bytes.
        max: u64,
    },
    /// The server answered with an error status.
    #[error("cannot download {url}: HTTP {status}")]
    Status {
        /// The URL (after redirects).
        url: String,
        /// The status, such as `404 Not Found`.
        status: reqwest::StatusCode,
    },
    /// The body ended before its announced length.
    #[error("download of {url} was truncated: received {received} of {expected} bytes")]
    Truncated {
        /// The URL.
        url: String,
        /// `Content-Length`.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The artifact does not match its checksum.
    #[error("checksum mismatch for {url}: expected sha256 {expected}, got {actual}")]
    ChecksumMismatch {
        /// The artifact's URL.
        url: String,
        /// The published or pinned digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The checksum file has no entry for the artifact.
    #[error("checksum file {sums_url} has no entry for {file_name}")]
    NoChecksumEntry {
        /// The checksum file's URL.
        sums_url: String,
        /// The artifact's file name.
        file_name: String,
    },
    /// A pinned or published digest is not 64 hex digits.
    #[error("invalid sha256 digest {digest:?} (from {origin}): expected 64 hexadecimal digits")]
    BadDigest {
        /// The digest as found.
        digest: String,
        /// Where it came from.
        origin: String,
    },
    /// A text download is not UTF-8.
    #[error("{url} is not UTF-8 text")]
    NotText {
        /// The URL.
        url: String,
    },
    /// Writing the artifact failed.
    #[error(transparent)]
    Write(#[from] FsError),
}

/// An error and its causes, `: `-separated (for log lines of errors that stay out of `anyhow`).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Downloads and verifies artifacts. Create one per process and share it (clones share the
/// connection pool).
#[derive(Debug, Clone)]
pub struct Downloader {
    client: reqwest::Client,
    cache_dir: Option<PathBuf>,
    progress: bool,
    max_size: u64,
    read_timeout: Duration,
}

/// A new HTTP client with the workspace's settings: rustls with the `ring` provider and the
/// platform's trust store, `fink-tools/<version>` user agent, 30 s connect and 60 s read timeouts,
/// up to 10 redirects of which none may lead to plain HTTP outside loopback. Clones share one
/// connection pool: build one per tokio runtime and pass clones around (a pool must not outlive
/// the runtime its connections were opened on, so this is deliberately not a process-wide static).
/// A [`Downloader`] holds one ([`Downloader::http_client`]).
pub fn http_client() -> Result<reqwest::Client, DownloadError> {
    client_with_read_timeout(READ_TIMEOUT)
}

fn client_with_read_timeout(read_timeout: Duration) -> Result<reqwest::Client, DownloadError> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("fink-tools/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Err(reason) = check_scheme(attempt.url()) {
                let message = format!("refusing redirect to {}: {reason}", attempt.url());
                attempt.error(message)
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(DownloadError::Client)
}

impl Downloader {
    /// A downloader with its own [`http_client`] and the default cache directory; `progress`
    /// draws a bar on a terminal.
    pub fn new(progress: bool) -> Result<Self, DownloadError> {
        let cache_dir =
            default_cache_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"));
        Ok(Downloader {
            client: http_client()?,
            cache_dir,
            progress,
            max_size: DEFAULT_MAX_SIZE,
            read_timeout: READ_TIMEOUT,
        })
    }

    /// Fails downloads whose body is larger than `max` bytes (default [`DEFAULT_MAX_SIZE`]).
    pub fn with_max_size(mut self, max: u64) -> Self {
        self.max_size = max;
        self
    }

    /// The maximum size of one download in bytes.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Abandons a transfer when the server sends nothing for `timeout` (default [`READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Result<Self, DownloadError> {
        self.client = client_with_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(self)
    }

    /// The HTTP client (for other requests with the same settings, such as S3 calls).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Uses `dir` as the download cache, or no cache with `None`.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Downloads `url` into an anonymous temporary file (or takes it from the cache), verifies it
    /// and returns the file, positioned at its start.
    pub async fn fetch_file(&self, url: &str, checksum: &Checksum) -> Result<File, DownloadError> {
        let expected = self.expected_digest(url, checksum).await?;
        if let Some(digest) = &expected
            && let Some(cached) = self.cached(url, digest)
            && let Ok(file) = File::open(&cached)
        {
            tracing::info!(%url, cache = %cached.display(), "using cached download");
            return Ok(file);
        }
        let temp_dir = std::env::temp_dir();
        let temp_error = |action, source| FsError {
            action,
            path: temp_dir.clone(),
            source,
        };
        let mut file =
            tempfile::tempfile().map_err(|e| temp_error("create a temporary file in", e))?;
        let actual = self.stream(url, &mut file).await?;
        verify(url, expected.as_deref(), &actual)?;
        if let Some(digest) = &expected {
            self.store(url, digest, |cache_file| {
                file.rewind()?;
                std::io::copy(&mut file, cache_file)
            });
        }
        file.rewind()
            .map_err(|e| temp_error("read a temporary file in", e))?;
        Ok(file)
    }

    /// Downloads `url`, verifies it and installs it atomically at `dest` with mode 0755. The body
    /// is streamed to a temporary file next to `dest` (created with its parent directories), which
    /// replaces `dest` only once verified.
    pub async fn install(
        &self,
        url: &str,
        checksum: &Checksum,
        dest: &Path,
    ) -> Result<(), DownloadError> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| FsError {
                action: "create the directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let expected = self.expected_digest(url, checksum).await?;
        if let Some(digest) = &expected
            && let Some(cached) = self.cached(url, digest)
        {
            let mut file = AtomicFile::create(dest)?;
            if copy_file(&cached, file.file_mut()).is_ok() {
                tracing::info!(%url, cache = %cached.display(), "using cached download");
                return Ok(file.commit(0o755)?);
            }
        }
        let mut file = AtomicFile::create(dest)?;
        let mut behind = WriteBehind::new(file.file_mut());
        let actual = self.stream(url, &mut behind).await?;
        behind.finish().map_err(|source| FsError {
            action: "flush to disk",
            path: dest.to_path_buf(),
            source,
        })?;
        verify(url, expected.as_deref(), &actual)?;
        if let Some(digest) = &expected {
            self.store(url, digest, |cache_file| {
                copy_file(file.temp_path(), cache_file)
            });
        }
        Ok(file.commit(0o755)?)
    }

    /// Downloads a text resource (a manifest) without checksum verification; TLS, HTTP status
    /// and length are still checked.
    pub async fn fetch_text(&self, url: &str) -> Result<String, DownloadError> {
        let mut bytes = Vec::new();
        self.stream(url, &mut bytes).await?;
        String::from_utf8(bytes).map_err(|_| DownloadError::NotText {
            url: url.to_string(),
        })
    }

    /// The digest to check against: pinned, or read from the checksum file.
    async fn expected_digest(
        &self,
        url: &str,
        checksum: &Checksum,
    ) -> Result<Option<String>, DownloadError> {
        match checksum {
            Checksum::Sha256(digest) => Ok(Some(normalise_digest(digest, "the pinned checksum")?)),
            Checksum::SumsFile { url: sums_url } => {
                let text = self.fetch_text(sums_url).await?;
                let file_name = file_name_of(url)?;
                let digest = digest_from_sums(&text, &file_name).ok_or_else(|| {
                    DownloadError::NoChecksumEntry {
                        sums_url: sums_url.clone(),
                        file_name: file_name.clone(),
                    }
                })?;
                Ok(Some(normalise_digest(&digest, sums_url)?))
            }
            Checksum::Unverified { reason } => {
                tracing::warn!("not verifying {url}: {reason}");
                Ok(None)
            }
        }
    }

    /// GETs `url` and writes the body to `out`, returning its sha256.
    async fn stream(&self, url: &str, out: &mut impl Write) -> Result<String, DownloadError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| DownloadError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        check_scheme(&parsed).map_err(|reason| DownloadError::InvalidUrl {
            url: url.to_string(),
            reason,
        })?;
        tracing::info!(%url, "downloading");
        let request_error = |source: reqwest::Error| {
            if source.is_timeout() && !source.is_connect() {
                DownloadError::Timeout {
                    url: url.to_string(),
                    timeout: self.read_timeout,
                }
            } else {
                DownloadError::Request {
                    url: url.to_string(),
                    source: source.without_url(),
                }
            }
        };
        let response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(DownloadError::Status {
                url: response.url().to_string(),
                status,
            });
        }
        let expected_len = response.content_length();
        let too_large = || DownloadError::TooLarge {
            url: url.to_string(),
            max: self.max_size,
        };
        if expected_len.is_some_and(|len| len > self.max_size) {
            return Err(too_large());
        }
        let bar = ClearOnDrop(crate::progress::bytes_bar(
            expected_len,
            &file_name_of(url).unwrap_or_default(),
            self.progress,
        ));
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut body = response.bytes_stream();
        let truncated = |received| DownloadError::Truncated {
            url: url.to_string(),
            expected: expected_len.unwrap_or_default(),
            received,
        };
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(source) if source.is_timeout() => return Err(request_error(source)),
                Err(_) if expected_len.is_some_and(|len| received < len) => {
                    return Err(truncated(received));
                }
                Err(source) => return Err(request_error(source)),
            };
            if received + chunk.len() as u64 > self.max_size {
                return Err(too_large());
            }
            hasher.update(&chunk);
            out.write_all(&chunk)
                .map_err(|source| write_error(url, source))?;
            received += chunk.len() as u64;
            bar.0.set_position(received);
        }
        if expected_len.is_some_and(|len| received != len) {
            return Err(truncated(received));
        }
        Ok(hex::encode(hasher.finalize()))
    }

    fn cache_path(&self, url: &str, digest: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let key = hex::encode(Sha256::digest(format!("{url}\n{digest}").as_bytes()));
        let name = file_name_of(url).ok()?;
        Some(dir.join("downloads").join(key).join(name))
    }

    /// The cached file for `url` and `digest`, if present and still matching the digest.
    fn cached(&self, url: &str, digest: &str) -> Option<PathBuf> {
        let path = self.cache_path(url, digest)?;
        let actual = sha256_file(&path).ok()?;
        if actual == digest {
            Some(path)
        } else {
            tracing::warn!(cache = %path.display(), "cached download is corrupt, downloading again");
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Stores a verified artifact in the cache, written by `write` (a kernel-side copy); failures
    /// only warn (the cache is an optimisation). The cache file is not synced to disk: every use
    /// checks its digest first ([`Downloader::cached`]), so one torn by a crash is downloaded again.
    fn store(
        &self,
        url: &str,
        digest: &str,
        write: impl FnOnce(&mut File) -> std::io::Result<u64>,
    ) {
        let Some(path) = self.cache_path(url, digest) else {
            return;
        };
        let fs_error = |action, path: &Path, source| FsError {
            action,
            path: path.to_path_buf(),
            source,
        };
        let result = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir)
                .map_err(|e| fs_error("create the directory", dir, e))
                .and_then(|()| AtomicFile::create(&path))
                .and_then(|mut cache_file| {
                    write(cache_file.file_mut()).map_err(|e| fs_error("write", &path, e))?;
                    cache_file.commit_unsynced(0o644)
                }),
            None => Ok(()),
        };
        if let Err(err) = result {
            tracing::warn!("cannot cache the download of {url}: {}", error_chain(&err));
        }
    }
}

/// Bytes written between two early syncs of a download being installed.
const WRITE_BEHIND: u64 = 8 << 20;

/// A writer to a file that, every [`WRITE_BEHIND`] bytes, has a helper thread flush what was
/// written so far to disk while the download goes on, so the sync before the install's rename
/// has only the tail left to write. [`WriteBehind::finish`] waits for the helper and returns its
/// error, if any (an error seen by the early sync is not reported again by the final one).
struct WriteBehind<'a> {
    file: &'a mut File,
    unsynced: u64,
    syncing: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    failed: Option<std::io::Error>,
}

impl<'a> WriteBehind<'a> {
    fn new(file: &'a mut File) -> Self {
        WriteBehind {
            file,
            unsynced: 0,
            syncing: None,
            failed: None,
        }
    }

    /// Waits for the sync in flight; the first error of any early sync.
    fn finish(mut self) -> std::io::Result<()> {
        self.join();
        self.failed.take().map_or(Ok(()), Err)
    }

    fn join(&mut self) {
        if let Some(handle) = self.syncing.take() {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the sync thread panicked")));
            if let Err(e) = result {
                self.failed.get_or_insert(e);
            }
        }
    }

    /// Starts an early sync unless one is still running.
    fn sync_behind(&mut self) {
        if self.syncing.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.join();
        if let Ok(file) = self.file.try_clone() {
            self.syncing = Some(std::thread::spawn(move || file.sync_data()));
            self.unsynced = 0;
        }
    }
}

impl Write for WriteBehind<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.unsynced += written as u64;
        if self.unsynced >= WRITE_BEHIND {
            self.sync_behind();
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for WriteBehind<'_> {
    fn drop(&mut self) {
        self.join();
    }
}

/// Removes a progress bar from the terminal however the transfer ends.
struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn write_error(url: &str, source: std::io::Error) -> DownloadError {
    DownloadError::Write(FsError {
        action: "write the download of",
        path: PathBuf::from(url),
        source,
    })
}

/// Plain HTTP is only allowed to loopback hosts (tests, local mirrors).
fn check_scheme(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("plain HTTP is not allowed, use https".to_string()),
        other => Err(format!("unsupported scheme {other:?}, use https")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn verify(url: &str, expected: Option<&str>, actual: &str) -> Result<(), DownloadError> {
    match expected {
        Some(expected) if expected != actual => Err(DownloadError::ChecksumMismatch {
            url: url.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

fn normalise_digest(digest: &str, origin: &str) -> Result<String, DownloadError> {
    let digest = digest.trim().to_ascii_lowercase();
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(digest)
    } else {
        Err(DownloadError::BadDigest {
            digest,
            origin: origin.to_string(),
        })
    }
}

/// The last path segment of `url`, the artifact's file name.
fn file_name_of(url: &str) -> Result<String, DownloadError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| DownloadError::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .ok_or_else(|| DownloadError::InvalidUrl {
            url: url.to_string(),
            reason: "it has no file name".to_string(),
        })
}

/// Finds the digest for `file_name` in a checksum file: a lone digest, or `<digest>  <name>` lines
/// (`*<name>` for binary mode, optionally with a directory prefix).
fn digest_from_sums(text: &str, file_name: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if let [only] = lines.as_slice()
        && !only.contains(char::is_whitespace)
    {
        return Some(only.to_string());
    }
    lines.iter().find_map(|line| {
        let (digest, name) = line.split_once(char::is_whitespace)?;
        let name = name.trim_start().trim_start_matches('*');
        let base = name.rsplit('/').next().unwrap_or(name);
        (base == file_name).then(|| digest.to_string())
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies `from` into `to` (in the kernel: both are files).
fn copy_file(from: &Path, to: &mut File) -> std::io::Result<u64> {
    std::io::copy(&mut File::open(from)?, to)
}

/// `~/.cache/fink-tools` or `$XDG_CACHE_HOME/fink-tools` (an XDG path must be absolute).
fn default_cache_dir(
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let xdg = xdg.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"))
    })?;
    Some(base.join("fink-tools"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0c5d39d0e1b0f1d4a6c2c3b6f8b1f0e0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4";

    #[test]
    fn sums_file_formats() {
        assert_eq!(
            digest_from_sums(&format!("{DIGEST}\n"), "kubectl").as_deref(),
            Some(DIGEST)
        );
        assert_eq!(
            digest_from_sums(&format!("{DIGEST}  kind-linux-amd64\n"), "kind-linux-amd64")
                .as_deref(),
            Some(DIGEST)
        );
        let list = format!(
            "# checksums\n{}  helm-v3.16.2-darwin-amd64.tar.gz\n{DIGEST} *dist/helm-v3.16.2-linux-amd64.tar.gz\n",
            "f".repeat(64)
        );
        assert_eq!(
            digest_from_sums(&list, "helm-v3.16.2-linux-amd64.tar.gz").as_deref(),
            Some(DIGEST)
        );
        assert_eq!(
            digest_from_sums(&list, "helm-v3.16.2-linux-arm64.tar.gz"),
            None
        );
        // A single named entry for another file is not taken for this one.
        assert_eq!(
            digest_from_sums(
                &format!("{DIGEST}  kind-darwin-arm64\n"),
                "kind-linux-amd64"
            ),
            None
        );
        assert_eq!(digest_from_sums("", "kind"), None);
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        assert_eq!(
            normalise_digest(&format!(" {}\n", DIGEST.to_uppercase()), "pin").unwrap(),
            DIGEST
        );
        let err = normalise_digest("abc", "the pinned checksum").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sha256 digest \"abc\" (from the pinned checksum): expected 64 hexadecimal digits"
        );
        assert!(normalise_digest(&"g".repeat(64), "x").is_err());
    }

    #[test]
    fn mismatch_names_expected_and_actual() {
        assert!(verify("u", None, DIGEST).is_ok());
        assert!(verify("u", Some(DIGEST), DIGEST).is_ok());
        let err = verify("https://x/kind", Some(DIGEST), &"0".repeat(64)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "checksum mismatch for https://x/kind: expected sha256 {DIGEST}, got {}",
                "0".repeat(64)
            )
        );
    }

    #[test]
    fn file_names_come_from_the_url_path() {
        assert_eq!(
            file_name_of("https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl").unwrap(),
            "kubectl"
        );
        assert_eq!(
            file_name_of("https://x/a/kind-linux-amd64?token=1").unwrap(),
            "kind-linux-amd64"
        );
        assert!(file_name_of("https://x/").is_err());
        assert!(file_name_of("not a url").is_err());
    }

    #[test]
    fn only_https_or_loopback_http() {
        let check = |u: &str| check_scheme(&reqwest::Url::parse(u).unwrap());
        assert!(check("https://github.com/kind").is_ok());
        assert!(check("http://127.0.0.1:8080/kind").is_ok());
        assert!(check("http://localhost/kind").is_ok());
        assert!(check("http://[::1]:80/kind").is_ok());
        assert_eq!(
            check("http://github.com/kind").unwrap_err(),
            "plain HTTP is not allowed, use https"
        );
        assert!(check("ftp://127.0.0.1/kind").is_err());
        assert!(check("file:///etc/passwd").is_err());
    }

    #[test]
    fn cache_dir_follows_xdg() {
        assert_eq!(
            default_cache_dir(Some("/xdg".into()), Some("/home/u".into())),
            Some(PathBuf::from("/xdg/fink-tools"))
        );
        assert_eq!(
            default_cache_dir(Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/fink-tools"))
        );
        assert_eq!(
            default_cache_dir(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/fink-tools"))
        );
        assert_eq!(default_cache_dir(None, None), None);
    }

    #[test]
    fn write_behind_syncs_early_and_writes_everything() {
        let mut file = tempfile::tempfile().unwrap();
        let mut behind = WriteBehind::new(&mut file);
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..(WRITE_BEHIND >> 20) - 1 {
            behind.write_all(&chunk).unwrap();
        }
        assert!(behind.syncing.is_none());
        behind.write_all(&chunk).unwrap();
        assert!(
            behind.syncing.is_some(),
            "a sync starts at {WRITE_BEHIND} bytes"
        );
        behind.write_all(b"tail").unwrap();
        behind.finish().unwrap();
        assert_eq!(file.metadata().unwrap().len(), WRITE_BEHIND + 4);
    }

    #[test]
    fn cache_keys_differ_by_url_and_digest() {
        let d = Downloader::new(false)
            .unwrap()
            .with_cache_dir(Some(PathBuf::from("/c")));
        let a = d.cache_path("https://x/v1/kind", DIGEST).unwrap();
        assert!(
            a.starts_with("/c/downloads") && a.ends_with("kind"),
            "{}",
            a.display()
        );
        assert_ne!(a, d.cache_path("https://x/v2/kind", DIGEST).unwrap());
        assert_ne!(
            a,
            d.cache_path("https://x/v1/kind", &"0".repeat(64)).unwrap()
        );
        assert_eq!(
            d.with_cache_dir(None)
                .cache_path("https://x/v1/kind", DIGEST),
            None
        );
    }
}
