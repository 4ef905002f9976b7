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
//! use temporal_lambda_package::{build, zip_bootstrap, check_glibc, Arch, BuildOptions};
//!
//! # fn main() -> Result<(), temporal_lambda_package::PackageError> {
//! let opts = BuildOptions::new(".", Arch::X86_64).package("hello-worker").bin("bootstrap");
//! let binary = build(&opts, &mut |line| eprintln!("{line}"))?;
//! check_glibc(&binary, Arch::X86_64.max_glibc())?;
//! let zip = zip_bootstrap(&binary, &[], "target/lambda/function.zip".as_ref())?;
//! println!("{} bytes, CodeSha256 {}", zip.size, zip.code_sha256);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// The project's one writer of files that may hold credentials (0600, created with `O_EXCL`,
/// never through a symlink; directories 0700), shared with the TLS front and the CLI: it lives in
/// [`temporal_lambda_env::private_file`] and is re-exported here for this crate's users.
pub use temporal_lambda_env::private_file::{
    create_private_dir_all, create_private_file, write_private,
};

/// Errors from building and packaging; each message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The Rust standard library for the target is not installed.
    #[error(
        "the Rust standard library for {triple} is not installed, so the {arch} (Lambda \
         `{lambda_arch}`) binary cannot be built; fix: `rustup target add {triple}`"
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

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PackageError + 'a {
    move |source| PackageError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

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

