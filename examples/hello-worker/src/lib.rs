//! The sample application: workflows and activities, kept apart from `main` so tests and the demo
//! can start these workflows by type.
// temporalio's `#[workflow_methods]` generates public associated constants without docs.
#![allow(missing_docs)]

use std::time::Duration;

use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    activities::{ActivityContext, ActivityError},
    workflows::join_all,
    ActivityOptions, ChildWorkflowOptions, SyncWorkflowContext, WorkflowContext, WorkflowResult,
};

/// Task queue the sample polls unless `TEMPORAL_TASK_QUEUE` says otherwise.
pub const DEFAULT_TASK_QUEUE: &str = "hello-lambda";

/// The sample's Worker Deployment name, unless `HELLO_DEPLOYMENT_NAME` (or the worker's own
/// `TEMPORAL_DEPLOYMENT_NAME`) says otherwise.
pub const DEPLOYMENT_NAME: &str = "hello-app";

/// The sample's build ID, unless `HELLO_BUILD_ID` (or the worker's own `TEMPORAL_BUILD_ID`)
/// says otherwise.
pub const BUILD_ID: &str = "build-1";

/// The Lambda function name the rig and the tests give the sample (its package name).
pub const FUNCTION_NAME: &str = "hello-worker";

/// The workflow the demo starts: `HelloWorkflow(name)` → `Hello, <name>!`.
pub const DEMO_WORKFLOW_TYPE: &str = "HelloWorkflow";

/// Greets by calling one activity.
#[workflow]
#[derive(Default)]
pub struct HelloWorkflow;

#[workflow_methods]
impl HelloWorkflow {
    /// Returns `Hello, <name>!` from the `greet` activity.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                Greetings::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

/// Input of [`SlowHelloWorkflow`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SlowHello {
    /// Who to greet.
    pub name: String,
    /// How long the activity's first attempt works before answering, ms (retries answer at once).
    pub work_ms: u64,
    /// Start-to-close timeout of the activity, ms (0: 60 s).
    #[serde(default)]
    pub start_to_close_ms: u64,
}

/// Like [`HelloWorkflow`] but the activity takes `work_ms`: used to test deadlines and retries.
#[workflow]
#[derive(Default)]
pub struct SlowHelloWorkflow;

#[workflow_methods]
impl SlowHelloWorkflow {
    /// Returns `Hello, <name>!` after the slow activity.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: SlowHello) -> WorkflowResult<String> {
        let timeout = match input.start_to_close_ms {
            0 => Duration::from_secs(60),
            ms => Duration::from_millis(ms),
        };
        let greeting = ctx
            .execute_activity(
                Greetings::slow_greet,
                input,
                ActivityOptions::start_to_close_timeout(timeout),
            )
            .await?;
        Ok(greeting)
    }
}

/// The sample's activities.
pub struct Greetings;

#[activities]
impl Greetings {
    /// `Hello, <name>!`
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    /// `Hello, <name>!`, after `work_ms` milliseconds on the first attempt (retries answer at
    /// once). Honours cancellation.
    #[activity]
    pub async fn slow_greet(
        ctx: ActivityContext,
        input: SlowHello,
    ) -> Result<String, ActivityError> {
        if ctx.info().attempt <= 1 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(input.work_ms)) => {}
                _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
            }
        }
        Ok(format!("Hello, {}!", input.name))
    }

    /// `<name>:<i>`: one step of [`ThreeStepWorkflow`].
    #[activity]
    pub async fn step(
        _ctx: ActivityContext,
        input: (String, u32),
    ) -> Result<String, ActivityError> {
        Ok(format!("{}:{}", input.0, input.1))
    }

    /// Counts to `to`, one step per `step_ms`, heartbeating the count as details after each
    /// step; a retry resumes from the last recorded count. On cancellation (the invocation is
    /// ending) it records its progress and stops.
    #[activity]
    pub async fn count(ctx: ActivityContext, input: Count) -> Result<Counted, ActivityError> {
        let resumed_from: u32 = ctx
            .heartbeat_details()
            .deserialize()
            .ok()
            .flatten()
            .unwrap_or(0);
        let mut n = resumed_from;
        while n < input.to {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(input.step_ms)) => {}
                _ = ctx.cancelled() => {
                    let _ = ctx.record_heartbeat(n).await;
                    return Err(ActivityError::cancelled());
                }
            }
            n += 1;
            let _ = ctx.record_heartbeat(n).await;
        }
        Ok(Counted {
            count: n,
            resumed_from,
            attempt: ctx.info().attempt,
        })
    }
}

/// Input of [`TimerHelloWorkflow`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TimerHello {
    /// Who to greet.
    pub name: String,
    /// Timer between the two greetings, ms.
    pub delay_ms: u64,
}

/// Greets, sleeps on a durable timer, greets again: its second workflow task arrives after the
/// invocation that ran the first one may have ended (tests the hand-off).
#[workflow]
#[derive(Default)]
pub struct TimerHelloWorkflow;

