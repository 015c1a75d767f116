//! The latency proxy over real TCP, alone (echo server) and in front of the release server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use harness::proxy::LatencyProxy;
use harness::release::ReleaseServer;

/// A loopback echo server on its own thread (one connection at a time is enough here).
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn round_trip_pays_the_delay_both_ways() {
    let delay = Duration::from_millis(150);
    let proxy = LatencyProxy::start(echo_server(), delay);
    let mut stream = TcpStream::connect(proxy.addr()).unwrap();
    let start = Instant::now();
    stream.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    assert!(start.elapsed() >= 2 * delay, "{:?}", start.elapsed());
}

#[test]
fn stream_content_and_order_survive() {
    let proxy = LatencyProxy::start(echo_server(), Duration::from_millis(5));
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut stream = TcpStream::connect(proxy.addr()).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let expected = data.len();
    let receiver = std::thread::spawn(move || {
        let mut echoed = vec![0u8; expected];
        reader.read_exact(&mut echoed).unwrap();
        echoed
    });
    for piece in data.chunks(7_919) {
        stream.write_all(piece).unwrap();
    }
    assert!(receiver.join().unwrap() == data, "echoed bytes differ");
}

#[test]
fn chunks_in_flight_are_delayed_concurrently_not_in_turn() {
    let delay = Duration::from_millis(300);
    let proxy = LatencyProxy::start(echo_server(), delay);
    let mut stream = TcpStream::connect(proxy.addr()).unwrap();
    let start = Instant::now();
    for i in 0..6u8 {
        stream.write_all(&[i]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut echoed = [0u8; 6];
    stream.read_exact(&mut echoed).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(echoed, [0, 1, 2, 3, 4, 5]);
    assert!(elapsed >= 2 * delay, "{elapsed:?}");
    // Released at read time + delay, six chunks take about 2 × 300 ms + 150 ms; delaying them one
    // after the other would take at least 6 × 600 ms.
    assert!(
        elapsed < 6 * 2 * delay,
        "chunks were serialised: {elapsed:?}"
    );
}

#[test]
fn end_of_stream_is_forwarded() {
    let proxy = LatencyProxy::start(echo_server(), Duration::from_millis(20));
    let mut stream = TcpStream::connect(proxy.addr()).unwrap();
    stream.write_all(b"bye").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
}

#[tokio::test]
async fn http_through_the_proxy_reaches_the_release_server() {
    let server = ReleaseServer::start();
    server.add_file("/kind", b"kind binary".to_vec());
    let delay = Duration::from_millis(100);
    let proxy = LatencyProxy::start(server.addr(), delay);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let start = Instant::now();
    let body = reqwest::get(format!("http://{}/kind", proxy.addr()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"kind binary");
    assert!(start.elapsed() >= 2 * delay);
    assert_eq!(server.requests(), ["/kind"]);
}

#[tokio::test]
async fn fail_next_answers_503_then_relays_again() {
    let server = ReleaseServer::start();
    server.add_file("/kind", b"kind binary".to_vec());
    let proxy = LatencyProxy::start(server.addr(), Duration::ZERO);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://{}/kind", proxy.addr());
    proxy.fail_next(1);
    // A fresh client per request: the 503 closes its connection.
    let status = |url: String| async move {
        reqwest::Client::new()
            .get(url)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        status(url.clone()).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(proxy.faults_sent(), 1);
    assert!(
        server.requests().is_empty(),
        "the faulted request was not relayed"
    );
    assert_eq!(status(url).await, reqwest::StatusCode::OK);
    assert_eq!(server.requests(), ["/kind"]);
}

#[test]
fn stops_on_drop() {
    let proxy = LatencyProxy::start(echo_server(), Duration::ZERO);
    let addr = proxy.addr();
    drop(proxy);
    assert!(TcpStream::connect(addr).is_err());
}
