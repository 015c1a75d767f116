//! The registry client against scripted loopback servers: 404 is "absent", 401/403/5xx/timeouts are
//! errors after retries, the bearer-token flow runs once per scope and is reused, indexes need amd64.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::credentials::Credentials;
use crate::image_ref::ImageRef;
use crate::registry::RegistryClient;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: Option<String>,
}

type Handler = dyn Fn(&Seen, u16) -> Option<String> + Send + Sync;

/// A loopback HTTP server answering each request with `handler` (None = never answer).
fn serve(handler: Box<Handler>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler: Arc<Handler> = Arc::from(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = log.clone();
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut auth = None;
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        let lower = h.to_ascii_lowercase();
                        if lower.starts_with("authorization:") {
                            auth = Some(h[14..].trim().to_string());
                        }
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                    let seen = Seen {
                        line: line.trim().to_string(),
                        authorization: auth,
                    };
                    log.lock().unwrap().push(seen.clone());
                    match handler(&seen, port) {
                        Some(reply) => {
                            if stream.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                        None => {
                            std::thread::sleep(Duration::from_secs(5));
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, seen)
}

fn reply(status: &str, headers: &[&str], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

fn client(timeout_ms: u64) -> RegistryClient {
    common::tls::install_crypto_provider();
    RegistryClient::new(Duration::from_millis(timeout_ms), Credentials::default()).unwrap()
}

fn image(port: u16, tag: &str) -> ImageRef {
    ImageRef::parse(&format!("127.0.0.1:{port}/fink/broker:{tag}")).unwrap()
}

fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn not_found_is_absent_and_ok_is_present() {
    let (port, seen) = serve(Box::new(|s, _| {
        Some(if s.line.contains("/manifests/v1 ") {
            reply("200 OK", &[], "")
        } else {
            reply("404 Not Found", &[], "")
        })
    }));
    let c = client(2000);
    assert!(run(c.exists(&image(port, "v1"))).unwrap());
    assert!(!run(c.exists(&image(port, "v2"))).unwrap());
    assert!(
        seen.lock().unwrap()[0]
            .line
            .starts_with("HEAD /v2/fink/broker/manifests/v1 ")
    );
}

#[test]
fn server_errors_are_retried_then_reported() {
    let (port, seen) = serve(Box::new(|_, _| {
        Some(reply("500 Internal Server Error", &[], "boom"))
    }));
    let e = run(client(2000).exists(&image(port, "v1")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 500"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts");
}

#[test]
fn a_transient_error_is_retried_to_success() {
    let count = Arc::new(Mutex::new(0));
    let c2 = count.clone();
    let (port, _) = serve(Box::new(move |_, _| {
        let mut n = c2.lock().unwrap();
        *n += 1;
        Some(if *n == 1 {
            reply("503 Service Unavailable", &[], "")
        } else {
            reply("200 OK", &[], "")
        })
    }));
    assert!(run(client(2000).exists(&image(port, "v1"))).unwrap());
}

#[test]
fn unauthorized_without_credentials_is_an_error() {
    let (port, _) = serve(Box::new(|_, _| {
        Some(reply(
            "401 Unauthorized",
            &["WWW-Authenticate: Basic realm=\"reg\""],
            "",
        ))
    }));
    let e = run(client(2000).exists(&image(port, "v1")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("refused access") && e.contains("HTTP 401") && e.contains("docker login"),
        "{e}"
    );
    let (port, _) = serve(Box::new(|_, _| Some(reply("403 Forbidden", &[], ""))));
    let e = run(client(2000).exists(&image(port, "v1")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 403"), "{e}");
}

#[test]
fn timeouts_are_errors() {
    let (port, seen) = serve(Box::new(|_, _| None));
    let e = run(client(300).exists(&image(port, "v1")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot reach the registry"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn bearer_token_is_fetched_once_and_reused() {
    let (port, seen) = serve(Box::new(|s, port| {
        if s.line.starts_with("GET /token?") {
            return Some(reply(
                "200 OK",
                &["Content-Type: application/json"],
                r#"{"token":"T0K"}"#,
            ));
        }
        if s.authorization.as_deref() == Some("Bearer T0K") {
            return Some(if s.line.contains("/manifests/v1 ") {
                reply("200 OK", &[], "")
            } else {
                reply("404 Not Found", &[], "")
            });
        }
        Some(reply(
            "401 Unauthorized",
            &[&format!(
                "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"reg\""
            )],
            "",
        ))
    }));
    let c = client(2000);
    assert!(run(c.exists(&image(port, "v1"))).unwrap());
    assert!(!run(c.exists(&image(port, "v2"))).unwrap());
    assert!(!run(c.exists(&image(port, "v3"))).unwrap());
    let seen = seen.lock().unwrap();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|s| s.line.starts_with("GET /token?"))
        .collect();
    assert_eq!(tokens.len(), 1, "{seen:?}");
    assert!(
        tokens[0]
            .line
            .contains("scope=repository%3Afink%2Fbroker%3Apull"),
        "{}",
        tokens[0].line
    );
    assert!(tokens[0].line.contains("service=reg"));
    assert_eq!(
        seen.len(),
        5,
        "401, token, then three authorised requests: {seen:?}"
    );
}

#[test]
fn basic_credentials_from_docker_config_after_a_challenge() {
    // Credentials are only sent after a Basic challenge.
    let (port, seen) = serve(Box::new(|s, _| {
        Some(match s.authorization.as_deref() {
            Some("Basic dXNlcjpwYXNz") => reply("200 OK", &[], ""),
            _ => reply(
                "401 Unauthorized",
                &["WWW-Authenticate: Basic realm=\"reg\""],
                "",
            ),
        })
    }));
    common::tls::install_crypto_provider();
    let docker_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        docker_dir.path().join("config.json"),
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"dXNlcjpwYXNz"}}}}}}"#),
    )
    .unwrap();
    let creds = Credentials::from_docker_config_dir(docker_dir.path());
    let c = RegistryClient::new(Duration::from_secs(2), creds).unwrap();
    assert!(run(c.exists(&image(port, "v1"))).unwrap());
    let seen = seen.lock().unwrap();
    assert!(seen[0].authorization.is_none() && seen[1].authorization.is_some());
}

#[test]
fn an_index_needs_a_linux_amd64_image() {
    let index_type = "Content-Type: application/vnd.oci.image.index.v1+json";
    let (port, _) = serve(Box::new(move |s, _| {
        let arch = if s.line.contains("/manifests/arm ") {
            "arm64"
        } else {
            "amd64"
        };
        Some(reply(
            "200 OK",
            &[index_type],
            &format!(
                r#"{{"manifests":[{{"platform":{{"os":"linux","architecture":"{arch}"}}}}]}}"#
            ),
        ))
    }));
    let c = client(2000);
    assert!(run(c.exists(&image(port, "amd"))).unwrap());
    assert!(!run(c.exists(&image(port, "arm"))).unwrap());
}
