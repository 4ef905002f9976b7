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

/// Lambda's limit on a function's unzipped deployment package, in bytes.
pub(crate) const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

fn make_executable(path: &Path) -> Result<(), EmulatorError> {
    let mut perms = std::fs::metadata(path)
        .map_err(|e| EmulatorError::io("reading bootstrap metadata", path, e))?
        .permissions();
    // Never setuid/setgid/sticky.
    perms.set_mode((perms.mode() & 0o777) | 0o755);
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
    from_zip_limited(data_dir, function, bytes, MAX_UNZIPPED_BYTES)
}

/// [`from_zip`] with the unzipped-size limit as a parameter (tests use a small one).
///
/// The limit is enforced twice before anything is written: on the sizes the zip declares, then
/// on the bytes its entries actually decompress to (declared sizes can lie), counted while
/// decompressing and stopping at the first byte over the limit. Extraction then writes exactly
/// those bytes. File modes from the zip are kept but masked to 0o777 (no setuid, setgid or
/// sticky bits).
fn from_zip_limited(
    data_dir: &Path,
    function: &str,
    bytes: &[u8],
    limit: u64,
) -> Result<PreparedCode, EmulatorError> {
    let unzip_error = |e: zip::result::ZipError| {
        EmulatorError::InvalidParameter(format!(
            "Could not unzip uploaded file for function {function} ({e}). Please check your file, then try to \
             upload again."
        ))
    };
    let too_big = |n: u64| {
        EmulatorError::InvalidParameter(format!(
            "Unzipped size must be smaller than {limit} bytes (the zip for function {function} unpacks to at \
             least {n} bytes): leave unneeded files out of the package or strip the bootstrap binary"
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
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(unzip_error)?;
        declared = declared.saturating_add(f.size());
    }
    if declared > limit {
        return Err(too_big(declared));
    }
    let mut actual = 0u64;
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(unzip_error)?;
        if f.is_dir() {
            continue;
        }
        let room = limit - actual;
        let n = std::io::copy(&mut (&mut f).take(room + 1), &mut std::io::sink())
            .map_err(|e| unzip_error(e.into()))?;
        actual += n;
        if n > room {
            return Err(too_big(actual));
        }
    }
    let dir = new_code_dir(data_dir, function);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EmulatorError::io("creating code directory", &dir, e))?;
    if let Err(e) = archive.extract(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(unzip_error(e));
    }
    if let Err(e) = strip_special_bits(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(EmulatorError::io(
            "resetting file modes of unzipped code",
            &dir,
            e,
        ));
    }
    make_executable(&dir.join("bootstrap"))?;
    Ok(PreparedCode {
        code_dir: dir,
        sha256: sha256_b64(bytes),
        size: bytes.len() as u64,
        owned: true,
    })
}

/// Masks every file and directory mode under `dir` to 0o777 (symlinks are not followed).
fn strip_special_bits(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o7000 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777))?;
        }
        if meta.is_dir() {
            strip_special_bits(&path)?;
        }
    }
    Ok(())
}

/// Adopts a local path: a directory containing `bootstrap` is used in place (not copied); a single
/// executable file is copied into a fresh code directory as `bootstrap`.
pub(crate) fn from_path(
    data_dir: &Path,
    function: &str,
    path: &Path,
    files: &[(String, Vec<u8>)],
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
        if !files.is_empty() {
            return Err(EmulatorError::InvalidParameter(format!(
                "function {function}: extra files can only be added to a copied bootstrap, not to the \
                 directory {} used in place: put them in that directory",
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
    for (rel, bytes) in files {
        let rel_path = Path::new(rel);
        let safe = rel_path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe || rel.is_empty() {
            return Err(EmulatorError::InvalidParameter(format!(
                "function {function}: extra file path '{rel}' must be relative, inside the code (no '..')"
            )));
        }
        let file = dir.join(rel_path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| EmulatorError::io("creating a directory in the code", parent, e))?;
        }
        std::fs::write(&file, bytes)
            .map_err(|e| EmulatorError::io("writing a file into the code", &file, e))?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A zip of stored entries with exactly the given unix modes (the zip writer masks modes to
    /// 0o777, so the central directory's external attributes are patched afterwards).
    fn zip_stored(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, _) in entries {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(0o644);
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        let mut z = w.finish().unwrap().into_inner();
        let mut modes = entries.iter().map(|e| e.2);
        let mut i = 0;
        while i + 4 <= z.len() {
            if z[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
                let attrs = (0o100000 | modes.next().unwrap()) << 16;
                z[i + 38..i + 42].copy_from_slice(&attrs.to_le_bytes());
            }
            i += 1;
        }
        z
    }

    /// Rewrites the uncompressed size every header declares for every entry.
    fn declare_size(zip: &mut [u8], size: u32) {
        let le = size.to_le_bytes();
        let mut i = 0;
        while i + 4 <= zip.len() {
            match &zip[i..i + 4] {
                [0x50, 0x4b, 0x03, 0x04] => zip[i + 22..i + 26].copy_from_slice(&le),
                [0x50, 0x4b, 0x01, 0x02] => zip[i + 24..i + 28].copy_from_slice(&le),
                _ => {}
            }
            i += 1;
        }
    }

    #[test]
    fn unzipped_size_is_capped_by_declared_and_by_actual_size() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![b'x'; 2000];
        let z = zip_stored(&[("bootstrap", b"#!/bin/sh\n", 0o755), ("big", &data, 0o644)]);
        // Within the limit.
        assert!(from_zip_limited(dir.path(), "f", &z, 5000).is_ok());
        // Declared sizes over the limit: refused before any decompression.
        let e = from_zip_limited(dir.path(), "f", &z, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Unzipped size must be smaller than 1000 bytes"),
            "{e}"
        );
        // Lying (tiny) declared sizes: refused while counting the real bytes.
        let mut lying = z.clone();
        declare_size(&mut lying, 1);
        let e = from_zip_limited(dir.path(), "f", &lying, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Unzipped size must be smaller than 1000 bytes"),
            "{e}"
        );
        // The real limit is Lambda's 250 MB, checked on declared sizes.
        let mut huge = z.clone();
        declare_size(&mut huge, 200_000_000);
        let e = from_zip(dir.path(), "f", &huge).unwrap_err().to_string();
        assert!(
            e.contains("Unzipped size must be smaller than 262144000 bytes"),
            "{e}"
        );
        // Nothing of the refused zips was written: only the first code dir exists.
        let code = dir.path().join("functions/f/code");
        assert_eq!(std::fs::read_dir(code).unwrap().count(), 1);
    }

    #[test]
    fn setuid_setgid_sticky_bits_are_not_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let z = zip_stored(&[
            ("bootstrap", b"#!/bin/sh\n", 0o4755),
            ("suid", b"x", 0o4755),
            ("sgid", b"x", 0o2750),
            ("sub/sticky", b"x", 0o1777),
        ]);
        let p = from_zip(dir.path(), "f", &z).unwrap();
        for (name, want) in [
            ("bootstrap", 0o755),
            ("suid", 0o755),
            ("sgid", 0o750),
            ("sub/sticky", 0o777),
        ] {
            let mode = std::fs::metadata(p.code_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777;
            assert_eq!(mode, want, "{name}: {mode:o}");
        }
    }
}
