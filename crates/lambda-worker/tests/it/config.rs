//! Configuration resolution, validation errors and secret redaction.

use std::io::Write;
use std::time::Duration;

use crate::common::env;
use temporal_lambda_worker::{
    config::{ConnectionConfig, Secret, TlsSource},
    Error, LambdaWorkerConfig, VersioningBehavior, WorkerDeploymentVersion,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    activities::{ActivityContext, ActivityError},
    WorkflowContext, WorkflowResult,
};

#[workflow]
#[derive(Default)]
pub struct OrderWorkflow;

#[workflow_methods]
impl OrderWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        Ok(name)
    }
}

pub struct Acts;

#[activities]
impl Acts {
    #[activity]
    pub async fn noop(_ctx: ActivityContext, s: String) -> Result<String, ActivityError> {
        Ok(s)
    }
}

const API_KEY: &str = "sk-SECRET-api-key-4f1d2c";
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n";

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

const TOML: &str = r#"
[profile.default]
address = "file-default:7233"
namespace = "file-ns"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod-ns"
api_key = "sk-SECRET-api-key-4f1d2c"
"#;

#[test]
fn defaults_without_file_or_env() {
    let c = ConnectionConfig::load(&env(&[])).unwrap();
    assert_eq!(c.address, "localhost:7233");
    assert_eq!(c.namespace, "default");
    assert!(!c.uses_tls());
    assert_eq!(c.config_file, None);
}

#[test]
fn file_profile_then_env_override() {
    let f = file(TOML);
    let path = f.path().to_str().unwrap();
    let c = ConnectionConfig::load(&env(&[("TEMPORAL_CONFIG_FILE", path)])).unwrap();
    assert_eq!(
        (c.address.as_str(), c.namespace.as_str()),
        ("file-default:7233", "file-ns")
    );

    let c = ConnectionConfig::load(&env(&[
        ("TEMPORAL_CONFIG_FILE", path),
        ("TEMPORAL_PROFILE", "prod"),
        ("TEMPORAL_NAMESPACE", "env-ns"),
    ]))
    .unwrap();
    assert_eq!(c.address, "prod.tmprl.cloud:7233");
    assert_eq!(c.namespace, "env-ns", "env overrides the file");
    assert_eq!(c.api_key, Some(Secret::new(API_KEY)));
    assert!(c.uses_tls(), "an API key implies TLS");
    assert_eq!(c.url().unwrap().scheme(), "https");
}

#[test]
fn code_overrides_env_and_file() {
    let f = file(TOML);
    let e = env(&[
        ("TEMPORAL_CONFIG_FILE", f.path().to_str().unwrap()),
        ("TEMPORAL_ADDRESS", "env:7233"),
        ("TEMPORAL_TASK_QUEUE", "env-queue"),
    ]);
    let mut cfg =
        LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("app", "b1"), &e).unwrap();
    assert_eq!(cfg.connection.address, "env:7233");
    assert_eq!(cfg.task_queue, "env-queue");
    cfg.connection.address = "code:7233".into();
    cfg.task_queue = "code-queue".into();
    cfg.register_activities(Acts);
    cfg.validate().unwrap();
    assert_eq!(cfg.connection.address, "code:7233");
}

#[test]
fn lambda_task_root_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("temporal.toml"), TOML).unwrap();
    let c = ConnectionConfig::load(&env(&[("LAMBDA_TASK_ROOT", dir.path().to_str().unwrap())]))
        .unwrap();
    assert_eq!(c.address, "file-default:7233");
    assert_eq!(c.config_file.unwrap(), dir.path().join("temporal.toml"));
}

