//! Running one test alone in a child process: for tests that change process-wide state. Shared
//! with `temporal-lambda-secrets`' tests (included there by path).

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
