use std::io::Write;
use std::path::PathBuf;

use crate::*;

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
