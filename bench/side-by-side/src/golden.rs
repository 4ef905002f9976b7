//! Pinned outputs of the render functions (tests only), under `src/golden/`: a refactoring must
//! keep the report, the JSON and the chart byte-identical. `PIN_WRITE=1 cargo test` rewrites
//! them after a deliberate change.

use std::path::PathBuf;

/// Asserts `actual` is the pinned `src/golden/<name>` (or writes it with `PIN_WRITE` set).
pub(crate) fn pin(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/golden")
        .join(name);
    if std::env::var_os("PIN_WRITE").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        expected == actual,
        "{} changed (PIN_WRITE=1 to accept):\n{actual}",
        path.display()
    );
}