#[workflow_methods]
impl TimerHelloWorkflow {
    /// Returns `Hello, <name>! / Hello, <name>!`.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: TimerHello) -> WorkflowResult<String> {
        let opts = || ActivityOptions::start_to_close_timeout(Duration::from_secs(10));
        let first = ctx
            .execute_activity(Greetings::greet, input.name.clone(), opts())
            .await?;
        ctx.timer(Duration::from_millis(input.delay_ms)).await;
        let second = ctx
            .execute_activity(Greetings::greet, input.name, opts())
            .await?;
        Ok(format!("{first} / {second}"))
    }
}

/// Calls three activities in sequence: `step(name, 1)`, `step(name, 2)`, `step(name, 3)`
/// (used by the fault-injection suite).
#[workflow]
#[derive(Default)]
pub struct ThreeStepWorkflow;

#[workflow_methods]
impl ThreeStepWorkflow {
    /// Returns `<name>:1+<name>:2+<name>:3`.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let mut parts = Vec::new();
        for i in 1..=3u32 {
            parts.push(
                ctx.execute_activity(
                    Greetings::step,
                    (name.clone(), i),
                    ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
                )
                .await?,
            );
        }
        Ok(parts.join("+"))
    }
}

/// Input of [`ResumableCountWorkflow`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Count {
    /// Count up to this.
    pub to: u32,
    /// Time per step, ms.
    pub step_ms: u64,
    /// Start-to-close timeout of the activity, ms.
    pub start_to_close_ms: u64,
}

/// What [`Greetings::count`] returns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counted {
    /// The final count.
    pub count: u32,
    /// Where the last attempt started (from the previous attempt's heartbeat details).
    pub resumed_from: u32,
    /// The attempt that finished.
    pub attempt: u32,
}

/// Runs the long, heartbeating [`Greetings::count`] activity.
#[workflow]
#[derive(Default)]
pub struct ResumableCountWorkflow;

#[workflow_methods]
impl ResumableCountWorkflow {
    /// Returns what the activity counted.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: Count) -> WorkflowResult<Counted> {
        let timeout = Duration::from_millis(input.start_to_close_ms);
        Ok(ctx
            .execute_activity(
                Greetings::count,
                input,
                ActivityOptions::start_to_close_timeout(timeout),
            )
            .await?)
    }
}

/// Which workflow shape [`GapShapesWorkflow`] runs (JSON: `"chain"`, `"timers"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// `steps` activities in sequence: workflow task → activity → workflow task round trips.
    Chain,
    /// An activity, then `steps` times: a durable timer (cycling through `timer_ms`) and an
    /// activity.
    Timers,
    /// `steps` child workflows ([`GapChildWorkflow`]) in sequence, each awaited.
    Children,
    /// Waits for `steps` `tick` signals, one workflow task per signal.
    Signals,
    /// `steps` activities at once, then one more.
    Parallel,
}

/// Input of [`GapShapesWorkflow`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// The shape.
    pub kind: ShapeKind,
    /// Activities, timers, children or signals, by shape.
    pub steps: u32,
    /// Timer lengths for `timers`, ms, used in turn (empty: 1 s).
    #[serde(default)]
    pub timer_ms: Vec<u64>,
}

/// One workflow with many internal steps of one shape (see [`ShapeKind`]): every idle gap an
/// invocation sees while running it belongs to that shape (`bench/task-gaps`).
#[workflow]
#[derive(Default)]
pub struct GapShapesWorkflow {
    signals: u32,
}

#[workflow_methods]
impl GapShapesWorkflow {
    /// Returns `<kind>: <steps> steps`.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, shape: Shape) -> WorkflowResult<String> {
        let step = |i: u32| {
            ctx.execute_activity(
                Greetings::step,
                ("gap".to_string(), i),
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
        };
        match shape.kind {
            ShapeKind::Chain => {
                for i in 1..=shape.steps {
                    step(i).await?;
                }
            }
            ShapeKind::Timers => {
                step(0).await?;
                for i in 0..shape.steps {
                    let ms = match shape.timer_ms.as_slice() {
                        [] => 1_000,
                        ts => ts[i as usize % ts.len()],
                    };
                    ctx.timer(Duration::from_millis(ms)).await;
                    step(i + 1).await?;
                }
            }
            ShapeKind::Children => {
                for i in 0..shape.steps {
                    let child = ctx
                        .start_child_workflow(
                            GapChildWorkflow::run,
                            i,
                            ChildWorkflowOptions::workflow_id(format!(
                                "{}-child-{i}",
                                ctx.workflow_id()
                            )),
                        )
                        .await?;
                    child.result().await?;
                }
            }
            ShapeKind::Signals => {
                for i in 1..=shape.steps {
                    ctx.wait_condition(|s| s.signals >= i).await?;
                }
            }
            ShapeKind::Parallel => {
                for r in join_all((1..=shape.steps).map(step)).await {
                    r?;
                }
                step(shape.steps + 1).await?;
            }
        }
        Ok(format!("{:?}: {} steps", shape.kind, shape.steps).to_lowercase())
    }

    /// One more signal for the `signals` shape (the argument is the sender's count).
    #[signal]
    pub fn tick(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _n: u32) {
        self.signals += 1;
    }
}

/// The trivial child of the `children` shape: returns its input.
#[workflow]
#[derive(Default)]
pub struct GapChildWorkflow;

#[workflow_methods]
impl GapChildWorkflow {
    /// Returns `i`.
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, i: u32) -> WorkflowResult<u32> {
        Ok(i)
    }
}
