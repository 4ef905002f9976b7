//! `bootstrap` for AWS Lambda: a complete Temporal Serverless Worker in one call.
//!
//! The deployment version is part of the code (`hello-app` / `build-1`); this sample also lets
//! `HELLO_DEPLOYMENT_NAME` / `HELLO_BUILD_ID` override it (as any worker's
//! `TEMPORAL_DEPLOYMENT_NAME` / `TEMPORAL_BUILD_ID` do) so tests can run several versions of the
//! same binary. For the memory bench, `HELLO_MAX_CACHED_WORKFLOWS` /
//! `HELLO_MAX_CONCURRENT_WORKFLOW_TASKS` override the worker's tuning.

use hello_worker::{
    GapChildWorkflow, GapShapesWorkflow, Greetings, HelloWorkflow, ResumableCountWorkflow,
    SlowHelloWorkflow, ThreeStepWorkflow, TimerHelloWorkflow, BUILD_ID, DEFAULT_TASK_QUEUE,
    DEPLOYMENT_NAME,
};
use temporal_lambda_worker::{run_worker, VersioningBehavior, WorkerDeploymentVersion};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let deployment =
        std::env::var("HELLO_DEPLOYMENT_NAME").unwrap_or_else(|_| DEPLOYMENT_NAME.into());
    let build_id = std::env::var("HELLO_BUILD_ID").unwrap_or_else(|_| BUILD_ID.into());
    run_worker(
        WorkerDeploymentVersion::new(deployment, build_id),
        |config| {
            if config.task_queue.is_empty() {
                config.task_queue = DEFAULT_TASK_QUEUE.into();
            }
            config.default_versioning_behavior = Some(VersioningBehavior::Pinned);
            let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
            if let Some(n) = knob("HELLO_MAX_CACHED_WORKFLOWS") {
                config.tuning.max_cached_workflows = n;
            }
            if let Some(n) = knob("HELLO_MAX_CONCURRENT_WORKFLOW_TASKS") {
                config.tuning.max_concurrent_workflow_tasks = n;
            }
            config.register_workflow::<HelloWorkflow>()?;
            config.register_workflow::<SlowHelloWorkflow>()?;
            config.register_workflow::<TimerHelloWorkflow>()?;
            config.register_workflow::<ThreeStepWorkflow>()?;
            config.register_workflow::<ResumableCountWorkflow>()?;
            config.register_workflow::<GapShapesWorkflow>()?;
            config.register_workflow::<GapChildWorkflow>()?;
            config.register_activities(Greetings);
            Ok(())
        },
    )
}
