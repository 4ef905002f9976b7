//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod common;

// `pub`: their activities' `#[activities]` constants (`Acts::noop`) count as used, as they did
// at the root of their own test binary. What the macros generate carries no docs.
#[allow(missing_docs)]
pub mod config;
#[cfg(feature = "otel")]
#[allow(missing_docs)]
pub mod otel;
mod proptest_config;
#[allow(missing_docs)]
pub mod shared;
