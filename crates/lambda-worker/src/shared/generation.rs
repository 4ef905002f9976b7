//! One SDK worker of a [`SharedWorker`](super::SharedWorker) and the thread body that runs it.

use std::sync::Arc;

use tokio::sync::watch;

use temporalio_client::Client;
use temporalio_sdk::{Worker, WorkerOptions};

use crate::{
    lambda_worker::Registration,
    stats::{ActivityCounters, Busy},
    Error, LambdaWorker,
};

pub(super) type RunOutcome = Option<Result<(), String>>;

/// One SDK worker on the shared connection. A drained worker cannot be restarted: the next
/// lease starts the next generation.
pub(super) struct Generation {
    pub(super) number: u64,
    pub(super) shutdown: Box<dyn Fn() + Send + Sync>,
    pub(super) interrupt: watch::Sender<bool>,
    pub(super) done: watch::Receiver<RunOutcome>,
    pub(super) busy: Arc<Busy>,
    pub(super) counters: Arc<ActivityCounters>,
}

impl Generation {
    /// Activities started, completed and failed so far.
    pub(super) fn counts(&self) -> [u64; 3] {
        [
            self.counters.started(),
            self.counters.completed(),
            self.counters.failed(),
        ]
    }
}

/// The thread body of one SDK worker: build it on the shared connection, report its shutdown
/// handle, run it until it has drained, release it from the connection.
pub(super) async fn run_generation(
    worker: Arc<LambdaWorker>,
    client: Client,
    options: WorkerOptions,
    ready: tokio::sync::oneshot::Sender<Result<Box<dyn Fn() + Send + Sync>, Error>>,
    done: watch::Sender<RunOutcome>,
) {
    let set = client.connection().workers();
    let task_queue = worker.config().task_queue.clone();
    let mut w = match Worker::new(&worker.runtime, client, options) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(Error::WorkerCreate {
                task_queue,
                reason: e.to_string(),
            }));
            return;
        }
    };
    let registration = Registration::of(set, &w);
    let _ = ready.send(Ok(Box::new(w.shutdown_handle())));
    let outcome = w.run().await.map_err(|e| e.to_string());
    drop(w);
    let released = registration.release();
    tracing::debug!(released, "shared worker unregistered from its connection");
    done.send_replace(Some(outcome));
}
