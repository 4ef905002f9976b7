//! The emulator's own long-term credentials ([`Credentials`]) and the bearer token of the
//! `/_emulator` API ([`ApiToken`]): what a caller must hold to change anything.
//!
//! Like an AWS account, the emulator knows exactly one long-term access key (generated per run
//! unless configured) plus the session credentials its STS issued. Requests signed with anything
//! else are refused, as AWS refuses them.

use std::io::Write;
use std::path::{Path, PathBuf};

use temporal_lambda_env::Secret;

use crate::error::EmulatorError;

/// A long-term AWS access key pair the emulator accepts SigV4 signatures from.
///
/// `Debug` never shows the secret (a [`Secret`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID` (`AKIA…`).
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`. Secret.
    pub secret_access_key: Secret,
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

/// `len` characters of `alphabet`, drawn from the OS RNG (through uuid v4's 122 random bits).
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(alphabet[*b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

impl Credentials {
    /// A key pair with the given values.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
        }
    }

    /// A fresh random key pair shaped like AWS's (`AKIA` + 16, 40-character secret).
    pub fn generate() -> Self {
        Self::new(
            format!("AKIA{}", random_string(16, UPPER_DIGITS)),
            random_string(40, B64),
        )
    }

    /// Reads a key pair from a file in the AWS shared-credentials shape
    /// (`aws_access_key_id = …` / `aws_secret_access_key = …`, the first profile that has both)
    /// or as `AWS_ACCESS_KEY_ID=…` / `AWS_SECRET_ACCESS_KEY=…` lines (`export ` allowed).
    pub fn from_file(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::io("reading the credentials file", path, e))?;
        Self::parse(&text).ok_or_else(|| {
            EmulatorError::InvalidParameter(format!(
                "credentials file {} has no access key pair: write `aws_access_key_id = AKIA…` and \
                 `aws_secret_access_key = …` (or AWS_ACCESS_KEY_ID=… / AWS_SECRET_ACCESS_KEY=… lines)",
                path.display()
            ))
        })
    }

    fn parse(text: &str) -> Option<Self> {
        let (mut id, mut secret) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') && id.is_some() && secret.is_some() {
                break;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" if !v.is_empty() => id = Some(v),
                "aws_secret_access_key" if !v.is_empty() => secret = Some(v),
                _ => {}
            }
        }
        Some(Self::new(id?, secret?))
    }
}

/// The bearer token the `/_emulator` API requires (`Authorization: Bearer <token>`), new each
/// run and stored owner-only in `<data dir>/api-token`. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct ApiToken(Secret);

/// Name of the token file in the data dir.
pub const API_TOKEN_FILE: &str = "api-token";

impl ApiToken {
    /// A new random token (256 bits).
    pub(crate) fn generate() -> Self {
        Self(Secret::new(random_string(64, HEX)))
    }

    /// Writes the token to `<data_dir>/api-token` (0600, created exclusively, never through a
    /// symlink; a previous run's file is replaced) and returns the file's path.
    pub(crate) fn write_file(&self, data_dir: &Path) -> Result<PathBuf, EmulatorError> {
        let token = self;
        let path = data_dir.join(API_TOKEN_FILE);
        let mut f = temporal_lambda_env::private_file::create_private_file(&path)
            .map_err(|e| EmulatorError::io("creating the API token file", &path, e))?;
        f.write_all(token.0.expose().as_bytes())
            .map_err(|e| EmulatorError::io("writing the API token file", &path, e))?;
        Ok(path)
    }

    /// The token's value.
    pub(crate) fn value(&self) -> &str {
        self.0.expose()
    }

    /// True if `presented` is this token (compared in constant time).
    pub(crate) fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.expose().as_bytes(), presented.as_bytes())
    }
}

/// Issued session credentials that no longer authenticate (their sandbox is gone). A leaf lock:
/// never held while taking another.
pub(crate) type Revoked = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// Revokes a sandbox's session credentials when dropped: held by the scheduler's slot of the
/// sandbox, so they stop working the moment the sandbox is no longer listed.
pub(crate) struct Revocation {
    /// The access key id of the credentials.
    pub access_key_id: String,
    /// Where revoked keys are recorded.
    pub revoked: Revoked,
}

impl Drop for Revocation {
    fn drop(&mut self) {
        self.revoked
            .lock()
            .expect("revoked lock")
            .insert(std::mem::take(&mut self.access_key_id));
    }
}

/// Byte equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_look_like_aws_and_differ() {
        let (a, b) = (Credentials::generate(), Credentials::generate());
        assert!(a.access_key_id.starts_with("AKIA") && a.access_key_id.len() == 20);
        assert_eq!(a.secret_access_key.expose().len(), 40);
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.secret_access_key.expose()));
    }

    #[test]
    fn credentials_files_in_both_shapes() {
        let ini = "[default]\naws_access_key_id = AKIAONE\naws_secret_access_key = s1\n[other]\naws_access_key_id = AKIATWO\n";
        assert_eq!(
            Credentials::parse(ini),
            Some(Credentials::new("AKIAONE", "s1"))
        );
        let env = "export AWS_ACCESS_KEY_ID=AKIAX\nAWS_SECRET_ACCESS_KEY=\"s/2+\"\n";
        assert_eq!(
            Credentials::parse(env),
            Some(Credentials::new("AKIAX", "s/2+"))
        );
        assert_eq!(Credentials::parse("aws_access_key_id = A\n"), None);
    }

    #[test]
    fn token_file_is_private_and_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (t1, t2) = (ApiToken::generate(), ApiToken::generate());
        t1.write_file(dir.path()).unwrap();
        let path = t2.write_file(dir.path()).unwrap();
        assert_ne!(t1, t2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), t2.value());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(t2.matches(t2.value()) && !t2.matches(t1.value()) && !t2.matches(""));
    }
}
