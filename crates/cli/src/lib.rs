//! Library behind the `temporal-lambda` CLI. The Temporal-side operations for Temporal Serverless
//! Workers on AWS Lambda, over Temporal's gRPC API (no `temporal` CLI needed), live in
//! `temporal-lambda-temporal` and are re-exported here ([`compute`], [`connect`], [`deployment`],
//! [`validate`], [`verify`]); the local rig lives in `temporal-lambda-rig` ([`local`]).
//!
//! * [`deployment::register`]: create the Worker Deployment (if missing) and a version whose
//!   compute config makes the server invoke a Lambda function: byte-for-byte the payload the
//!   official `temporal worker deployment create-version --aws-lambda-*` writes;
//! * [`deployment::set_current`]: route new workflows to that version;
//! * [`deployment::describe_version`]: read the stored compute config back;
//! * [`verify::verify`]: run a workflow end to end and time it.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use temporal_lambda_cli::{compute::LambdaTarget, connect::ConnectArgs, deployment};
//!
//! let conn = ConnectArgs::local("127.0.0.1:7233", "default").connect().await?;
//! let report = deployment::register(&conn, &deployment::RegisterOptions {
//!     namespace: "default".into(),
//!     deployment_name: "hello".into(),
//!     build_id: "v1".into(),
//!     target: LambdaTarget {
//!         function_arn: "arn:aws:lambda:us-east-1:123456789012:function:hello:1".parse()?,
//!         role_arn: "arn:aws:iam::123456789012:role/temporal-invoker".parse()?,
//!         external_id: "my-external-id".parse()?,
//!     },
//!     update: false,
//!     set_current: true,
//! }).await?;
//! println!("{:?}", report.outcome);
//! # Ok(()) }
//! ```

pub mod aws;
pub mod commands;
pub mod doctor;
pub mod iam;
pub mod lambda_deploy;
pub mod local;
pub mod logs;
pub mod retire;
pub mod rollout;
pub mod scaffold;
pub mod ship;

pub use temporal_lambda_temporal::{compute, connect, deployment, validate, verify};
