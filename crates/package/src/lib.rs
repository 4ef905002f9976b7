//! Build a Rust Temporal worker for AWS Lambda's `provided.al2023` runtime and package it.
//!
//! * [`build`] runs `cargo zigbuild` for `x86_64-unknown-linux-gnu.2.34` (or `aarch64-…`), so the
//!   binary links only glibc symbols that Amazon Linux 2023 (glibc 2.34) has, with a release
//!   profile tuned for size (stripped, fat LTO, one codegen unit, `opt-level = "z"`) passed as `--config`
//!   overrides: the user's `Cargo.toml` is not touched.
//! * [`glibc_requirements`] reads the `GLIBC_x.y` versions an ELF binary needs, and
//!   [`check_glibc`] refuses anything newer than Lambda has.
//! * [`zip_bootstrap`] writes `function.zip` with `bootstrap` (mode 0755) at the root, plus any
//!   extra files, deterministically: same input bytes, same zip bytes (fixed timestamps,
//!   sorted entries, fixed compression).
//!
//! ```no_run
//! use temporal_lambda_package::{build, check_glibc, max_glibc, zip_bootstrap, Arch, BuildOptions};
//!
//! # fn main() -> Result<(), temporal_lambda_package::PackageError> {
//! let opts = BuildOptions::new(".", Arch::X86_64).package("hello-worker").bin("bootstrap");
//! let binary = build(&opts, &mut |line| eprintln!("{line}"))?;
//! check_glibc(&binary, max_glibc(Arch::X86_64))?;
//! let zip = zip_bootstrap(&binary, &[], "target/lambda/function.zip".as_ref())?;
//! println!("{} bytes, CodeSha256 {}", zip.size, zip.code_sha256);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

/// The project's one writer of files that may hold credentials (0600, created with `O_EXCL`,
/// never through a symlink; directories 0700), shared with the TLS front and the CLI: it lives in
/// [`temporal_lambda_env::private_file`] and is re-exported here for this crate's users.
pub use temporal_lambda_env::private_file::{
    create_private_dir_all, create_private_file, write_private,
};

mod arch;
mod cargo_build;
mod error;
mod function_zip;
mod glibc;
#[cfg(test)]
mod tests;

pub use arch::{executable_arch, max_glibc, Arch, ExecutableArchError};
pub use cargo_build::{
    build, cargo_target_dir, check_target_installed, BuildOptions, Profile, ARM64_CARGO_ENV,
    ZIGBUILD_ENV,
};
pub use error::PackageError;
pub use function_zip::{
    check_zip, check_zip_arch, code_sha256, zip_bootstrap, zip_with_files, ZipInfo,
};
pub use glibc::{check_glibc, glibc_requirements, GlibcVersion};
