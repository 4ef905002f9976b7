//! Tests against the real Temporal dev server that need no AWS endpoint.

use std::process::Command;
use std::time::Duration;

use temporal_dev_server::{free_port, DevServer, DevServerOptions};
use temporal_lambda_cli::{
    compute::LambdaTarget,
    connect::ConnectArgs,
    deployment::{self, DeploymentError, RegisterOptions, SetCurrentOptions},
    verify::{self, VerifyError, VerifyOptions},
};
use temporalio_client::{tonic::Request, Connection};
use temporalio_common::protos::temporal::api::{
    command::v1::{command, Command as WfCommand, CompleteWorkflowExecutionCommandAttributes},
    deployment::v1::WorkerDeploymentVersion,
    enums::v1::CommandType,
    history::v1::history_event::Attributes,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        CreateWorkerDeploymentVersionRequest, PollWorkflowTaskQueueRequest,
        RespondWorkflowTaskCompletedRequest,
    },
};

async fn connect(server: &DevServer) -> Connection {
    ConnectArgs::local(server.address(), "default")
        .connect()
        .await
        .expect("connect")
}

fn target() -> LambdaTarget {
    LambdaTarget {
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:hello:1"
            .parse()
            .unwrap(),
        role_arn: "arn:aws:iam::123456789012:role/invoker".parse().unwrap(),
        external_id: "ext-id-123".parse().unwrap(),
    }
}

