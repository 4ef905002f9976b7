//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod common;

// `pub`: their activities' `#[activities]` constants (`Acts::noop`) count as used, as they did
// at the root of their own test binary.
pub mod config;
#[cfg(feature = "otel")]
pub mod otel;
mod proptest_config;
