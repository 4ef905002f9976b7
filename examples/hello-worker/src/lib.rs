//! The sample application: workflows and activities, kept apart from `main` so tests and the demo
//! can start these workflows by type.

use std::time::Duration;

use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    activities::{ActivityContext, ActivityError},
    ActivityOptions, WorkflowContext, WorkflowResult,
};

/// Task queue the sample polls unless `TEMPORAL_TASK_QUEUE` says otherwise.
pub const DEFAULT_TASK_QUEUE: &str = "hello-lambda";

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
}
