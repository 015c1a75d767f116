//! Downloads against the loopback release server: verification, faults, redirects and the cache.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::download::{Checksum, DownloadError, Downloader};
use harness::release::{Fault, ReleaseServer, sha256_hex};

const KIND: &str = "/kind/v0.31.0/kind-linux-amd64";

/// `fetch_file`, read back into memory.
trait FetchBytes {
    async fn fetch(&self, url: &str, checksum: &Checksum) -> Result<Vec<u8>, DownloadError>;
}

impl FetchBytes for Downloader {
    async fn fetch(&self, url: &str, checksum: &Checksum) -> Result<Vec<u8>, DownloadError> {
        let mut file = self.fetch_file(url, checksum).await?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        Ok(bytes)
    }
}

fn kind_bytes() -> Vec<u8> {
    (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

struct Setup {
    server: ReleaseServer,
    dir: tempfile::TempDir,
    downloader: Downloader,
}

impl Setup {
    fn new() -> Self {
        let server = ReleaseServer::start();
        server.add_file(KIND, kind_bytes());
        let dir = tempfile::tempdir().unwrap();
        let downloader = Downloader::new(false)
            .unwrap()
            .with_cache_dir(Some(dir.path().join("cache")));
        Setup {
            server,
            dir,
            downloader,
        }
    }

    fn dest(&self) -> PathBuf {
        self.dir.path().join("bin/kind")
    }

    fn sums(&self, path: &str) -> Checksum {
        Checksum::SumsFile {
            url: self.server.url(path),
        }
    }

    fn requests_of(&self, path: &str) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.as_str() == path)
            .count()
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn install_verifies_against_the_sha256sum_file_and_sets_mode_0755() {
    let s = Setup::new();
    let sums = s.sums(&format!("{KIND}.sha256sum"));
    s.downloader
        .install(&s.server.url(KIND), &sums, &s.dest())
        .await
        .unwrap();
    assert_eq!(std::fs::read(s.dest()).unwrap(), kind_bytes());
    assert_eq!(
        std::fs::metadata(s.dest()).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(entries(&s.dir.path().join("bin")), ["kind"]);
}

#[tokio::test]
async fn bare_sha256_file_and_pinned_digest_are_accepted() {
    let s = Setup::new();
    let bytes = s
        .downloader
        .fetch(&s.server.url(KIND), &s.sums(&format!("{KIND}.sha256")))
        .await
        .unwrap();
    assert_eq!(bytes, kind_bytes());
    let pinned = Checksum::Sha256(sha256_hex(&kind_bytes()).to_uppercase());
    let s = Setup::new();
    assert_eq!(
        s.downloader
            .fetch(&s.server.url(KIND), &pinned)
            .await
            .unwrap(),
        kind_bytes()
    );
}

#[tokio::test]
async fn checksums_list_picks_the_entry_for_the_file() {
    let s = Setup::new();
    let list = format!(
        "{}  helm-v3.16.2-darwin-amd64.tar.gz\n{}  kind-linux-amd64\n",
        "a".repeat(64),
        sha256_hex(&kind_bytes())
    );
    s.server.add_file("/kind/v0.31.0/checksums.txt", list);
    let bytes = s
        .downloader
        .fetch(&s.server.url(KIND), &s.sums("/kind/v0.31.0/checksums.txt"))
        .await
        .unwrap();
    assert_eq!(bytes, kind_bytes());
}

#[tokio::test]
async fn checksums_list_without_an_entry_fails_closed() {
    let s = Setup::new();
    s.server.add_file(
        "/sums.txt",
        format!("{}  kind-darwin-arm64\n", "a".repeat(64)),
    );
    let err = s
        .downloader
        .install(&s.server.url(KIND), &s.sums("/sums.txt"), &s.dest())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::NoChecksumEntry { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "checksum file {} has no entry for kind-linux-amd64",
            s.server.url("/sums.txt")
        )
    );
    assert!(!s.dest().exists());
    assert_eq!(
        s.requests_of(KIND),
        0,
        "the artifact is not even downloaded"
    );
}

#[tokio::test]
async fn published_checksum_mismatch_fails_and_keeps_the_old_binary() {
    let s = Setup::new();
    std::fs::create_dir_all(s.dest().parent().unwrap()).unwrap();
    std::fs::write(s.dest(), "old kind").unwrap();
    s.server.fault(KIND, Fault::WrongChecksum);
    let err = s
        .downloader
        .install(
            &s.server.url(KIND),
            &s.sums(&format!("{KIND}.sha256sum")),
            &s.dest(),
        )
        .await
        .unwrap_err();
    let DownloadError::ChecksumMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(actual, &sha256_hex(&kind_bytes()));
    assert_ne!(expected, actual);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("expected sha256 {expected}, got {actual}")),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(s.dest()).unwrap(), "old kind");
    assert_eq!(
        entries(&s.dir.path().join("bin")),
        ["kind"],
        "no temporary file is left"
    );
}

