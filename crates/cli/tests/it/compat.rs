//! Compatibility with the official `temporal` CLI and the server's AWS validation, against the
//! real dev server and the local Lambda + STS emulator.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;

use temporal_dev_server::{DevServer, DevServerOptions};
use temporal_lambda_cli::{
    compute::{self, LambdaTarget},
    connect::ConnectArgs,
    deployment::{self, DeploymentError, RegisterOptions, RegisterOutcome},
};
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FunctionSpec};
use temporalio_client::Connection;

const ROLE: &str = "arn:aws:iam::123456789012:role/temporal-invoker";
const LAX_ROLE: &str = "arn:aws:iam::123456789012:role/no-external-id";
const EXTERNAL_ID: &str = "compat-ext-id";

struct Rig {
    // Field order: the server goes before the emulator it calls.
    server: DevServer,
    emu: EmulatorHandle,
    function_v1: String,
    /// Another function, for config changes.
    function_v2: String,
    _dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn rig(name: &str) -> Rig {
    let dir = std::env::temp_dir().join(format!("tl-compat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::write(&bootstrap, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        &bootstrap,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.join("emu")).with_compressed_async_retries())
        .await
        .unwrap();
    emu.register_role(ROLE, Some(EXTERNAL_ID)).unwrap();
    emu.register_role(LAX_ROLE, None).unwrap();
    emu.create_function_from_path(FunctionSpec::new("hello", &bootstrap))
        .await
        .unwrap();
    emu.create_function_from_path(FunctionSpec::new("hello-next", &bootstrap))
        .await
        .unwrap();
    let function_v1 = emu.publish_version("hello", None).unwrap().function_arn;
    let function_v2 = emu
        .publish_version("hello-next", None)
        .unwrap()
        .function_arn;
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(emu.endpoint()),
        aws_credentials: Some(temporal_lambda_rig::server_credentials(&emu)),
        ..Default::default()
    })
    .await
    .unwrap();
    Rig {
        server,
        emu,
        function_v1,
        function_v2,
        _dir: TempDir(dir),
    }
}

impl Rig {
    async fn conn(&self) -> Connection {
        ConnectArgs::local(self.server.address(), "default")
            .connect()
            .await
            .unwrap()
    }

    fn target(&self, function: &str, role: &str) -> LambdaTarget {
        LambdaTarget {
            function_arn: function.parse().unwrap(),
            role_arn: role.parse().unwrap(),
            external_id: EXTERNAL_ID.parse().unwrap(),
        }
    }

    /// Run the official `temporal` CLI against the server.
    fn temporal(&self, args: &[&str]) -> String {
        let out = Command::new(self.server.binary())
            .args(args)
            .args([
                "--address",
                &self.server.address(),
                "--namespace",
                "default",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "temporal {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// GET a path of the server's HTTP API and parse the JSON body.
    fn http_get(&self, path: &str) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(self.server.http_address()).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.server.http_address()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        serde_json::from_str(&body).unwrap()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (len, rest) = body.split_once("\r\n").unwrap();
        let len = usize::from_str_radix(len.trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.push_str(&rest[..len]);
        body = &rest[len + 2..];
    }
}

fn opts(deployment_name: &str, target: LambdaTarget) -> RegisterOptions {
    RegisterOptions {
        namespace: "default".into(),
        deployment_name: deployment_name.into(),
        build_id: "v1".into(),
        target,
        update: false,
        set_current: false,
    }
}

// Multi-threaded: the emulator runs in this runtime while the test blocks on the `temporal` CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_reads_back_like_the_official_cli_and_vice_versa() {
    let rig = rig("both").await;
    let conn = rig.conn().await;
    let target = rig.target(&rig.function_v1, ROLE);

    // Ours -> described by the official CLI and by the server's HTTP API.
    let r = deployment::register(&conn, &opts("ours", target.clone()))
        .await
        .unwrap();
    assert_eq!(r.outcome, RegisterOutcome::Created);
    assert!(r.deployment_created);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let described: serde_json::Value = serde_json::from_str(&rig.temporal(&[
        "worker",
        "deployment",
        "describe-version",
        "--deployment-name",
        "ours",
        "--build-id",
        "v1",
        "-o",
        "json",
    ]))
    .unwrap();
    let group = &described["computeConfig"]["scalingGroups"]["default"];
    assert_eq!(group["provider"]["type"], "aws-lambda");
    assert_eq!(group["scaler"]["type"], "no-sync");
    let http = rig.http_get("/api/v1/namespaces/default/worker-deployment-versions/ours/v1");
    let ours_http = &http["workerDeploymentVersionInfo"]["computeConfig"];
    assert_eq!(
        ours_http["scalingGroups"]["default"]["provider"]["details"],
        serde_json::json!({"arn": rig.function_v1, "role": ROLE, "role_external_id": EXTERNAL_ID})
    );

    // Theirs -> read by ours: the stored protos are identical, byte for byte.
    rig.temporal(&["worker", "deployment", "create", "--name", "theirs"]);
    rig.temporal(&[
        "worker",
        "deployment",
        "create-version",
        "--deployment-name",
        "theirs",
        "--build-id",
        "v1",
        "--aws-lambda-function-arn",
        &rig.function_v1,
        "--aws-lambda-assume-role-arn",
        ROLE,
        "--aws-lambda-assume-role-external-id",
        EXTERNAL_ID,
    ]);
    let stored = |name: &'static str| {
        let conn = conn.clone();
        async move {
            deployment::describe_version_raw(&conn, "default", name, "v1")
                .await
                .unwrap()
                .unwrap()
                .worker_deployment_version_info
                .unwrap()
                .compute_config
                .unwrap()
        }
    };
    let theirs = stored("theirs").await;
    assert_eq!(theirs, stored("ours").await);
    assert_eq!(theirs, target.compute_config());
    assert!(compute::matches(&theirs, &target));
    let http = rig.http_get("/api/v1/namespaces/default/worker-deployment-versions/theirs/v1");
    assert_eq!(
        &http["workerDeploymentVersionInfo"]["computeConfig"],
        ours_http
    );

    // Registering ours over theirs is a no-op.
    let r = deployment::register(&conn, &opts("theirs", target.clone()))
        .await
        .unwrap();
    assert_eq!(r.outcome, RegisterOutcome::Unchanged);
    let view = deployment::describe_version(&conn, "default", "theirs", "v1")
        .await
        .unwrap();
    assert_eq!(
        view.compute_config["default"].provider_details,
        Some(
            serde_json::json!({"arn": rig.function_v1, "role": ROLE, "role_external_id": EXTERNAL_ID})
        )
    );
}

// Multi-threaded: the emulator runs in this runtime while the test blocks on the `temporal` CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_validation_failures_become_clear_errors() {
    let rig = rig("errors").await;
    let conn = rig.conn().await;

