//! The production connection path for real: the sample worker deployed with `deploy` (its
//! environment and TLS files set by `temporal_env` / `connection_files`, never by hand), invoked
//! by the real dev server through the emulator, reaching the server through a real TLS
//! terminator (Debian's nginx, `temporal-lambda-tls-front`) that checks an API key or a client
//! certificate against a CA generated for the run. `register` and `verify` go through the front
//! too. The API key and the client key must appear in no log, record or output.

use crate::support;

use std::time::Duration;

use support::*;
use temporal_lambda_cli::{
    compute::LambdaTarget,
    connect::ConnectArgs,
    deployment::{self, RegisterOptions},
    doctor::{self, DoctorOptions, Status},
    iam::{self, StackOptions, Trust},
    lambda_deploy::{self as deploy, DeployOptions, DeployReport},
    verify::{self, VerifyOptions},
};
use temporal_lambda_tls_front::{TlsFront, TlsFrontOptions};

const EXTERNAL_ID: &str = "tls-test-external-id";
const API_KEY: &str = "tl-test-apikey-9f3c2b7e41d8";

fn front(rig: &AwsRig, name: &str, api_key: Option<&str>, mtls: bool) -> TlsFront {
    TlsFront::start(TlsFrontOptions {
        api_key: api_key.map(Into::into),
        mtls,
        server_name: Some("temporal.rig.test".into()),
        ..TlsFrontOptions::new(rig.server.address(), rig.dir.0.join(name))
    })
    .unwrap()
}

/// The connection a user passes to `deploy`/`register`/`verify` for this front.
fn conn_for(front: &TlsFront, api_key: Option<&str>, mtls: bool) -> ConnectArgs {
    let pki = front.pki();
    let mut c = ConnectArgs::local(front.address(), "default");
    c.api_key = api_key.map(Into::into);
    c.tls_ca_path = Some(pki.ca_cert_path.clone());
    c.tls_server_name = Some("temporal.rig.test".into());
    if mtls {
        c.tls_cert_path = Some(pki.client_cert_path.clone());
        c.tls_key_path = Some(pki.client_key_path.clone());
    }
    c
}

/// deploy (env + TLS files from the connection, plus `more_env`) → role → register through the
/// front, current. Returns the deploy report and the CLI's connection through the front.
async fn deploy_and_register(
    rig: &AwsRig,
    name: &str,
    conn: &ConnectArgs,
    build: &str,
    more_env: &[(String, String)],
) -> (DeployReport, temporalio_client::Connection) {
    let zip = sample_zip(env!("CARGO_BIN_EXE_bootstrap").as_ref());
    let mut extra = vec![
        ("HELLO_BUILD_ID".to_string(), build.to_string()),
        ("HELLO_DEPLOYMENT_NAME".to_string(), format!("tls-{name}")),
        ("TEMPORAL_TASK_QUEUE".to_string(), format!("tls-{name}")),
    ];
    extra.extend(more_env.iter().cloned());
    let opts = DeployOptions {
        function_name: name.to_string(),
        zip,
        execution_role: Some(EXECUTION_ROLE.to_string()),
        timeout: Duration::from_secs(60),
        memory_mb: 256,
        arch: temporal_lambda_package::Arch::X86_64,
        env: deploy::temporal_env(conn, None, &extra),
        build_id: None,
        files: deploy::connection_files(conn),
    };
    let d = deploy::deploy(&rig.aws, &opts, &|_| {}).await.unwrap();
    assert_eq!(d.build_id, build);
    let base = d.function_arn.rsplit_once(':').unwrap().0.to_string();
    let stack = iam::create_stack(
        &rig.aws,
        &StackOptions {
            stack_name: format!("{name}-role"),
            trust: Trust::SelfHosted {
                principal: SERVER_PRINCIPAL.into(),
            },
            external_id: EXTERNAL_ID.parse().unwrap(),
            function_arns: vec![base.clone(), format!("{base}:*")],
            role_name: None,
        },
        &|_| {},
    )
    .await
    .unwrap();
    let client = conn.connect().await.unwrap();
    deployment::register(
        &client,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: d.deployment_name.clone(),
            build_id: d.build_id.clone(),
            target: LambdaTarget {
                function_arn: d.function_arn.parse().unwrap(),
                role_arn: stack.role_arn.parse().unwrap(),
                external_id: EXTERNAL_ID.parse().unwrap(),
            },
            update: true,
            set_current: true,
        },
    )
    .await
    .unwrap();
    (d, client)
}

