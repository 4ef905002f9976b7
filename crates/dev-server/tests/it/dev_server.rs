//! Integration tests against the real `temporal server start-dev`.

use std::time::Duration;

use temporal_dev_server::{DevServer, DevServerError, DevServerOptions};
use temporalio_client::tonic::Request;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, GetSystemInfoRequest, RegisterNamespaceRequest,
};

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[tokio::test]
async fn start_connect_stop() {
    let mut server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server starts");
    assert!(server.address().starts_with("127.0.0.1:"));
    assert_ne!(server.grpc_port(), server.http_port());
    let pid = server.pid().expect("running");
    assert!(server.is_running());

    let client = server.client().await.expect("client connects");
    let mut svc = client.connection().workflow_service();
    let ns = svc
        .describe_namespace(Request::new(DescribeNamespaceRequest {
            namespace: "default".into(),
            ..Default::default()
        }))
        .await
        .expect("describe namespace")
        .into_inner();
    assert_eq!(ns.namespace_info.unwrap().name, "default");

    // HTTP API answers too.
    let http = std::net::TcpStream::connect(server.http_address());
    assert!(http.is_ok(), "HTTP API port accepts connections");

    server.stop();
    assert!(server.pid().is_none());
    assert!(!pid_alive(pid), "process {pid} is gone after stop");
    server.stop(); // idempotent
}

#[tokio::test]
async fn two_servers_at_once_and_custom_namespace() {
    let (a, b) = tokio::join!(
        DevServer::start(DevServerOptions::default()),
        DevServer::start(DevServerOptions {
            namespace: "lambda-tests".into(),
            ..Default::default()
        }),
    );
    let (a, b) = (a.expect("server a"), b.expect("server b"));
    assert_ne!(a.address(), b.address());
    assert_eq!(b.namespace(), "lambda-tests");
    for s in [&a, &b] {
        let client = s.client().await.expect("connect");
        let info = client
            .connection()
            .workflow_service()
            .get_system_info(Request::new(GetSystemInfoRequest::default()))
            .await
            .expect("system info");
        assert!(info.into_inner().server_version.starts_with('1'));
    }
    let pids = [a.pid().unwrap(), b.pid().unwrap()];
    drop(a);
    drop(b);
    for pid in pids {
        assert!(!pid_alive(pid), "process {pid} is gone after drop");
    }
}

#[tokio::test]
async fn drop_on_panic_kills_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = tokio::spawn(async move {
        let server = DevServer::start(DevServerOptions::default()).await.unwrap();
        tx.send(server.pid().unwrap()).unwrap();
        panic!("test panic while the server runs");
    });
    assert!(handle.await.is_err());
    let pid = rx.recv().unwrap();
    assert!(!pid_alive(pid), "process {pid} is gone after a panic");
}

#[tokio::test]
async fn restart_keeps_db_file() {
    let dir = std::env::temp_dir().join(format!("tds-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("temporal.db");
    let mut server = DevServer::start(DevServerOptions {
        db_file: Some(db.clone()),
        ..Default::default()
    })
    .await
    .expect("start with db");
    let client = server.client().await.unwrap();
    client
        .connection()
        .workflow_service()
        .register_namespace(Request::new(RegisterNamespaceRequest {
            namespace: "kept".into(),
            workflow_execution_retention_period: Some(
                Duration::from_secs(86_400).try_into().unwrap(),
            ),
            ..Default::default()
        }))
        .await
        .expect("register namespace");
    drop(client);
    let addr = server.address();
    let first_pid = server.pid().unwrap();
    server.restart().await.expect("restart");
    assert_ne!(server.pid().unwrap(), first_pid);
    assert_eq!(server.address(), addr, "same ports after restart");
    assert!(db.exists());
    let client = server.client().await.expect("connect after restart");
    client
        .connection()
        .workflow_service()
        .describe_namespace(Request::new(DescribeNamespaceRequest {
            namespace: "kept".into(),
            ..Default::default()
        }))
        .await
        .expect("namespace registered before the restart is still there");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn missing_binary_is_a_clear_error() {
    let err = DevServer::start(DevServerOptions {
        temporal_binary: Some("/nonexistent/temporal".into()),
        startup_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await
    .expect_err("must fail");
    assert!(matches!(err, DevServerError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/temporal"), "{err}");
}

#[tokio::test]
async fn bad_flag_reports_log_tail() {
    let err = DevServer::start(DevServerOptions {
        extra_args: vec!["--definitely-not-a-flag".into()],
        ..Default::default()
    })
    .await
    .expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, DevServerError::Exited { .. }), "{msg}");
    assert!(msg.contains("definitely-not-a-flag"), "{msg}");
}
