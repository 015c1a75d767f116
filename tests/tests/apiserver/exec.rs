//! `pods/exec` over WebSocket through kube-rs (`ws` feature) with scripted replies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::apiserver::{ExecReply, ExecRequest, FakeApiServer};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::support::{client, pod};

const LIMIT: Duration = Duration::from_secs(10);

fn kafka_pod() -> serde_json::Value {
    let mut p = pod("kafka", "kafka-cluster-dual-role-0", json!({}));
    p["spec"]["containers"] =
        json!([{"name": "kafka", "image": "strimzi/kafka"}, {"name": "sidecar", "image": "x"}]);
    p
}

async fn read_all(r: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut s = String::new();
    r.unwrap().read_to_string(&mut s).await.unwrap();
    s
}

#[tokio::test]
async fn exec_returns_scripted_stdout_stderr_and_success() {
    let server = FakeApiServer::start();
    server.apply_json(kafka_pod());
    let seen: Arc<Mutex<Vec<ExecRequest>>> = Arc::default();
    let record = seen.clone();
    server.exec_handler("kafka", "kafka-cluster-dual-role-0", move |req| {
        record.lock().unwrap().push(req.clone());
        ExecReply::stdout("fink_topic_1\n__consumer_offsets\n").with_stderr("warning\n")
    });
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "kafka");
    let command = [
        "bin/kafka-topics.sh",
        "--bootstrap-server",
        "kafka-cluster-kafka-bootstrap.kafka:9092",
        "--list",
    ];
    let params = AttachParams::default()
        .container("kafka")
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut process = pods
        .exec("kafka-cluster-dual-role-0", command, &params)
        .await
        .unwrap();
    let status = process.take_status().unwrap();
    let (out, err) = (
        read_all(process.stdout()).await,
        read_all(process.stderr()).await,
    );
    let status = timeout(LIMIT, status).await.unwrap().unwrap();
    assert_eq!(out, "fink_topic_1\n__consumer_offsets\n");
    assert_eq!(err, "warning\n");
    assert_eq!(status.status.as_deref(), Some("Success"));
    timeout(LIMIT, process.join()).await.unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].command, command);
    assert_eq!(seen[0].container, "kafka");
    assert_eq!(seen[0].protocol, "v5.channel.k8s.io");
}

#[tokio::test]
async fn exec_non_zero_exit_reports_failure_status() {
    let server = FakeApiServer::start();
    server.apply_json(kafka_pod());
    server.exec_handler("kafka", "kafka-cluster-dual-role-0", |_| {
        ExecReply::default().with_stderr("boom\n").with_exit_code(3)
    });
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "kafka");
    let params = AttachParams::default().container("kafka").stdin(false);
    let mut process = pods
        .exec("kafka-cluster-dual-role-0", ["false"], &params)
        .await
        .unwrap();
    let status = process.take_status().unwrap();
    assert_eq!(read_all(process.stderr()).await, "boom\n");
    let status = timeout(LIMIT, status).await.unwrap().unwrap();
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = &status.details.unwrap().causes.unwrap()[0];
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("3"))
    );
}

#[tokio::test]
async fn exec_passes_stdin_over_v5() {
    let server = FakeApiServer::start();
    server.apply_json(pod("default", "shell", json!({})));
    server.exec_handler("default", "shell", |req| {
        ExecReply::stdout(req.stdin.to_ascii_uppercase())
    });
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    let params = AttachParams::default()
        .stdin(true)
        .stdout(true)
        .stderr(false);
    let mut process = pods.exec("shell", ["cat"], &params).await.unwrap();
    let mut stdin = process.stdin().unwrap();
    stdin.write_all(b"hello").await.unwrap();
    stdin.shutdown().await.unwrap();
    assert_eq!(
        timeout(LIMIT, read_all(process.stdout())).await.unwrap(),
        "HELLO"
    );
}

#[tokio::test]
async fn exec_requires_a_container_when_the_pod_has_several() {
    let server = FakeApiServer::start();
    server.apply_json(kafka_pod());
    server.exec_handler("kafka", "kafka-cluster-dual-role-0", |_| {
        ExecReply::default()
    });
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "kafka");
    let params = AttachParams::default().stdin(false);
    let err = pods
        .exec("kafka-cluster-dual-role-0", ["ls"], &params)
        .await
        .err()
        .expect("exec must fail");
    let text = format!("{err:?}");
    assert!(
        text.contains("400") || text.contains("Bad Request"),
        "{text}"
    );
}

#[tokio::test]
async fn exec_into_missing_pod_fails() {
    let server = FakeApiServer::start();
    let pods: Api<Pod> = Api::default_namespaced(client(&server).await);
    let params = AttachParams::default().stdin(false);
    let err = pods
        .exec("ghost", ["ls"], &params)
        .await
        .err()
        .expect("exec must fail");
    let text = format!("{err:?}");
    assert!(text.contains("404") || text.contains("Not Found"), "{text}");
}

/// Reads one unmasked server frame: (opcode, payload).
fn read_frame(stream: &mut impl std::io::Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).unwrap();
            usize::from(u16::from_be_bytes(ext))
        }
        127 => panic!("frame too large for this test"),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

#[test]
fn exec_negotiates_v4_channel_protocol_for_older_clients() {
    use std::io::{Read, Write};
    let server = FakeApiServer::start();
    server.apply_json(pod("default", "p", json!({})));
    server.exec_handler("default", "p", |req| {
        ExecReply::stdout(format!("ran {}", req.command.join(" ")))
    });
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let request = format!(
        "GET /api/v1/namespaces/default/pods/p/exec?command=ls&command=-l&stdout=true HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
        server.addr()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-protocol: v4.channel.k8s.io\r\n"),
        "{head}"
    );
    assert_eq!(read_frame(&mut stream), (2, b"\x01ran ls -l".to_vec()));
    let (opcode, status) = read_frame(&mut stream);
    assert_eq!((opcode, status[0]), (2, 3));
    let status: serde_json::Value = serde_json::from_slice(&status[1..]).unwrap();
    assert_eq!(status["status"], "Success");
    let (opcode, close) = read_frame(&mut stream);
    assert_eq!((opcode, &close[..2]), (8, &1000u16.to_be_bytes()[..]));
}
