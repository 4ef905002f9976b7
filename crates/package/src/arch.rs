//! The Lambda instruction set architectures: the toolkit's one [`Arch`] (in
//! `temporal_lambda_env::arch`, with the ELF rule telling which one an executable is for), and
//! the glibc each one has.

pub use temporal_lambda_env::arch::{executable_arch, Arch, ExecutableArchError};

use crate::GlibcVersion;

/// The newest glibc `provided.al2023` has: 2.34 on both architectures.
pub fn max_glibc(_arch: Arch) -> GlibcVersion {
    GlibcVersion(2, 34)
}
