//! What `local demo`, `local up` and `local watch` share: the rig's flags, resolving and
//! building the worker crates, starting and stopping the rig, and what they print about it.

use std::path::PathBuf;
use std::time::Duration;

use crate::local_rig::{self, Rig};
use temporal_lambda_emulator::Fidelity;

use super::args::{parse_function_timeout, parse_json};
use super::ui::{spinner, stepper};
use super::Output;

/// The rig's and the worker crate's settings.
#[derive(Debug, clap::Args)]
pub struct RigArgs {
    /// Emulator port (0: any free port).
    #[arg(long, default_value_t = 0)]
    emulator_port: u16,
    /// Temporal dev server gRPC port (default: any free port).
    #[arg(long)]
    temporal_port: Option<u16>,
    /// Function timeout, e.g. 30s.
    #[arg(long, value_parser = parse_function_timeout, default_value = "30s")]
    function_timeout: Duration,
    /// Function concurrency limit.
    #[arg(long, default_value_t = 3)]
    concurrency: u32,
    /// The worker crate's Cargo.toml (default: the crate in the current directory, else the
    /// workspace's only package with the bin: inside this repository, examples/hello-worker).
    #[arg(long)]
    manifest_path: Option<PathBuf>,
    /// Package to run, in a workspace.
    #[arg(long, short = 'p')]
    package: Option<String>,
    /// Several functions on one rig (other crates, or other builds of one crate): a TOML file
    /// of `[[function]]` tables with manifest_path, package, bin, name, task_queue, env.
    #[arg(long, conflicts_with_all = ["manifest_path", "package"])]
    rig_file: Option<PathBuf>,
    /// Binary target that is the function's `bootstrap`.
    #[arg(long, default_value = "bootstrap")]
    bin: String,
    /// Build in release mode (default: debug, quick to rebuild).
    #[arg(long)]
    release: bool,
    /// Workflow type the demo starts (default: HelloWorkflow, the sample's, when the code
    /// registers it, else the first type the code registers).
    #[arg(long)]
    workflow_type: Option<String>,
    /// The demo workflows' argument as JSON (default: the string "Lambda #<n>").
    #[arg(long, value_parser = parse_json)]
    pub(crate) input: Option<serde_json::Value>,
    /// Where state and logs go (default: <target dir>/temporal-lambda/rig).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// IAM endpoint (e.g. `moto_server`) whose role trust policies the emulator's STS enforces,
    /// to try `iam create` / `deploy` / `ship` / `doctor` locally.
    #[arg(long)]
    iam_endpoint: Option<String>,
    /// Reach the dev server only through a TLS front requiring an API key (nginx, with a CA
    /// and key generated for the rig), as Temporal Cloud is reached: the functions, `register`
    /// and the demo all use it. The key is stored in <state dir>/tls/api-key, never printed.
    #[arg(long)]
    tls: bool,
    /// Lambda fidelity of the sandboxes: `lambda` (CPU share = memory/1769 vCPU, memory limit,
    /// frozen between invocations; needs root and writable cgroups, else a notice and freezing
    /// by SIGSTOP), `off` (every sandbox gets the whole machine), or a list of cpu,memory,freeze.
    #[arg(long, env = "TEMPORAL_LAMBDA_FIDELITY", default_value_t = local_rig::RIG_DEFAULT_FIDELITY, value_parser = parse_fidelity)]
    fidelity: Fidelity,
    /// The functions' memory size in MB; with fidelity on, their CPU share follows it.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory_mb: u32,
    /// Let builds drain within seconds (the server checks drainage every second and forgets
    /// pollers after 1 s, instead of every 3 and after 5 minutes), to try `retire` locally.
    #[arg(long)]
    fast_drainage: bool,
    /// Run the functions on Lambda Managed Instances: each published version gets
    /// --environments execution environments, each serving up to --max-concurrency invocations
    /// at once over one shared worker (memory raised to LMI's 2048 MB minimum).
    #[arg(long)]
    managed_instances: bool,
    /// The functions' Lambda architecture: x86_64 or arm64 (Graviton). Another one than this
    /// machine's is built as `package --arch` builds it (rustup's target, or the builder
    /// TEMPORAL_LAMBDA_ARM64_CARGO names) and runs under qemu user-mode emulation
    /// (`qemu-aarch64-static`; its aarch64 libraries from QEMU_LD_PREFIX, or the host's multiarch
    /// `libc6:arm64`): the same Runtime API and limits, emulated timings.
    #[arg(long, default_value = "x86_64", value_parser = super::args::parse_arch)]
    arch: temporal_lambda_package::Arch,
    /// With --managed-instances: `PerExecutionEnvironmentMaxConcurrency`.
    #[arg(long, default_value_t = 8, requires = "managed_instances", value_parser = clap::value_parser!(u32).range(1..=64))]
    max_concurrency: u32,
    /// With --managed-instances: execution environments per published version (the capacity
    /// provider's instances).
    #[arg(long, default_value_t = 2, requires = "managed_instances", value_parser = clap::value_parser!(u32).range(1..=16))]
    environments: u32,
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    s.parse()
}