/// A minimal raw worker: completes one workflow task by echoing the workflow input as result.
async fn echo_one_workflow(conn: Connection, task_queue: &str) {
    loop {
        let task = conn
            .workflow_service()
            .poll_workflow_task_queue(Request::new(PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: task_queue.into(),
                    kind: 1,
                    ..Default::default()
                }),
                identity: "echo-worker".into(),
                ..Default::default()
            }))
            .await
            .expect("poll")
            .into_inner();
        if task.task_token.is_empty() {
            continue; // empty long poll
        }
        let input = task
            .history
            .iter()
            .flat_map(|h| h.events.iter())
            .find_map(|e| match &e.attributes {
                Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.input.clone(),
                _ => None,
            });
        conn.workflow_service()
            .respond_workflow_task_completed(Request::new(RespondWorkflowTaskCompletedRequest {
                namespace: "default".into(),
                task_token: task.task_token,
                identity: "echo-worker".into(),
                commands: vec![WfCommand {
                    command_type: CommandType::CompleteWorkflowExecution as i32,
                    attributes: Some(
                        command::Attributes::CompleteWorkflowExecutionCommandAttributes(
                            CompleteWorkflowExecutionCommandAttributes { result: input },
                        ),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }))
            .await
            .expect("respond");
        return;
    }
}

#[tokio::test]
async fn verify_returns_the_result_and_times_out_without_a_worker() {
    let server = DevServer::start(DevServerOptions::default()).await.unwrap();
    let conn = connect(&server).await;
    let worker = tokio::spawn(echo_one_workflow(conn.clone(), "verify-q"));
    let report = verify::verify(
        &conn,
        &VerifyOptions {
            namespace: "default".into(),
            task_queue: "verify-q".into(),
            workflow_type: "Echo".into(),
            workflow_id: Some("verify-echo".into()),
            input: vec![serde_json::json!({"hello": "world"})],
            timeout: Duration::from_secs(30),
        },
    )
    .await
    .expect("verify succeeds");
    worker.await.unwrap();
    assert_eq!(report.workflow_id, "verify-echo");
    assert_eq!(report.result, Some(serde_json::json!({"hello": "world"})));
    assert!(report.elapsed_ms < 30_000);

    let err = verify::verify(
        &conn,
        &VerifyOptions {
            namespace: "default".into(),
            task_queue: "nobody-polls-this".into(),
            workflow_type: "Echo".into(),
            workflow_id: None,
            input: vec![],
            timeout: Duration::from_millis(1500),
        },
    )
    .await
    .expect_err("no worker: times out");
    assert!(matches!(err, VerifyError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("set-current"), "{err}");
}

#[tokio::test]
async fn set_current_and_describe_a_version_without_compute_config() {
    let server = DevServer::start(DevServerOptions::default()).await.unwrap();
    let conn = connect(&server).await;
    assert!(deployment::ensure_deployment(&conn, "default", "plain")
        .await
        .unwrap());
    assert!(!deployment::ensure_deployment(&conn, "default", "plain")
        .await
        .unwrap());
    conn.workflow_service()
        .create_worker_deployment_version(Request::new(CreateWorkerDeploymentVersionRequest {
            namespace: "default".into(),
            deployment_version: Some(WorkerDeploymentVersion {
                deployment_name: "plain".into(),
                build_id: "v1".into(),
            }),
            request_id: "r1".into(),
            ..Default::default()
        }))
        .await
        .expect("a version without compute config can be created");
    let d = deployment::describe_version(&conn, "default", "plain", "v1")
        .await
        .unwrap();
    assert!(d.compute_config.is_empty());
    assert_eq!(d.status, "CREATED");

    let opts = SetCurrentOptions {
        namespace: "default".into(),
        deployment_name: "plain".into(),
        build_id: "v1".into(),
        allow_no_pollers: false,
        ignore_missing_task_queues: false,
    };
    match deployment::set_current(&conn, &opts).await {
        // The server protects versions nobody polls: the error names the override.
        Err(DeploymentError::SetCurrentRejected { .. }) => {
            let err = deployment::set_current(&conn, &opts).await.unwrap_err();
            assert!(err.to_string().contains("--allow-no-pollers"), "{err}");
            let r = deployment::set_current(
                &conn,
                &SetCurrentOptions {
                    allow_no_pollers: true,
                    ..opts.clone()
                },
            )
            .await
            .unwrap();
            assert!(r.allowed_no_pollers);
        }
        Ok(r) => assert!(!r.already_current),
        Err(e) => panic!("unexpected: {e}"),
    }
    let again = deployment::set_current(&conn, &opts).await.unwrap();
    assert!(again.already_current);
    let d = deployment::describe_version(&conn, "default", "plain", "v1")
        .await
        .unwrap();
    assert_eq!(d.status, "CURRENT");

    let missing = deployment::set_current(
        &conn,
        &SetCurrentOptions {
            build_id: "nope".into(),
            ..opts
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, DeploymentError::VersionNotFound { .. }));
    assert!(missing.to_string().contains("register"), "{missing}");
}

#[tokio::test]
async fn register_names_an_unreachable_aws_endpoint() {
    let closed = free_port().unwrap();
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(format!("http://127.0.0.1:{closed}")),
        ..Default::default()
    })
    .await
    .unwrap();
    let conn = connect(&server).await;
    let err = deployment::register(
        &conn,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: "unreachable".into(),
            build_id: "v1".into(),
            target: target(),
            update: false,
            set_current: false,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DeploymentError::AwsUnreachable { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    // Nothing half-created: the version does not exist.
    assert!(
        deployment::describe_version_raw(&conn, "default", "unreachable", "v1")
            .await
            .unwrap()
            .is_none()
    );
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_temporal-lambda"))
        .args(args)
        .env_remove("TEMPORAL_ADDRESS")
        .output()
        .unwrap()
}

#[test]
fn binary_rejects_malformed_input_before_any_network_call() {
    let base = [
        "register",
        "--address",
        "127.0.0.1:1",
        "--deployment-name",
        "d",
        "--build-id",
        "b",
    ];
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--function-arn",
                "arn:aws:lambda:us-east-1:1234:function:f:1",
                "--role-arn",
                "arn:aws:iam::123456789012:role/r",
                "--external-id",
                "abcdef",
            ],
            "12 digits",
        ),
        (
            &[
                "--function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:f:1",
                "--role-arn",
                "arn:aws:iam::123456789012:user/r",
                "--external-id",
                "abcdef",
            ],
            "invalid IAM role ARN",
        ),
        (
            &[
                "--function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:f:1",
                "--role-arn",
                "arn:aws:iam::123456789012:role/r",
                "--external-id",
                "abc",
            ],
            "5-45 characters",
        ),
        (
            &[
                "--function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:f:1",
                "--role-arn",
                "arn:aws:iam::123456789012:role/r",
                "--external-id",
                "has space",
            ],
            "not allowed",
        ),
    ];
    for (extra, needle) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let out = cli(&args);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}
