//! The API key read from AWS Secrets Manager or SSM Parameter Store
//! (`TEMPORAL_API_KEY_SECRET_ARN`): fetched with the execution role's credentials once per
//! execution environment, cached, and fetched again only when the server rejects it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use temporal_lambda_secrets::{AwsCredentials, SecretFetcher, SecretSource};

use crate::{config::ApiKeySecret, Error};
use temporal_lambda_env::Secret;

/// The cached key and the HTTP client that fetched it (kept for the next fetch).
#[derive(Default)]
pub(crate) struct ApiKeyCache {
    fetcher: tokio::sync::OnceCell<SecretFetcher>,
    key: tokio::sync::Mutex<Option<Secret>>,
    fetches: AtomicU64,
}

impl ApiKeyCache {
    /// The key: the cached one unless `refresh`, else fetched within `budget`.
    pub(crate) async fn get(
        &self,
        secret: &ApiKeySecret,
        refresh: bool,
        budget: Duration,
    ) -> Result<Secret, Error> {
        let mut key = self.key.lock().await;
        if let (Some(k), false) = (key.as_ref(), refresh) {
            return Ok(k.clone());
        }
        let fail = |reason: String| Error::ApiKeySecret {
            arn: secret.shown_arn(),
            reason,
        };
        let source = SecretSource::parse_arn(&secret.arn).map_err(|e| fail(e.to_string()))?;
        let creds = AwsCredentials::from_env(&secret.aws_env).map_err(|e| fail(e.to_string()))?;
        let fetcher = self
            .fetcher
            .get_or_init(|| async { SecretFetcher::new() })
            .await;
        let started = Instant::now();
        let value = tokio::time::timeout(budget, fetcher.fetch(&source, &creds, &secret.aws_env))
            .await
            .map_err(|_| fail(format!("no answer within {budget:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        let n = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            secret_arn = %secret.shown_arn(),
            fetch_ms = started.elapsed().as_millis() as u64,
            fetches = n,
            refresh,
            "API key read from the secret"
        );
        let v = Secret::new(value.expose());
        *key = Some(v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key pasted into `TEMPORAL_API_KEY_SECRET_ARN` is never echoed: not in the error's
    /// message (returned from the invocation and logged), not in its `Debug`, not in the
    /// configuration's `Debug`.
    #[tokio::test]
    async fn a_key_pasted_into_the_arn_setting_is_not_echoed() {
        let pasted = "tmprl_PASTEDKEY.abc";
        let secret = ApiKeySecret {
            arn: pasted.into(),
            aws_env: Default::default(),
        };
        let e = ApiKeyCache::default()
            .get(&secret, false, Duration::from_secs(1))
            .await
            .unwrap_err();
        for shown in [e.to_string(), format!("{e:?}"), format!("{secret:?}")] {
            assert!(!shown.contains("PASTEDKEY"), "{shown}");
        }
        let msg = e.to_string();
        assert!(
            msg.contains("TEMPORAL_API_KEY_SECRET_ARN=<redacted: not an ARN>"),
            "{msg}"
        );
        assert!(msg.contains("arn:aws:secretsmanager:REGION"), "{msg}");
        // A real ARN is still named.
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf";
        let real = ApiKeySecret {
            arn: arn.into(),
            aws_env: Default::default(),
        };
        assert!(format!("{real:?}").contains(arn));
        let e = ApiKeyCache::default()
            .get(&real, false, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.to_string().contains(arn), "{e}");
    }
}