/// `==> msg` on stderr in text mode.
pub(crate) fn say(output: Output, msg: &str) {
    if output == Output::Text {
        eprintln!("==> {msg}");
    }
}

/// One function of the rig with the crate it is built from.
pub(crate) struct Served {
    /// The crate.
    pub worker: local_rig::WorkerCrate,
    /// The function's name on the rig.
    pub function_name: String,
}

/// The workflow type `local demo` starts, and `local up` prints, when `--workflow-type` is not
/// given and the function registers it: this repository's sample (examples/hello-worker)
/// registers several, and this is its demo.
const SAMPLE_WORKFLOW_TYPE: &str = "HelloWorkflow";

/// A started rig with the crates it runs and the workflow type to start.
pub(crate) struct Started {
    /// One entry per function, in the rig's order.
    pub served: Vec<Served>,
    /// The rig.
    pub rig: Rig,
    /// `--workflow-type`.
    pub workflow_type: Option<String>,
}

impl Started {
    /// The workflow type the demo starts on `f`: `--workflow-type`, else the sample's
    /// [`SAMPLE_WORKFLOW_TYPE`] when `f` registers it, else the first type `f` registers.
    pub(crate) fn workflow_type_of(&self, f: &local_rig::RigFunction) -> anyhow::Result<String> {
        let sample = f
            .workflow_types
            .iter()
            .find(|t| t.as_str() == SAMPLE_WORKFLOW_TYPE);
        self.workflow_type
            .clone()
            .or_else(|| sample.or(f.workflow_types.first()).cloned())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "function {} registers no workflow type: register one in run_worker's closure (config.register_workflow::<MyWorkflow>()?) or pass --workflow-type",
                    f.function_name
                )
            })
    }
}

/// A function to put on the rig, before it is built.
struct Planned {
    worker: local_rig::WorkerCrate,
    options: local_rig::FunctionOptions,
}

/// Resolves every crate (the one `--manifest-path`/`-p` or the current directory select, or
/// each of the rig file's) and names its function.
fn plan(args: &RigArgs) -> anyhow::Result<Vec<Planned>> {
    let opts = |name: String, task_queue: Option<String>, env: Vec<(String, String)>| {
        local_rig::FunctionOptions {
            function_name: name,
            task_queue,
            env,
            timeout: args.function_timeout,
            concurrency: args.concurrency,
        }
    };
    let Some(file) = &args.rig_file else {
        let worker = local_rig::resolve_worker(&args.worker_source())?;
        let name = local_rig::function_name_for(&worker.package);
        return Ok(vec![Planned {
            worker,
            options: opts(name, None, Vec::new()),
        }]);
    };
    let rig_file = local_rig::RigFile::load(file)?;
    let mut planned: Vec<Planned> = Vec::new();
    for (f, src) in rig_file
        .functions
        .iter()
        .zip(rig_file.sources(args.release))
    {
        let worker = local_rig::resolve_worker(&src)?;
        let name = f
            .name
            .clone()
            .unwrap_or_else(|| local_rig::function_name_for(&worker.package));
        if planned.iter().any(|p| p.options.function_name == name) {
            anyhow::bail!(
                "{}: two functions are named `{name}`; give each [[function]] its own `name`",
                file.display()
            );
        }
        let env = f.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        planned.push(Planned {
            worker,
            options: opts(name, f.task_queue.clone(), env),
        });
    }
    Ok(planned)
}

/// Resolves and builds the worker crates, starts the rig with them and prints the summary.
pub(crate) async fn start(output: Output, args: &RigArgs, ui: bool) -> anyhow::Result<Started> {
    // Before minutes of building: a fixed port someone else holds fails the start anyway.
    port_free(args.emulator_port, "--emulator-port")?;
    if let Some(p) = args.temporal_port {
        port_free(p, "--temporal-port")?;
    }
    let planned = plan(args)?;
    let built = build_all(output, &planned, args.arch)?;
    let bootstrap_of = |w: &local_rig::WorkerCrate| {
        built
            .iter()
            .find(|(b, _)| b.same_build(w))
            .map(|(_, path)| path.clone())
            .expect("every planned crate was built")
    };
    let opts = rig_options(args, &planned[0], ui);
    let pb = spinner(output, "starting the local serverless rig");
    let progress = stepper(output, &pb);
    let mut rig = local_rig::start_rig(&opts, &bootstrap_of(&planned[0].worker), &progress).await;
    if let Ok(r) = rig.as_mut() {
        for p in &planned[1..] {
            if let Err(e) = r
                .deploy(&p.options, &bootstrap_of(&p.worker), &progress)
                .await
            {
                pb.finish_and_clear();
                return Err(e.into());
            }
        }
    }
    pb.finish_and_clear();
    let started = Started {
        served: planned
            .into_iter()
            .map(|p| Served {
                worker: p.worker,
                function_name: p.options.function_name,
            })
            .collect(),
        rig: rig?,
        workflow_type: args.workflow_type.clone(),
    };
    let first_type = started.workflow_type_of(started.rig.function())?;
    // On stderr in both output modes: stdout stays the report.
    eprintln!("{}", rig_summary(&started.rig, &first_type));
    Ok(started)
}

