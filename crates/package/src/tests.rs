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

/// The first 64 bytes of a 64-bit little-endian ELF executable for `machine` (62: x86_64,
/// 183: aarch64).
fn elf_header(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01\x00".to_vec();
    h.resize(18, 0);
    h.extend_from_slice(&machine.to_le_bytes());
    h.resize(64, 0);
    h
}

#[test]
fn a_bootstrap_for_the_other_architecture_is_refused_naming_both() {
    let d = tmp("arch");
    let bin = d.join("bootstrap");
    std::fs::write(&bin, elf_header(183)).unwrap();
    let arm = zip_bootstrap(&bin, &[], &d.join("arm.zip")).unwrap();
    assert_eq!(check_zip(&arm.path).unwrap(), Some(Arch::Arm64));
    check_zip_arch(&arm.path, Arch::Arm64).unwrap();
    let e = check_zip_arch(&arm.path, Arch::X86_64).unwrap_err();
    assert!(
        e.contains("built for arm64, but the function is x86_64"),
        "{e}"
    );
    assert!(
        e.contains("--arch x86_64") && e.contains("--arch arm64"),
        "{e}"
    );
    // A script runs on either.
    std::fs::write(&bin, b"#!/bin/sh\nexec ./worker\n").unwrap();
    let script = zip_bootstrap(&bin, &[], &d.join("script.zip")).unwrap();
    assert_eq!(check_zip(&script.path).unwrap(), None);
    check_zip_arch(&script.path, Arch::Arm64).unwrap();
    // A machine Lambda does not have.
    std::fs::write(&bin, elf_header(40)).unwrap();
    let other = zip_bootstrap(&bin, &[], &d.join("other.zip")).unwrap();
    assert!(check_zip(&other.path).unwrap_err().contains("machine 40"));
    std::fs::remove_dir_all(&d).ok();
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
    std::fs::write(&bin, elf_header(62)).unwrap();
    let toml = d.join("temporal.toml");
    std::fs::write(&toml, b"[profile.default]\naddress='x:7233'\n").unwrap();
    let a = zip_bootstrap(&bin, std::slice::from_ref(&toml), &d.join("a.zip")).unwrap();
    // Different mtime on the inputs: same bytes out.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&bin, elf_header(62)).unwrap();
    let b = zip_bootstrap(&bin, &[toml], &d.join("b.zip")).unwrap();
    assert_eq!(a.code_sha256, b.code_sha256);
    assert_eq!(
        std::fs::read(&a.path).unwrap(),
        std::fs::read(&b.path).unwrap()
    );
    assert_eq!(a.entries, vec!["bootstrap", "temporal.toml"]);
    assert_eq!(check_zip(&a.path).unwrap(), Some(Arch::X86_64));
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

#[test]
fn arm64_uses_its_own_builder_only_when_one_is_named() {
    use crate::cargo_build::{choose_builder, Builder};
    use std::path::{Path, PathBuf};
    let arm = Some(PathBuf::from("/r/.venv/bin/cargo-arm64"));
    let zig = Some(PathBuf::from("/z/cargo-zigbuild"));
    // arm64 with the build-root wrapper: it brings its own rustc, the host's is not checked.
    assert_eq!(
        choose_builder(Arch::Arm64, None, arm.clone(), zig.clone()),
        Builder {
            program: "/r/.venv/bin/cargo-arm64".into(),
            needs_host_target: false
        }
    );
    // x86_64 ignores it.
    assert_eq!(
        choose_builder(Arch::X86_64, None, arm.clone(), zig.clone()),
        Builder {
            program: "/z/cargo-zigbuild".into(),
            needs_host_target: true
        }
    );
    // An explicit program wins; nothing named: cargo-zigbuild on PATH, host target checked.
    assert_eq!(
        choose_builder(Arch::Arm64, Some(Path::new("/x/zb")), arm, zig).program,
        PathBuf::from("/x/zb")
    );
    assert_eq!(
        choose_builder(Arch::Arm64, None, None, None),
        Builder {
            program: "cargo-zigbuild".into(),
            needs_host_target: true
        }
    );
}
