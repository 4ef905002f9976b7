//! `SecretFetcher` against a real `moto_server` (PyPI `moto[server]`, in the workspace `.venv`;
//! `scripts/test.sh` installs it): Secrets Manager and SSM Parameter Store over plain HTTP on
//! 127.0.0.1, one server per test, killed by PID on drop (also when the test panics).
//!
//! Fixtures (CreateSecret, PutSecretValue, PutParameter) are created with SigV4-signed AWS JSON
//! calls made here with `aws-sigv4` + hyper, the same way the library signs: no AWS SDK.
//!
//! Access denied is not tested here: moto does not enforce IAM by default. The mapping of
//! `AccessDeniedException` / 403 / signature errors is unit-tested from canned AWS error bodies
//! in `src/response.rs` instead.

use crate::support;

use std::collections::HashMap;

use serde_json::json;
use support::{Moto, ACCOUNT, REGION, SECRET_KEY, SESSION_TOKEN};
use temporal_lambda_secrets::{AwsCredentials, Secret, SecretError, SecretFetcher, SecretSource};

fn creds(env: &HashMap<String, String>) -> AwsCredentials {
    AwsCredentials::from_env(env).unwrap()
}

/// Fetches `arn` and returns the error, asserting it does not show any of `secrets`.
async fn fetch_err(moto: &Moto, arn: &str, secrets: &[&str]) -> SecretError {
    let env = moto.env();
    let source = SecretSource::parse_arn(arn).unwrap();
    let err = SecretFetcher::new()
        .fetch(&source, &creds(&env), &env)
        .await
        .unwrap_err();
    let shown = format!("{err} | {err:?}");
    for s in secrets.iter().chain(&[SECRET_KEY, SESSION_TOKEN]) {
        assert!(!shown.contains(s), "error shows a secret: {shown}");
    }
    err
}

async fn fetch_ok(moto: &Moto, fetcher: &SecretFetcher, arn: &str) -> Secret {
    let env = moto.env();
    let source = SecretSource::parse_arn(arn).unwrap();
    fetcher.fetch(&source, &creds(&env), &env).await.unwrap()
}

#[tokio::test]
async fn secrets_manager_string_secret() {
    let moto = Moto::start();
    let value = "tmprl-plain-secret-abc123";
    let arn = moto
        .create_secret("temporal/api-key", json!({ "SecretString": value }))
        .await;
    let source = SecretSource::parse_arn(&arn).unwrap();
    assert!(matches!(source, SecretSource::SecretsManager { .. }));

    // Through the service-specific endpoint variable, with AWS_ENDPOINT_URL pointing nowhere.
    let mut env = moto.env();
    env.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into());
    env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), moto.url.clone());
    let fetcher = SecretFetcher::new();
    let got = fetcher.fetch(&source, &creds(&env), &env).await.unwrap();
    assert_eq!(got.expose(), value);
    assert!(!format!("{got:?} {got}").contains(value));
    // Again on the same client (pooled connection).
    let again = fetcher.fetch(&source, &creds(&env), &env).await.unwrap();
    assert_eq!(again.expose(), value);
}

#[tokio::test]
async fn secrets_manager_json_secret_with_api_key() {
    let moto = Moto::start();
    let value = "tmprl-json-secret-def456";
    let secret = json!({ "api_key": value, "namespace": "ns.acct" }).to_string();
    let arn = moto
        .create_secret("temporal/json", json!({ "SecretString": secret }))
        .await;
    let got = fetch_ok(&moto, &SecretFetcher::new(), &arn).await;
    assert_eq!(got.expose(), value);

    let secret = json!({ "TEMPORAL_API_KEY": value }).to_string();
    let arn = moto
        .create_secret("temporal/json-upper", json!({ "SecretString": secret }))
        .await;
    let got = fetch_ok(&moto, &SecretFetcher::new(), &arn).await;
    assert_eq!(got.expose(), value);
}

