//! `pods/log`, as a 1.20 API server and its kubelet answer it: the container is checked by the API
//! server (`a container name must be specified…`, `container x is not valid…`), a pod without a
//! node gets an empty body, then the kubelet's checks on the container's status (`previous
//! terminated container … not found`, `… is waiting to start: …`) answer 400. Lines are kept per
//! container and per run (the run number is the container's `restartCount`), added and ended by
//! the test ([`FakeApiServer::append_log`], [`FakeApiServer::end_log`]); `previous` reads run
//! `restartCount - 1`. `follow` streams until the run ends, the client goes, or
//! [`FakeApiServer::drop_watches`] cuts every open stream. `tailLines`, `timestamps`,
//! `sinceSeconds` and `sinceTime` filter as the kubelet does.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::SinkExt;
use http::{HeaderValue, header};
use serde_json::Value;

use super::FakeApiServer;
use super::clock::format_rfc3339;
use super::resources::ResourceDef;
use super::routes::App;
use super::status::ApiError;

/// `(namespace, pod, container)`.
type Key = (String, String, String);

/// The log lines of one run of a container.
#[derive(Debug, Default)]
struct Run {
    lines: Vec<(SystemTime, String)>,
    ended: bool,
}

/// Every container's log, per run; followers are woken on each change.
#[derive(Debug)]
pub(crate) struct Logs {
    runs: Mutex<HashMap<Key, Vec<Run>>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            runs: Mutex::default(),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Logs {
    fn with_run<T>(&self, key: Key, run: usize, change: impl FnOnce(&mut Run) -> T) -> T {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let runs = runs.entry(key).or_default();
        if runs.len() <= run {
            runs.resize_with(run + 1, Run::default);
        }
        let out = change(&mut runs[run]);
        self.changed.send_modify(|n| *n += 1);
        out
    }

    /// Lines of a run from index `from`, and whether the run has ended.
    fn read(&self, key: &Key, run: usize, from: usize) -> (Vec<(SystemTime, String)>, bool) {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        match runs.get(key).and_then(|r| r.get(run)) {
            Some(r) => (r.lines.get(from..).unwrap_or_default().to_vec(), r.ended),
            None => (Vec::new(), false),
        }
    }
}

impl FakeApiServer {
    /// Appends lines to the log of run `run` (0 for the first, then the container's
    /// `restartCount`) of a container; followers of that run see them at once.
    pub fn append_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        run: usize,
        lines: &[&str],
    ) {
        let now = SystemTime::now();
        self.app
            .logs
            .with_run(key(namespace, pod, container), run, |r| {
                r.lines
                    .extend(lines.iter().map(|l| (now, (*l).to_string())));
            });
    }

    /// Ends run `run` of a container (it exited): a `follow` stream of it ends.
    pub fn end_log(&self, namespace: &str, pod: &str, container: &str, run: usize) {
        self.app
            .logs
            .with_run(key(namespace, pod, container), run, |r| r.ended = true);
    }
}

fn key(namespace: &str, pod: &str, container: &str) -> Key {
    (namespace.into(), pod.into(), container.into())
}

/// The options of a log request.
struct LogOptions {
    container: Option<String>,
    previous: bool,
    follow: bool,
    timestamps: bool,
    tail: Option<usize>,
    since: Option<SystemTime>,
}

impl LogOptions {
    /// The options of a request for pod `name`'s log, checked as 1.20's `ValidatePodLogOptions`.
    fn parse(query: &[(String, String)], name: &str) -> Result<Self, ApiError> {
        let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let flag = |k: &str| matches!(param(k), Some("true" | "1"));
        let number = |k: &str| -> Result<Option<i64>, ApiError> {
            param(k)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}")))
                })
                .transpose()
        };
        let tail = number("tailLines")?;
        let limit_bytes = number("limitBytes")?;
        let since_seconds = number("sinceSeconds")?;
        let since_time = param("sinceTime").map(parse_time).transpose()?;
        let mut errors = Vec::new();
        if let Some(t) = tail.filter(|t| *t < 0) {
            errors.push(format!(
                "tailLines: Invalid value: {t}: must be greater than or equal to 0"
            ));
        }
        if let Some(l) = limit_bytes.filter(|l| *l < 1) {
            errors.push(format!(
                "limitBytes: Invalid value: {l}: must be greater than 0"
            ));
        }
        match (since_seconds, since_time) {
            (Some(_), Some(_)) => errors.push(
                "[]: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                    .into(),
            ),
            (Some(s), None) if s < 1 => errors.push(format!(
                "sinceSeconds: Invalid value: {s}: must be greater than 0"
            )),
            _ => {}
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid_all("PodLogOptions", name, &errors));
        }
        Ok(Self {
            container: param("container")
                .filter(|c| !c.is_empty())
                .map(String::from),
            previous: flag("previous"),
            follow: flag("follow"),
            timestamps: flag("timestamps"),
            tail: tail.map(|t| t as usize),
            since: since_time.or_else(|| {
                since_seconds.map(|s| SystemTime::now() - Duration::from_secs(s.unsigned_abs()))
            }),
        })
    }
}

