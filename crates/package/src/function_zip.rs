//! The deployment package: a deterministic `function.zip` with `bootstrap` at its root.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::{create_private_file, executable_arch, Arch, PackageError};

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

/// Checks that a zip has an executable `bootstrap` at its root (what `provided.al2023` runs) and
/// returns the architecture it was built for: `Some` for an ELF executable, `None` for a script
/// (`#!…`, which runs on either). An ELF for a machine Lambda does not have is refused.
pub fn check_zip(path: &Path) -> Result<Option<Arch>, String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut z = zip::ZipArchive::new(f)
        .map_err(|e| format!("{} is not a zip file ({e})", path.display()))?;
    let mut entry = z.by_name("bootstrap").map_err(|_| {
        format!(
            "{} has no `bootstrap` at its root; provided.al2023 runs `bootstrap`. Fix: build it \
             with `temporal-lambda package`",
            path.display()
        )
    })?;
    if let Some(m) = entry.unix_mode().filter(|m| m & 0o111 == 0) {
        return Err(format!(
            "`bootstrap` in {} is not executable (mode {:o}); Lambda would fail with \
             Runtime.InvalidEntrypoint. Fix: rebuild with `temporal-lambda package`",
            path.display(),
            m & 0o777
        ));
    }
    use std::io::Read;
    let mut header = Vec::with_capacity(64);
    Read::take(&mut entry, 64)
        .read_to_end(&mut header)
        .map_err(|e| format!("cannot read `bootstrap` in {}: {e}", path.display()))?;
    if header.starts_with(b"#!") {
        return Ok(None);
    }
    executable_arch(&header)
        .map(Some)
        .map_err(|e| format!("`bootstrap` in {}: {e}", path.display()))
}

/// Refuses a `bootstrap` built for another architecture than the function's (Lambda would fail
/// every invocation with `Runtime.InvalidEntrypoint` / "exec format error"), naming both fixes.
pub fn check_zip_arch(path: &Path, function_arch: Arch) -> Result<(), String> {
    match check_zip(path)? {
        Some(built) if built != function_arch => Err(format!(
            "`bootstrap` in {} is built for {built}, but the function is {function_arch}: \
             Lambda would fail every invocation (Runtime.InvalidEntrypoint). Fix: package for \
             {function_arch} (`temporal-lambda package --arch {function_arch}`), or deploy with \
             `--arch {built}`",
            path.display()
        )),
        _ => Ok(()),
    }
}
