//! Parsing the function logs the emulator keeps (`EmulatorHandle::logs`): the platform `REPORT`
//! lines and the worker's `worker polling` line.

use std::collections::HashMap;

/// The figures of one emulator `REPORT` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// `Duration`: invocation handed to the runtime → response/error received, ms.
    pub duration_ms: f64,
    /// `Max Memory Used`: the sandbox process's `VmHWM` (peak resident set over the process's
    /// whole life so far, from `/proc/<pid>/status`), read when the invocation ended, MB.
    pub max_memory_mb: u64,
    /// `Init Duration` (cold starts only): process spawn → the runtime's first
    /// `GET /runtime/invocation/next` received the invocation, ms.
    pub init_ms: Option<f64>,
}

/// `REPORT` lines by request ID.
pub(crate) fn parse_reports(logs: &str) -> HashMap<String, Report> {
    let mut out = HashMap::new();
    for line in logs.lines() {
        let Some(rest) = line.trim_start().strip_prefix("REPORT ") else {
            continue;
        };
        let mut request_id = None;
        let mut duration_ms = None;
        let mut max_memory_mb = None;
        let mut init_ms = None;
        for field in rest.split('\t') {
            let Some((key, value)) = field.split_once(": ") else {
                continue;
            };
            let number = value.split_whitespace().next().unwrap_or_default();
            match key.trim() {
                "RequestId" => request_id = Some(value.trim().to_string()),
                "Duration" => duration_ms = number.parse().ok(),
                "Max Memory Used" => max_memory_mb = number.parse().ok(),
                "Init Duration" => init_ms = number.parse().ok(),
                _ => {}
            }
        }
        if let (Some(id), Some(duration_ms), Some(max_memory_mb)) =
            (request_id, duration_ms, max_memory_mb)
        {
            out.insert(
                id,
                Report {
                    duration_ms,
                    max_memory_mb,
                    init_ms,
                },
            );
        }
    }
    out
}

/// The worker's `worker polling` event (logged right after it connected and created the SDK
/// worker, immediately before its first poll).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Polling {
    /// The event's timestamp (the worker's clock = the emulator's clock), epoch ms.
    pub at_ms: f64,
    /// `connect_ms`: time the worker took to connect to Temporal in this invocation.
    pub connect_ms: Option<f64>,
}

/// `worker polling` events by request ID, from plain-text (`tracing` fmt) or JSON log lines.
pub(crate) fn parse_polling(logs: &str) -> HashMap<String, Polling> {
    let mut out = HashMap::new();
    for line in logs.lines().filter(|l| l.contains("worker polling")) {
        let parsed = if line.trim_start().starts_with('{') {
            parse_json_line(line)
        } else {
            parse_text_line(line)
        };
        if let Some((id, p)) = parsed {
            out.insert(id, p);
        }
    }
    out
}

fn epoch_ms(rfc3339: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(t.timestamp_micros() as f64 / 1000.0)
}

/// `2025-01-31T12:00:00.123456Z  INFO worker polling request_id=… connect_ms=12 …`
fn parse_text_line(line: &str) -> Option<(String, Polling)> {
    let at_ms = epoch_ms(line.split_whitespace().next()?)?;
    let field = |key: &str| {
        line.split(|c: char| c.is_whitespace() || matches!(c, '{' | '}' | ','))
            .find_map(|tok| tok.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches(|c| c == '"' || c == ':').to_string())
    };
    let id = field("request_id")?;
    let connect_ms = field("connect_ms").and_then(|v| v.parse().ok());
    Some((id, Polling { at_ms, connect_ms }))
}

/// `{"timestamp":"…","level":"INFO","message":"worker polling","request_id":"…","connect_ms":12,…}`
/// (flattened or with a `fields` object).
fn parse_json_line(line: &str) -> Option<(String, Polling)> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let get = |key: &str| v.get(key).or_else(|| v.get("fields")?.get(key));
    if get("message")?.as_str()? != "worker polling" {
        return None;
    }
    let at_ms = epoch_ms(v.get("timestamp")?.as_str()?)?;
    let id = get("request_id")?.as_str()?.to_string();
    let connect_ms = get("connect_ms").and_then(|c| c.as_f64());
    Some((id, Polling { at_ms, connect_ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_with_and_without_init_duration() {
        let logs = "START RequestId: a Version: 1\nEND RequestId: a\n\
            REPORT RequestId: a\tDuration: 2012.50 ms\tBilled Duration: 2013 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB\tInit Duration: 35.20 ms\n\
            REPORT RequestId: b\tDuration: 2001.00 ms\tBilled Duration: 2001 ms\tMemory Size: 256 MB\tMax Memory Used: 23 MB\n";
        let r = parse_reports(logs);
        assert_eq!(r["a"].init_ms, Some(35.2));
        assert_eq!(r["a"].max_memory_mb, 21);
        assert_eq!(r["b"].init_ms, None);
        assert_eq!(r["b"].duration_ms, 2001.0);
    }

    #[test]
    fn worker_polling_in_text_and_json() {
        let text = "2025-01-31T12:00:00.500250Z  INFO worker polling request_id=abc-1 deployment_version=a:b task_queue=q namespace=default work_window_ms=1990 connect_ms=12\n\
            2025-01-31T12:00:01Z  INFO invocation finished request_id=abc-1\n\
            {\"timestamp\":\"2025-01-31T12:00:02.000Z\",\"level\":\"INFO\",\"message\":\"worker polling\",\"request_id\":\"def-2\",\"connect_ms\":7}\n";
        let p = parse_polling(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p["abc-1"].connect_ms, Some(12.0));
        assert_eq!(p["abc-1"].at_ms, 1_738_324_800_500.25);
        assert_eq!(p["def-2"].connect_ms, Some(7.0));
        assert_eq!(p["def-2"].at_ms, 1_738_324_802_000.0);
    }
}