/// Builds each planned crate once (two functions of one build share its `bootstrap`).
fn build_all(
    output: Output,
    planned: &[Planned],
    arch: temporal_lambda_package::Arch,
) -> anyhow::Result<Vec<(local_rig::WorkerCrate, PathBuf)>> {
    let mut built: Vec<(local_rig::WorkerCrate, PathBuf)> = Vec::new();
    for p in planned {
        let w = &p.worker;
        if built.iter().any(|(b, _)| b.same_build(w)) {
            continue;
        }
        if Some(arch) == temporal_lambda_package::Arch::host() {
            say(
                output,
                &format!(
                    "building {} ({}, cargo build{}; the first build of a new crate takes a few minutes)",
                    w.package,
                    w.manifest_path.display(),
                    if w.release { " --release" } else { "" }
                ),
            );
        }
        built.push((w.clone(), build_worker_for(output, w, arch)?));
    }
    Ok(built)
}

/// Builds `w`'s `bootstrap` for `arch`: `cargo build` for this machine's architecture, else as
/// `package --arch` builds it ([`build_for`]).
pub(crate) fn build_worker_for(
    output: Output,
    w: &local_rig::WorkerCrate,
    arch: temporal_lambda_package::Arch,
) -> anyhow::Result<PathBuf> {
    if Some(arch) == temporal_lambda_package::Arch::host() {
        Ok(local_rig::build_worker(w)?)
    } else {
        build_for(output, w, arch)
    }
}

/// Builds `w` for another architecture than the host's, as `package` builds it (rustup's
/// target or the builder `TEMPORAL_LAMBDA_ARM64_CARGO` names, through cargo zigbuild).
fn build_for(
    output: Output,
    w: &local_rig::WorkerCrate,
    arch: temporal_lambda_package::Arch,
) -> anyhow::Result<PathBuf> {
    // From the workspace root, as `package` is run: a build root (TEMPORAL_LAMBDA_ARM64_CARGO)
    // sees the directory it runs in, and a member needs its workspace's manifest.
    let mut opts = temporal_lambda_package::BuildOptions::new(&w.workspace_root, arch).bin(&w.bin);
    opts.package = Some(w.package.clone());
    if !w.release {
        opts.profile = temporal_lambda_package::Profile::Named("dev".into());
    }
    say(
        output,
        &format!(
            "building {} for {arch} (cargo zigbuild{}; the emulator runs it under qemu)",
            w.package,
            if w.release { " --release" } else { "" }
        ),
    );
    let mut progress = |line: &str| {
        if output == Output::Text {
            eprintln!("{line}");
        }
    };
    temporal_lambda_package::build(&opts, &mut progress)
        .map_err(|e| anyhow::anyhow!("building {} for {arch}: {e}", w.package))
}

/// The rig's options from the flags, with `first` as its first function.
fn rig_options(args: &RigArgs, first: &Planned, ui: bool) -> local_rig::RigOptions {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| first.worker.state_dir());
    local_rig::RigOptions {
        task_queue: first.options.task_queue.clone().unwrap_or_default(),
        env: first.options.env.clone(),
        emulator_port: args.emulator_port,
        temporal_port: args.temporal_port,
        function_timeout: args.function_timeout,
        concurrency: args.concurrency,
        iam_endpoint: args.iam_endpoint.clone(),
        ui,
        tls: args.tls,
        fidelity: args.fidelity,
        memory_mb: args.memory_mb,
        arch: args.arch,
        managed_instances: args
            .managed_instances
            .then_some(local_rig::ManagedInstances {
                max_concurrency: args.max_concurrency,
                environments: args.environments,
            }),
        dynamic_config: if args.fast_drainage {
            local_rig::FAST_DRAINAGE
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            Vec::new()
        },
        ..local_rig::RigOptions::for_crate(
            local_rig::tool_root(),
            state_dir,
            &first.options.function_name,
        )
    }
}