#[test]
fn missing_config_file_names_the_variable() {
    let e = ConnectionConfig::load(&env(&[(
        "TEMPORAL_CONFIG_FILE",
        "/nonexistent/temporal.toml",
    )]))
    .unwrap_err();
    assert!(matches!(e, Error::ConfigFileUnreadable { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/temporal.toml") && msg.contains("TEMPORAL_CONFIG_FILE"),
        "{msg}"
    );
}

#[test]
fn a_toml_type_error_never_echoes_the_value() {
    // `grpc_meta` must be a table; a string there used to come back as
    // `invalid type: string "Bearer …"`, secret included.
    let f = file(
        "[profile.default]\naddress = \"h:7233\"\ngrpc_meta = \"Bearer tl-SECRET-meta-91\"\napi_key = 7\n",
    );
    let e = ConnectionConfig::load(&env(&[(
        "TEMPORAL_CONFIG_FILE",
        f.path().to_str().unwrap(),
    )]))
    .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(f.path().to_str().unwrap()), "{shown}");
}

#[test]
fn garbled_toml_is_reported_with_the_file() {
    let f = file("[profile.default\naddress = ");
    let e = ConnectionConfig::load(&env(&[(
        "TEMPORAL_CONFIG_FILE",
        f.path().to_str().unwrap(),
    )]))
    .unwrap_err();
    assert!(matches!(e, Error::ConfigFileInvalid { .. }), "{e:?}");
    assert!(e.to_string().contains(f.path().to_str().unwrap()));
}

#[test]
fn unknown_profile_is_an_error_not_a_silent_default() {
    let f = file(TOML);
    let e = ConnectionConfig::load(&env(&[
        ("TEMPORAL_CONFIG_FILE", f.path().to_str().unwrap()),
        ("TEMPORAL_PROFILE", "staging"),
    ]))
    .unwrap_err();
    assert!(
        matches!(&e, Error::UnknownProfile { profile, .. } if profile == "staging"),
        "{e:?}"
    );
    assert!(e.to_string().contains("[profile.staging]"));
    // Also without any file.
    let e = ConnectionConfig::load(&env(&[("TEMPORAL_PROFILE", "staging")])).unwrap_err();
    assert!(matches!(e, Error::UnknownProfile { .. }), "{e:?}");
}

#[test]
fn explicit_tls_disable_wins_over_api_key() {
    let c = ConnectionConfig::load(&env(&[
        ("TEMPORAL_API_KEY", API_KEY),
        ("TEMPORAL_TLS", "false"),
    ]))
    .unwrap();
    assert!(!c.uses_tls());
    assert_eq!(c.url().unwrap().scheme(), "http");
}

#[test]
fn unreadable_tls_files_name_the_setting() {
    let cert = file("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
    let c = ConnectionConfig::load(&env(&[
        (
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            cert.path().to_str().unwrap(),
        ),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", "/nonexistent/client.key"),
    ]))
    .unwrap();
    assert!(c.uses_tls());
    let e = c.tls_options().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("TEMPORAL_TLS_CLIENT_KEY_PATH") && msg.contains("/nonexistent/client.key"),
        "{msg}"
    );
}

#[test]
fn mtls_files_are_read() {
    let cert = file("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
    let key = file(KEY_PEM);
    let c = ConnectionConfig::load(&env(&[
        (
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            cert.path().to_str().unwrap(),
        ),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", key.path().to_str().unwrap()),
        ("TEMPORAL_TLS_SERVER_NAME", "my.server"),
    ]))
    .unwrap();
    let tls = c.tls_options().unwrap().expect("tls on");
    assert_eq!(tls.domain.as_deref(), Some("my.server"));
    let client = tls.client_tls_options.expect("mTLS");
    assert_eq!(client.client_private_key, KEY_PEM.as_bytes());
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let e = env(&[
        ("TEMPORAL_API_KEY", API_KEY),
        ("TEMPORAL_TLS_CLIENT_CERT_DATA", "CERTDATA"),
        ("TEMPORAL_TLS_CLIENT_KEY_DATA", KEY_PEM),
        ("TEMPORAL_GRPC_META_AUTHORIZATION", "Bearer SECRET-token-9"),
        ("TEMPORAL_TASK_QUEUE", "q"),
    ]);
    let mut cfg =
        LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("app", "b1"), &e).unwrap();
    cfg.register_activities(Acts);
    assert!(matches!(
        cfg.connection.tls.as_ref().unwrap().client_key,
        Some(TlsSource::Data(_))
    ));
    let dbg = format!("{cfg:?} {:?} {:#?}", cfg.connection, cfg.connection.api_key);
    for secret in [API_KEY, "SECRETKEYMATERIAL", "SECRET-token-9"] {
        assert!(!dbg.contains(secret), "{secret} leaked in Debug: {dbg}");
    }
    assert!(dbg.contains("<redacted>"));
    assert_eq!(format!("{}", Secret::new(API_KEY)), "<redacted>");
}

fn valid_config() -> LambdaWorkerConfig {
    let mut cfg = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("app", "b1"),
        &env(&[("TEMPORAL_TASK_QUEUE", "q")]),
    )
    .unwrap();
    cfg.register_workflow::<OrderWorkflow>().unwrap();
    cfg.register_activities(Acts);
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg
}