/// A glibc symbol version such as 2.34.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion(pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl GlibcVersion {
    /// Parses `GLIBC_2.34` or `2.34` (a third component is ignored, `GLIBC_PRIVATE` is `None`).
    pub fn parse(s: &str) -> Option<GlibcVersion> {
        let v = s.strip_prefix("GLIBC_").unwrap_or(s);
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().unwrap_or("0").parse().ok()?;
        Some(GlibcVersion(major, minor))
    }
}

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

    fn dir(&self) -> &str {
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
        format!("{}.{}", self.arch.triple(), self.arch.max_glibc())
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

fn zigbuild_program(opts: &BuildOptions) -> PathBuf {
    opts.zigbuild
        .clone()
        .or_else(|| std::env::var_os("TEMPORAL_LAMBDA_ZIGBUILD").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cargo-zigbuild"))
}

/// Builds the binary with `cargo zigbuild`; `progress` gets each line cargo prints (e.g.
/// `Compiling serde v1…`). Returns the path of the built (stripped) binary.
pub fn build(opts: &BuildOptions, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, PackageError> {
    check_target_installed(opts.arch)?;
    let program = zigbuild_program(opts);
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

/// The glibc symbol versions (`GLIBC_x.y`) an ELF binary requires, sorted; empty for a static
/// binary.
pub fn glibc_requirements(path: &Path) -> Result<BTreeSet<GlibcVersion>, PackageError> {
    use object::read::elf::ElfFile64;
    let data = std::fs::read(path).map_err(io_err("reading", path))?;
    let not_elf = |e: object::read::Error| PackageError::NotElf {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let file = ElfFile64::<object::Endianness>::parse(&*data).map_err(not_elf)?;
    let endian = file.endian();
    let sections = file.elf_section_table();
    let mut out = BTreeSet::new();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, &*data).map_err(not_elf)? {
        let strings = sections.strings(endian, &*data, link).map_err(not_elf)?;
        while let Some((_need, mut aux)) = needs.next().map_err(not_elf)? {
            while let Some(a) = aux.next().map_err(not_elf)? {
                let name = a.name(endian, strings).map_err(not_elf)?;
                let name = String::from_utf8_lossy(name);
                if name.starts_with("GLIBC_") {
                    if let Some(v) = GlibcVersion::parse(&name) {
                        out.insert(v);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Fails with [`PackageError::GlibcTooNew`] if `path` needs a glibc newer than `max`; returns the
/// newest version it needs (None for a static binary).
pub fn check_glibc(path: &Path, max: GlibcVersion) -> Result<Option<GlibcVersion>, PackageError> {
    let newest = glibc_requirements(path)?.into_iter().next_back();
    match newest {
        Some(v) if v > max => Err(PackageError::GlibcTooNew {
            path: path.to_path_buf(),
            needed: v.to_string(),
            max: max.to_string(),
        }),
        v => Ok(v),
    }
}

/// A written deployment package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZipInfo {
    /// Where it was written.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// base64(SHA-256) of the zip: what Lambda reports as `CodeSha256`.
    pub code_sha256: String,
    /// Entries in the zip, in order.
    pub entries: Vec<String>,
}

/// Writes `out` with `binary` stored as `bootstrap` (mode 0755) plus `extra` files (by file name,
/// mode 0644) at the root, deterministically. Returns its size and `CodeSha256`.
pub fn zip_bootstrap(
    binary: &Path,
    extra: &[PathBuf],
    out: &Path,
) -> Result<ZipInfo, PackageError> {
    use zip::write::SimpleFileOptions;
    let mut files: Vec<(String, PathBuf, u32)> = vec![("bootstrap".into(), binary.into(), 0o755)];
    for e in extra {
        let name = e
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if files.iter().any(|(n, _, _)| *n == name) {
            return Err(PackageError::DuplicateEntry(name));
        }
        files.push((name, e.clone(), 0o644));
    }
    files[1..].sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(dir) = out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
    }
    let zip_err = |source| PackageError::Zip {
        path: out.to_path_buf(),
        source,
    };
    // Write to a temp file and rename, so a failed run never leaves a half-written zip behind.
    let tmp = out.with_extension("zip.partial");
    {
        // 0600: included files may be TLS keys or a temporal.toml with an API key.
        let f = create_private_file(&tmp).map_err(io_err("creating", &tmp))?;
        let mut w = zip::ZipWriter::new(std::io::BufWriter::new(f));
        for (name, path, mode) in &files {
            let bytes = std::fs::read(path).map_err(io_err("reading", path))?;
            let opts = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(9))
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(*mode)
                .large_file(false);
            w.start_file(name.as_str(), opts).map_err(zip_err)?;
            w.write_all(&bytes).map_err(io_err("writing", &tmp))?;
        }
        let mut inner = w.finish().map_err(zip_err)?;
        inner.flush().map_err(io_err("writing", &tmp))?;
    }
    std::fs::rename(&tmp, out).map_err(io_err("renaming to", out))?;
    let bytes = std::fs::read(out).map_err(io_err("reading", out))?;
    Ok(ZipInfo {
        path: out.to_path_buf(),
        size: bytes.len() as u64,
        code_sha256: code_sha256(&bytes),
        entries: files.into_iter().map(|(n, _, _)| n).collect(),
    })
}

/// The zip `zip` (read from `path`, named in errors) with `files` added, each `(name in the zip,
/// source file)`, mode 0644, deterministically; an entry of the same name is replaced. `deploy`
/// uses it to package the Temporal connection's TLS files at fixed paths.
pub fn zip_with_files(
    zip: &[u8],
    path: &Path,
    files: &[(String, PathBuf)],
) -> Result<Vec<u8>, PackageError> {
    use zip::write::SimpleFileOptions;
    let zip_err = |source| PackageError::Zip {
        path: path.to_path_buf(),
        source,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(zip_err)?;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(zip_err)?;
        if files.iter().any(|(n, _)| n == f.name()) {
            continue;
        }
        w.raw_copy_file(f).map_err(zip_err)?;
    }
    for (name, src) in files {
        let bytes = std::fs::read(src).map_err(io_err("reading", src))?;
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644)
            .large_file(false);
        w.start_file(name.as_str(), opts).map_err(zip_err)?;
        w.write_all(&bytes).map_err(io_err("writing", path))?;
    }
    Ok(w.finish().map_err(zip_err)?.into_inner())
}

/// base64(SHA-256(bytes)): Lambda's `CodeSha256`.
pub fn code_sha256(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Checks that a zip has an executable `bootstrap` at its root (what `provided.al2023` runs).
pub fn check_zip(path: &Path) -> Result<(), String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut z = zip::ZipArchive::new(f)
        .map_err(|e| format!("{} is not a zip file ({e})", path.display()))?;
    let entry = z.by_name("bootstrap").map_err(|_| {
        format!(
            "{} has no `bootstrap` at its root; provided.al2023 runs `bootstrap`. Fix: build it \
             with `temporal-lambda package`",
            path.display()
        )
    })?;
    match entry.unix_mode() {
        Some(m) if m & 0o111 == 0 => Err(format!(
            "`bootstrap` in {} is not executable (mode {:o}); Lambda would fail with \
             Runtime.InvalidEntrypoint. Fix: rebuild with `temporal-lambda package`",
            path.display(),
            m & 0o777
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn private_files_are_0600_and_never_written_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tl-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = dir.join("victim");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&target, b"untouched").unwrap();
        let state = dir.join("sub/state.json");
        create_private_dir_all(&dir.join("sub")).unwrap();
        // A planted symlink where the temp file goes must not redirect the write.
        std::os::unix::fs::symlink(&target, dir.join("sub/state.json.partial")).unwrap();
        write_private(&state, b"{\"secret\":1}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.join("sub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // Zips (which may hold included keys) too.
        let bin = dir.join("bootstrap");
        std::fs::write(&bin, b"\x7fELF").unwrap();
        let z = zip_bootstrap(&bin, &[], &dir.join("f.zip")).unwrap();
        let zmode = std::fs::metadata(&z.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(zmode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    use super::*;

    #[test]
    fn glibc_versions_parse_and_order() {
        assert_eq!(GlibcVersion::parse("GLIBC_2.34"), Some(GlibcVersion(2, 34)));
        assert_eq!(GlibcVersion::parse("GLIBC_2.2.5"), Some(GlibcVersion(2, 2)));
        assert_eq!(GlibcVersion::parse("GLIBC_PRIVATE"), None);
        assert!(GlibcVersion(2, 35) > GlibcVersion(2, 34));
        assert!(GlibcVersion(2, 4) < GlibcVersion(2, 34));
    }

    #[test]
    fn cargo_args_target_glibc_and_size_profile() {
        let o = BuildOptions::new(".", Arch::X86_64).package("w");
        let a = o.cargo_args().join(" ");
        assert!(a.contains("--target x86_64-unknown-linux-gnu.2.34"), "{a}");
        assert!(a.contains("profile.release.opt-level=\"z\""), "{a}");
        assert!(a.contains("profile.release.lto=\"fat\""), "{a}");
        assert!(a.contains("profile.release.codegen-units=1"), "{a}");
        assert!(a.contains("profile.release.panic=\"unwind\""), "{a}");
        assert!(a.contains("profile.release.strip=true"), "{a}");
        assert!(a.contains("-p w"), "{a}");
        let mut d = BuildOptions::new(".", Arch::Arm64);
        d.profile = Profile::Named("dev".into());
        let a = d.cargo_args().join(" ");
        assert!(a.contains("aarch64-unknown-linux-gnu.2.34"), "{a}");
        assert!(!a.contains("opt-level"), "{a}");
        assert!(!a.contains("lto"), "{a}");
        assert!(!a.contains("panic"), "{a}");
        assert_eq!(d.profile.dir(), "debug");
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tl-pkg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn zip_is_deterministic_and_has_executable_bootstrap() {
        let d = tmp("zip");
        let bin = d.join("my-worker");
        std::fs::write(&bin, b"\x7fELF not really").unwrap();
        let toml = d.join("temporal.toml");
        std::fs::write(&toml, b"[profile.default]\naddress='x:7233'\n").unwrap();
        let a = zip_bootstrap(&bin, std::slice::from_ref(&toml), &d.join("a.zip")).unwrap();
        // Different mtime on the inputs: same bytes out.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&bin, b"\x7fELF not really").unwrap();
        let b = zip_bootstrap(&bin, &[toml], &d.join("b.zip")).unwrap();
        assert_eq!(a.code_sha256, b.code_sha256);
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap()
        );
        assert_eq!(a.entries, vec!["bootstrap", "temporal.toml"]);
        check_zip(&a.path).unwrap();
        let mut z = zip::ZipArchive::new(std::fs::File::open(&a.path).unwrap()).unwrap();
        assert_eq!(
            z.by_name("bootstrap").unwrap().unix_mode().unwrap() & 0o777,
            0o755
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn zip_without_bootstrap_is_rejected_with_the_fix() {
        let d = tmp("nozip");
        let p = d.join("f.zip");
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
            w.start_file("main", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"x").unwrap();
            w.finish().unwrap();
        }
        let e = check_zip(&p).unwrap_err();
        assert!(e.contains("no `bootstrap` at its root"), "{e}");
        assert!(e.contains("temporal-lambda package"), "{e}");
        std::fs::write(&p, b"not a zip").unwrap();
        assert!(check_zip(&p).unwrap_err().contains("is not a zip file"));
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn non_elf_is_rejected() {
        let d = tmp("elf");
        let p = d.join("x");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        let e = glibc_requirements(&p).unwrap_err().to_string();
        assert!(e.contains("not a 64-bit Linux ELF"), "{e}");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn host_binaries_report_their_glibc_needs() {
        // The test binary itself is dynamically linked against the host glibc (2.36 here).
        let me = std::env::current_exe().unwrap();
        let v = glibc_requirements(&me).unwrap();
        assert!(
            !v.is_empty(),
            "a glibc-linked binary needs some GLIBC_ versions"
        );
        assert!(check_glibc(&me, GlibcVersion(2, 2)).is_err());
    }
}
