//! Graviton (arm64): `package --arch arm64` builds the sample through the Debian sid build root
//! that scripts/install-arm64-toolchain.sh makes (`TEMPORAL_LAMBDA_ARM64_CARGO`, set by
//! scripts/test.sh), the zip's `bootstrap` is an aarch64 ELF needing no glibc newer than 2.34,
//! and `deploy` refuses it for an x86_64 function before any AWS call, naming both fixes.

use crate::support::{self, repo_root, stderr, stdout, TempDir};

const EXE: &str = env!("CARGO_BIN_EXE_temporal-lambda");

/// The arm64 zip: `TEMPORAL_LAMBDA_ARM64_ZIP` (scripts/test.sh packages the sample beside the
/// other tests), else packaged here with the builder `TEMPORAL_LAMBDA_ARM64_CARGO` names.
fn arm64_zip(dir: &TempDir) -> std::path::PathBuf {
    if let Some(zip) = std::env::var_os("TEMPORAL_LAMBDA_ARM64_ZIP") {
        return zip.into();
    }
    let builder = std::env::var_os(temporal_lambda_package::ARM64_CARGO_ENV).expect(
        "no arm64 zip (TEMPORAL_LAMBDA_ARM64_ZIP) and no arm64 builder \
         (TEMPORAL_LAMBDA_ARM64_CARGO): run scripts/install-arm64-toolchain.sh, or scripts/test.sh",
    );
    let _compiling = support::COMPILING.blocking_lock();
    let zip = dir.0.join("function-arm64.zip");
    let t0 = std::time::Instant::now();
    let o = std::process::Command::new(EXE)
        .current_dir(repo_root())
        .env(temporal_lambda_package::ARM64_CARGO_ENV, &builder)
        // Its own target dir: another toolchain (sid's rustc) and another target.
        .env("CARGO_TARGET_DIR", repo_root().join("target/arm64"))
        .args(["package", "-p", "hello-worker", "--arch", "arm64"])
        .args(["--profile", "dev", "--out", zip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    eprintln!("arm64 package: {:.0} s", t0.elapsed().as_secs_f64());
    zip
}

#[test]
#[ignore = "builds the whole sample for arm64 (minutes): scripts/test.sh packages it beside the \
            other tests and then runs this with --ignored"]
fn an_arm64_package_passes_its_checks_and_is_refused_for_an_x86_64_function() {
    let dir = TempDir::new("arm64");
    let zip = arm64_zip(&dir);
    assert_eq!(
        temporal_lambda_package::check_zip(&zip).unwrap(),
        Some(temporal_lambda_package::Arch::Arm64)
    );
    // The glibc check for aarch64, on the zip's bootstrap.
    let bootstrap = dir.0.join("bootstrap");
    support::extract_bootstrap(&zip, &bootstrap);
    let newest = temporal_lambda_package::check_glibc(
        &bootstrap,
        temporal_lambda_package::max_glibc(temporal_lambda_package::Arch::Arm64),
    )
    .unwrap();
    eprintln!(
        "arm64: zip {} bytes, bootstrap {} bytes, newest glibc symbol version {newest:?}",
        std::fs::metadata(&zip).unwrap().len(),
        std::fs::metadata(&bootstrap).unwrap().len()
    );
    assert!(
        newest.is_some(),
        "a dynamically linked bootstrap names glibc versions"
    );

    // deploy checks the package first: an x86_64 function is refused before any AWS call (the
    // endpoint is a closed port, so a call would fail differently).
    let o = std::process::Command::new(EXE)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", support::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", support::SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .args([
            "deploy",
            "--function-name",
            "arm64-on-x86",
            "--arch",
            "x86_64",
        ])
        .args([
            "--execution-role",
            support::EXECUTION_ROLE,
            "--address",
            "127.0.0.1:9",
        ])
        .args(["--zip", zip.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("built for arm64, but the function is x86_64"),
        "{err}"
    );
    assert!(
        err.contains("--arch x86_64") && err.contains("--arch arm64"),
        "{err}"
    );
}
