//! Loopback helpers shared by the local servers: free ports and readiness waits.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago, for servers that are separate processes
/// (`docker-registry`, `git daemon`) and need their port on the command line.
///
/// The port is released before returning, so another process could take it in between; the
/// callers wait for their server to accept connections and fail loudly if it does not.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// A listener bound to 127.0.0.1 on a free port (no race: the socket stays bound).
pub fn loopback_listener() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a listener on 127.0.0.1:0")
}

/// Waits until `addr` accepts TCP connections, polling every 20 ms, at most `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("{addr} did not accept connections within {timeout:?}: {err}"),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
