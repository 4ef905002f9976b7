//! Waiting for what the runtime posts (results, init errors) and for the emulator's shutdown.

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::runtime_api::RuntimeEvent;

pub(super) async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Waits for the runtime's response/error to `request_id` (an init error also ends it).
pub(super) async fn wait_result(
    events: &mut mpsc::UnboundedReceiver<RuntimeEvent>,
    request_id: &str,
) -> RuntimeEvent {
    loop {
        match events.recv().await {
            Some(RuntimeEvent::Response {
                request_id: id,
                body,
            }) if id == request_id => {
                return RuntimeEvent::Response {
                    request_id: id,
                    body,
                };
            }
            Some(RuntimeEvent::Error {
                request_id: id,
                error_type,
                body,
            }) if id == request_id => {
                return RuntimeEvent::Error {
                    request_id: id,
                    error_type,
                    body,
                };
            }
            Some(e @ RuntimeEvent::InitError { .. }) => return e,
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}

pub(super) async fn wait_init_error(
    events: &mut mpsc::UnboundedReceiver<RuntimeEvent>,
) -> (String, Bytes) {
    loop {
        match events.recv().await {
            Some(RuntimeEvent::InitError { error_type, body }) => return (error_type, body),
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}
