//! The Temporal-side operations for Temporal Serverless Workers on AWS Lambda, over Temporal's
//! gRPC API (no `temporal` CLI needed, no AWS SDK): shared by the `temporal-lambda` CLI and the
//! local rig (`temporal-lambda-rig`).
//!
//! * [`connect::ConnectArgs`]: how to reach the frontend (address, namespace, API key, TLS), and
//!   the function environment that reaches it the same way ([`connect::temporal_env`]);
//! * [`deployment::register`]: create the Worker Deployment (if missing) and a version whose
//!   compute config makes the server invoke a Lambda function: byte-for-byte the payload the
//!   official `temporal worker deployment create-version --aws-lambda-*` writes;
//! * [`deployment::set_current`]: route new workflows to that version;
//! * [`deployment::describe_version`]: read the stored compute config back;
//! * [`verify::verify`]: run a workflow end to end and time it;
//! * [`compute`] and [`identifiers`]: the aws-lambda compute config and the identifiers in it.
//!
//! With the `clap` feature, [`connect::ConnectArgs`] is a `clap::Args` (the CLI's flags).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use temporal_lambda_temporal::{compute::LambdaTarget, connect::ConnectArgs, deployment};
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

#![warn(missing_docs)]

#[cfg(feature = "clap")]
pub mod clap_args;
pub mod compute;
pub mod connect;
pub mod deployment;
pub mod identifiers;
pub mod verify;
