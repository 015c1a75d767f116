//! Reading and following a container's log. Following survives dropped streams and container
//! restarts: it reconnects with `sinceTime` a second before the last line seen (the API takes
//! whole seconds) and skips, by their timestamps, the lines it already gave, so that no line is
//! lost or doubled (lines stamped with the same nanosecond are told apart by their count). It
//! ends when the pod has ended (Succeeded or Failed) or is gone.

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::LogParams;

use crate::kube_api::api_error;

/// The longest pause between two attempts to reopen a log.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Which log of which container.
#[derive(Debug, Clone)]
pub(crate) struct LogTarget {
    /// Pod name.
    pub(crate) pod: String,
    /// Container name.
    pub(crate) container: String,
}

/// The first container of `pod` (Spark's own; sidecars come after it).
pub(crate) fn main_container(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// Reads a container's log once: the current run, or the previous one; the last `tail` lines.
pub(crate) async fn read_log(
    api: &Api<Pod>,
    target: &LogTarget,
    previous: bool,
    tail: Option<u32>,
) -> anyhow::Result<String> {
    let params = LogParams {
        container: Some(target.container.clone()),
        previous,
        tail_lines: tail.map(i64::from),
        ..LogParams::default()
    };
    api.logs(&target.pod, &params)
        .await
        .map_err(|e| api_error(e).context(format!("cannot read the log of pod {}", target.pod)))
}

/// Where following stands: the last line's timestamp and how many lines carried it.
#[derive(Debug, Default)]
struct Cursor {
    last: Option<Timestamp>,
    at_last: usize,
}

impl Cursor {
    /// Whether a line stamped `at` is new, and records it if so. `replayed` counts the lines
    /// stamped `last` that a new connection gives again (start it at `at_last`).
    fn admit(&mut self, at: Timestamp, replayed: &mut usize) -> bool {
        match self.last {
            Some(last) if at < last => false,
            Some(last) if at == last && *replayed > 0 => {
                *replayed -= 1;
                false
            }
            Some(last) if at == last => {
                self.at_last += 1;
                true
            }
            _ => {
                self.last = Some(at);
                self.at_last = 1;
                *replayed = 0;
                true
            }
        }
    }
}

/// `2026-12-06T00:00:00.123456789Z text` → the time and the text.
fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    match line.split_once(' ') {
        Some((stamp, text)) => match stamp.parse::<Timestamp>() {
            Ok(at) => (Some(at), text),
            Err(_) => (None, line),
        },
        None => match line.parse::<Timestamp>() {
            Ok(at) => (Some(at), ""),
            Err(_) => (None, line),
        },
    }
}

/// Follows a container's log, giving each new line to `emit`, until its pod has ended (then
/// the log is read once more to its end) or is gone. `tail` limits the lines of the first
/// connection.
pub(crate) async fn follow_log(
    api: &Api<Pod>,
    target: &LogTarget,
    tail: Option<u32>,
    mut emit: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut cursor = Cursor::default();
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    let mut last_pass = false;
    loop {
        let params = LogParams {
            container: Some(target.container.clone()),
            follow: !last_pass,
            timestamps: true,
            tail_lines: if first { tail.map(i64::from) } else { None },
            since_time: cursor.last.map(|t| t - SignedDuration::from_secs(1)),
            ..LogParams::default()
        };
        let mut got_lines = false;
        match api.log_stream(&target.pod, &params).await {
            Ok(reader) => {
                first = false;
                let mut lines = reader.lines();
                let mut replayed = cursor.at_last;
                loop {
                    match lines.try_next().await {
                        Ok(Some(line)) => match split_timestamp(&line) {
                            (Some(at), text) => {
                                if cursor.admit(at, &mut replayed) {
                                    got_lines = true;
                                    emit(text);
                                }
                            }
                            (None, text) => emit(text),
                        },
                        Ok(None) => break,
                        Err(err) => {
                            tracing::debug!(pod = %target.pod, "log stream cut: {err}");
                            break;
                        }
                    }
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 400 => {
                tracing::debug!(pod = %target.pod, "log not available: {}", status.message);
            }
            Err(err) if !common::kube::retry::is_transient(&err) => {
                return Err(
                    api_error(err).context(format!("cannot follow the log of pod {}", target.pod))
                );
            }
            Err(err) => tracing::debug!(pod = %target.pod, "cannot open the log: {err}"),
        }
        if last_pass {
            return Ok(());
        }
        match api.get_opt(&target.pod).await {
            Ok(None) => return Ok(()),
            Ok(Some(pod)) => {
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if matches!(phase, Some("Succeeded" | "Failed")) {
                    last_pass = true;
                    continue;
                }
            }
            Err(err) => tracing::debug!(pod = %target.pod, "cannot read the pod: {err}"),
        }
        if got_lines {
            backoff = Duration::from_millis(100);
        } else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_replay_skips_what_was_given_even_at_the_same_instant() {
        let mut cursor = Cursor::default();
        let t1 = at("2026-12-06T00:00:01.5Z");
        let t2 = at("2026-12-06T00:00:02Z");
        let t3 = at("2026-12-06T00:00:03Z");
        let mut replayed = 0;
        for t in [t1, t2, t2] {
            assert!(cursor.admit(t, &mut replayed));
        }
        // The next connection gives t1, t2, t2 again, then a third t2 and two t3.
        let mut replayed = cursor.at_last;
        let verdicts: Vec<bool> = [t1, t2, t2, t2, t3, t3]
            .into_iter()
            .map(|t| cursor.admit(t, &mut replayed))
            .collect();
        assert_eq!(verdicts, [false, false, false, true, true, true]);
    }

    #[test]
    fn timestamps_are_split_from_the_text() {
        assert_eq!(
            split_timestamp("2026-12-06T00:00:01.000000005Z hello world"),
            (Some(at("2026-12-06T00:00:01.000000005Z")), "hello world")
        );
        assert_eq!(split_timestamp("no stamp"), (None, "no stamp"));
    }
}
