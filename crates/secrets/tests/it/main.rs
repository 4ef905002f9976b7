//! All of this crate's integration tests in one test binary (one link of the SDKs; the
//! tests of every module run in one libtest thread pool).

mod support;
// One copy of the helper, the dev server's tests' (this crate does not depend on that one).
#[path = "../../../dev-server/tests/it/own_process.rs"]
mod own_process;

mod moto;
mod moto_tls;
