//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod binary_lookup;
mod dev_server;
mod own_process;
