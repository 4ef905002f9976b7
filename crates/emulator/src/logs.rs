//! Function logs: one file per log stream (sandbox) under `<data-dir>/logs/<function>/`, like a
//! CloudWatch log group, with Lambda's START / END / REPORT platform lines.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

fn invalid_input(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// At most `max` characters of untrusted input, for error messages.
fn shown(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Directory holding a function's log streams. The name must be a valid Lambda function name
/// (see [`crate::store::is_valid_function_name`]): it becomes a path component, so anything else
/// (`..`, `/`, an absolute path) is refused with [`std::io::ErrorKind::InvalidInput`] here,
/// for every caller (HTTP routes, [`crate::EmulatorHandle::logs`], the log writer).
pub(crate) fn function_log_dir(data_dir: &Path, function: &str) -> std::io::Result<PathBuf> {
    if !crate::store::is_valid_function_name(function) {
        return Err(invalid_input(format!(
            "invalid function name {:?}: a Lambda function name has 1-64 letters, digits, '-' or '_' \
             (no '/', '.' or '%'); pass the name the function was created with",
            shown(function, 80)
        )));
    }
    Ok(data_dir.join("logs").join(function))
}

/// The file of a stream given by stream name (`2025/01/31/[$LATEST]0123…`) or file name
/// (`2025-01-31-LATEST-0123….log`). Only plain file names of letters, digits, `-`, `_` and `.`
/// ending in `.log` pass (no `/`, no `..`, no leading `.`).
fn stream_file(stream: &str) -> std::io::Result<String> {
    let file = if stream.ends_with(".log") {
        stream.to_string()
    } else {
        stream_file_name(stream)
    };
    let ok = file.len() <= 255
        && !file.starts_with('.')
        && !file.contains("..")
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(invalid_input(format!(
            "invalid log stream name {:?}: give a stream as GET /_emulator/logs/{{function}}/streams lists it \
             (e.g. 2025-01-31-LATEST-0123abcd.log) or its CloudWatch name (e.g. 2025/01/31/[$LATEST]0123abcd)",
            shown(stream, 80)
        )));
    }
    Ok(file)
}

/// File name for a stream name such as `2025/01/31/[$LATEST]0123…`: `2025-01-31-LATEST-0123….log`.
pub(crate) fn stream_file_name(stream: &str) -> String {
    let s: String = stream
        .chars()
        .filter(|c| *c != '$' && *c != '[')
        .map(|c| if c == '/' || c == ']' { '-' } else { c })
        .collect();
    format!("{s}.log")
}

/// The CloudWatch stream name of a stream file: `2025-01-31-LATEST-0123….log` →
/// `2025/01/31/[$LATEST]0123…` (the inverse of [`stream_file_name`]); a file not named so is
/// returned without its `.log`.
pub(crate) fn stream_name_of_file(file: &str) -> String {
    let base = file.trim_end_matches(".log");
    let mut parts = base.splitn(4, '-');
    let (Some(y), Some(m), Some(d), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return base.to_string();
    };
    let Some((version, id)) = rest.rsplit_once('-') else {
        return base.to_string();
    };
    let version = if version == "LATEST" {
        "$LATEST"
    } else {
        version
    };
    format!("{y}/{m}/{d}/[{version}]{id}")
}

enum Msg {
    Data(Vec<u8>),
    Flush(oneshot::Sender<()>),
}

/// A log stream being written: lines go through a channel to one writer task.
pub(crate) struct LogStream {
    pub name: String,
    tx: mpsc::UnboundedSender<Msg>,
    writer: JoinHandle<()>,
}

impl LogStream {
    /// Creates the stream file and its writer task.
    pub(crate) async fn open(
        data_dir: &Path,
        function: &str,
        version: &str,
    ) -> std::io::Result<Self> {
        let name = format!(
            "{}/[{}]{}",
            crate::store::now_utc().format("%Y/%m/%d"),
            version,
            uuid::Uuid::new_v4().simple()
        );
        let dir = function_log_dir(data_dir, function)?;
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(stream_file_name(&name));
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Data(chunk) => {
                        // A failed write is not fatal to the sandbox; keep draining.
                        let _ = file.write_all(&chunk).await;
                    }
                    Msg::Flush(done) => {
                        let _ = file.flush().await;
                        let _ = done.send(());
                    }
                }
                if rx.is_empty() {
                    let _ = file.flush().await;
                }
            }
            let _ = file.flush().await;
        });
        Ok(Self { name, tx, writer })
    }

    /// Writes one platform line (a newline is added).
    pub(crate) fn line(&self, s: impl AsRef<str>) {
        let mut v = s.as_ref().as_bytes().to_vec();
        v.push(b'\n');
        let _ = self.tx.send(Msg::Data(v));
    }

    /// Waits (briefly) until everything queued so far is in the file.
    pub(crate) async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await;
        }
    }

    /// Copies a process pipe into the stream, line by line, until EOF.
    pub(crate) fn pipe<R: AsyncRead + Unpin + Send + 'static>(
        &self,
        reader: R,
        function: String,
    ) -> JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if !buf.ends_with(b"\n") {
                            buf.push(b'\n');
                        }
                        tracing::debug!(target: "lambda_emulator::function", function = %function, "{}", String::from_utf8_lossy(&buf).trim_end());
                        if tx.send(Msg::Data(buf.clone())).is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }

    /// Closes the stream and waits until everything is written.
    pub(crate) async fn close(self) {
        drop(self.tx);
        let _ = self.writer.await;
    }
}

