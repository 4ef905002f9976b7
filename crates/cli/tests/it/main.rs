//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod support;

mod arm64;
mod cargo_lambda;
mod cli_flows;
mod compat;
mod new_project;
mod rig_file;
mod server;
