//! The `lambda-emulator` binary and port handling.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use temporal_lambda_emulator::{Emulator, EmulatorError};

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path()).with_bind(([127, 0, 0, 1], port).into());
    let err = Emulator::start(cfg).await.unwrap_err();
    assert!(
        matches!(err, EmulatorError::PortInUse { port: p, .. } if p == port),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&port.to_string()) && msg.contains("--port"),
        "{msg}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lambda-emulator"))
        .args(["--port", &port.to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains(&format!("port {port} is already in use")),
        "{line}"
    );
}

#[test]
fn binary_prints_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lambda-emulator"))
        .args([
            "--port",
            "0",
            "--role",
            "arn:aws:iam::123456789012:role/r=ext-12345",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_string();
    let stream = std::net::TcpStream::connect(&addr);
    assert!(stream.is_ok());
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(state.contains("arn:aws:iam::123456789012:role/r"));
    // SAFETY: sending SIGTERM to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
