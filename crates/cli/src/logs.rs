//! What a function's CloudWatch Logs say about it: invocations (`REPORT` lines), error lines and
//! the last invocation, overall or for one Lambda version (Lambda names each log stream
//! `YYYY/MM/DD/[VERSION]…` after the version that wrote it).

use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, AwsError};

/// The lines that count as errors: the worker's `ERROR` logs and Lambda's own failure lines.
pub const ERROR_PATTERN: &str = r#"?ERROR ?"Task timed out" ?"Runtime." ?"Sandbox.Timedout""#;

/// At most this many events are read per question (newest matter most; older are counted).
const MAX_EVENTS: usize = 10_000;

/// A function's (or one version's) log activity in a time window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogActivity {
    /// Invocations that ended (`REPORT` lines).
    pub invocations: u64,
    /// Error lines.
    pub errors: u64,
    /// When the last invocation ended, ms since the epoch.
    pub last_invocation_ms: Option<i64>,
    /// The latest error lines (up to 3, newest last, each cut at 240 characters).
    pub latest_errors: Vec<String>,
}

/// Reads `/aws/lambda/<function>` for the last `window`; `version` (e.g. `3`, `$LATEST`) keeps
/// only that version's streams. `Ok(None)`: the log group does not exist (never invoked).
pub async fn activity(
    aws: &Aws,
    function_name: &str,
    version: Option<&str>,
    window: Duration,
) -> Result<Option<LogActivity>, AwsError> {
    let group = format!("/aws/lambda/{function_name}");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(window);
    let stream_tag = version.map(|v| format!("[{v}]"));
    let mut out = LogActivity::default();
    let mut errors = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = 0usize;
    loop {
        let res = aws
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
            .filter_pattern(format!("?REPORT {ERROR_PATTERN}"))
            .set_next_token(token.take())
            .send()
            .await;
        let page = match res {
            Ok(p) => p,
            Err(e)
                if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(AwsError::call("logs:FilterLogEvents", e)),
        };
        for e in page.events() {
            seen += 1;
            if let Some(tag) = &stream_tag {
                if !e
                    .log_stream_name()
                    .unwrap_or_default()
                    .contains(tag.as_str())
                {
                    continue;
                }
            }
            let msg = e.message().unwrap_or_default().trim();
            if msg.starts_with("REPORT") {
                out.invocations += 1;
                out.last_invocation_ms = out.last_invocation_ms.max(e.timestamp());
            } else {
                out.errors += 1;
                errors.push(msg.chars().take(240).collect::<String>());
            }
        }
        match page.next_token() {
            Some(t) if seen < MAX_EVENTS && !page.events().is_empty() => token = Some(t.into()),
            _ => break,
        }
    }
    out.latest_errors = errors.split_off(errors.len().saturating_sub(3));
    Ok(Some(out))
}
