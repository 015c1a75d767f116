//! A TCP proxy on loopback that delays each direction of every connection, to put realistic
//! round-trip times in front of the local servers in benchmarks, and that can answer
//! `503 Service Unavailable` to the next connections instead of relaying them (an HTTP fault).
//!
//! Each chunk read is timestamped and written to the other side at `timestamp + delay`, so a
//! stream keeps its order and its throughput: the delay is added once per chunk in flight, not
//! once per chunk in turn. End-of-stream is forwarded after the same delay.
//!
//! ```no_run
//! use std::time::Duration;
//! use harness::{proxy::LatencyProxy, release::ReleaseServer};
//! let server = ReleaseServer::start();
//! let proxy = LatencyProxy::start(server.addr(), Duration::from_millis(20));
//! let url = format!("http://{}/kind", proxy.addr()); // 40 ms more per round trip
//! proxy.fail_next(1); // the next connection gets a 503
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::server_thread::ServerThread;
use tokio::time::Instant;

/// A running latency proxy; stops accepting and drops its connections when dropped.
pub struct LatencyProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    _server: ServerThread,
}

impl LatencyProxy {
    /// Listens on 127.0.0.1 (free port) and relays every connection to `target`, delaying each
    /// direction by `delay_each_way`.
    pub fn start(target: SocketAddr, delay_each_way: Duration) -> LatencyProxy {
        let listener = crate::net::loopback_listener();
        listener
            .set_nonblocking(true)
            .expect("making the proxy listener non-blocking");
        let addr = listener.local_addr().expect("proxy address");
        let (shutdown, stop) = oneshot::channel();
        let faults = Arc::new(Faults::default());
        let served = Arc::clone(&faults);
        let thread = std::thread::Builder::new()
            .name(format!("latency-proxy-{}", addr.port()))
            .spawn(move || serve(listener, target, delay_each_way, served, stop))
            .expect("spawning the proxy thread");
        LatencyProxy {
            addr,
            faults,
            _server: ServerThread::new(shutdown, thread),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `503 Service Unavailable` (after reading the request head) to the next `n`
    /// connections instead of relaying them.
    pub fn fail_next(&self, n: usize) {
        self.faults.pending.store(n, Ordering::SeqCst);
    }

    /// How many `503`s were sent.
    pub fn faults_sent(&self) -> usize {
        self.faults.sent.load(Ordering::SeqCst)
    }
}

/// The `503`s still to send and those sent.
#[derive(Default)]
struct Faults {
    pending: AtomicUsize,
    sent: AtomicUsize,
}

impl Faults {
    /// Whether this connection gets a `503` (counted as sent).
    fn take(&self) -> bool {
        let take = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if take {
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        take
    }
}

fn serve(
    listener: std::net::TcpListener,
    target: SocketAddr,
    delay: Duration,
    faults: Arc<Faults>,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the proxy runtime");
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("registering the proxy listener");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => {
                    if let Ok((client, _)) = accepted {
                        if faults.take() {
                            tokio::spawn(unavailable(client));
                        } else {
                            tokio::spawn(relay(client, target, delay));
                        }
                    }
                }
            }
        }
    });
}

/// Reads the request head, answers `503`, closes.
async fn unavailable(mut client: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = client
        .write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    let _ = client.shutdown().await;
}

async fn relay(client: TcpStream, target: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        delayed_pipe(client_read, server_write, delay),
        delayed_pipe(server_read, client_write, delay),
    );
}

/// Copies `reader` to `writer`, each chunk released `delay` after it was read.
async fn delayed_pipe(mut reader: OwnedReadHalf, mut writer: OwnedWriteHalf, delay: Duration) {
    // `None` is end-of-stream.
    let (chunks, mut pending) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let chunk = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            };
            let end = chunk.is_none();
            if chunks.send((Instant::now(), chunk)).is_err() || end {
                break;
            }
        }
    };
    let write = async move {
        while let Some((read_at, chunk)) = pending.recv().await {
            tokio::time::sleep_until(read_at + delay).await;
            let Some(chunk) = chunk else {
                let _ = writer.shutdown().await;
                break;
            };
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(read, write);
}
