//! The https path (rustls with the `ring` provider, roots from `SSL_CERT_FILE` / the OS store)
//! against `moto_server` serving TLS with a per-run CA.
//!
//! The test runs alone in a child process of the test binary, because it sets `SSL_CERT_FILE`
//! for the process (rustls-native-certs reads it when a fetcher builds its client).
//!
//! Fixtures cannot be created here (the fixture helper speaks plain HTTP), so this checks a
//! signed `GetSecretValue` for a missing secret comes back as `NotFound` over TLS, and that an
//! untrusted server certificate is a transport error naming the endpoint.

use crate::support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use support::{Moto, ACCOUNT, REGION};
use temporal_lambda_secrets::{AwsCredentials, SecretError, SecretFetcher, SecretSource};

/// A CA (PEM) and a server certificate + key (PEM) for 127.0.0.1 and localhost signed by it.
fn pki(name: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    leaf.distinguished_name
        .push(DnType::CommonName, "temporal-lambda-secrets test server");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[tokio::test]
async fn https_endpoint_with_trusted_and_untrusted_ca() {
    // Sets SSL_CERT_FILE, which every fetcher of this binary reads: alone in a child process.
    if !crate::own_process::in_own_process("moto_tls::https_endpoint_with_trusted_and_untrusted_ca")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "temporal-lambda-secrets-tls-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = pki("temporal-lambda-secrets test CA");
    let (other_ca, _, _) = pki("some other CA");
    let (ca_path, other_ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("other-ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    std::fs::write(&ca_path, ca).unwrap();
    std::fs::write(&other_ca_path, other_ca).unwrap();
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();

    let moto = Moto::start_with(
        &[
            "-c",
            cert_path.to_str().unwrap(),
            "-k",
            key_path.to_str().unwrap(),
        ],
        "https",
    );
    assert!(moto.url.starts_with("https://127.0.0.1:"));
    let env = moto.env();
    let creds = AwsCredentials::from_env(&env).unwrap();
    let arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:temporal/missing-AbCdEf");
    let source = SecretSource::parse_arn(&arn).unwrap();

    // Each fetcher loads the roots when it builds its client (on its first fetch).
    std::env::set_var("SSL_CERT_FILE", &other_ca_path);
    let err = SecretFetcher::new()
        .fetch(&source, &creds, &env)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&moto.url), "{err}");
    assert!(
        err.to_string().contains("certificate is not trusted"),
        "{err}"
    );

    std::env::set_var("SSL_CERT_FILE", &ca_path);
    let err = SecretFetcher::new()
        .fetch(&source, &creds, &env)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");

    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
}