/// A fixed port must be free on 127.0.0.1 (0: any free port is chosen later).
fn port_free(port: u16, flag: &str) -> anyhow::Result<()> {
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "127.0.0.1:{port} is in use: stop what listens there, or pass another {flag} (omit it for any free port)"
        ),
        Err(e) => anyhow::bail!(
            "127.0.0.1:{port} cannot be bound ({e}): pass another {flag} (omit it for any free port)"
        ),
    }
}

/// Stops the emulator first, quietly (invocations the server queued after the last workflow
/// are not failures), then the dev server.
pub(crate) async fn stop(rig: Rig) {
    rig.emulator.shutdown().await;
    drop(rig.server);
}

impl RigArgs {
    fn worker_source(&self) -> local_rig::WorkerSource {
        local_rig::WorkerSource {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin: Some(self.bin.clone()),
            release: self.release,
        }
    }

    /// The function timeout.
    pub(crate) fn function_timeout(&self) -> Duration {
        self.function_timeout
    }
}

/// The rig as `local up -o json` prints it (and `local watch`'s `ready` event): the
/// environment for other tools, the first function's version, every function, the fidelity.
pub(crate) fn rig_json(rig: &Rig) -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = rig
        .tool_env()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let f = rig.function();
    serde_json::json!({
        "env": env,
        "api_key_file": rig.tls.as_ref().map(|t| t.api_key_file.display().to_string()),
        "temporal_ui": rig.server.ui_url(),
        "function_arn": f.function_arn,
        "role_arn": rig.role_arn,
        "external_id": rig.external_id,
        "deployment_name": f.deployment_name,
        "build_id": f.build_id,
        "task_queue": f.task_queue,
        "workflow_types": f.workflow_types,
        "functions": rig.functions,
        "fidelity": rig.emulator.fidelity().to_string(),
        "memory_mb": rig.memory_mb,
        "architecture": rig.arch,
        "managed_instances": rig.managed_instances.map(|m| serde_json::json!({
            "capacity_provider_arn": local_rig::ManagedInstances::CAPACITY_PROVIDER_ARN,
            "max_concurrency": m.max_concurrency,
            "environments": m.environments,
        })),
    })
}

/// What other tools need to use the rig, ready to copy.
fn rig_summary(rig: &Rig, workflow_type: &str) -> String {
    let mut s = String::from("\nLocal serverless rig is up:\n");
    for (k, v) in rig.tool_env() {
        s.push_str(&format!("  export {k}={v}\n"));
    }
    if let Some(t) = &rig.tls {
        s.push_str(&format!(
            "  export TEMPORAL_API_KEY=\"$(cat {})\"\n",
            t.api_key_file.display()
        ));
    }
    if let Some(ui) = rig.server.ui_url() {
        s.push_str(&format!("  Temporal UI      {ui}\n"));
    }
    if Some(rig.arch) != temporal_lambda_package::Arch::host() {
        s.push_str(&format!(
            "  architecture     {} (under qemu user-mode emulation: timings are emulated)\n",
            rig.arch
        ));
    }
    match rig.managed_instances {
        None => s.push_str(&format!(
            "  fidelity         {} ({} MB: {:.3} vCPU)\n",
            rig.emulator.fidelity(),
            rig.memory_mb,
            f64::from(temporal_lambda_emulator::cpu_millis(rig.memory_mb)) / 1000.0
        )),
        Some(m) => s.push_str(&format!(
            "  fidelity         {} (Lambda Managed Instances: {} MB, {} vCPU per environment)\n  \
             environments     {} per version, up to {} invocations at once in each\n",
            rig.emulator.fidelity(),
            local_rig::ManagedInstances::memory_mb(rig.memory_mb),
            local_rig::ManagedInstances::vcpus(rig.memory_mb),
            m.environments,
            m.max_concurrency
        )),
    }
    for (i, f) in rig.functions.iter().enumerate() {
        // Each function's version is made current as it is deployed: the last one of a
        // deployment is the current one.
        let superseded = rig.functions[i + 1..]
            .iter()
            .any(|later| later.deployment_name == f.deployment_name);
        s.push_str(&format!(
            "  function         {}\n  deployment       {} ({})\n  task queue       {}\n",
            f.function_arn,
            f.version(),
            if superseded {
                "registered; a later build is current"
            } else {
                "current"
            },
            f.task_queue,
        ));
    }
    s.push_str(&format!(
        "  invocation role  {} (external ID {})\n",
        rig.role_arn, rig.external_id
    ));
    s.push_str(&format!(
        "  start one:       temporal workflow start --address {} --task-queue {} --type {workflow_type} --input '\"you\"'\n",
        rig.temporal_address(),
        rig.function().task_queue
    ));
    s
}