/// A `HelloWorkflow` for `who` on `task_queue`, through `client`; the server invokes the function.
async fn hello(
    client: &temporalio_client::Connection,
    task_queue: &str,
    who: &str,
) -> Result<verify::VerifyReport, verify::VerifyError> {
    verify::verify(
        client,
        &VerifyOptions {
            namespace: "default".into(),
            task_queue: task_queue.to_string(),
            workflow_type: "HelloWorkflow".into(),
            workflow_id: None,
            input: vec![serde_json::json!(who)],
            timeout: Duration::from_secs(60),
        },
    )
    .await
}

/// [`deploy_and_register`], then a server-driven workflow verified through the front. Returns
/// the function's logs.
async fn deploy_and_verify(rig: &AwsRig, name: &str, conn: &ConnectArgs, build: &str) -> String {
    let (d, client) = deploy_and_register(rig, name, conn, build, &[]).await;
    let r = hello(&client, &d.task_queue, name)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nfunction logs:\n{}",
                rig.emu.logs(name).unwrap_or_default()
            )
        });
    assert_eq!(r.result, Some(serde_json::json!(format!("Hello, {name}!"))));
    // The server invoked the function: it connected through the front with what deploy gave it.
    let records = rig.emu.invocations();
    assert!(
        records
            .iter()
            .any(|r| r.function_name == name && r.is_finished()),
        "no server-driven invocation of {name}: {records:#?}"
    );
    let logs = rig.emu.logs(name).unwrap_or_default();
    assert!(logs.contains("worker polling"), "{logs}");
    assert_no_secret(
        &format!("{name} invocation records"),
        &format!("{records:?}"),
    );
    logs
}

