//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod common;

mod binary;
mod fidelity;
mod lambda;
mod managed;
mod proptest_http;
mod security;
mod sts;
