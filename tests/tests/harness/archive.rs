//! Release archives checked with the system `tar`, served by the release server.

use std::process::Command;

use harness::archive::{Entry, tar_gz};
use harness::release::ReleaseServer;

#[tokio::test]
async fn tar_gz_extracts_with_tar_keeping_modes_and_is_reproducible() {
    let entries = [
        Entry {
            path: "linux-amd64/helm",
            content: b"#!fake helm\n",
            mode: 0o755,
        },
        Entry {
            path: "linux-amd64/LICENSE",
            content: b"Apache-2.0\n",
            mode: 0o644,
        },
    ];
    let archive = tar_gz(&entries);
    assert_eq!(archive, tar_gz(&entries), "same entries, same bytes");
    let server = ReleaseServer::start();
    server.add_file("/helm-v3.16.2-linux-amd64.tar.gz", archive);

    let dir = tempfile::tempdir().unwrap();
    let downloaded = dir.path().join("helm.tar.gz");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = reqwest::get(server.url("/helm-v3.16.2-linux-amd64.tar.gz"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&downloaded, body).unwrap();

    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&downloaded)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let helm = dir.path().join("linux-amd64/helm");
    assert_eq!(std::fs::read(&helm).unwrap(), b"#!fake helm\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&helm).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read(dir.path().join("linux-amd64/LICENSE")).unwrap(),
        b"Apache-2.0\n"
    );
}