/// Reads a function's logs: one stream (by stream or file name) or all of them, oldest stream first,
/// each preceded by a `==> <stream file> <==` header.
pub(crate) fn read_logs(
    data_dir: &Path,
    function: &str,
    stream: Option<&str>,
) -> std::io::Result<String> {
    let dir = function_log_dir(data_dir, function)?;
    if let Some(s) = stream {
        return std::fs::read_to_string(dir.join(stream_file(s)?));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let t = meta.created().or_else(|_| meta.modified()).ok();
        files.push((
            t,
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    files.sort();
    let mut out = String::new();
    for (_, name, path) in files {
        out.push_str(&format!("==> {name} <==\n"));
        out.push_str(&std::fs::read_to_string(path)?);
    }
    Ok(out)
}

/// Lists a function's stream files, oldest first.
pub(crate) fn list_streams(data_dir: &Path, function: &str) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(function_log_dir(data_dir, function)?)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        files.push((
            meta.created().or_else(|_| meta.modified()).ok(),
            entry.file_name().to_string_lossy().into_owned(),
        ));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, n)| n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_round_trip_through_file_names() {
        for name in ["2025/01/31/[$LATEST]0123abcd", "2026/12/02/[7]ffee"] {
            assert_eq!(stream_name_of_file(&stream_file_name(name)), name);
        }
        assert_eq!(stream_name_of_file("odd.log"), "odd");
    }

    #[test]
    fn names_that_leave_the_logs_dir_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for bad in [
            "..",
            "../x",
            "../../etc",
            "/etc",
            "a/b",
            "",
            ".",
            "f.log",
            &"a".repeat(65),
        ] {
            for r in [
                read_logs(&data, bad, None).map(|_| ()),
                list_streams(&data, bad).map(|_| ()),
                function_log_dir(&data, bad).map(|_| ()),
            ] {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}: {e}");
                assert!(e.to_string().contains("invalid function name"), "{e}");
            }
        }
        for bad in [
            "../../../etc/passwd",
            "../state.json",
            "..log",
            ".hidden.log",
            "a/../../b.log",
            "x\0.log",
        ] {
            let e = read_logs(&data, "f", Some(bad)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}: {e}");
            assert!(e.to_string().contains("invalid log stream name"), "{e}");
        }
        // Good names still work (NotFound: nothing logged yet).
        let e = read_logs(&data, "my-fn_1", Some("2025/01/31/[$LATEST]abc")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            stream_file("2025/01/31/[3]abc").unwrap(),
            "2025-01-31-3-abc.log"
        );
    }
}
