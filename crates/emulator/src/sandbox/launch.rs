//! How a sandbox starts its `bootstrap`: directly, or under a user-mode emulator (qemu) when
//! the function's architecture is not the host's — and the error Lambda gives when the
//! executable was built for the other architecture than the function's `Architectures`.
//!
//! [`plan_launch`] is the decision, a pure function over what the spawn step read (the
//! function's architecture, the executable's ELF header, the host, the configured qemu).

use std::path::{Path, PathBuf};

use temporal_lambda_env::arch::{executable_arch, Arch};

use crate::config::QemuUser;

/// How to start a `bootstrap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    /// The program to exec: `bootstrap` itself, or qemu.
    pub(crate) program: PathBuf,
    /// Its arguments (qemu's: `-L <sysroot>` and the bootstrap's path).
    pub(crate) args: Vec<String>,
    /// The emulator running it (e.g. `qemu-aarch64-static`), when emulated.
    pub(crate) emulated_by: Option<String>,
}

/// Decides how to start `bootstrap`, built for `binary` (its ELF header read, or why not), on a
/// function whose `Architectures` is `function`, on a `host`. A `bootstrap` for the other
/// architecture is refused as Lambda refuses it (its exec fails with "exec format error"; the
/// error here names both architectures and the fix). A function of another architecture than
/// the host's runs under `qemu` when one is configured.
pub(crate) fn plan_launch(
    bootstrap: &Path,
    function: Arch,
    binary: Option<Arch>,
    host: Option<Arch>,
    qemu: Option<&QemuUser>,
) -> Result<Launch, String> {
    if let Some(binary) = binary {
        if binary != function {
            return Err(format!(
                "Error: fork/exec {}: exec format error: the bootstrap is an {binary} executable \
                 but the function's Architectures is [\"{function}\"]. Fix: package it for \
                 {function} (`temporal-lambda package --arch {function}`), or deploy it to a \
                 function with Architectures [\"{binary}\"]",
                bootstrap.display()
            ));
        }
    }
    let direct = Launch {
        program: bootstrap.to_path_buf(),
        args: Vec::new(),
        emulated_by: None,
    };
    if host == Some(function) {
        return Ok(direct);
    }
    match (function, qemu) {
        (Arch::Arm64, Some(q)) => {
            let mut args = Vec::new();
            if let Some(root) = &q.sysroot {
                args.push("-L".to_string());
                args.push(root.display().to_string());
            }
            args.push(bootstrap.display().to_string());
            let name = q
                .program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "qemu".into());
            Ok(Launch {
                program: q.program.clone(),
                args,
                emulated_by: Some(name),
            })
        }
        (Arch::Arm64, None) => Err(format!(
            "Error: fork/exec {}: exec format error: the function's Architectures is [\"arm64\"] \
             and this host is {}; the emulator runs arm64 functions under qemu user-mode \
             emulation. Fix: install it (Debian: `apt-get install qemu-user-static`) or name \
             it in {}",
            bootstrap.display(),
            host.map(|h| h.to_string())
                .unwrap_or_else(|| std::env::consts::ARCH.into()),
            crate::config::QEMU_AARCH64_ENV
        )),
        // An x86_64 function on an arm64 host: no emulation configured; the exec says why.
        (Arch::X86_64, _) => Ok(direct),
    }
}

/// The architecture `bootstrap` was built for, from its ELF header; `None` if it cannot be read
/// or is not an ELF executable (a script, say: its exec decides).
pub(crate) fn binary_arch(bootstrap: &Path) -> Option<Arch> {
    use std::io::Read;
    let mut header = [0u8; 64];
    let n = std::fs::File::open(bootstrap)
        .and_then(|mut f| f.read(&mut header))
        .ok()?;
    executable_arch(&header[..n]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu() -> QemuUser {
        QemuUser {
            program: "/usr/bin/qemu-aarch64-static".into(),
            sysroot: Some("/opt/arm64-root".into()),
        }
    }

    const BOOT: &str = "/var/task/bootstrap";

    #[test]
    fn a_native_function_runs_its_bootstrap_directly() {
        let l = plan_launch(
            Path::new(BOOT),
            Arch::X86_64,
            Some(Arch::X86_64),
            Some(Arch::X86_64),
            Some(&qemu()),
        )
        .unwrap();
        assert_eq!(l.program, PathBuf::from(BOOT));
        assert!(l.args.is_empty() && l.emulated_by.is_none());
    }

    #[test]
    fn an_arm64_function_on_x86_64_runs_under_qemu_with_its_sysroot() {
        let l = plan_launch(
            Path::new(BOOT),
            Arch::Arm64,
            Some(Arch::Arm64),
            Some(Arch::X86_64),
            Some(&qemu()),
        )
        .unwrap();
        assert_eq!(l.program, PathBuf::from("/usr/bin/qemu-aarch64-static"));
        assert_eq!(l.args, ["-L", "/opt/arm64-root", BOOT]);
        assert_eq!(l.emulated_by.as_deref(), Some("qemu-aarch64-static"));
    }

    #[test]
    fn a_bootstrap_for_the_other_architecture_is_refused_naming_both() {
        for (function, binary) in [(Arch::X86_64, Arch::Arm64), (Arch::Arm64, Arch::X86_64)] {
            let e = plan_launch(
                Path::new(BOOT),
                function,
                Some(binary),
                Some(Arch::X86_64),
                Some(&qemu()),
            )
            .unwrap_err();
            assert!(e.contains("exec format error"), "{e}");
            assert!(
                e.contains(&format!("an {binary} executable")),
                "names the binary's: {e}"
            );
            assert!(
                e.contains(&format!("Architectures is [\"{function}\"]")),
                "names the function's: {e}"
            );
            assert!(
                e.contains(&format!("--arch {function}")),
                "names the fix: {e}"
            );
        }
    }

    #[test]
    fn an_arm64_function_without_qemu_says_what_to_install() {
        let e = plan_launch(
            Path::new(BOOT),
            Arch::Arm64,
            Some(Arch::Arm64),
            Some(Arch::X86_64),
            None,
        )
        .unwrap_err();
        assert!(e.contains("qemu-user-static"), "{e}");
        assert!(e.contains(crate::config::QEMU_AARCH64_ENV), "{e}");
    }

    #[test]
    fn an_unreadable_header_leaves_the_decision_to_the_exec() {
        let l = plan_launch(
            Path::new(BOOT),
            Arch::X86_64,
            None,
            Some(Arch::X86_64),
            None,
        )
        .unwrap();
        assert!(l.emulated_by.is_none());
        assert_eq!(binary_arch(Path::new("/nonexistent/bootstrap")), None);
    }
}