/// The function's environment, as Lambda reports it.
async fn function_env(rig: &AwsRig, name: &str) -> std::collections::HashMap<String, String> {
    rig.aws
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default()
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(API_KEY), "the API key leaked into {what}");
    assert!(
        !text.contains("PRIVATE KEY"),
        "a private key leaked into {what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_driven_workflow_through_tls_and_an_api_key_set_by_deploy() {
    let rig = AwsRig::start("tls-key").await;
    let front = front(&rig, "front-key", Some(API_KEY), false);
    let conn = conn_for(&front, Some(API_KEY), false);
    let logs = deploy_and_verify(&rig, "tlskey", &conn, "build-key").await;
    assert_no_secret("function logs", &logs);
    // deploy put the CA into the zip and pointed the function at it; the key is in the env
    // (the Secrets Manager variant keeps it out of the env).
    let vars = function_env(&rig, "tlskey").await;
    assert_eq!(
        vars["TEMPORAL_TLS_SERVER_CA_CERT_PATH"],
        "temporal-tls/server-ca.pem"
    );
    assert_eq!(vars["TEMPORAL_TLS_SERVER_NAME"], "temporal.rig.test");
    assert_eq!(vars["TEMPORAL_TLS"], "true");
    assert_eq!(vars["TEMPORAL_ADDRESS"], front.address());
    // doctor, through the front: the function's own settings reach the server.
    let report = doctor::run_with(
        &DoctorOptions {
            conn: conn.clone(),
            aws: Default::default(),
            deployment_name: "tls-tlskey".into(),
            build_id: "build-key".into(),
            function: None,
            trust: Some(Trust::SelfHosted {
                principal: SERVER_PRINCIPAL.into(),
            }),
            min_timeout: Duration::from_secs(8),
            log_window: Duration::from_secs(3600),
        },
        Ok(rig.aws.clone()),
    )
    .await;
    let check = report.get("function-connection").unwrap();
    assert_eq!(check.status, Status::Ok, "{}", report.text());
    assert!(
        check
            .detail
            .contains("TLS + own CA (server name temporal.rig.test)")
            && check.detail.contains("API key: environment"),
        "{}",
        check.detail
    );
    assert_eq!(report.failures, 0, "{}", report.text());
    assert_no_secret("doctor output", &report.text());
    assert_no_secret("doctor JSON", &serde_json::to_string(&report).unwrap());
    // Without the key, the front refuses: the test proves the key is checked.
    let mut no_key = conn.clone();
    no_key.api_key = None;
    no_key.tls = Some(true);
    let e = no_key.connect().await.unwrap_err().to_string();
    assert!(e.contains("API key"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_driven_workflow_through_mtls_with_the_client_files_packaged_by_deploy() {
    let rig = AwsRig::start("tls-mtls").await;
    let front = front(&rig, "front-mtls", None, true);
    let conn = conn_for(&front, None, true);
    let logs = deploy_and_verify(&rig, "tlsmtls", &conn, "build-mtls").await;
    assert_no_secret("function logs", &logs);
    let vars = function_env(&rig, "tlsmtls").await;
    assert_eq!(
        vars["TEMPORAL_TLS_CLIENT_CERT_PATH"],
        "temporal-tls/client.pem"
    );
    assert_eq!(
        vars["TEMPORAL_TLS_CLIENT_KEY_PATH"],
        "temporal-tls/client.key"
    );
    assert!(!vars.contains_key("TEMPORAL_API_KEY"));
    // Without the client certificate the front refuses.
    let mut no_cert = conn.clone();
    no_cert.tls_cert_path = None;
    no_cert.tls_key_path = None;
    let e = no_cert.connect().await.unwrap_err().to_string();
    assert!(e.contains("TEMPORAL_TLS_CLIENT_CERT_PATH"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_rig_with_tls_runs_server_driven_workflows_through_the_front() {
    let rig = temporal_lambda_testing::LocalRig::builder(env!("CARGO_BIN_EXE_bootstrap"))
        .function_name("tlsrig")
        .tls(true)
        .start()
        .await
        .expect("rig with a TLS front up");
    let api_key_file = rig.api_key_file().expect("the rig has a TLS front");
    let ca = rig.tls_ca_cert_path().expect("the rig has a TLS front");
    assert_ne!(rig.temporal_address(), rig.server().address());
    let key = std::fs::read_to_string(api_key_file).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(api_key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the API key file is owner-only");
    let result = rig
        .execute_workflow("HelloWorkflow", serde_json::json!("TLS rig"))
        .await
        .unwrap();
    assert_eq!(result, serde_json::json!("Hello, TLS rig!"));
    // The function reached the server through the front (its address), with the key.
    let logs = rig.logs();
    assert!(logs.contains("worker polling"), "{logs}");
    assert!(
        !logs.contains(&key),
        "the API key leaked into the function logs"
    );
    let env = format!("{:?}", rig.tool_env());
    assert!(env.contains(&rig.temporal_address()), "{env}");
    assert!(!env.contains(&key), "the API key is printed by local up");
    assert!(!format!("{:?}", rig.invocations()).contains(&key));
    // The front refuses a client without the key: nothing could have bypassed it.
    let mut no_key = ConnectArgs::local(rig.temporal_address(), "default");
    no_key.tls = Some(true);
    no_key.tls_ca_path = Some(ca);
    let e = no_key.connect().await.unwrap_err().to_string();
    assert!(e.contains("API key"), "{e}");
}

/// Runs a boto3 (the real AWS SDK for Python, installed with moto) call against moto; the
/// script reads its arguments from stdin so no value is on a command line. Returns stdout.
fn boto3(rig: &AwsRig, service: &str, script: &str, input: &serde_json::Value) -> String {
    use std::io::Write as _;
    let program = format!(
        "import json, sys, boto3\nargs = json.load(sys.stdin)\nc = boto3.client('{service}', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='AKIATESTLOCAL0000000', aws_secret_access_key='x')\n{script}\n",
        rig.moto.url
    );
    let mut child = std::process::Command::new(venv_bin().join("python"))
        .args(["-c", &program])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn cold_starts(rig: &AwsRig, name: &str) -> usize {
    rig.emu
        .invocations()
        .iter()
        .filter(|r| r.function_name == name && r.cold_start == Some(true))
        .count()
}

const ROTATED_KEY: &str = "tl-test-rotated-key-4be01d7c";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_from_secrets_manager_is_read_once_and_again_after_rotation() {
    let rig = AwsRig::start("tls-secret").await;
    let mut front = front(&rig, "front-secret", Some(API_KEY), false);
    let arn = boto3(
        &rig,
        "secretsmanager",
        "print(c.create_secret(Name='temporal/api-key', SecretString=args['v'])['ARN'])",
        &serde_json::json!({"v": API_KEY}),
    );
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    // The function gets the secret's ARN, not the key (the CLI itself still uses --api-key).
    let mut conn = conn_for(&front, Some(API_KEY), false);
    conn.api_key_secret_arn = Some(arn.parse().unwrap());
    let name = "tlssecret";
    // The execution role must exist in IAM (moto) for deploy's grant.
    boto3(
        &rig,
        "iam",
        "c.create_role(RoleName='lambda-execution', AssumeRolePolicyDocument=json.dumps({'Version':'2012-10-17','Statement':[{'Effect':'Allow','Principal':{'Service':'lambda.amazonaws.com'},'Action':'sts:AssumeRole'}]}))",
        &serde_json::json!({}),
    );
    // Where the sandbox reaches Secrets Manager (moto), as the AWS SDKs read it.
    let endpoint = [(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_string(),
        rig.moto.url.clone(),
    )];
    let env = deploy::temporal_env(&conn, None, &endpoint);
    assert!(!env.contains_key("TEMPORAL_API_KEY"), "{:?}", env.keys());
    let (d, client) = deploy_and_register(&rig, name, &conn, "build-secret", &endpoint).await;
    assert_eq!(d.secret_grant.as_deref(), Some(deploy::SECRET_POLICY_NAME));
    let policy = boto3(
        &rig,
        "iam",
        "print(json.dumps(c.get_role_policy(RoleName='lambda-execution', PolicyName=args['p'])['PolicyDocument']))",
        &serde_json::json!({"p": deploy::SECRET_POLICY_NAME}),
    );
    assert!(
        policy.contains("secretsmanager:GetSecretValue") && policy.contains(&arn),
        "{policy}"
    );
    let logs = || rig.emu.logs(name).unwrap_or_default();
    let r = hello(&client, &d.task_queue, "secret")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert_eq!(r.result, Some(serde_json::json!("Hello, secret!")));
    // The server may run more than one sandbox at once (e.g. a second invocation while the
    // first still waits for routing), so the invariant is per execution environment: each log
    // stream (one sandbox) reads the secret exactly once while the key works.
    let reads_per_sandbox = |l: &str| -> Vec<usize> {
        l.split("==> ")
            .filter(|stream| stream.contains("worker polling"))
            .map(|stream| stream.matches("API key read from the secret").count())
            .collect()
    };
    let once_each = |l: &str| {
        let reads = reads_per_sandbox(l);
        !reads.is_empty() && reads.iter().all(|&n| n == 1) && !l.contains("refresh=true")
    };
    assert!(
        once_each(&logs()),
        "read once per execution environment:\n{}",
        logs()
    );
    let r = hello(&client, &d.task_queue, "again").await.unwrap();
    assert_eq!(r.result, Some(serde_json::json!("Hello, again!")));
    assert!(
        once_each(&logs()),
        "not read again while it works:\n{}",
        logs()
    );

    // Rotation: the secret gets a new value and the server accepts only the new key. Once the
    // running invocations end, the next one reuses the warm sandbox: its cached key is rejected
    // once, it reads the secret again and the workflow completes (no workflow lost).
    rig.emu
        .wait_for_invocations(Duration::from_secs(60), |rs| {
            rs.iter()
                .filter(|r| r.function_name == name)
                .all(|r| r.is_finished())
        })
        .await
        .unwrap();
    let cold_before = cold_starts(&rig, name);
    boto3(
        &rig,
        "secretsmanager",
        "c.put_secret_value(SecretId=args['arn'], SecretString=args['v'])",
        &serde_json::json!({"arn": arn, "v": ROTATED_KEY}),
    );
    front.set_api_key(Some(ROTATED_KEY.into())).unwrap();
    let mut rotated = conn.clone();
    rotated.api_key = Some(ROTATED_KEY.into());
    let client = rotated.connect().await.unwrap();
    let r = hello(&client, &d.task_queue, "rotated")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert_eq!(r.result, Some(serde_json::json!("Hello, rotated!")));
    let l = logs();
    assert_eq!(
        cold_starts(&rig, name),
        cold_before,
        "the warm sandbox served the rotated workflow"
    );
    assert!(l.contains("the server rejected the API key"), "{l}");
    assert!(
        l.contains("fetches=2 refresh=true"),
        "read again after the rejection:\n{l}"
    );
    for (what, text) in [
        ("function logs", l.clone()),
        ("invocation records", format!("{:?}", rig.emu.invocations())),
        ("deploy report", serde_json::to_string(&d).unwrap()),
    ] {
        for secret in [API_KEY, ROTATED_KEY] {
            assert!(!text.contains(secret), "a key leaked into {what}");
        }
    }

    // doctor sees the grant and the function's own connection (through the secret).
    let report = doctor::run_with(
        &DoctorOptions {
            conn: rotated.clone(),
            aws: Default::default(),
            deployment_name: d.deployment_name.clone(),
            build_id: d.build_id.clone(),
            function: None,
            trust: Some(Trust::SelfHosted {
                principal: SERVER_PRINCIPAL.into(),
            }),
            min_timeout: Duration::from_secs(8),
            log_window: Duration::from_secs(3600),
        },
        Ok(rig.aws.clone()),
    )
    .await;
    for id in ["secret-grant", "function-connection"] {
        assert_eq!(
            report.get(id).unwrap().status,
            Status::Ok,
            "{}",
            report.text()
        );
    }
    assert!(report
        .get("function-connection")
        .unwrap()
        .detail
        .contains("API key: secret"));
    for secret in [API_KEY, ROTATED_KEY] {
        assert!(!report.text().contains(secret));
        assert!(!serde_json::to_string(&report).unwrap().contains(secret));
    }
}
