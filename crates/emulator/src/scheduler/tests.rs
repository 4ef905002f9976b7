//! The scheduler on its own: the test plays the sandboxes (no processes, no HTTP).
use super::completion::complete;
use super::reports::{sandbox_gone, sandbox_idle};
use super::*;
use crate::arn::FunctionRef;
use crate::config::EmulatorConfig;
use crate::error::EmulatorError;
use crate::model::Outcome;
use crate::state::Launcher;
use bytes::Bytes;
use std::sync::mpsc::Receiver;
use std::time::Duration;
use tokio::sync::mpsc;

struct Fixture {
    inner: Arc<Inner>,
    launched: Receiver<Launched>,
    _dir: tempfile::TempDir,
}

fn fixture(limit: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.async_retry_delays = vec![Duration::from_secs(60), Duration::from_secs(120)];
    let mut store = crate::store::tests::store_with_function(dir.path());
    store.set_concurrency("f", Some(limit)).unwrap();
    let (tx, launched) = std::sync::mpsc::channel();
    let inner = Arc::new(Inner::new(
        config,
        store,
        "http://127.0.0.1:1".into(),
        Launcher::Record(tx),
    ));
    Fixture {
        inner,
        launched,
        _dir: dir,
    }
}

/// The scheduler with LMI function `f` (`max` per environment, `environments` of them).
fn lmi_fixture(environments: u32, max: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.managed_instances_environments = environments;
    let store = crate::store::tests::store_with_lmi_function(dir.path(), max);
    let (tx, launched) = std::sync::mpsc::channel();
    let inner = Arc::new(Inner::new(
        config,
        store,
        "http://127.0.0.1:1".into(),
        Launcher::Record(tx),
    ));
    Fixture {
        inner,
        launched,
        _dir: dir,
    }
}

fn submit_one(f: &Fixture, kind: InvocationType, n: u32) -> Result<Submitted, EmulatorError> {
    let fref = FunctionRef {
        name: "f".into(),
        qualifier: None,
    };
    submit(
        &f.inner,
        fref,
        "arn".into(),
        Bytes::from(format!("{{\"n\":{n}}}")),
        kind,
    )
}

fn n_of(inv: &Invocation) -> u32 {
    let v: serde_json::Value = serde_json::from_slice(&inv.payload).unwrap();
    v["n"].as_u64().unwrap() as u32
}

