//! The deployable artifact: `bootstrap` size, whether it is stripped, and its Lambda zip size.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Sizes of the function artifact.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Artifact {
    /// Size of `bootstrap`, bytes.
    pub binary_bytes: u64,
    /// `Some(true)` when the ELF has no `SHT_SYMTAB` section (stripped); `None` if not an ELF64.
    pub stripped: Option<bool>,
    /// Size of a zip holding only `bootstrap` (deflate, mode 0755), bytes.
    pub zip_bytes: u64,
}

/// Measures `bootstrap` and zips it in memory.
pub(crate) fn measure(bootstrap: &Path) -> Result<Artifact> {
    let bytes =
        std::fs::read(bootstrap).with_context(|| format!("reading {}", bootstrap.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)
        .context("zipping bootstrap")?;
    zip.write_all(&bytes).context("zipping bootstrap")?;
    let zipped = zip.finish().context("zipping bootstrap")?.into_inner();
    Ok(Artifact {
        binary_bytes: bytes.len() as u64,
        stripped: has_symtab(&bytes).map(|s| !s),
        zip_bytes: zipped.len() as u64,
    })
}

/// Whether a little-endian ELF64 file has a symbol table section (`SHT_SYMTAB`).
fn has_symtab(elf: &[u8]) -> Option<bool> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let shoff = usize::try_from(u64::from_le_bytes(elf.get(0x28..0x30)?.try_into().ok()?)).ok()?;
    let shentsize = usize::from(u16_at(0x3A)?);
    let shnum = usize::from(u16_at(0x3C)?);
    const SHT_SYMTAB: u32 = 2;
    let mut found = false;
    for i in 0..shnum {
        found |= u32_at(shoff + i * shentsize + 4)? == SHT_SYMTAB;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_with_deflate_and_reads_elf_section_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootstrap");
        std::fs::write(&path, b"not an elf, very compressible ".repeat(2048)).unwrap();
        let a = measure(&path).unwrap();
        assert_eq!(a.binary_bytes, 30 * 2048);
        assert_eq!(a.stripped, None);
        assert!(a.zip_bytes > 0 && a.zip_bytes < a.binary_bytes / 10);
        // A debug test binary carries a symbol table.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(has_symtab(&exe), Some(true));
    }
}
