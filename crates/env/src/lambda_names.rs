//! Lambda's naming rules, written once for the emulator (which enforces them as Lambda does),
//! the CLI (which checks ARNs and project names before calling AWS) and the rig (which derives
//! a function name from a crate's).
//!
//! ```
//! use temporal_lambda_env::lambda_names::{function_name_for, is_valid_function_name, is_valid_qualifier};
//!
//! assert!(is_valid_function_name("hello-worker"));
//! assert!(!is_valid_function_name("hello.worker"));
//! assert_eq!(function_name_for("my.crate"), "my-crate");
//! assert!(is_valid_qualifier("$LATEST") && is_valid_qualifier("7") && !is_valid_qualifier(""));
//! ```

/// The longest function name Lambda accepts.
pub const FUNCTION_NAME_MAX: usize = 64;

/// The longest qualifier (version number or alias) Lambda accepts.
pub const QUALIFIER_MAX: usize = 128;

/// A character Lambda allows in a function name or alias: ASCII letters, digits, `-`, `_`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Lambda's function name rule: 1–[`FUNCTION_NAME_MAX`] characters of [`is_name_char`].
pub fn is_valid_function_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= FUNCTION_NAME_MAX && name.chars().all(is_name_char)
}

/// A function qualifier: `$LATEST`, or a version number or alias of 1–[`QUALIFIER_MAX`]
/// characters of [`is_name_char`].
pub fn is_valid_qualifier(q: &str) -> bool {
    q == "$LATEST" || (!q.is_empty() && q.len() <= QUALIFIER_MAX && q.chars().all(is_name_char))
}

/// A valid function name made from a package name: other characters become `-`, cut to
/// [`FUNCTION_NAME_MAX`].
pub fn function_name_for(package: &str) -> String {
    package
        .chars()
        .map(|c| if is_name_char(c) { c } else { '-' })
        .take(FUNCTION_NAME_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_lambdas_rule() {
        assert!(is_valid_function_name(&"a".repeat(64)));
        assert!(!is_valid_function_name(&"a".repeat(65)));
        assert!(!is_valid_function_name(""));
        assert!(!is_valid_function_name("a:b"));
        assert!(is_valid_qualifier(&"v".repeat(128)));
        assert!(!is_valid_qualifier(&"v".repeat(129)));
        assert!(!is_valid_qualifier("$PREVIOUS"));
        let long = function_name_for(&"x.".repeat(50));
        assert_eq!(long.len(), 64);
        assert!(is_valid_function_name(&long));
    }
}