    // Role whose trust policy does not require the external ID.
    let err = deployment::register(&conn, &opts("lax", rig.target(&rig.function_v1, LAX_ROLE)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeploymentError::ExternalIdNotEnforced { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(LAX_ROLE) && msg.contains("sts:ExternalId"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));

    // Function that does not exist.
    let missing = "arn:aws:lambda:us-east-1:123456789012:function:missing:1";
    let err = deployment::register(&conn, &opts("missing", rig.target(missing, ROLE)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeploymentError::FunctionNotAccessible { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(missing), "{err}");

    // Same version, different function: refused without --update, replaced with it.
    deployment::register(&conn, &opts("moving", rig.target(&rig.function_v1, ROLE)))
        .await
        .unwrap();
    let v2 = rig.target(&rig.function_v2, ROLE);
    let err = deployment::register(&conn, &opts("moving", v2.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeploymentError::DifferentComputeConfig { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--update"), "{err}");
    let r = deployment::register(
        &conn,
        &RegisterOptions {
            update: true,
            ..opts("moving", v2.clone())
        },
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, RegisterOutcome::Updated);
    let stored = deployment::describe_version_raw(&conn, "default", "moving", "v1")
        .await
        .unwrap()
        .unwrap()
        .worker_deployment_version_info
        .unwrap()
        .compute_config
        .unwrap();
    assert_eq!(stored, v2.compute_config());
    // The server really checked with "AWS".
    assert!(rig.emu.sts_stats().assume_role_calls > 0);
}

// Multi-threaded: the emulator runs in this runtime while the test blocks on the `temporal` CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_registers_and_sets_current_with_json_output() {
    let rig = rig("binary").await;
    let out = Command::new(env!("CARGO_BIN_EXE_temporal-lambda"))
        .args([
            "register",
            "--address",
            &rig.server.address(),
            "--deployment-name",
            "bin",
            "--build-id",
            "v1",
            "--function-arn",
            &rig.function_v1,
            "--role-arn",
            ROLE,
            "--external-id",
            EXTERNAL_ID,
            "--set-current",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\nSERVER LOG:\n{}\nINVOCATIONS: {:#?}\nSTS: {:?}",
        String::from_utf8_lossy(&out.stderr),
        rig.server.log_tail(30),
        rig.emu.invocations(),
        rig.emu.sts_stats(),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "created");
    assert_eq!(report["set_current"]["version"], "bin.v1");
    let described = rig.temporal(&[
        "worker",
        "deployment",
        "describe",
        "--name",
        "bin",
        "-o",
        "json",
    ]);
    let d: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(
        d["routingConfig"]["currentVersionBuildID"], "v1",
        "{described}"
    );
}
