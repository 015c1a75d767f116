//! HTTP dispatch: URL parsing into discovery documents or resource requests, and their handlers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::Value;

use super::discovery;
use super::exec::{self, ExecHandler, ExecRequest};
use super::faults::{Fault, FaultRule, RequestRecord, parse_query};
use super::patch::PatchType;
use super::protobuf;
use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{DeleteOptions, ListOptions, Store, WriteOptions};
use super::watch::{self, WatchRequest};

/// Everything the handlers share.
pub(crate) struct App {
    pub(crate) store: Arc<Store>,
    pub(crate) addr: SocketAddr,
    pub(crate) faults: Mutex<Vec<FaultRule>>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) exec_handlers: Mutex<Vec<(String, String, ExecHandler)>>,
    pub(crate) logs: Arc<super::logs::Logs>,
    pub(crate) drop_watches: tokio::sync::watch::Sender<u64>,
    pub(crate) bookmark_interval: Duration,
    /// The bearer tokens accepted (any request must carry one of them when there are some).
    pub(crate) tokens: Vec<String>,
}

/// What a URL path names.
enum Target {
    Json(Value),
    Resource {
        def: Box<ResourceDef>,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
}

fn locate(app: &App, path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let inner = app.store.lock();
    let reg = &inner.registry;
    let found = |v: Option<Value>| v.map(Target::Json).ok_or_else(ApiError::unknown_path);
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Target::Json(discovery::version())),
        ["api"] => return Ok(Target::Json(discovery::core_versions(app.addr))),
        ["apis"] => return Ok(Target::Json(discovery::group_list(reg))),
        ["openapi", "v3"] => return Ok(Target::Json(discovery::openapi_v3_root(reg))),
        ["openapi", "v3", "api", v] => return found(discovery::openapi_v3_group(reg, "", v)),
        ["openapi", "v3", "apis", g, v] => return found(discovery::openapi_v3_group(reg, g, v)),
        ["apis", g] => return found(discovery::group(reg, g)),
        ["api", v] => return found(discovery::resource_list(reg, "", v)),
        ["apis", g, v] => return found(discovery::resource_list(reg, g, v)),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::unknown_path()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(ns.to_string()), {
                let mut r = vec![*plural];
                r.extend_from_slice(tail);
                r
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return Err(ApiError::unknown_path()),
    };
    let def = Box::new(
        reg.by_plural(group, version, plural)
            .cloned()
            .ok_or_else(ApiError::unknown_path)?,
    );
    if namespace.is_some() && !def.namespaced {
        return Err(ApiError::unknown_path());
    }
    if sub.as_ref().is_some_and(|s| !def.subresources.contains(s)) {
        return Err(ApiError::unknown_path());
    }
    Ok(Target::Resource {
        def,
        namespace,
        name,
        sub,
    })
}