/// `2026-12-06T01:02:03.123456789Z` or `2026-12-06T01:02:03Z`.
fn parse_time(text: &str) -> Result<SystemTime, ApiError> {
    let bad = || ApiError::bad_request(format!("parsing time {text:?}: not RFC 3339"));
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = body.split_once('T').ok_or_else(bad)?;
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 {
        return Err(bad());
    }
    let days = days_from_civil(num(d[0])? as i64, num(d[1])?, num(d[2])?);
    let secs = days as u64 * 86_400 + num(t[0])? * 3600 + num(t[1])? * 60 + num(t[2])?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        num(&digits)?
    };
    Ok(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The kubelet's `timestamps=true` prefix: RFC 3339 with nanoseconds.
fn format_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = format_rfc3339(since.as_secs());
    format!(
        "{}.{:09}Z",
        seconds.trim_end_matches('Z'),
        since.subsec_nanos()
    )
}

/// Answers `GET …/pods/{name}/log`.
pub(crate) fn serve(
    app: &App,
    def: &ResourceDef,
    namespace: &str,
    name: &str,
    query: &[(String, String)],
) -> Result<Response, ApiError> {
    let options = LogOptions::parse(query, name)?;
    let pod = app.store.lock().get(def, Some(namespace), name)?;
    let container = validate_container(&pod, name, options.container.as_deref())?;
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        // No node yet: the API server has nowhere to ask and answers an empty log.
        return Ok(text_response(Body::empty()));
    }
    let run = kubelet_run(&pod, name, &container, options.previous)?;
    let key = key(namespace, name, &container);
    let (mut first, ended) = app.logs.read(&key, run, 0);
    let mut read = first.len();
    // The kubelet seeks to the tail first, then skips the lines older than `since`.
    if let Some(tail) = options.tail {
        first.drain(..first.len().saturating_sub(tail));
    }
    first.retain(|(at, _)| options.since.is_none_or(|s| *at >= s));
    let render = move |(at, line): &(SystemTime, String)| -> Result<Bytes, Infallible> {
        Ok(Bytes::from(if options.timestamps {
            format!("{} {line}\n", format_time(*at))
        } else {
            format!("{line}\n")
        }))
    };
    if !options.follow || ended {
        let body: Vec<u8> = first
            .iter()
            .flat_map(|l| render(l).unwrap_or_default().to_vec())
            .collect();
        return Ok(text_response(Body::from(body)));
    }
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut changed = app.logs.changed.subscribe();
    let mut dropped = app.drop_watches.subscribe();
    let logs = app.logs.clone();
    tokio::spawn(async move {
        for line in &first {
            if tx.send(render(line)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                c = changed.changed() => if c.is_err() { return },
                _ = dropped.changed() => return,
            }
            let (lines, ended) = logs.read(&key, run, read);
            read += lines.len();
            for line in &lines {
                if tx.send(render(line)).await.is_err() {
                    return;
                }
            }
            if ended {
                return;
            }
        }
    });
    Ok(text_response(Body::from_stream(rx)))
}

fn text_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn names(containers: &Value) -> Vec<String> {
    containers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// The API server's check of the `container` parameter (1.20 `validateContainer`).
fn validate_container(
    pod: &Value,
    name: &str,
    container: Option<&str>,
) -> Result<String, ApiError> {
    let containers = names(&pod["spec"]["containers"]);
    let init = names(&pod["spec"]["initContainers"]);
    match container {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// The kubelet's check of the container's status (1.20 `validateContainerLogStatus`): which run
/// to read, or its 400.
fn kubelet_run(
    pod: &Value,
    name: &str,
    container: &str,
    previous: bool,
) -> Result<usize, ApiError> {
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .find(|s| s["name"] == container)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is not available"
            ))
        })?;
    let restarts = status["restartCount"].as_u64().unwrap_or(0) as usize;
    let last = &status["lastState"]["terminated"];
    let state = &status["state"];
    let has_id = |v: &Value| v["containerID"].as_str().is_some_and(|s| !s.is_empty());
    if previous {
        if !has_id(last) {
            return Err(ApiError::bad_request(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )));
        }
        return Ok(restarts.saturating_sub(1));
    }
    if state["running"].is_object() {
        return Ok(restarts);
    }
    if state["terminated"].is_object() {
        if has_id(&state["terminated"]) {
            return Ok(restarts);
        }
        if has_id(last) {
            return Ok(restarts.saturating_sub(1));
        }
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is terminated"
        )));
    }
    if last.is_object() {
        if has_id(last) {
            return Ok(restarts.saturating_sub(1));
        }
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is terminated"
        )));
    }
    let message = match state["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => "is waiting to start: image can't be pulled".to_string(),
        Some("ImagePullBackOff") => {
            "is waiting to start: trying and failing to pull image".to_string()
        }
        Some(reason) => format!("is waiting to start: {reason}"),
        None if state["waiting"].is_object() => "is waiting to start: ".to_string(),
        None => "is waiting to start - no logs yet".to_string(),
    };
    Err(ApiError::bad_request(format!(
        "container {container:?} in pod {name:?} {message}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let at = UNIX_EPOCH + Duration::new(951_782_400 + 3661, 5);
        assert_eq!(format_time(at), "2000-02-29T01:01:01.000000005Z");
        assert_eq!(parse_time(&format_time(at)).unwrap(), at);
        assert_eq!(
            parse_time("2000-02-29T01:01:01Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)
        );
        assert!(parse_time("yesterday").is_err());
    }
}
