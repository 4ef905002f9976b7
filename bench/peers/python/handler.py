"""Python peer of examples/hello-worker for bench/side-by-side: the official
`temporalio.contrib.aws.lambda_worker.run_worker` (temporalio 1.35.x), run unmodified under the
official runtime interface client (`python -m awslambdaric handler.lambda_handler`).

Same logic as the Rust sample: workflow `HelloWorkflow(name)` calls activity `Greetings::greet(name)`, which
returns `Hello, <name>!`; pinned versioning behaviour. The deployment version comes from
`HELLO_DEPLOYMENT_NAME` / `HELLO_BUILD_ID` (as in the Rust sample), the task queue from
`TEMPORAL_TASK_QUEUE`, the server from `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE` (envconfig).
"""

import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.aws.lambda_worker import LambdaWorkerConfig, run_worker


@activity.defn(name="Greetings::greet")
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn(name="HelloWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


def configure(config: LambdaWorkerConfig) -> None:
    if not config.worker_config.get("task_queue"):
        config.worker_config["task_queue"] = "hello-lambda"
    config.worker_config["workflows"] = [HelloWorkflow]
    config.worker_config["activities"] = [greet]


lambda_handler = run_worker(
    WorkerDeploymentVersion(
        deployment_name=os.environ.get("HELLO_DEPLOYMENT_NAME", "hello-app-python"),
        build_id=os.environ.get("HELLO_BUILD_ID", "build-1"),
    ),
    configure,
)
