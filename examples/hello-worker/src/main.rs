//! `bootstrap` for AWS Lambda: a complete Temporal Serverless Worker in one call.
//!
//! The deployment version is part of the code (`hello-app` / `build-1`); this sample also lets
//! `HELLO_DEPLOYMENT_NAME` / `HELLO_BUILD_ID` override it so tests and the local demo can run
//! several versions of the same binary.

use hello_worker::{
    GapChildWorkflow, GapShapesWorkflow, Greetings, HelloWorkflow, ResumableCountWorkflow,
    SlowHelloWorkflow, ThreeStepWorkflow, TimerHelloWorkflow, DEFAULT_TASK_QUEUE,
};
use temporal_lambda_worker::{run_worker, VersioningBehavior, WorkerDeploymentVersion};

fn main() {
    let deployment = std::env::var("HELLO_DEPLOYMENT_NAME").unwrap_or_else(|_| "hello-app".into());
    let build_id = std::env::var("HELLO_BUILD_ID").unwrap_or_else(|_| "build-1".into());
    run_worker(
        WorkerDeploymentVersion::new(deployment, build_id),
        |config| {
            if config.task_queue.is_empty() {
                config.task_queue = DEFAULT_TASK_QUEUE.into();
            }
            config.default_versioning_behavior = Some(VersioningBehavior::Pinned);
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
