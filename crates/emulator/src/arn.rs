//! Parsing of function names, partial and full ARNs, and qualifiers.

use crate::error::EmulatorError;

/// A function reference resolved from a name or ARN: the plain name and an optional qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

use temporal_lambda_env::lambda_names::{
    is_valid_function_name as valid_name, is_valid_qualifier as valid_qualifier,
};

fn malformed(input: &str) -> EmulatorError {
    EmulatorError::Validation(format!(
        "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: Member must \
         be a function name (letters, digits, '-', '_'), optionally followed by ':<version>', or a function ARN \
         'arn:aws:lambda:<region>:<account-id>:function:<name>[:<version>]'"
    ))
}

/// Parses `name`, `name:qual`, `account:function:name[:qual]` or
/// `arn:aws:lambda:region:account:function:name[:qual]`, checking region/account against ours.
pub(crate) fn parse_function_ref(
    input: &str,
    region: &str,
    account: &str,
) -> Result<FunctionRef, EmulatorError> {
    let parts: Vec<&str> = input.split(':').collect();
    let (name, qualifier, arn_region, arn_account) = match parts.as_slice() {
        [name] => (*name, None, None, None),
        [name, q] => (*name, Some(*q), None, None),
        [acct, "function", name] => (*name, None, None, Some(*acct)),
        [acct, "function", name, q] => (*name, Some(*q), None, Some(*acct)),
        ["arn", partition, "lambda", reg, acct, "function", name]
            if partition.starts_with("aws") =>
        {
            (*name, None, Some(*reg), Some(*acct))
        }
        ["arn", partition, "lambda", reg, acct, "function", name, q]
            if partition.starts_with("aws") =>
        {
            (*name, Some(*q), Some(*reg), Some(*acct))
        }
        _ => return Err(malformed(input)),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(malformed(input));
    }
    if let Some(acct) = arn_account {
        if acct.len() != 12 || !acct.chars().all(|c| c.is_ascii_digit()) {
            return Err(malformed(input));
        }
        if acct != account {
            return Err(EmulatorError::NotFound(format!(
                "Function not found: {input} (this emulator serves account {account}; use that account id in the ARN)"
            )));
        }
    }
    if let Some(reg) = arn_region {
        if reg != region {
            return Err(EmulatorError::NotFound(format!(
                "Function not found: {input} (this emulator serves region {region}; use that region in the ARN or \
                 start the emulator with --region {reg})"
            )));
        }
    }
    Ok(FunctionRef {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

/// Combines the qualifier in the name/ARN with an explicit `Qualifier` query parameter.
pub(crate) fn merge_qualifier(
    r: FunctionRef,
    query: Option<&str>,
) -> Result<FunctionRef, EmulatorError> {
    match (r.qualifier.as_deref(), query) {
        (Some(a), Some(b)) if a != b => Err(EmulatorError::InvalidParameter(format!(
            "The derived qualifier from the function name ({a}) does not match the specified qualifier ({b})."
        ))),
        (None, Some(b)) => {
            if !valid_qualifier(b) {
                return Err(EmulatorError::Validation(format!("Invalid qualifier '{b}'")));
            }
            Ok(FunctionRef { name: r.name, qualifier: Some(b.to_string()) })
        }
        _ => Ok(r),
    }
}

/// `arn:aws:lambda:region:account:function:name`.
pub(crate) fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        let p = |s| parse_function_ref(s, "us-east-1", "123456789012");
        assert_eq!(
            p("f").unwrap(),
            FunctionRef {
                name: "f".into(),
                qualifier: None
            }
        );
        assert_eq!(p("f:3").unwrap().qualifier.as_deref(), Some("3"));
        assert_eq!(
            p("f:$LATEST").unwrap().qualifier.as_deref(),
            Some("$LATEST")
        );
        assert_eq!(
            p("123456789012:function:f:2").unwrap().qualifier.as_deref(),
            Some("2")
        );
        let r = p("arn:aws:lambda:us-east-1:123456789012:function:my-fn:7").unwrap();
        assert_eq!(
            (r.name.as_str(), r.qualifier.as_deref()),
            ("my-fn", Some("7"))
        );
        assert_eq!(
            p("arn:aws:lambda:us-east-1:123456789012:function:my-fn")
                .unwrap()
                .qualifier,
            None
        );
        let not_found = |e: EmulatorError| matches!(e, EmulatorError::NotFound(_));
        let invalid = |e: EmulatorError| matches!(e, EmulatorError::Validation(_));
        assert!(not_found(
            p("arn:aws:lambda:eu-west-1:123456789012:function:f").unwrap_err()
        ));
        assert!(invalid(
            p("arn:aws:lambda:us-east-1:1234:function:f").unwrap_err()
        ));
        assert!(invalid(p("arn:aws:s3:::bucket").unwrap_err()));
        assert!(invalid(p("bad name").unwrap_err()));
        assert!(invalid(p("").unwrap_err()));
        assert!(invalid(p("a:b:c:d:e").unwrap_err()));
    }

    #[test]
    fn merges_qualifier() {
        let r = FunctionRef {
            name: "f".into(),
            qualifier: Some("1".into()),
        };
        assert!(merge_qualifier(r.clone(), Some("2")).is_err());
        assert_eq!(merge_qualifier(r.clone(), Some("1")).unwrap(), r);
        let r2 = FunctionRef {
            name: "f".into(),
            qualifier: None,
        };
        assert_eq!(
            merge_qualifier(r2, Some("4")).unwrap().qualifier.as_deref(),
            Some("4")
        );
    }
}
