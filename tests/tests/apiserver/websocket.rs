//! Watches over WebSocket, as the fabric8 client in spark-submit asks for them: a handshake with
//! an `Origin` header is answered `101 Switching Protocols` and each event is one text message;
//! without an `Origin` the handshake is refused with a `Status`, never left hanging.
//!
//! The client here is a raw TCP socket, so the wire bytes are what is asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use harness::apiserver::FakeApiServer;
use serde_json::{Value, json};

use super::support::pod;

/// Sends a WebSocket handshake for `path` and returns the reader after the response head, the
/// status line and the headers (lower-cased names).
fn handshake(
    server: &FakeApiServer,
    path: &str,
    origin: bool,
) -> (BufReader<TcpStream>, String, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let origin = if origin {
        format!("Origin: http://{}\r\n", server.addr())
    } else {
        String::new()
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n",
        server.addr()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    (reader, status.trim_end().to_string(), headers)
}

/// One unfragmented server frame: its opcode and payload.
fn frame(reader: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(head[0] & 0x80, 0x80, "a fragmented frame");
    assert_eq!(head[1] & 0x80, 0, "a server frame must not be masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            reader.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            reader.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    reader.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// The next event, from a text message.
fn event(reader: &mut impl Read) -> Value {
    let (opcode, payload) = frame(reader);
    assert_eq!(opcode, 1, "events are text messages");
    let text = String::from_utf8(payload).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_websocket_watch_is_upgraded_and_sends_one_text_message_per_event() {
    let server = FakeApiServer::start();
    server.apply_json(pod("default", "driver", json!({"spark-role": "driver"})));
    let (mut reader, status, headers) = handshake(
        &server,
        "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Ddriver&watch=true",
        true,
    );
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    assert!(headers.contains(&("upgrade".into(), "websocket".into())));
    let added = event(&mut reader);
    assert_eq!(added["type"], "ADDED");
    assert_eq!(added["object"]["metadata"]["name"], "driver");
    server.store().merge_patch_json(
        "v1",
        "pods",
        Some("default"),
        "driver",
        &json!({"status": {"phase": "Succeeded"}}),
    );
    let modified = event(&mut reader);
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["status"]["phase"], "Succeeded");
}

#[test]
fn a_websocket_watch_ends_with_a_close_frame_when_the_watch_ends() {
    let server = FakeApiServer::start();
    let (mut reader, status, _) = handshake(
        &server,
        "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1",
        true,
    );
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    let (opcode, payload) = frame(&mut reader);
    assert_eq!(opcode, 8, "a close frame");
    assert_eq!(payload[..2], 1000u16.to_be_bytes(), "normal closure");
}

#[test]
fn a_websocket_watch_without_origin_is_refused_with_a_status() {
    let server = FakeApiServer::start();
    let (mut reader, status, headers) =
        handshake(&server, "/api/v1/namespaces/default/pods?watch=true", false);
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a Status body with a length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Forbidden");
}
