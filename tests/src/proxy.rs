//! A TCP proxy on loopback that delays each direction of every connection, to put realistic
//! round-trip times in front of the local servers in benchmarks.
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
//! ```

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A running latency proxy; stops accepting and drops its connections when dropped.
pub struct LatencyProxy {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
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
        let thread = std::thread::Builder::new()
            .name(format!("latency-proxy-{}", addr.port()))
            .spawn(move || serve(listener, target, delay_each_way, stop))
            .expect("spawning the proxy thread");
        LatencyProxy {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: std::net::TcpListener,
    target: SocketAddr,
    delay: Duration,
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
                        tokio::spawn(relay(client, target, delay));
                    }
                }
            }
        }
    });
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
