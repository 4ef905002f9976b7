//! The Lambda instruction set architectures and the glibc each one has.

use crate::GlibcVersion;

/// Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// `x86_64` (Lambda default).
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Arch {
    /// Rust target triple (without the glibc suffix).
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Lambda's name (`Architectures` field).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The newest glibc `provided.al2023` has: 2.34 on both architectures.
    pub fn max_glibc(self) -> GlibcVersion {
        GlibcVersion(2, 34)
    }

    /// Parses `x86_64`/`amd64` or `arm64`/`aarch64`.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "amd64" | "x86-64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}
