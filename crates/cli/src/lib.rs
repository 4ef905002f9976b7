//! Library behind the `temporal-lambda` CLI: everything that needs AWS (the SDK clients in
//! [`aws`]) plus the commands' decisions and output.
//!
//! * [`lambda_deploy`]: create or update the Lambda function from a zip and publish a version
//!   (what to create, update, reuse or refuse is decided over gathered facts);
//! * [`iam`]: the role the Temporal server assumes (CloudFormation template, creation);
//! * [`ship`]: package → deploy → register → set current, resumable from a state file;
//! * [`rollout`] / [`retire`]: ramp, promote, roll back, and remove drained builds (Temporal
//!   version and Lambda version);
//! * [`doctor`]: gather facts from AWS and Temporal, then run pure checks keyed by
//!   [`doctor::CheckId`];
//! * [`scaffold`]: `new`, a project from the template; [`local_rig`]: the local rig
//!   (`temporal-lambda-rig`) with AWS SDK clients for its emulator; [`logs`]: CloudWatch Logs;
//! * [`commands`]: the clap command tree.
//!
//! The Temporal-side operations over gRPC (no `temporal` CLI needed, no AWS SDK) live in
//! `temporal-lambda-temporal` and are re-exported here ([`compute`], [`connect`],
//! [`deployment`], [`identifiers`], [`verify`]).
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
pub mod local_rig;
pub mod logs;
pub mod retire;
pub mod rollout;
pub mod scaffold;
pub mod ship;

pub use temporal_lambda_temporal::{compute, connect, deployment, identifiers, verify};
