//! Helpers shared by the test modules.

use std::collections::HashMap;

/// A function's environment from `(name, value)` pairs.
pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