/// Lets paused time pass and the timer tasks it woke run (tasks spawned just before get
/// polled first, so their timers start now).
async fn pass(d: Duration) {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(d).await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn next_cmd(rx: &mut mpsc::UnboundedReceiver<SandboxCmd>) -> Option<Invocation> {
    match rx.try_recv() {
        Ok(SandboxCmd::Invoke(i)) => Some(i),
        Err(_) => None,
    }
}

#[tokio::test]
async fn the_limit_caps_sandboxes_the_queue_is_fifo_and_warm_sandboxes_are_reused() {
    let f = fixture(2);
    for n in 1..=4 {
        submit_one(&f, InvocationType::Event, n).unwrap();
    }
    let a = f.launched.try_recv().unwrap();
    let b = f.launched.try_recv().unwrap();
    assert!(
        f.launched.try_recv().is_err(),
        "only 2 sandboxes under a limit of 2"
    );
    assert_eq!((n_of(&a.first), n_of(&b.first)), (1, 2));
    assert_eq!(f.inner.sched.lock().unwrap().functions["f"].queue.len(), 2);

    // Sandbox a finishes: it is warm, so it gets the queue's head; no new sandbox.
    let Launched {
        id: a_id,
        first: a_inv,
        cmd_rx: mut a_rx,
    } = a;
    complete(&f.inner, a_inv, Outcome::Success, Bytes::new());
    assert!(sandbox_idle(&f.inner, "f", &a_id));
    assert_eq!(next_cmd(&mut a_rx).map(|i| n_of(&i)), Some(3));
    assert!(f.launched.try_recv().is_err());

    // Sandbox b finishes and is handed 4, then dies before taking it: 4 is requeued at the
    // front and runs in a new sandbox — never lost.
    let Launched {
        id: b_id,
        first: b_inv,
        cmd_rx: mut b_rx,
    } = b;
    complete(&f.inner, b_inv, Outcome::Success, Bytes::new());
    assert!(sandbox_idle(&f.inner, "f", &b_id));
    sandbox_gone(&f.inner, "f", &b_id, &mut b_rx);
    let c = f
        .launched
        .try_recv()
        .expect("a new sandbox for the requeued invocation");
    assert_eq!(n_of(&c.first), 4);
    assert_ne!(c.id, b_id);
    let sched = f.inner.sched.lock().unwrap();
    let fs = &sched.functions["f"];
    assert!(fs.queue.is_empty());
    assert_eq!(fs.sandboxes.len(), 2, "a (busy with 3) and c (busy with 4)");
    assert_eq!(fs.peak, 2);
}

#[tokio::test]
async fn a_sync_call_beyond_the_limit_is_throttled() {
    let f = fixture(1);
    let first = submit_one(&f, InvocationType::RequestResponse, 1).unwrap();
    assert!(first.reply.is_some());
    let e = submit_one(&f, InvocationType::RequestResponse, 2)
        .err()
        .unwrap();
    assert!(
        matches!(&e, EmulatorError::Throttled(m) if m.contains("concurrency limit")),
        "{e:?}"
    );
    // Events are queued instead.
    submit_one(&f, InvocationType::Event, 3).unwrap();
    assert_eq!(f.inner.sched.lock().unwrap().functions["f"].queue.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_event_is_retried_after_the_configured_delays_then_given_up() {
    let f = fixture(1);
    submit_one(&f, InvocationType::Event, 7).unwrap();
    let Launched {
        id,
        first,
        mut cmd_rx,
    } = f.launched.try_recv().unwrap();
    let fail_and_idle = |inv: Invocation| {
        fail(&f.inner, inv, "Boom", "failed");
        assert!(sandbox_idle(&f.inner, "f", &id));
    };
    fail_and_idle(first);
    // Nothing before the first delay (60 s)...
    pass(Duration::from_secs(59)).await;
    assert!(next_cmd(&mut cmd_rx).is_none());
    // ...then attempt 2 reaches the warm sandbox.
    pass(Duration::from_secs(2)).await;
    let second = next_cmd(&mut cmd_rx).expect("retry after 60 s");
    assert_eq!((n_of(&second), second.attempt), (7, 2));
    fail_and_idle(second);
    pass(Duration::from_secs(121)).await;
    let third = next_cmd(&mut cmd_rx).expect("retry after 120 s more");
    assert_eq!(third.attempt, 3);
    fail_and_idle(third);
    // Two retries (the default MaximumRetryAttempts): no fourth attempt.
    pass(Duration::from_secs(600)).await;
    assert!(next_cmd(&mut cmd_rx).is_none());
    let recs = f.inner.records.snapshot();
    assert_eq!(recs.len(), 3);
    assert!(recs
        .iter()
        .all(|r| r.outcome.as_ref().and_then(|o| o.error_type()) == Some("Boom")));
    assert!(f.launched.try_recv().is_err(), "one sandbox throughout");
}

#[test]
fn retry_delays_reuse_the_last_entry() {
    let d = [Duration::from_secs(60), Duration::from_secs(120)];
    assert_eq!(retry_delay(&d, 1), Duration::from_secs(60));
    assert_eq!(retry_delay(&d, 2), Duration::from_secs(120));
    assert_eq!(retry_delay(&d, 3), Duration::from_secs(120));
    assert_eq!(retry_delay(&[], 1), Duration::ZERO);
}

#[tokio::test]
async fn lmi_slots_fill_every_environment_then_throttle_and_free_one_at_a_time() {
    let f = lmi_fixture(2, 2);
    for n in 1..=4 {
        submit_one(&f, InvocationType::Event, n).unwrap();
    }
    // Two environments started (one per first invocation), each then given a second one.
    let mut envs: Vec<Launched> = f.launched.try_iter().collect();
    assert_eq!(
        envs.len(),
        2,
        "one environment, then a second once the first is full"
    );
    envs.sort_by(|a, b| a.id.cmp(&b.id));
    let second: Vec<Option<Invocation>> =
        envs.iter_mut().map(|e| next_cmd(&mut e.cmd_rx)).collect();
    assert!(
        second.iter().all(Option::is_some),
        "each environment got a second invocation"
    );
    let infos = sandboxes(&f.inner);
    assert!(infos.iter().all(|s| s.in_flight == 2), "{infos:?}");
    // Every slot taken: sync and Event invokes are throttled.
    for kind in [InvocationType::Event, InvocationType::RequestResponse] {
        match submit_one(&f, kind, 5) {
            Err(EmulatorError::Throttled(m)) => {
                assert!(m.contains("PerExecutionEnvironmentMaxConcurrency"), "{m}")
            }
            other => panic!("not throttled: {:?}", other.map(|s| s.request_id)),
        }
    }
    // One invocation ends: its environment has a free slot, and the next invoke goes there.
    let first = envs.remove(0);
    complete(&f.inner, first.first, Outcome::Success, Bytes::new());
    assert!(sandbox_idle(&f.inner, "f", &first.id));
    submit_one(&f, InvocationType::Event, 6).unwrap();
    let mut rx = first.cmd_rx;
    assert_eq!(next_cmd(&mut rx).map(|i| n_of(&i)), Some(6));
    assert_eq!(f.launched.try_iter().count(), 0, "no third environment");
}