fn json_response(code: u16, v: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        v.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// A WebSocket handshake (`Connection: Upgrade`, `Upgrade: websocket`), as the real server
/// recognises one: it then serves a watch as one text message per event.
fn is_websocket_request(h: &HeaderMap) -> bool {
    let connection = header_str(h, header::CONNECTION).to_ascii_lowercase();
    connection.split(',').any(|t| t.trim() == "upgrade")
        && header_str(h, header::UPGRADE).eq_ignore_ascii_case("websocket")
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The single entry point of the router.
pub(crate) async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "cannot read request body: {e}"
            )));
        }
    };
    app.requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(RequestRecord {
            method: parts.method.to_string(),
            path: path.clone(),
            query: raw_query.clone(),
            content_type: header_str(&parts.headers, header::CONTENT_TYPE),
            user_agent: header_str(&parts.headers, header::USER_AGENT),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    if !app.tokens.is_empty() {
        let given = header_str(&parts.headers, header::AUTHORIZATION);
        let known = given
            .strip_prefix("Bearer ")
            .is_some_and(|t| app.tokens.iter().any(|k| k == t));
        if !known {
            return error_response(&ApiError::unauthorized());
        }
    }
    let fault = app
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter_mut()
        .find_map(|r| r.hit(parts.method.as_str(), &path, &raw_query));
    match fault {
        Some(Fault::Status(code)) => return error_response(&ApiError::with_code(code)),
        Some(Fault::TooManyRequests {
            retry_after_seconds,
        }) => return error_response(&ApiError::too_many_requests(retry_after_seconds)),
        None => {}
    }
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return (StatusCode::OK, "ok").into_response();
    }
    let query = parse_query(&raw_query);
    let target = match locate(&app, &path) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    match target {
        Target::Json(v) if parts.method == Method::GET => json_response(200, &v),
        Target::Json(_) => error_response(&ApiError::method_not_allowed(parts.method.as_str())),
        Target::Resource {
            def,
            namespace,
            name: Some(name),
            sub,
        } if sub.as_deref() == Some("log") && parts.method == Method::GET => {
            let namespace = namespace.as_deref().unwrap_or("default");
            super::logs::serve(&app, &def, namespace, &name, &query)
                .unwrap_or_else(|e| error_response(&e))
        }
        Target::Resource {
            def,
            namespace,
            name,
            sub,
        } if sub.as_deref() == Some("exec") => {
            let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
            exec_request(
                &app,
                upgrade,
                &def,
                namespace.as_deref().unwrap_or("default"),
                name.as_deref().unwrap_or_default(),
                &query,
            )
        }
        Target::Resource {
            def,
            namespace,
            name,
            sub,
        } => {
            let ctx = Ctx {
                app: &app,
                def: &def,
                namespace: namespace.as_deref(),
                name: name.as_deref(),
                sub: sub.as_deref(),
                query: &query,
                headers: &parts.headers,
            };
            let websocket = parts.method == Method::GET && is_websocket_request(&parts.headers);
            if websocket && ctx.flag("watch") && parts.headers.get(header::ORIGIN).is_none() {
                return error_response(&ApiError::forbidden_websocket_origin());
            }
            match resource_request(&ctx, &parts.method, &body) {
                Ok(Reply::Json(code, v)) => json_response(code, &v),
                Ok(Reply::Stream(rx)) if websocket => {
                    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                        Ok(upgrade) => {
                            upgrade.on_upgrade(move |socket| watch::serve_websocket(socket, rx))
                        }
                        Err(e) => error_response(&ApiError::bad_request(format!(
                            "cannot upgrade the watch to a WebSocket: {e}"
                        ))),
                    }
                }
                Ok(Reply::Stream(rx)) => {
                    let mut r = Response::new(Body::from_stream(rx));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    r
                }
                Err(e) => error_response(&e),
            }
        }
    }
}

enum Reply {
    Json(u16, Value),
    Stream(futures::channel::mpsc::Receiver<Result<bytes::Bytes, std::convert::Infallible>>),
}

struct Ctx<'a> {
    app: &'a App,
    def: &'a ResourceDef,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
}

impl Ctx<'_> {
    fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.param(k), Some("true" | "1"))
    }

    fn list_options(&self) -> Result<ListOptions, ApiError> {
        Ok(ListOptions {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(
                self.param("fieldSelector").unwrap_or_default(),
                self.def,
            )?,
            limit: self.param("limit").and_then(|l| l.parse().ok()),
            continue_token: self
                .param("continue")
                .filter(|c| !c.is_empty())
                .map(String::from),
        })
    }

    fn delete_options(&self, body: &[u8]) -> Result<WriteOptions, ApiError> {
        Ok(WriteOptions {
            delete: DeleteOptions::parse(body, self.param("propagationPolicy"))?,
            ..self.write_options()
        })
    }

    fn write_options(&self) -> WriteOptions {
        let agent = header_str(self.headers, header::USER_AGENT);
        let default_manager = agent
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string();
        WriteOptions {
            manager: self
                .param("fieldManager")
                .map(String::from)
                .unwrap_or(default_manager),
            dry_run: self.param("dryRun") == Some("All"),
            subresource: self.sub.map(String::from),
            force: self.flag("force"),
            delete: DeleteOptions::default(),
        }
    }
}

