//! A small CloudWatch Logs API over the function logs (`POST /` with
//! `X-Amz-Target: Logs_20140328.<Operation>`, JSON 1.1): `FilterLogEvents` and
//! `DescribeLogStreams` on log group `/aws/lambda/<function>`.
//!
//! Lines carry no timestamps of their own in the emulator's files, so every event of a stream
//! gets the stream file's modification time. Filter patterns: space-separated terms must all
//! occur (`"quoted phrases"` allowed); terms prefixed with `?` are alternatives (any may occur).

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::logs::{function_log_dir, list_streams, stream_name_of_file};
use crate::state::Inner;

/// The `X-Amz-Target` prefix of CloudWatch Logs calls.
pub(crate) const TARGET_PREFIX: &str = "Logs_20140328.";

/// True for a CloudWatch Logs call (`X-Amz-Target: Logs_20140328.*`); on `POST /` anything else
/// is STS.
pub(crate) fn is_logs_call(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

fn reply(status: StatusCode, v: Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r
}

fn error(code: &str, message: String) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({ "__type": code, "message": message }),
    )
}

/// Parses a filter pattern into (required terms, optional alternatives).
pub(crate) fn parse_pattern(p: &str) -> (Vec<String>, Vec<String>) {
    let mut all = Vec::new();
    let mut any = Vec::new();
    let mut rest = p.trim();
    while !rest.is_empty() {
        let optional = rest.starts_with('?');
        if optional {
            rest = &rest[1..];
        }
        let (term, tail) = if let Some(r) = rest.strip_prefix('"') {
            match r.find('"') {
                Some(i) => (&r[..i], &r[i + 1..]),
                None => (r, ""),
            }
        } else {
            match rest.find(' ') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            }
        };
        if !term.is_empty() {
            if optional {
                any.push(term.to_string());
            } else {
                all.push(term.to_string());
            }
        }
        rest = tail.trim_start();
    }
    (all, any)
}

fn matches(line: &str, all: &[String], any: &[String]) -> bool {
    all.iter().all(|t| line.contains(t.as_str()))
        && (any.is_empty() || any.iter().any(|t| line.contains(t.as_str())))
}

fn function_of(group: &str) -> Option<&str> {
    group
        .strip_prefix("/aws/lambda/")
        .filter(|f| !f.is_empty() && !f.contains('/') && !f.contains(".."))
}

/// Handles one CloudWatch Logs call.
pub(crate) fn handle(inner: &Arc<Inner>, headers: &HeaderMap, body: &Bytes) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("");
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error("SerializationException", format!("invalid JSON body: {e}")),
    };
    let group = req
        .get("logGroupName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(function) = function_of(group) else {
        return error(
            "ResourceNotFoundException",
            format!("The specified log group does not exist: {group:?} (the emulator serves /aws/lambda/<function>)"),
        );
    };
    // The name becomes a path component: `function_log_dir` refuses anything but a Lambda name.
    let dir = match function_log_dir(&inner.config.data_dir, function) {
        Ok(d) => d,
        Err(e) => {
            return error(
                "InvalidParameterException",
                format!("logGroupName {group:?} does not name a Lambda function's log group: {e}"),
            )
        }
    };
    let streams = match list_streams(&inner.config.data_dir, function) {
        Ok(s) => s,
        Err(_) => {
            return error(
                "ResourceNotFoundException",
                format!("The specified log group does not exist: {group}"),
            )
        }
    };
    match op {
        "DescribeLogStreams" => describe_log_streams(&dir, &streams),
        "FilterLogEvents" => filter_log_events(&req, &dir, &streams),
        other => error(
            "UnknownOperationException",
            format!("CloudWatch Logs operation {other:?} is not served by the emulator (FilterLogEvents, DescribeLogStreams are)"),
        ),
    }
}

/// A stream file's modification time, epoch ms (0 when unknown): its last event's timestamp.
fn mtime_ms(dir: &Path, name: &str) -> i64 {
    std::fs::metadata(dir.join(name))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `DescribeLogStreams`: every stream of the group.
fn describe_log_streams(dir: &Path, streams: &[String]) -> Response {
    let list: Vec<Value> = streams
        .iter()
        .map(|s| {
            let t = mtime_ms(dir, s);
            json!({"logStreamName": stream_name_of_file(s), "lastEventTimestamp": t, "lastIngestionTime": t})
        })
        .collect();
    reply(StatusCode::OK, json!({ "logStreams": list }))
}

/// `FilterLogEvents`: the lines matching `filterPattern` of the streams written between
/// `startTime` and `endTime`, at most `limit` (default and maximum 10,000).
fn filter_log_events(req: &Value, dir: &Path, streams: &[String]) -> Response {
    let start = req.get("startTime").and_then(Value::as_i64).unwrap_or(0);
    let end = req
        .get("endTime")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    let limit = req
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10_000)
        .clamp(1, 10_000) as usize;
    let (all, any) = parse_pattern(
        req.get("filterPattern")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let mut events = Vec::new();
    'outer: for s in streams {
        let t = mtime_ms(dir, s);
        if t < start || t > end {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join(s)) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if matches(line, &all, &any) {
                events.push(json!({
                    "logStreamName": stream_name_of_file(s),
                    "timestamp": t,
                    "ingestionTime": t,
                    "message": line,
                    "eventId": format!("{t}-{s}-{i}"),
                }));
                if events.len() >= limit {
                    break 'outer;
                }
            }
        }
    }
    reply(
        StatusCode::OK,
        json!({ "events": events, "searchedLogStreams": [] }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let (all, any) = parse_pattern(r#"?ERROR ?"Task timed out" ?Runtime."#);
        assert!(all.is_empty());
        assert_eq!(any, vec!["ERROR", "Task timed out", "Runtime."]);
        assert!(matches("2025 ERROR boom", &all, &any));
        assert!(!matches("INFO fine", &all, &any));
        let (all, any) = parse_pattern("REPORT Duration");
        assert_eq!(all, vec!["REPORT", "Duration"]);
        assert!(matches("REPORT RequestId: x Duration: 3 ms", &all, &any));
        assert!(!matches("REPORT RequestId: x", &all, &any));
        assert_eq!(function_of("/aws/lambda/hello"), Some("hello"));
        assert_eq!(function_of("/aws/lambda/../x"), None);
    }
}