#[tokio::test]
async fn secrets_manager_json_secret_without_key_names_keys_only() {
    let moto = Moto::start();
    let value = "tmprl-wrong-key-ghi789";
    let secret = json!({ "token": value, "user": "someone" }).to_string();
    let arn = moto
        .create_secret("temporal/json-nokey", json!({ "SecretString": secret }))
        .await;
    let err = fetch_err(&moto, &arn, &[value, "someone"]).await;
    assert!(
        matches!(&err, SecretError::MissingJsonKey { keys, .. } if keys == &["token", "user"]),
        "{err:?}"
    );
    assert!(err.to_string().contains(&arn), "{err}");
}

#[tokio::test]
async fn secrets_manager_rotated_value_is_fetched_again() {
    let moto = Moto::start();
    let (old, new) = ("tmprl-before-rotation", "tmprl-after-rotation");
    let arn = moto
        .create_secret("temporal/rotating", json!({ "SecretString": old }))
        .await;
    let fetcher = SecretFetcher::new();
    assert_eq!(fetch_ok(&moto, &fetcher, &arn).await.expose(), old);
    moto.call(
        "secretsmanager",
        "secretsmanager.PutSecretValue",
        json!({ "SecretId": arn, "SecretString": new }),
    )
    .await;
    assert_eq!(fetch_ok(&moto, &fetcher, &arn).await.expose(), new);
}

#[tokio::test]
async fn secrets_manager_binary_secret_is_wrong_type() {
    let moto = Moto::start();
    // base64("tmprl-binary-secret")
    let b64 = "dG1wcmwtYmluYXJ5LXNlY3JldA==";
    let arn = moto
        .create_secret("temporal/binary", json!({ "SecretBinary": b64 }))
        .await;
    let err = fetch_err(&moto, &arn, &[b64, "tmprl-binary-secret"]).await;
    assert!(matches!(err, SecretError::WrongType { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("wrong type: binary secret; store the API key as a plain-text secret string"),
        "{err}"
    );
}

#[tokio::test]
async fn not_found_for_secret_and_parameter() {
    let moto = Moto::start();
    let arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:temporal/missing-AbCdEf");
    let err = fetch_err(&moto, &arn, &[]).await;
    assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("secret {arn} not found: create it or fix TEMPORAL_API_KEY_SECRET_ARN")
    );

    let arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/temporal/missing");
    let err = fetch_err(&moto, &arn, &[]).await;
    assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&arn), "{err}");
}

#[tokio::test]
async fn ssm_secure_string_parameter() {
    let moto = Moto::start();
    let value = "tmprl-ssm-secure-jkl012";
    let arn = moto
        .put_parameter("/temporal/api-key", "SecureString", value)
        .await;
    let source = SecretSource::parse_arn(&arn).unwrap();
    assert!(
        matches!(&source, SecretSource::SsmParameter { name, .. } if name == "/temporal/api-key")
    );
    // Through the SSM-specific endpoint variable.
    let mut env = moto.env();
    env.remove("AWS_ENDPOINT_URL");
    env.insert("AWS_ENDPOINT_URL_SSM".into(), moto.url.clone());
    let got = SecretFetcher::new()
        .fetch(&source, &creds(&env), &env)
        .await
        .unwrap();
    assert_eq!(got.expose(), value);
}

#[tokio::test]
async fn ssm_string_list_is_wrong_type() {
    let moto = Moto::start();
    let value = "tmprl-list-item-mno345,second";
    let arn = moto
        .put_parameter("/temporal/list", "StringList", value)
        .await;
    let err = fetch_err(&moto, &arn, &[value, "tmprl-list-item-mno345"]).await;
    assert!(matches!(err, SecretError::WrongType { .. }), "{err:?}");
    assert!(
        err.to_string().contains("wrong type: StringList parameter"),
        "{err}"
    );
}
