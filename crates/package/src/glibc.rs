//! The glibc versions a binary needs, and the check against what Lambda has.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::io_err;
use crate::PackageError;

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
