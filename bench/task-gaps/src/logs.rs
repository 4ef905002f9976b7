//! Parsing the function logs the emulator keeps: the platform `REPORT` lines and the worker's
//! `worker polling`, `polling stopped, draining` and `invocation finished` lines (plain text as
//! the worker logs by default, or JSON with `AWS_LAMBDA_LOG_FORMAT=JSON`).

use std::collections::HashMap;

/// One invocation as its log lines tell it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Invocation {
    /// REPORT `Duration`, ms.
    pub duration_ms: Option<f64>,
    /// REPORT `Init Duration` (cold starts), ms.
    pub init_ms: Option<f64>,
    /// `worker polling` timestamp, epoch ms.
    pub polling_at_ms: Option<f64>,
    /// `polling stopped, draining` timestamp, epoch ms.
    pub stopped_at_ms: Option<f64>,
    /// `invocation finished`: `first_task_ms` (`None`: no task came).
    pub first_task_ms: Option<u64>,
    /// `invocation finished`: `idle_gaps_ms`.
    pub idle_gaps_ms: Vec<u64>,
    /// `invocation finished`: `idle_tail_ms`.
    pub idle_tail_ms: Option<u64>,
    /// `invocation finished`: `stopped_by` (`Idle`, `Window`, …).
    pub stopped_by: Option<String>,
    /// Whether the `invocation finished` line was seen.
    pub finished: bool,
}

/// Invocations by request ID.
pub(crate) fn parse(logs: &str) -> HashMap<String, Invocation> {
    let mut out: HashMap<String, Invocation> = HashMap::new();
    for line in logs.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("REPORT ") {
            report(rest, &mut out);
            continue;
        }
        let Some(ev) = event(line) else { continue };
        let Some(id) = ev.get("request_id") else {
            continue;
        };
        let inv = out.entry(id.clone()).or_default();
        match ev.get("message").map(String::as_str) {
            Some("worker polling") => inv.polling_at_ms = ev.at_ms,
            Some("polling stopped, draining") => inv.stopped_at_ms = ev.at_ms,
            Some("invocation finished") => {
                inv.finished = true;
                inv.first_task_ms = ev.get("first_task_ms").and_then(|v| option_u64(v));
                inv.idle_gaps_ms = ev
                    .get("idle_gaps_ms")
                    .map(|v| list_u64(v))
                    .unwrap_or_default();
                inv.idle_tail_ms = ev.get("idle_tail_ms").and_then(|v| v.parse().ok());
                inv.stopped_by = ev.get("stopped_by").cloned();
            }
            _ => {}
        }
    }
    out
}

fn report(rest: &str, out: &mut HashMap<String, Invocation>) {
    let mut id = None;
    let mut duration = None;
    let mut init = None;
    for field in rest.split('\t') {
        let Some((key, value)) = field.split_once(": ") else {
            continue;
        };
        let number = value.split_whitespace().next().unwrap_or_default();
        match key.trim() {
            "RequestId" => id = Some(value.trim().to_string()),
            "Duration" => duration = number.parse().ok(),
            "Init Duration" => init = number.parse().ok(),
            _ => {}
        }
    }
    if let Some(id) = id {
        let inv = out.entry(id).or_default();
        inv.duration_ms = duration;
        inv.init_ms = init;
    }
}

/// A worker log event: its timestamp and fields (`message` included).
struct Event {
    at_ms: Option<f64>,
    fields: HashMap<String, String>,
}

impl Event {
    fn get(&self, key: &str) -> Option<&String> {
        self.fields.get(key)
    }
}

fn epoch_ms(rfc3339: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(t.timestamp_micros() as f64 / 1000.0)
}

const MESSAGES: [&str; 3] = [
    "worker polling",
    "polling stopped, draining",
    "invocation finished",
];

