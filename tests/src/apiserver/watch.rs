//! `?watch=1` streams: newline-delimited JSON events, resumable from a resourceVersion, over a
//! chunked HTTP body or, when the client asks for a WebSocket, one text message per event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::ResourceDef;
use super::status::ApiError;
use super::store::{Event, EventType, ListOptions, Store, served};

/// Parameters of a watch request.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub(crate) def: ResourceDef,
    pub(crate) namespace: Option<String>,
    pub(crate) list: ListOptions,
    pub(crate) resource_version: Option<String>,
    pub(crate) send_initial_events: bool,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Duration,
    pub(crate) bookmark_interval: Duration,
}

impl WatchRequest {
    fn in_scope(&self, e: &Event) -> bool {
        e.key.group == self.def.group
            && e.key.plural == self.def.plural
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| e.key.namespace == ns)
    }

    fn selected(&self, obj: &Value) -> bool {
        self.list.labels.matches(obj) && self.list.fields.matches(obj)
    }

    /// The event a watcher with these selectors sees, if any (objects moving in or out of the
    /// selection appear as ADDED / DELETED, as with the real server).
    fn view(&self, e: &Event) -> Option<Value> {
        if !self.in_scope(e) {
            return None;
        }
        let now = self.selected(&e.object);
        let before = e.old.as_ref().is_some_and(|o| self.selected(o));
        let kind = match (e.kind, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Deleted, _, true) => EventType::Deleted,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            _ => return None,
        };
        Some(json!({ "type": kind.as_str(), "object": served(&e.object, &self.def) }))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        json!({ "type": "BOOKMARK", "object": { "kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": metadata } })
    }
}

fn line(v: &Value) -> Result<Bytes, Infallible> {
    let mut text = v.to_string();
    text.push('\n');
    Ok(Bytes::from(text))
}

/// Starts a watch: returns the receiving end of its body, fed by a task on the server runtime.
///
/// Snapshot and subscription happen under the store lock, so no event is lost or repeated.
pub(crate) fn start(
    store: Arc<Store>,
    req: WatchRequest,
    mut dropped: tokio::sync::watch::Receiver<u64>,
) -> Result<mpsc::Receiver<Result<Bytes, Infallible>>, ApiError> {
    let (initial, mut events, mut last_rv) = {
        let inner = store.lock();
        let events = inner.subscribe();
        let current = inner.resource_version();
        let from = req
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty() && *rv != "0");
        let mut initial = Vec::new();
        match from {
            Some(rv) if !req.send_initial_events => {
                let rv: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?;
                match inner.events_since(rv) {
                    Ok(past) => initial.extend(past.iter().filter_map(|e| req.view(e))),
                    Err(gone) => {
                        initial.push(json!({ "type": "ERROR", "object": gone.to_status() }))
                    }
                }
            }
            _ => {
                let list = inner.list(
                    &req.def,
                    req.namespace.as_deref(),
                    &ListOptions {
                        limit: None,
                        continue_token: None,
                        ..req.list.clone()
                    },
                )?;
                for item in list["items"].as_array().into_iter().flatten() {
                    initial.push(json!({ "type": "ADDED", "object": item }));
                }
                if req.send_initial_events && req.bookmarks {
                    initial.push(req.bookmark(current, true));
                }
            }
        }
        (initial, events, current)
    };
    let expired = initial.last().is_some_and(|e| e["type"] == "ERROR");
    let (mut tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        for e in &initial {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = tokio::time::sleep(req.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(req.bookmark_interval);
        tick.tick().await;
        loop {
            // Biased: a drop or the deadline wins over pending events, events over bookmarks.
            let out = tokio::select! {
                biased;
                _ = &mut deadline => return,
                _ = dropped.changed() => return,
                ev = events.recv() => match ev {
                    Ok(e) => {
                        last_rv = e.rv;
                        match req.view(&e) {
                            Some(v) => v,
                            None => continue,
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick(), if req.bookmarks => req.bookmark(last_rv, false),
            };
            if tx.send(line(&out)).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Serves a started watch over an upgraded WebSocket: each event is one text message (its JSON
/// and a newline, as the real server's encoder writes it); the end of the watch (timeout, dropped
/// watches, expired resourceVersion) closes the socket normally, and a client's close ends it.
pub(crate) async fn serve_websocket(
    mut socket: WebSocket,
    mut events: mpsc::Receiver<Result<Bytes, Infallible>>,
) {
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(line)) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Err(never)) => match never {},
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let normal = CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    };
    let _ = socket.send(Message::Close(Some(normal))).await;
}
