//! The run's certificates: a CA, a server certificate and client certificates (`rcgen`).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::io_err;
use crate::files::write_file;
use crate::{ServerCertValidity, TlsFrontError, TlsFrontOptions, DEFAULT_SERVER_NAME};

/// The run's certificates (PEM files).
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA that signed the server and client certificates.
    pub ca_cert_path: PathBuf,
    /// The server certificate nginx presents.
    pub server_cert_path: PathBuf,
    /// Its key.
    pub server_key_path: PathBuf,
    /// A client certificate the front trusts (mTLS).
    pub client_cert_path: PathBuf,
    /// Its key.
    pub client_key_path: PathBuf,
    /// A client certificate from another CA, which the front rejects.
    pub untrusted_client_cert_path: PathBuf,
    /// Its key.
    pub untrusted_client_key_path: PathBuf,
    /// A CA that signed nothing the front presents (a "wrong CA" for clients).
    pub other_ca_cert_path: PathBuf,
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> TlsFrontError {
    move |source| TlsFrontError::Cert { what, source }
}

fn ca(name: &str) -> Result<(rcgen::Certificate, KeyPair), TlsFrontError> {
    let key = KeyPair::generate().map_err(cert_err("CA"))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_err("CA"))?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).map_err(cert_err("CA"))?;
    Ok((cert, key))
}

fn leaf(
    what: &'static str,
    names: Vec<String>,
    ip: bool,
    purpose: ExtendedKeyUsagePurpose,
    validity: ServerCertValidity,
    issuer: &rcgen::Certificate,
    issuer_key: &KeyPair,
) -> Result<(String, String), TlsFrontError> {
    let key = KeyPair::generate().map_err(cert_err(what))?;
    let mut p = CertificateParams::new(names).map_err(cert_err(what))?;
    if ip {
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    }
    p.distinguished_name
        .push(DnType::CommonName, format!("temporal-lambda test {what}"));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![purpose];
    match validity {
        ServerCertValidity::Valid => {}
        ServerCertValidity::Expired => {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        ServerCertValidity::NotYetValid => {
            p.not_before = rcgen::date_time_ymd(2090, 1, 1);
            p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
    let cert = p
        .signed_by(&key, issuer, issuer_key)
        .map_err(cert_err(what))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Generates a CA, a server certificate and client certificates into `dir` (made 0700;
    /// every file 0600, keys included).
    pub fn generate(dir: &Path, opts: &TlsFrontOptions) -> Result<Pki, TlsFrontError> {
        temporal_lambda_env::private_file::ensure_private_dir(dir)
            .map_err(io_err(format!("creating {} (0700)", dir.display())))?;
        let (ca_cert, ca_key) = ca("temporal-lambda test CA")?;
        let (other_cert, other_key) = ca("temporal-lambda untrusted CA")?;
        let mut names = Vec::new();
        if !opts.only_server_name {
            names.push(DEFAULT_SERVER_NAME.to_string());
        }
        names.extend(opts.server_name.iter().cloned());
        let (server_cert, server_key) = leaf(
            "server",
            names,
            !opts.only_server_name,
            ExtendedKeyUsagePurpose::ServerAuth,
            opts.validity,
            &ca_cert,
            &ca_key,
        )?;
        let (client_cert, client_key) = leaf(
            "client",
            vec!["temporal-lambda-worker".into()],
            false,
            ExtendedKeyUsagePurpose::ClientAuth,
            ServerCertValidity::Valid,
            &ca_cert,
            &ca_key,
        )?;
        let (bad_cert, bad_key) = leaf(
            "untrusted client",
            vec!["temporal-lambda-worker".into()],
            false,
            ExtendedKeyUsagePurpose::ClientAuth,
            ServerCertValidity::Valid,
            &other_cert,
            &other_key,
        )?;
        let pki = Pki {
            ca_cert_path: dir.join("ca.pem"),
            server_cert_path: dir.join("server.pem"),
            server_key_path: dir.join("server.key"),
            client_cert_path: dir.join("client.pem"),
            client_key_path: dir.join("client.key"),
            untrusted_client_cert_path: dir.join("untrusted-client.pem"),
            untrusted_client_key_path: dir.join("untrusted-client.key"),
            other_ca_cert_path: dir.join("other-ca.pem"),
        };
        write_file(&pki.ca_cert_path, &ca_cert.pem())?;
        write_file(&pki.other_ca_cert_path, &other_cert.pem())?;
        write_file(&pki.server_cert_path, &server_cert)?;
        write_file(&pki.server_key_path, &server_key)?;
        write_file(&pki.client_cert_path, &client_cert)?;
        write_file(&pki.client_key_path, &client_key)?;
        write_file(&pki.untrusted_client_cert_path, &bad_cert)?;
        write_file(&pki.untrusted_client_key_path, &bad_key)?;
        Ok(pki)
    }
}