#[tokio::test]
async fn pinned_checksum_mismatch_fails() {
    let s = Setup::new();
    let pinned = Checksum::Sha256("0".repeat(64));
    let err = s
        .downloader
        .fetch(&s.server.url(KIND), &pinned)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::ChecksumMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn http_404_is_an_error() {
    let s = Setup::new();
    let missing = s.server.url("/kind/v9.9.9/kind-linux-amd64");
    let err = s
        .downloader
        .install(
            &missing,
            &Checksum::Unverified { reason: "test" },
            &s.dest(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot download {missing}: HTTP 404 Not Found")
    );
    assert!(!s.dest().exists());
    // A missing checksum file is an error too, never a silent skip.
    let err = s
        .downloader
        .fetch(&s.server.url(KIND), &s.sums("/nope.sha256sum"))
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::Status { .. }), "{err}");
    s.server.fault(KIND, Fault::Status(500));
    let err = s
        .downloader
        .fetch_text(&s.server.url(KIND))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("HTTP 500 Internal Server Error"),
        "{err}"
    );
}

#[tokio::test]
async fn truncated_body_is_an_error() {
    let s = Setup::new();
    s.server.fault(KIND, Fault::Truncated);
    let err = s
        .downloader
        .install(
            &s.server.url(KIND),
            &Checksum::Unverified { reason: "test" },
            &s.dest(),
        )
        .await
        .unwrap_err();
    let DownloadError::Truncated {
        expected, received, ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(expected, kind_bytes().len() as u64);
    assert!(received < expected);
    assert!(!s.dest().exists());
    assert_eq!(entries(&s.dir.path().join("bin")), Vec::<String>::new());
}

#[tokio::test]
async fn redirects_are_followed() {
    let s = Setup::new();
    s.server.redirect("/latest/kind-linux-amd64", KIND);
    let pinned = Checksum::Sha256(sha256_hex(&kind_bytes()));
    let bytes = s
        .downloader
        .fetch(&s.server.url("/latest/kind-linux-amd64"), &pinned)
        .await
        .unwrap();
    assert_eq!(bytes, kind_bytes());
    assert_eq!(s.requests_of(KIND), 1);
}

#[tokio::test]
async fn redirect_to_plain_http_elsewhere_is_refused() {
    let s = Setup::new();
    s.server
        .redirect("/evil", "http://downloads.example.invalid/kind");
    let err = s
        .downloader
        .fetch_text(&s.server.url("/evil"))
        .await
        .unwrap_err();
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(msg.contains("plain HTTP is not allowed"), "{msg}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let s = Setup::new();
    let err = s
        .downloader
        .fetch_text("http://downloads.example.invalid/kind")
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn cache_hit_skips_the_artifact_download() {
    let s = Setup::new();
    let sums = s.sums(&format!("{KIND}.sha256sum"));
    let url = s.server.url(KIND);
    s.downloader.install(&url, &sums, &s.dest()).await.unwrap();
    std::fs::remove_file(s.dest()).unwrap();
    s.downloader.install(&url, &sums, &s.dest()).await.unwrap();
    assert_eq!(std::fs::read(s.dest()).unwrap(), kind_bytes());
    assert_eq!(
        std::fs::metadata(s.dest()).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(s.downloader.fetch(&url, &sums).await.unwrap(), kind_bytes());
    assert_eq!(s.requests_of(KIND), 1, "{:?}", s.server.requests());
    // Another digest for the same URL is another cache entry.
    let err = s
        .downloader
        .fetch(&url, &Checksum::Sha256("1".repeat(64)))
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::ChecksumMismatch { .. }));
    assert_eq!(s.requests_of(KIND), 2);
}

#[tokio::test]
async fn corrupt_cache_entry_is_downloaded_again() {
    let s = Setup::new();
    let pinned = Checksum::Sha256(sha256_hex(&kind_bytes()));
    let url = s.server.url(KIND);
    s.downloader.fetch(&url, &pinned).await.unwrap();
    let cached: Vec<PathBuf> = walk(&s.dir.path().join("cache"));
    assert_eq!(cached.len(), 1, "{cached:?}");
    std::fs::write(&cached[0], "tampered").unwrap();
    assert_eq!(
        s.downloader.fetch(&url, &pinned).await.unwrap(),
        kind_bytes()
    );
    assert_eq!(s.requests_of(KIND), 2);
    assert_eq!(std::fs::read(&cached[0]).unwrap(), kind_bytes());
}

#[tokio::test]
async fn unverified_downloads_are_not_cached() {
    let s = Setup::new();
    let unverified = Checksum::Unverified {
        reason: "upstream publishes no checksums",
    };
    let url = s.server.url(KIND);
    s.downloader.fetch(&url, &unverified).await.unwrap();
    s.downloader.fetch(&url, &unverified).await.unwrap();
    assert_eq!(s.requests_of(KIND), 2);
    assert!(walk(&s.dir.path().join("cache")).is_empty());
}

#[tokio::test]
async fn fetch_text_returns_manifests_and_rejects_binary() {
    let s = Setup::new();
    s.server
        .add_file("/install.yaml", "apiVersion: v1\nkind: Namespace\n");
    assert_eq!(
        s.downloader
            .fetch_text(&s.server.url("/install.yaml"))
            .await
            .unwrap(),
        "apiVersion: v1\nkind: Namespace\n"
    );
    s.server.add_file("/bin", vec![0xff, 0xfe, 0x00]);
    let err = s
        .downloader
        .fetch_text(&s.server.url("/bin"))
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::NotText { .. }), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test]
async fn the_http_client_follows_the_same_rules() {
    let s = Setup::new();
    s.server
        .redirect("/evil", "http://downloads.example.invalid/kind");
    let client = s.downloader.http_client();
    let response = client.get(s.server.url(KIND)).send().await.unwrap();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        kind_bytes().as_slice()
    );
    let err = client.get(s.server.url("/evil")).send().await.unwrap_err();
    assert!(err.is_redirect(), "{err}");
    let fresh = common::download::http_client().unwrap();
    let err = fresh.get(s.server.url("/evil")).send().await.unwrap_err();
    assert!(
        err.to_string().contains("error following redirect"),
        "{err}"
    );
}

