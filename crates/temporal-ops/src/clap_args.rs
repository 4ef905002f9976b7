//! Command-line parsing of the connection flags (feature `clap`, for the `temporal-lambda`
//! CLI): the value parsers [`ConnectArgs`](crate::connect::ConnectArgs) uses.

use temporal_lambda_env::secret_arn::SecretArn;

/// `--api-key-secret-arn` / `TEMPORAL_API_KEY_SECRET_ARN`: the ARN of a Secrets Manager secret
/// or SSM parameter, by the one rule the worker applies too
/// ([`temporal_lambda_env::secret_arn::SecretArn`]). Checked here, at the argument parser, so
/// nothing is written anywhere before it passes; a value that is not an ARN is not repeated.
pub fn parse_secret_arn(s: &str) -> Result<SecretArn, String> {
    check_secret_arn("--api-key-secret-arn", s)
}

/// `s` as a secret ARN; the error names `flag` and never repeats the value.
pub fn check_secret_arn(flag: &str, s: &str) -> Result<SecretArn, String> {
    SecretArn::parse(s).map_err(|e| {
        let mut msg = format!("{flag}: {e}");
        if e.is_not_an_arn() {
            msg.push_str(
                ". To keep the key itself out of the function's configuration, store it in a \
                 secret (`aws secretsmanager create-secret --name temporal/api-key \
                 --secret-string \"$TEMPORAL_API_KEY\"`) and pass the ARN that prints",
            );
        }
        msg
    })
}

/// A value parser around `parse` whose error is `parse`'s message only: clap's own format
/// (`invalid value '<value>' for '--flag'`) would repeat the value, which may be a secret put
/// into the wrong flag or variable.
pub fn quiet<T>(parse: fn(&str) -> Result<T, String>) -> Quiet<T> {
    Quiet(parse)
}

/// See [`quiet`].
#[derive(Clone, Copy)]
pub struct Quiet<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Quiet<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let fail = |msg: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{msg}\n"))
                .with_cmd(cmd)
        };
        let s = value
            .to_str()
            .ok_or_else(|| fail("the value is not valid UTF-8".into()))?;
        (self.0)(s).map_err(fail)
    }
}