#[test]
fn valid_config_passes() {
    valid_config().validate().unwrap();
    let mut c = valid_config();
    c.default_versioning_behavior = Some(VersioningBehavior::AutoUpgrade);
    c.validate().unwrap();
}

#[test]
fn worker_heartbeats_are_off_by_default_and_their_interval_is_checked() {
    let mut c = valid_config();
    assert_eq!(c.worker_heartbeat_interval, None);
    c.worker_heartbeat_interval = Some(Duration::from_secs(30));
    c.validate().unwrap();
    c.worker_heartbeat_interval = Some(Duration::from_millis(500));
    let msg = c.validate().unwrap_err().to_string();
    assert!(
        msg.contains("worker_heartbeat_interval") && msg.contains("between 1 s and 60 s"),
        "{msg}"
    );
}

#[test]
fn empty_deployment_name_or_build_id() {
    let mut c = valid_config();
    c.version.deployment_name = " ".into();
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("deployment name"), "{msg}");
    let mut c = valid_config();
    c.version.build_id = String::new();
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("build ID"), "{msg}");
}

#[test]
fn empty_task_queue() {
    let mut c = valid_config();
    c.task_queue.clear();
    let msg = c.validate().unwrap_err().to_string();
    assert!(
        msg.contains("TEMPORAL_TASK_QUEUE") && msg.contains("config.task_queue"),
        "{msg}"
    );
}

#[test]
fn nothing_registered() {
    let c = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("app", "b1"),
        &env(&[("TEMPORAL_TASK_QUEUE", "q")]),
    )
    .unwrap();
    assert!(matches!(c.validate(), Err(Error::NothingRegistered)));
}

#[test]
fn missing_versioning_behavior_names_the_workflow_and_the_fix() {
    let mut c = valid_config();
    c.default_versioning_behavior = None;
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("OrderWorkflow"), "{msg}");
    assert!(
        msg.contains("default_versioning_behavior = Some(VersioningBehavior::Pinned)"),
        "{msg}"
    );
    c.default_versioning_behavior = Some(VersioningBehavior::Unspecified);
    assert!(matches!(
        c.validate(),
        Err(Error::MissingVersioningBehavior { .. })
    ));
}

#[test]
fn duplicate_workflow_registration_is_an_error() {
    let mut c = valid_config();
    let e = c.register_workflow::<OrderWorkflow>().unwrap_err();
    assert!(e.to_string().contains("OrderWorkflow"), "{e}");
}

#[test]
fn bad_address() {
    let mut c = valid_config();
    c.connection.address = String::new();
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("TEMPORAL_ADDRESS"));
}

#[test]
fn env_overrides_the_version_given_in_code() {
    let code = WorkerDeploymentVersion::new("app", "b1");
    let cfg = LambdaWorkerConfig::from_env(code.clone(), &env(&[])).unwrap();
    assert_eq!(
        (
            cfg.version.deployment_name.as_str(),
            cfg.version.build_id.as_str()
        ),
        ("app", "b1")
    );
    let cfg = LambdaWorkerConfig::from_env(
        code.clone(),
        &env(&[
            ("TEMPORAL_BUILD_ID", "b1-w2"),
            ("TEMPORAL_DEPLOYMENT_NAME", ""),
        ]),
    )
    .unwrap();
    // An empty value is no override.
    assert_eq!(
        (
            cfg.version.deployment_name.as_str(),
            cfg.version.build_id.as_str()
        ),
        ("app", "b1-w2")
    );
    let cfg =
        LambdaWorkerConfig::from_env(code, &env(&[("TEMPORAL_DEPLOYMENT_NAME", "other")])).unwrap();
    assert_eq!(cfg.version.deployment_name, "other");
}
