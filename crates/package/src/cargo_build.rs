//! Building the worker binary: `cargo zigbuild` for a glibc-versioned Lambda target, with a
//! size-tuned release profile passed as `--config` overrides.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::io_err;
use crate::{Arch, PackageError};

/// Which cargo profile to build with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// `release`, tuned for size: stripped, fat LTO, one codegen unit, `opt-level = "z"`; unwinding
    /// panics are kept (see `cargo_args`).
    ReleaseForSize,
    /// Any named profile as the user's `Cargo.toml` defines it (e.g. `dev` for fast test builds),
    /// still stripped.
    Named(String),
}

impl Profile {
    fn name(&self) -> &str {
        match self {
            Profile::ReleaseForSize => "release",
            Profile::Named(n) => n,
        }
    }

    pub(crate) fn dir(&self) -> &str {
        match self.name() {
            "dev" | "test" => "debug",
            "bench" => "release",
            n => n,
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Directory of the crate or workspace to build (cargo runs there).
    pub project_dir: PathBuf,
    /// `-p` package (default: the one in `project_dir`).
    pub package: Option<String>,
    /// Binary target to package as `bootstrap` (default: `bootstrap`).
    pub bin: String,
    /// Architecture.
    pub arch: Arch,
    /// Profile.
    pub profile: Profile,
    /// Cargo features to enable.
    pub features: Vec<String>,
    /// Cargo target dir (default: cargo's own choice).
    pub target_dir: Option<PathBuf>,
    /// `cargo-zigbuild` executable (default: `$TEMPORAL_LAMBDA_ZIGBUILD` or `cargo-zigbuild`).
    pub zigbuild: Option<PathBuf>,
}

impl BuildOptions {
    /// Options for `project_dir`, binary `bootstrap`, tuned release profile.
    pub fn new(project_dir: impl Into<PathBuf>, arch: Arch) -> Self {
        BuildOptions {
            project_dir: project_dir.into(),
            package: None,
            bin: "bootstrap".into(),
            arch,
            profile: Profile::ReleaseForSize,
            features: Vec::new(),
            target_dir: None,
            zigbuild: None,
        }
    }

    /// Sets the cargo package.
    pub fn package(mut self, p: impl Into<String>) -> Self {
        self.package = Some(p.into());
        self
    }

    /// Sets the binary target.
    pub fn bin(mut self, b: impl Into<String>) -> Self {
        self.bin = b.into();
        self
    }

    /// The target triple with the glibc suffix cargo-zigbuild understands.
    pub fn zig_target(&self) -> String {
        format!("{}.{}", self.arch.triple(), crate::max_glibc(self.arch))
    }

    /// The `cargo zigbuild` arguments (without the program).
    pub fn cargo_args(&self) -> Vec<String> {
        let mut a = vec![
            "zigbuild".to_string(),
            "--locked".into(),
            "--target".into(),
            self.zig_target(),
            "--bin".into(),
            self.bin.clone(),
            "--profile".into(),
            self.profile.name().to_string(),
        ];
        // `--locked` only makes sense with a lock file; dropped below if there is none.
        if let Some(p) = &self.package {
            a.push("-p".into());
            a.push(p.clone());
        }
        if !self.features.is_empty() {
            a.push("--features".into());
            a.push(self.features.join(","));
        }
        if let Some(t) = &self.target_dir {
            a.push("--target-dir".into());
            a.push(t.display().to_string());
        }
        let p = self.profile.name();
        let mut set = |k: &str, v: &str| {
            a.push("--config".into());
            a.push(format!("profile.{p}.{k}={v}"));
        };
        set("strip", "true");
        if self.profile == Profile::ReleaseForSize {
            // Measured together with the cold start (bench/size.sh, bench/results/2026-12-03-size.md):
            // against "s" + thin LTO + 4 codegen units, the sample's bootstrap is 27 % smaller and
            // its zip 18 % smaller (under 5 MB), with no measurable cold-start cost.
            set("opt-level", "\"z\"");
            set("lto", "\"fat\"");
            set("codegen-units", "1");
            // Not `panic = "abort"`: the SDK turns a panicking activity or workflow into a task
            // failure with `catch_unwind`, and lambda_runtime turns a panicking handler into an
            // invocation error; with abort one panic would kill every task in flight.
            set("panic", "\"unwind\"");
        }
        a
    }
}

/// Checks that the Rust standard library for `arch` is installed (via `rustc --print sysroot`).
pub fn check_target_installed(arch: Arch) -> Result<(), PackageError> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .map_err(io_err("running", Path::new("rustc")))?;
    if !out.status.success() {
        return Err(PackageError::BuildFailed {
            command: "rustc --print sysroot".into(),
            status: out.status.to_string(),
            tail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(arch.triple())
        .join("lib")
        .is_dir()
    {
        Ok(())
    } else {
        Err(PackageError::TargetNotInstalled {
            triple: arch.triple().into(),
            arch: match arch {
                Arch::X86_64 => "x86_64",
                Arch::Arm64 => "arm64 (Graviton)",
            },
            lambda_arch: arch.lambda_name(),
        })
    }
}

/// Environment variable naming a `cargo-zigbuild`-compatible program that builds for arm64
/// without rustup's aarch64 target — `.venv/bin/cargo-arm64`, which
/// scripts/install-arm64-toolchain.sh makes (sid's rustc and arm64 standard library in a
/// build root). Used only for `Arch::Arm64`.
pub const ARM64_CARGO_ENV: &str = "TEMPORAL_LAMBDA_ARM64_CARGO";

/// Environment variable naming the `cargo-zigbuild` executable (default: `cargo-zigbuild` on
/// PATH).
pub const ZIGBUILD_ENV: &str = "TEMPORAL_LAMBDA_ZIGBUILD";

/// Which program builds the binary, and whether this machine's own `rustc` must have the
/// target's standard library (not when an arm64 builder brings its own toolchain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Builder {
    pub(crate) program: PathBuf,
    pub(crate) needs_host_target: bool,
}

/// The builder for `arch`: an explicit `zigbuild` option wins, then (arm64 only) the
/// [`ARM64_CARGO_ENV`] builder, then [`ZIGBUILD_ENV`], then `cargo-zigbuild`.
pub(crate) fn choose_builder(
    arch: Arch,
    explicit: Option<&Path>,
    arm64_cargo: Option<PathBuf>,
    zigbuild: Option<PathBuf>,
) -> Builder {
    if let Some(p) = explicit {
        return Builder {
            program: p.to_path_buf(),
            needs_host_target: true,
        };
    }
    if let (Arch::Arm64, Some(p)) = (arch, arm64_cargo) {
        return Builder {
            program: p,
            needs_host_target: false,
        };
    }
    Builder {
        program: zigbuild.unwrap_or_else(|| PathBuf::from("cargo-zigbuild")),
        needs_host_target: true,
    }
}

fn builder(opts: &BuildOptions) -> Builder {
    choose_builder(
        opts.arch,
        opts.zigbuild.as_deref(),
        std::env::var_os(ARM64_CARGO_ENV).map(PathBuf::from),
        std::env::var_os(ZIGBUILD_ENV).map(PathBuf::from),
    )
}

/// Builds the binary with `cargo zigbuild`; `progress` gets each line cargo prints (e.g.
/// `Compiling serde v1…`). Returns the path of the built (stripped) binary.
pub fn build(opts: &BuildOptions, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, PackageError> {
    let Builder {
        program,
        needs_host_target,
    } = builder(opts);
    if needs_host_target {
        check_target_installed(opts.arch)?;
    }
    let probe = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(PackageError::ZigbuildMissing {
                detail: format!("`{} --version` exited with {s}", program.display()),
            })
        }
        Err(e) => {
            return Err(PackageError::ZigbuildMissing {
                detail: format!("cannot run `{}`: {e}", program.display()),
            })
        }
    }
    let mut args = opts.cargo_args();
    if !has_lock_file(&opts.project_dir) {
        args.retain(|a| a != "--locked");
    }
    // cargo-zigbuild is run as a cargo subcommand binary: its first argument is `zigbuild`.
    let command = format!("cargo {}", args.join(" "));
    progress(&format!("running {command}"));
    let mut child = Command::new(&program)
        .args(&args)
        .current_dir(&opts.project_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err("running", &program))?;
    let mut tail: std::collections::VecDeque<String> = Default::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            progress(line.trim());
            if tail.len() == 30 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child.wait().map_err(io_err("waiting for", &program))?;
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().collect();
        let joined = tail.join("\n");
        if joined.contains("zig") && joined.contains("not found") {
            return Err(PackageError::ZigbuildMissing { detail: joined });
        }
        return Err(PackageError::BuildFailed {
            command,
            status: status.to_string(),
            tail: joined,
        });
    }
    let target_dir = match &opts.target_dir {
        Some(t) => t.clone(),
        None => cargo_target_dir(&opts.project_dir),
    };
    let path = target_dir
        .join(opts.arch.triple())
        .join(opts.profile.dir())
        .join(&opts.bin);
    if !path.is_file() {
        return Err(PackageError::BinaryMissing {
            path,
            bin: opts.bin.clone(),
        });
    }
    Ok(path)
}

fn has_lock_file(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join("Cargo.lock").is_file())
}

/// The target directory cargo uses for `project_dir` (`cargo metadata`), falling back to
/// `$CARGO_TARGET_DIR` or `<project_dir>/target`.
pub fn cargo_target_dir(project_dir: &Path) -> PathBuf {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(project_dir)
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = out {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            if let Some(t) = v.get("target_directory").and_then(|t| t.as_str()) {
                return PathBuf::from(t);
            }
        }
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir.join("target"))
}
