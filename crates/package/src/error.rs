//! Errors from building and packaging.

use std::path::{Path, PathBuf};

/// Errors from building and packaging; each message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The Rust standard library for the target is not installed.
    #[error(
        "the Rust standard library for {triple} is not installed, so the {arch} (Lambda \
         `{lambda_arch}`) binary cannot be built; fix: `rustup target add {triple}` (without \
         rustup's servers: scripts/install-arm64-toolchain.sh builds a Debian toolchain for \
         arm64 and TEMPORAL_LAMBDA_ARM64_CARGO=<repo>/.venv/bin/cargo-arm64 uses it)"
    )]
    TargetNotInstalled {
        /// Rust target triple.
        triple: String,
        /// Architecture name.
        arch: &'static str,
        /// Lambda's name for it.
        lambda_arch: &'static str,
    },
    /// `cargo-zigbuild` (or zig) is missing.
    #[error(
        "`cargo zigbuild` is not available ({detail}); it links against Lambda's glibc 2.34. \
         Fix: `pip install cargo-zigbuild ziglang` (both on PyPI) and make sure `cargo-zigbuild` \
         is on PATH, or set TEMPORAL_LAMBDA_ZIGBUILD to its path"
    )]
    ZigbuildMissing {
        /// What failed.
        detail: String,
    },
    /// The cargo build failed.
    #[error("`{command}` failed ({status}); the last lines of its output:\n{tail}")]
    BuildFailed {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// Last lines of output.
        tail: String,
    },
    /// The binary cargo should have produced is not there.
    #[error("cargo finished but {path} does not exist; is `{bin}` a binary target of the package? (pass --bin NAME)")]
    BinaryMissing {
        /// Expected path.
        path: PathBuf,
        /// Binary name.
        bin: String,
    },
    /// The binary needs a glibc newer than Lambda's.
    #[error(
        "{path} needs glibc {needed}, but Lambda's provided.al2023 has glibc {max}; it would \
         fail at start with `version GLIBC_{needed} not found`. Fix: build with `temporal-lambda \
         package` (cargo zigbuild, target …-linux-gnu.{max}) instead of a plain `cargo build`"
    )]
    GlibcTooNew {
        /// The binary.
        path: PathBuf,
        /// Newest version it needs.
        needed: String,
        /// Newest version Lambda has.
        max: String,
    },
    /// The file is not a 64-bit ELF executable.
    #[error(
        "{path} is not a 64-bit Linux ELF binary ({detail}); Lambda's `bootstrap` must be one"
    )]
    NotElf {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// Two files would have the same name in the zip.
    #[error("two files would be stored as `{0}` in the zip; rename one")]
    DuplicateEntry(String),
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The zip writer failed.
    #[error("writing {path}: {source}")]
    Zip {
        /// The zip path.
        path: PathBuf,
        /// The cause.
        source: zip::result::ZipError,
    },
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PackageError + 'a {
    move |source| PackageError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}
