//! Binary lookup. Mutates the environment, so it runs alone in a child process.

use temporal_dev_server::{find_temporal_binary, DevServerError, TEMPORAL_CLI_ENV};

#[test]
fn lookup_order_and_missing_binary_message() {
    if !in_own_process("binary_lookup::lookup_order_and_missing_binary_message") {
        return;
    }
    let empty = std::env::temp_dir().join(format!("tds-empty-root-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();

    // TEMPORAL_CLI pointing nowhere is an error naming the variable.
    std::env::set_var(TEMPORAL_CLI_ENV, "/nonexistent/temporal");
    let err = find_temporal_binary(&empty).unwrap_err();
    assert!(err.to_string().contains(TEMPORAL_CLI_ENV), "{err}");

    // Nothing anywhere: tells the user to run the install script.
    std::env::remove_var(TEMPORAL_CLI_ENV);
    let old_path = std::env::var_os("PATH");
    std::env::set_var("PATH", &empty);
    let err = find_temporal_binary(&empty).unwrap_err();
    assert!(matches!(err, DevServerError::BinaryNotFound { .. }));
    assert!(
        err.to_string().contains("scripts/install-temporal.sh"),
        "{err}"
    );

    // The workspace venv is found.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if root.join(".venv/bin/temporal").exists() {
        let found = find_temporal_binary(&root).unwrap();
        assert!(found.ends_with(".venv/bin/temporal"));
    }
    if let Some(p) = old_path {
        std::env::set_var("PATH", p);
    }
    std::fs::remove_dir_all(empty).unwrap();
}

/// Runs the test `name` (its libtest name) again, alone, in a child process of this test binary,
/// and checks that it passed there. A test that changes process-wide environment variables calls
/// this first: the other tests of this binary run on other threads of the same process and read
/// them. Returns `true` in the child (go on with the test), `false` in the parent (done).
pub(crate) fn in_own_process(name: &str) -> bool {
    const CHILD: &str = "TEMPORAL_LAMBDA_TEST_IN_OWN_PROCESS";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own process: {}\n{stdout}\n{stderr}",
        out.status
    );
    false
}