#[tokio::test]
async fn an_endless_body_stops_at_the_maximum_size() {
    let s = Setup::new();
    s.server.add_file("/endless", Vec::new());
    s.server.fault("/endless", Fault::Endless);
    let downloader = s.downloader.clone().with_max_size(1 << 20);
    let url = s.server.url("/endless");
    let unverified = Checksum::Unverified { reason: "test" };
    let err = downloader.fetch_file(&url, &unverified).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot download {url}: it is larger than the maximum download size of 1048576 bytes"
        )
    );
    let err = downloader
        .install(&url, &unverified, &s.dest())
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
    assert_eq!(entries(&s.dir.path().join("bin")), Vec::<String>::new());
    // An announced length above the maximum fails before the body is read.
    let err = s
        .downloader
        .clone()
        .with_max_size(1000)
        .fetch_file(&s.server.url(KIND), &unverified)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::TooLarge { max: 1000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_body_is_a_read_timeout_naming_the_url() {
    let s = Setup::new();
    s.server
        .fault(KIND, Fault::Slow(std::time::Duration::from_secs(3600)));
    let downloader = s
        .downloader
        .clone()
        .with_read_timeout(std::time::Duration::from_millis(300))
        .unwrap();
    let url = s.server.url(KIND);
    let err = downloader
        .fetch_file(&url, &Checksum::Unverified { reason: "test" })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot download {url}: the server sent nothing for 300ms (read timeout)")
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_url_once() {
    let s = Setup::new();
    let url = format!("http://127.0.0.1:{}/kind", harness::net::free_port());
    let err = anyhow::Error::from(
        s.downloader
            .fetch_file(&url, &Checksum::Unverified { reason: "test" })
            .await
            .unwrap_err(),
    );
    let text = format!("{err:#}");
    assert_eq!(text.matches(url.as_str()).count(), 1, "{text}");
    assert_eq!(text.matches("Connection refused").count(), 1, "{text}");
}