/// A POST/PUT body: JSON, or protobuf for the kinds [`protobuf`] decodes.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = header_str(headers, header::CONTENT_TYPE);
    let media = ct.split(';').next().unwrap_or_default().trim();
    if media == "application/vnd.kubernetes.protobuf" {
        return protobuf::decode(body).map_err(ApiError::undecodable_body);
    }
    if !matches!(media, "" | "application/json" | "*/*") {
        return Err(ApiError::unsupported_body(&ct));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

fn resource_request(c: &Ctx<'_>, method: &Method, body: &[u8]) -> Result<Reply, ApiError> {
    let store = &c.app.store;
    let def = c.def;
    if c.def.namespaced && c.namespace.is_none() && *method != Method::GET {
        return Err(ApiError::unknown_path());
    }
    if c.sub.is_some_and(|s| s != "status") {
        return Err(ApiError::method_not_allowed(method.as_str()));
    }
    match (method.as_str(), c.name) {
        ("GET", None) if c.flag("watch") => {
            let req = WatchRequest {
                def: def.clone(),
                namespace: c.namespace.map(String::from),
                list: c.list_options()?,
                resource_version: c.param("resourceVersion").map(String::from),
                send_initial_events: c.flag("sendInitialEvents"),
                bookmarks: c.flag("allowWatchBookmarks"),
                timeout: Duration::from_secs(
                    c.param("timeoutSeconds")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(1800),
                ),
                bookmark_interval: c.app.bookmark_interval,
            };
            let rx = watch::start(store.clone(), req, c.app.drop_watches.subscribe())?;
            Ok(Reply::Stream(rx))
        }
        ("GET", None) => Ok(Reply::Json(
            200,
            store.lock().list(def, c.namespace, &c.list_options()?)?,
        )),
        ("GET", Some(name)) => Ok(Reply::Json(200, store.lock().get(def, c.namespace, name)?)),
        ("POST", None) => Ok(Reply::Json(
            201,
            store.lock().create(
                def,
                c.namespace,
                parse_body(c.headers, body)?,
                &c.write_options(),
            )?,
        )),
        ("PUT", Some(name)) => Ok(Reply::Json(
            200,
            store.lock().update(
                def,
                c.namespace,
                name,
                parse_body(c.headers, body)?,
                &c.write_options(),
            )?,
        )),
        ("PATCH", Some(name)) => {
            let ct = header_str(c.headers, header::CONTENT_TYPE);
            let kind = PatchType::from_content_type(&ct)
                .ok_or_else(|| ApiError::unsupported_media_type(&ct))?;
            if kind == PatchType::Apply && c.param("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    "fieldManager: Required value: is required for apply patch",
                ));
            }
            let mut inner = store.lock();
            let existed = inner.get(def, c.namespace, name).is_ok();
            let obj = inner.patch(def, c.namespace, name, kind, body, &c.write_options())?;
            Ok(Reply::Json(if existed { 200 } else { 201 }, obj))
        }
        ("DELETE", Some(name)) => Ok(Reply::Json(
            200,
            store
                .lock()
                .delete(def, c.namespace, name, &c.delete_options(body)?)?,
        )),
        ("DELETE", None) => Ok(Reply::Json(
            200,
            store.lock().delete_collection(
                def,
                c.namespace,
                &c.list_options()?,
                &c.delete_options(body)?,
            )?,
        )),
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }
}

fn exec_request(
    app: &App,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    def: &ResourceDef,
    namespace: &str,
    pod_name: &str,
    query: &[(String, String)],
) -> Response {
    let pod = match app.store.lock().get(def, Some(namespace), pod_name) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let container = match param("container") {
        Some(c) if containers.contains(&c) => c,
        Some(c) => {
            return error_response(&ApiError::bad_request(format!(
                "container {c} is not valid for pod {pod_name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return error_response(&ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return error_response(&ApiError::bad_request(
            "you must specify at least 1 command",
        ));
    }
    let handler = app
        .exec_handlers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(ns, p, _)| ns == namespace && p == pod_name)
        .map(|(_, _, h)| h.clone());
    let Some(handler) = handler else {
        return error_response(&ApiError::internal(format!(
            "no exec handler scripted for pod {namespace}/{pod_name} (register one with FakeApiServer::exec_handler)"
        )));
    };
    let Ok(upgrade) = upgrade else {
        return error_response(&ApiError::bad_request("Upgrade request required"));
    };
    let upgrade = upgrade.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]);
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(String::from)
    else {
        return error_response(&ApiError::bad_request(
            "no supported WebSocket subprotocol (v5.channel.k8s.io, v4.channel.k8s.io)",
        ));
    };
    let flag = |k: &str| matches!(param(k).as_deref(), Some("true" | "1"));
    let req = ExecRequest {
        namespace: namespace.into(),
        pod: pod_name.into(),
        container,
        command,
        stdin: Vec::new(),
        tty: flag("tty"),
        protocol,
    };
    let wants_stdin = flag("stdin");
    upgrade.on_upgrade(move |socket| exec::serve(socket, req, wants_stdin, handler))
}
