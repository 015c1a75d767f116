//! The release server over real HTTP: a raw TCP client for exact bytes, reqwest as a real
//! downloader, `sha256sum` as an independent checksum verifier.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::release::{Fault, ReleaseServer};

const KIND: &str = "/kind/v0.31.0/kind-linux-amd64";

/// One raw HTTP/1.1 exchange: the response head (status line and headers) and the body bytes
/// received until the server closed the connection.
fn raw(server: &ReleaseServer, method: &str, target: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    (head, response[split + 4..].to_vec())
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Downloads the file and its `.sha256sum` into a directory and runs `sha256sum --check` there.
fn sha256sum_check(server: &ReleaseServer, path: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let name = path.rsplit('/').next().unwrap();
    std::fs::write(dir.path().join(name), raw(server, "GET", path).1).unwrap();
    let sums = dir.path().join("SUMS");
    std::fs::write(&sums, raw(server, "GET", &format!("{path}.sha256sum")).1).unwrap();
    Command::new("sha256sum")
        .arg("--check")
        .arg(&sums)
        .current_dir(dir.path())
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn serves_files_with_exact_content_length() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    let (head, body) = raw(&server, "GET", KIND);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(header(&head, "content-length").as_deref(), Some("11"));
    assert_eq!(body, b"kind binary");
}

#[test]
fn head_requests_get_headers_only() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    let (head, body) = raw(&server, "HEAD", KIND);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(header(&head, "content-length").as_deref(), Some("11"));
    assert!(body.is_empty());
}

#[test]
fn checksum_files_verify_with_sha256sum() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    // sha256sum of the bytes "kind binary", computed independently.
    let digest = String::from_utf8(
        Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(b"kind binary")?;
                child.wait_with_output()
            })
            .unwrap()
            .stdout,
    )
    .unwrap()[..64]
        .to_owned();
    assert_eq!(
        raw(&server, "GET", &format!("{KIND}.sha256")).1,
        digest.as_bytes()
    );
    assert_eq!(
        raw(&server, "GET", &format!("{KIND}.sha256sum")).1,
        format!("{digest}  kind-linux-amd64\n").as_bytes()
    );
    assert!(sha256sum_check(&server, KIND));
}

#[test]
fn explicit_checksum_file_replaces_the_generated_one() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    server.add_file(&format!("{KIND}.sha256sum"), b"custom\n".to_vec());
    assert_eq!(
        raw(&server, "GET", &format!("{KIND}.sha256sum")).1,
        b"custom\n"
    );
}

#[test]
fn wrong_checksum_fault_fails_sha256sum() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    assert!(sha256sum_check(&server, KIND));
    server.fault(KIND, Fault::WrongChecksum);
    assert!(!sha256sum_check(&server, KIND));
    assert_eq!(
        raw(&server, "GET", KIND).1,
        b"kind binary",
        "the file itself is intact"
    );
}

#[test]
fn unknown_paths_and_not_found_fault_answer_404() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    assert!(
        raw(&server, "GET", "/nothing/here")
            .0
            .starts_with("HTTP/1.1 404 ")
    );
    assert!(
        raw(&server, "GET", "/nothing/here.sha256sum")
            .0
            .starts_with("HTTP/1.1 404 ")
    );
    server.fault(KIND, Fault::NotFound);
    assert!(raw(&server, "GET", KIND).0.starts_with("HTTP/1.1 404 "));
    server.clear_fault(KIND);
    assert!(raw(&server, "GET", KIND).0.starts_with("HTTP/1.1 200 "));
}

#[test]
fn status_fault_answers_that_status() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    server.fault(KIND, Fault::Status(503));
    assert!(raw(&server, "GET", KIND).0.starts_with("HTTP/1.1 503 "));
}

#[test]
fn truncated_fault_advertises_full_length_and_closes_early() {
    let server = ReleaseServer::start();
    server.add_file(KIND, vec![7u8; 1000]);
    server.fault(KIND, Fault::Truncated);
    let (head, body) = raw(&server, "GET", KIND);
    assert_eq!(header(&head, "content-length").as_deref(), Some("1000"));
    assert_eq!(body.len(), 500);
}

#[tokio::test]
async fn truncated_body_is_an_error_for_a_real_client() {
    let server = ReleaseServer::start();
    server.add_file(KIND, vec![7u8; 1000]);
    server.fault(KIND, Fault::Truncated);
    let response = client().get(server.url(KIND)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
}

#[test]
fn slow_fault_sends_headers_then_delays_the_body() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    let delay = Duration::from_millis(400);
    server.fault(KIND, Fault::Slow(delay));
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let start = Instant::now();
    write!(stream, "GET {KIND} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    let n = stream.read(&mut first).unwrap();
    let head = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "only the head comes first: {head:?}"
    );
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    assert!(start.elapsed() >= delay);
    assert_eq!(body, b"kind binary");
}

#[tokio::test]
async fn slow_body_trips_a_client_timeout() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    server.fault(KIND, Fault::Slow(Duration::from_secs(5)));
    let result = client()
        .get(server.url(KIND))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap()
        .bytes()
        .await;
    assert!(result.unwrap_err().is_timeout());
}

#[test]
fn redirect_answers_302_with_absolute_location() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    server.redirect("/download/kind", KIND);
    let (head, body) = raw(&server, "GET", "/download/kind");
    assert!(head.starts_with("HTTP/1.1 302 "), "{head}");
    assert_eq!(header(&head, "location"), Some(server.url(KIND)));
    assert!(body.is_empty());
}

#[tokio::test]
async fn redirects_to_another_server_are_followed_by_a_real_client() {
    let github = ReleaseServer::start();
    let objects = ReleaseServer::start();
    objects.add_file("/blob/1", b"release asset".to_vec());
    github.redirect(KIND, &objects.url("/blob/1"));
    let response = client().get(github.url(KIND)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().as_str(), objects.url("/blob/1"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"release asset");
    assert_eq!(github.requests(), [KIND]);
    assert_eq!(objects.requests(), ["/blob/1"]);
}

#[test]
fn request_log_keeps_targets_in_order() {
    let server = ReleaseServer::start();
    server.add_file(KIND, b"kind binary".to_vec());
    raw(&server, "GET", KIND);
    raw(&server, "GET", "/missing?arch=amd64");
    raw(&server, "HEAD", &format!("{KIND}.sha256sum"));
    assert_eq!(
        server.requests(),
        [
            KIND.to_owned(),
            "/missing?arch=amd64".to_owned(),
            format!("{KIND}.sha256sum")
        ]
    );
}

#[test]
fn stops_listening_on_drop() {
    let server = ReleaseServer::start();
    let addr = server.addr();
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
}
