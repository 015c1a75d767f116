//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`) with scripted replies.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use serde_json::json;

/// What a scripted exec is asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name (the pod's only container when the request names none).
    pub container: String,
    /// The command (`command` query parameters, in order).
    pub command: Vec<String>,
    /// Standard input the client sent (only with `stdin=true` over `v5.channel.k8s.io`).
    pub stdin: Vec<u8>,
    /// Whether a TTY was requested.
    pub tty: bool,
    /// The negotiated subprotocol.
    pub protocol: String,
}

/// The scripted result of an exec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecReply {
    /// Bytes written to channel 1.
    pub stdout: Vec<u8>,
    /// Bytes written to channel 2.
    pub stderr: Vec<u8>,
    /// Exit code: 0 sends a `Success` status, anything else `NonZeroExitCode`.
    pub exit_code: i32,
}

impl ExecReply {
    /// A successful run printing `stdout`.
    pub fn stdout(text: impl Into<Vec<u8>>) -> Self {
        Self {
            stdout: text.into(),
            ..Self::default()
        }
    }

    /// Adds standard error output.
    pub fn with_stderr(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stderr = text.into();
        self
    }

    /// Sets the exit code.
    pub fn with_exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }
}

/// A scripted exec handler.
pub(crate) type ExecHandler = Arc<dyn Fn(&ExecRequest) -> ExecReply + Send + Sync>;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// The `Status` sent on the error channel when the command ends.
fn exit_status(code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({ "metadata": {}, "status": "Success" });
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [...], exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": { "causes": [{ "reason": "ExitCode", "message": code.to_string() }] },
    })
}

/// Runs one exec session on an upgraded socket.
pub(crate) async fn serve(
    mut socket: WebSocket,
    mut req: ExecRequest,
    wants_stdin: bool,
    handler: ExecHandler,
) {
    if wants_stdin && req.protocol.starts_with("v5.") {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                Message::Binary(b) if b.first() == Some(&STDIN) => {
                    req.stdin.extend_from_slice(&b[1..])
                }
                Message::Binary(b) if b.as_ref() == [CLOSE, STDIN] => break,
                Message::Close(_) => return,
                _ => {}
            }
        }
    }
    let reply = handler(&req);
    let mut frames = Vec::new();
    if !reply.stdout.is_empty() {
        frames.push(frame(STDOUT, &reply.stdout));
    }
    if !reply.stderr.is_empty() {
        frames.push(frame(STDERR, &reply.stderr));
    }
    frames.push(frame(
        ERROR,
        exit_status(reply.exit_code).to_string().as_bytes(),
    ));
    for f in frames {
        if socket.send(f).await.is_err() {
            return;
        }
    }
    let normal = CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    };
    let _ = socket.send(Message::Close(Some(normal))).await;
}
