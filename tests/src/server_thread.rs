//! The thread a harness server runs on: dropping it (with the server that owns it) sends the stop
//! signal and joins the thread, so no server outlives its test.

use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A server's thread and its stop signal.
pub(crate) struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Owns `thread`, which ends when `stop` fires.
    pub(crate) fn new(stop: oneshot::Sender<()>, thread: JoinHandle<()>) -> Self {
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Sends the stop signal and waits for the thread; later calls do nothing.
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}
