//! Binary lookup. Mutates the environment, so it runs alone in a child process.

use temporal_dev_server::{find_temporal_binary, DevServerError, TEMPORAL_CLI_ENV};

#[test]
fn lookup_order_and_missing_binary_message() {
    if !crate::own_process::in_own_process("binary_lookup::lookup_order_and_missing_binary_message")
    {
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
