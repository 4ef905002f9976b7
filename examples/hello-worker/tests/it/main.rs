//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod common;
#[path = "../../../../crates/cli/tests/it/support/mod.rs"]
mod support;

mod deploy_doctor;
mod dev_server;
mod faults;
mod idle_exit;
mod managed_instances;
mod retire;
mod rollout;
mod serverless_e2e;
mod tls;
mod tls_errors;
