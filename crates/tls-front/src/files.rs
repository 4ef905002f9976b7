//! Where the front writes: its own 0700 directory and 0600 files.

use std::path::Path;

use crate::error::io_err;
use crate::TlsFrontError;

/// Writes every file of the front through the project's one private-file writer
/// ([`temporal_lambda_env::private_file::write_private`]): 0600, a fresh file created with
/// `O_EXCL` (never through a planted symlink, never keeping an older file's mode), renamed into
/// place. Certificates are not secret but gain nothing from being readable by others.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), TlsFrontError> {
    temporal_lambda_env::private_file::write_private(path, contents.as_bytes())
        .map_err(io_err(format!("writing {}", path.display())))
}

/// Makes `dir` the front's own: created or tightened to 0700; a shared sticky directory such as
/// `/tmp` is refused rather than tightened.
pub(crate) fn own_dir(dir: &Path) -> Result<(), TlsFrontError> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(dir) {
        if m.permissions().mode() & 0o1000 != 0 {
            return Err(TlsFrontError::SharedDir {
                dir: dir.to_path_buf(),
            });
        }
    }
    temporal_lambda_env::private_file::ensure_private_dir(dir)
        .map_err(io_err(format!("creating {} (0700)", dir.display())))
}

/// Refuses a directory nginx would read as more than a path inside a quoted string.
pub(crate) fn check_dir(dir: &Path) -> Result<(), TlsFrontError> {
    let s = dir.to_string_lossy();
    if s.chars()
        .any(|c| matches!(c, '$' | '{' | '}' | ';') || c.is_control())
    {
        return Err(TlsFrontError::InvalidDir {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}
