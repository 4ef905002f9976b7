//! Property tests: any config file and any combination of `TEMPORAL_*` variables yields a config
//! or an error, never a panic; secrets never show in `Debug` output or error messages.

use std::collections::HashMap;

use proptest::prelude::*;
use temporal_lambda_worker::{
    config::{parse_idle_exit, ShutdownSettings},
    LambdaWorkerConfig, WorkerDeploymentVersion,
};

const SECRET: &str = "SECRET-PROPTEST-9b1c";

const KEYS: &[&str] = &[
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TASK_QUEUE",
    "TEMPORAL_PROFILE",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_GRPC_META_AUTHORIZATION",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_LAMBDA_IDLE_EXIT",
    "LAMBDA_TASK_ROOT",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("default".to_owned()),
        Just("localhost:7233".to_owned()),
        Just("https://[::1]:7233".to_owned()),
        Just("/nonexistent/file.pem".to_owned()),
        Just(SECRET.to_owned()),
        "[0-9]{1,6}(ms|s|m|h)?",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-z0-9:./_-]{0,20}\"".prop_map(|s| s),
        Just("true".to_owned()),
        Just("42".to_owned()),
        Just("[1, 2]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just(format!("\"{SECRET}\"")),
    ]
}

fn toml_file() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("address"),
        Just("namespace"),
        Just("api_key"),
        Just("disabled"),
        Just("client_cert_path"),
        Just("client_key_data"),
        Just("server_ca_cert_path"),
        Just("server_name"),
        Just("unknown_key"),
    ];
    let table = prop_oneof![
        Just("[profile.default]".to_owned()),
        Just("[profile.default.tls]".to_owned()),
        Just("[profile.other]".to_owned()),
        Just("[profile.default.grpc_meta]".to_owned()),
        Just("[profile]".to_owned()),
        Just("[[profile.default]]".to_owned()),
        "\\[[a-z.]{0,15}\\]",
    ];
    let line = prop_oneof![
        (key, toml_value()).prop_map(|(k, v)| {
            let v = if v.contains(SECRET) && !["api_key", "client_key_data"].contains(&k) {
                "\"x\"".to_owned()
            } else {
                v
            };
            format!("{k} = {v}")
        }),
        table,
        "\\PC{0,30}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_file_and_env_gives_a_config_or_an_error(
        file in prop::option::of(toml_file()),
        vars in prop::collection::vec((prop::sample::select(KEYS), value()), 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // The marker only ever goes into settings that are secrets.
        let secret_keys = ["TEMPORAL_API_KEY", "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_GRPC_META_AUTHORIZATION"];
        let mut env: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| {
                let v = if v.contains(SECRET) && !secret_keys.contains(&k) { "x".to_owned() } else { v };
                (k.to_owned(), v)
            })
            .collect();
        // Keep the lookup inside the temp dir (never the working directory's temporal.toml).
        env.insert("LAMBDA_TASK_ROOT".into(), dir.path().display().to_string());
        if let Some(f) = &file {
            let p = dir.path().join("temporal.toml");
            std::fs::write(&p, f).unwrap();
            env.insert("TEMPORAL_CONFIG_FILE".into(), p.display().to_string());
        }
        let _ = ShutdownSettings::from_env(&env);
        match LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("app", "b1"), &env) {
            Ok(cfg) => {
                let debug = format!("{cfg:?}");
                prop_assert!(!debug.contains(SECRET), "secret in Debug: {}", debug);
                let _ = cfg.validate();
                if let Ok(u) = cfg.connection.url() {
                    let _ = u.to_string();
                }
                if let Err(e) = cfg.connection.tls_options() {
                    prop_assert!(!e.to_string().contains(SECRET), "{}", e);
                }
                let _ = cfg.connection.connection_options("id".into(), std::time::Duration::from_secs(1));
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty());
                prop_assert!(!msg.contains(SECRET), "secret in error: {}", msg);
            }
        }
    }

    #[test]
    fn idle_exit_parses_or_errors(s in "\\PC{0,20}") {
        if let Ok(Some(d)) = parse_idle_exit(&s) {
            prop_assert!(d > std::time::Duration::ZERO);
        }
    }
}

#[test]
fn a_broken_file_does_not_echo_a_secret_from_the_line_it_failed_on() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("temporal.toml");
    std::fs::write(
        &p,
        format!("[profile.default]\napi_key = \"{SECRET}\" oops\naddress = \"x:1\"\n"),
    )
    .unwrap();
    let env = HashMap::from([("TEMPORAL_CONFIG_FILE".to_owned(), p.display().to_string())]);
    let e = LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("app", "b1"), &env)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(SECRET), "{e}");
}
