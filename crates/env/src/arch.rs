//! Lambda's instruction set architectures (`Architectures`: `x86_64` or `arm64`), their Rust
//! targets, and the one rule for which of them an executable was built for (its ELF header's
//! `e_machine`) — what `package`, `deploy`, `doctor` and the emulator each check, so an arm64
//! `bootstrap` never lands on an x86_64 function unnoticed, or the reverse.

/// Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// `x86_64` (Lambda default).
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Arch {
    /// Rust target triple (without a glibc suffix).
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

    /// Parses `x86_64`/`amd64` or `arm64`/`aarch64`.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "amd64" | "x86-64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The architecture of the machine this code runs on, if Lambda has it.
    pub fn host() -> Option<Arch> {
        Arch::parse(std::env::consts::ARCH)
    }

    /// Lambda's published on-demand price per GB-second of this architecture, USD (US East
    /// (N. Virginia), first tier): x86_64 $0.0000166667, arm64 $0.0000133334 (20 % less).
    pub const fn usd_per_gb_s(self) -> f64 {
        match self {
            Arch::X86_64 => 0.000_016_666_7,
            Arch::Arm64 => 0.000_013_333_4,
        }
    }

    /// ELF `e_machine` of this architecture (EM_X86_64 = 62, EM_AARCH64 = 183).
    fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Arm64 => 183,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.lambda_name())
    }
}

/// Lambda's published on-demand price per request, USD ($0.20 per million, both architectures).
pub const USD_PER_REQUEST: f64 = 0.20 / 1_000_000.0;

/// Why an executable's architecture could not be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutableArchError {
    /// Not an ELF file (Lambda's `provided.al2023` runs only Linux ELF executables).
    #[error("not a Linux ELF executable (it starts with {0:02x?}); build it for Linux with `temporal-lambda package`")]
    NotElf(Vec<u8>),
    /// An ELF file for a machine Lambda does not have.
    #[error("an ELF executable for machine {0} (e_machine), which Lambda does not run: build for x86_64 or arm64 (aarch64)")]
    OtherMachine(u16),
}

/// The architecture an executable was built for, from the first 20 bytes (or more) of it.
pub fn executable_arch(header: &[u8]) -> Result<Arch, ExecutableArchError> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return Err(ExecutableArchError::NotElf(
            header.iter().take(4).copied().collect(),
        ));
    }
    // e_ident[EI_DATA] (byte 5): 1 little-endian, 2 big-endian; e_machine is bytes 18..20.
    let bytes = [header[18], header[19]];
    let machine = if header[5] == 2 {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    };
    [Arch::X86_64, Arch::Arm64]
        .into_iter()
        .find(|a| a.elf_machine() == machine)
        .ok_or(ExecutableArchError::OtherMachine(machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF\x02\x01\x01\x00".to_vec();
        h.resize(18, 0);
        h.extend_from_slice(&machine.to_le_bytes());
        h.resize(64, 0);
        h
    }

    #[test]
    fn the_elf_machine_says_which_architecture() {
        assert_eq!(executable_arch(&header(62)), Ok(Arch::X86_64));
        assert_eq!(executable_arch(&header(183)), Ok(Arch::Arm64));
        assert_eq!(
            executable_arch(&header(40)),
            Err(ExecutableArchError::OtherMachine(40))
        );
        assert!(matches!(
            executable_arch(b"#!/bin/sh\necho hi\n....."),
            Err(ExecutableArchError::NotElf(_))
        ));
        assert!(matches!(
            executable_arch(b"\x7fELF"),
            Err(ExecutableArchError::NotElf(_))
        ));
    }

    #[test]
    fn this_test_binary_is_the_host_architecture() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(executable_arch(&me).ok(), Arch::host());
    }

    #[test]
    fn names_round_trip() {
        for a in [Arch::X86_64, Arch::Arm64] {
            assert_eq!(Arch::parse(a.lambda_name()), Some(a));
            assert_eq!(Arch::parse(a.triple().split('-').next().unwrap()), Some(a));
        }
    }
}