fn event(line: &str) -> Option<Event> {
    let line = line.trim();
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let obj = v.as_object()?;
        let mut fields = HashMap::new();
        let nested = obj.get("fields").and_then(|f| f.as_object());
        for (k, val) in obj.iter().chain(nested.into_iter().flatten()) {
            let s = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fields.insert(k.clone(), s);
        }
        if !MESSAGES.contains(&fields.get("message")?.as_str()) {
            return None;
        }
        let at_ms = fields.get("timestamp").and_then(|t| epoch_ms(t));
        return Some(Event { at_ms, fields });
    }
    // `2025-01-31T12:00:00.123456Z  INFO <message> key=value key=[a, b] …`
    let message = MESSAGES.iter().find(|m| {
        line.find(&format!(" {m} "))
            .or_else(|| line.ends_with(&format!(" {m}")).then_some(0))
            .is_some()
    })?;
    let at_ms = line.split_whitespace().next().and_then(epoch_ms);
    let start = line.find(&format!(" {message}"))? + message.len() + 1;
    let mut fields = text_fields(&line[start..]);
    fields.insert("message".into(), message.to_string());
    Some(Event { at_ms, fields })
}

/// `key=value` pairs; a value starting with `[` runs to the matching `]` (Debug lists hold
/// spaces), a quoted value to its closing quote.
fn text_fields(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim_start();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_string();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(inner) = after.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            (
                format!("[{}]", &inner[..end]),
                inner.get(end + 1..).unwrap_or(""),
            )
        } else if let Some(inner) = after.strip_prefix('"') {
            let end = inner.find('"').unwrap_or(inner.len());
            (inner[..end].to_string(), inner.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if !key.is_empty() && !key.contains(char::is_whitespace) {
            out.insert(key, value);
        }
        rest = next.trim_start();
    }
    out
}

/// `Some(12)`, `12` → 12; `None`, `null` → `None`.
fn option_u64(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v
        .strip_prefix("Some(")
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(v);
    v.parse().ok()
}

/// `[120, 2000]` → `[120, 2000]`.
fn list_u64(v: &str) -> Vec<u64> {
    v.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_and_report() {
        let logs = "START RequestId: abc-1 Version: 1\n\
            2025-01-31T12:00:00.500250Z  INFO worker polling request_id=abc-1 deployment_version=a:b task_queue=q namespace=default work_window_ms=1990 connect_ms=12\n\
            2025-01-31T12:00:03.500Z  INFO polling stopped, draining request_id=abc-1 stopped_by=Idle in_flight_activities=0 drain_ms=5000\n\
            2025-01-31T12:00:03.510Z  INFO invocation finished request_id=abc-1 activities_completed=3 activities_failed=0 drained=true interrupted=false stopped_by=Idle first_task_ms=Some(12) idle_gaps_ms=[120, 2000] idle_tail_ms=700 time_left_ms=100 healthy=true\n\
            2025-01-31T12:00:04Z  INFO invocation finished request_id=def-2 stopped_by=Window first_task_ms=None idle_gaps_ms=[] idle_tail_ms=9000\n\
            END RequestId: abc-1\n\
            REPORT RequestId: abc-1\tDuration: 3020.50 ms\tBilled Duration: 3021 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB\tInit Duration: 35.20 ms\n";
        let p = parse(logs);
        let a = &p["abc-1"];
        assert_eq!(a.polling_at_ms, Some(1_738_324_800_500.25));
        assert_eq!(a.stopped_at_ms, Some(1_738_324_803_500.0));
        assert_eq!(a.first_task_ms, Some(12));
        assert_eq!(a.idle_gaps_ms, vec![120, 2000]);
        assert_eq!(a.idle_tail_ms, Some(700));
        assert_eq!(a.stopped_by.as_deref(), Some("Idle"));
        assert_eq!(a.duration_ms, Some(3020.5));
        assert_eq!(a.init_ms, Some(35.2));
        let b = &p["def-2"];
        assert!(b.finished);
        assert_eq!(b.first_task_ms, None);
        assert!(b.idle_gaps_ms.is_empty());
    }

    #[test]
    fn json_lines() {
        let logs = "{\"timestamp\":\"2025-01-31T12:00:02.000Z\",\"level\":\"INFO\",\"message\":\"invocation finished\",\"request_id\":\"x\",\"first_task_ms\":\"Some(7)\",\"idle_gaps_ms\":\"[3, 4]\",\"idle_tail_ms\":15000,\"stopped_by\":\"Idle\"}\n";
        let p = parse(logs);
        assert_eq!(p["x"].idle_gaps_ms, vec![3, 4]);
        assert_eq!(p["x"].first_task_ms, Some(7));
        assert_eq!(p["x"].idle_tail_ms, Some(15000));
    }
}
