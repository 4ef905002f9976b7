//! Function code: unpacking zips and adopting local paths into code directories.

use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::EmulatorError;

/// A code directory ready to run: it contains an executable `bootstrap`.
#[derive(Debug, Clone)]
pub(crate) struct PreparedCode {
    pub code_dir: PathBuf,
    /// base64(SHA-256) as Lambda reports `CodeSha256`.
    pub sha256: String,
    pub size: u64,
    /// True when the directory lives in the data dir (and may be deleted with the function).
    pub owned: bool,
}

pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn new_code_dir(data_dir: &Path, function: &str) -> PathBuf {
    data_dir
        .join("functions")
        .join(function)
        .join("code")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

fn make_executable(path: &Path) -> Result<(), EmulatorError> {
    let mut perms = std::fs::metadata(path)
        .map_err(|e| EmulatorError::io("reading bootstrap metadata", path, e))?
        .permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms)
        .map_err(|e| EmulatorError::io("making bootstrap executable", path, e))
}

/// Unpacks a base64-encoded zip (CreateFunction `Code.ZipFile`).
pub(crate) fn from_zip_base64(
    data_dir: &Path,
    function: &str,
    b64: &str,
) -> Result<PreparedCode, EmulatorError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| {
        EmulatorError::InvalidParameter(format!(
            "Code.ZipFile of function {function} is not valid base64 ({e}); send the zip's bytes base64-encoded"
        ))
    })?;
    from_zip(data_dir, function, &bytes)
}

/// Unpacks zip bytes into a fresh code directory under the data dir.
pub(crate) fn from_zip(
    data_dir: &Path,
    function: &str,
    bytes: &[u8],
) -> Result<PreparedCode, EmulatorError> {
    let unzip_error = |e: zip::result::ZipError| {
        EmulatorError::InvalidParameter(format!(
            "Could not unzip uploaded file for function {function} ({e}). Please check your file, then try to \
             upload again."
        ))
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unzip_error)?;
    let has_bootstrap = archive
        .by_name("bootstrap")
        .map(|f| f.is_file())
        .unwrap_or(false);
    if !has_bootstrap {
        let names: Vec<String> = archive.file_names().take(10).map(str::to_string).collect();
        return Err(EmulatorError::InvalidParameter(format!(
            "The zip for function {function} has no 'bootstrap' at its root (entries: {names:?}). A custom runtime \
             (provided.al2023) starts ./bootstrap: put your executable at the top level of the zip, named \
             'bootstrap' (cargo lambda build produces it)"
        )));
    }
    let dir = new_code_dir(data_dir, function);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EmulatorError::io("creating code directory", &dir, e))?;
    if let Err(e) = archive.extract(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(unzip_error(e));
    }
    make_executable(&dir.join("bootstrap"))?;
    Ok(PreparedCode {
        code_dir: dir,
        sha256: sha256_b64(bytes),
        size: bytes.len() as u64,
        owned: true,
    })
}

/// Adopts a local path: a directory containing `bootstrap` is used in place (not copied); a single
/// executable file is copied into a fresh code directory as `bootstrap`.
pub(crate) fn from_path(
    data_dir: &Path,
    function: &str,
    path: &Path,
) -> Result<PreparedCode, EmulatorError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        EmulatorError::io(format!("code path of function {function} is not readable (give a bootstrap executable or a directory containing one)"), path, e)
    })?;
    if meta.is_dir() {
        let bootstrap = path.join("bootstrap");
        if !bootstrap.is_file() {
            return Err(EmulatorError::InvalidParameter(format!(
                "directory {} (code of function {function}) has no 'bootstrap' file; put the executable there as \
                 'bootstrap' or pass the executable's path instead",
                path.display()
            )));
        }
        let dir = std::fs::canonicalize(path)
            .map_err(|e| EmulatorError::io("resolving code directory", path, e))?;
        let (sha256, size) = hash_file(&bootstrap)?;
        return Ok(PreparedCode {
            code_dir: dir,
            sha256,
            size,
            owned: false,
        });
    }
    let dir = new_code_dir(data_dir, function);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EmulatorError::io("creating code directory", &dir, e))?;
    let target = dir.join("bootstrap");
    std::fs::copy(path, &target)
        .map_err(|e| EmulatorError::io("copying bootstrap executable", path, e))?;
    make_executable(&target)?;
    let (sha256, size) = hash_file(&target)?;
    Ok(PreparedCode {
        code_dir: dir,
        sha256,
        size,
        owned: true,
    })
}

fn hash_file(path: &Path) -> Result<(String, u64), EmulatorError> {
    let mut f =
        std::fs::File::open(path).map_err(|e| EmulatorError::io("reading bootstrap", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| EmulatorError::io("reading bootstrap", path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((
        base64::engine::general_purpose::STANDARD.encode(hasher.finalize()),
        size,
    ))
}
