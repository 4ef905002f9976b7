//! The one way this project writes files that may hold credentials (API keys, TLS private keys,
//! state files, zips that include keys): owner-only (0600), created exclusively so a planted
//! symlink is never followed, in directories that are owner-only (0700).
//!
//! `O_CREAT | O_EXCL` fails on any existing path, a symbolic link included (POSIX: "If O_CREAT
//! and O_EXCL are set, and path names a symbolic link, open() shall fail with EEXIST"), so it
//! also gives what `O_NOFOLLOW` would; a file is never opened through a link, never truncated in
//! place, and never keeps an older file's looser mode.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` for writing, readable by its owner only (0600), never through a symlink:
/// a stale file (or symlink) at `path` is removed first and the new one is created exclusively
/// (`O_CREAT | O_EXCL`). For temp files and anything that may hold credentials.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes `bytes` to `path` atomically (a private temp file beside it, then a rename), mode
/// 0600; missing parent directories are created 0700.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir_all(dir)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let tmp = path.with_file_name(name);
    let mut f = create_private_file(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// `create_dir_all` whose newly created directories are 0700 (existing ones are left alone).
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `dir` 0700, or tightens an existing one to 0700: for a directory the caller owns
/// outright (e.g. the TLS front's `pki/`), never for one a user passed in. A symlink at `dir`
/// is refused.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    create_private_dir_all(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} is not a directory (a symlink?)", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_never_written_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("tl-env-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        // A planted symlink where the file (or its temp file) goes must not redirect the write.
        let key = dir.join("sub/server.key");
        create_private_dir_all(&dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("sub/server.key.partial")).unwrap();
        write_private(&key, b"KEY").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("sub/direct.key")).unwrap();
        let mut f = create_private_file(&dir.join("sub/direct.key")).unwrap();
        f.write_all(b"KEY").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        for p in [&key, &dir.join("sub/direct.key")] {
            let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", p.display());
        }
        // An existing file with a looser mode is replaced, not reused.
        let loose = dir.join("loose.key");
        std::fs::write(&loose, b"old").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&loose, b"new").unwrap();
        assert_eq!(
            std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let dmode = std::fs::metadata(dir.join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        // ensure_private_dir tightens an existing directory.
        let open = dir.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&open).unwrap();
        assert_eq!(
            std::fs::metadata(&open).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
