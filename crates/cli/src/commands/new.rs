//! `temporal-lambda new`: scaffold a worker crate.

use std::path::{Path, PathBuf};

use crate::scaffold::{self, NewOptions, ToolkitSource};

use super::ui::emit;
use super::Output;

/// Create a new worker crate: run_worker in main, one workflow + one activity, a local-rig
/// test, a commented temporal.toml example and a README with the next commands.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Directory to create (must not exist or be empty; nothing is overwritten).
    path: PathBuf,
    /// Crate name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
    /// Worker Deployment name (default: the crate name).
    #[arg(long)]
    deployment_name: Option<String>,
    /// Build ID.
    #[arg(long, default_value = "build-1")]
    build_id: String,
    /// Task queue (default: the crate name).
    #[arg(long)]
    task_queue: Option<String>,
    /// Take temporal-lambda-worker / -testing from this checkout of the toolkit (default:
    /// the checkout this binary was built from, while the crates are not on crates.io).
    #[arg(long, conflicts_with_all = ["toolkit_git", "crates_io"])]
    toolkit_path: Option<PathBuf>,
    /// Take them from this git URL (`URL#REV` pins a revision).
    #[arg(long, conflicts_with = "crates_io")]
    toolkit_git: Option<String>,
    /// Take them from crates.io.
    #[arg(long)]
    crates_io: bool,
    /// Lambda architecture the project's commands build and deploy for: x86_64 or arm64
    /// (Graviton).
    #[arg(long, default_value = "x86_64", value_parser = super::args::parse_arch)]
    arch: temporal_lambda_package::Arch,
}

/// Runs `new`.
pub fn run(output: Output, args: NewArgs) -> anyhow::Result<()> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .filter(|r| r.join("crates/lambda-worker/Cargo.toml").is_file());
    let toolkit = match (args.toolkit_path, args.toolkit_git, args.crates_io, built_from) {
        (Some(p), _, _, _) => ToolkitSource::Path(std::fs::canonicalize(&p).unwrap_or(p)),
        (_, Some(g), _, _) => ToolkitSource::Git(g),
        (_, _, true, _) => ToolkitSource::CratesIo,
        (_, _, _, Some(r)) => ToolkitSource::Path(r),
        _ => anyhow::bail!(
            "the temporal-lambda crates are not on crates.io yet and this binary's checkout is gone: pass --toolkit-path <checkout> or --toolkit-git <url>"
        ),
    };
    let r = scaffold::new_project(&NewOptions {
        path: args.path,
        crate_name: args.name,
        deployment_name: args.deployment_name,
        build_id: args.build_id,
        task_queue: args.task_queue,
        toolkit: toolkit.clone(),
        arch: args.arch,
    })?;
    emit(output, &r, || {
        format!(
            "Created {} ({}) — deployment version {}:{}, task queue {}\nToolkit crates from {}.\n\nNext:\n  cd {}\n  temporal-lambda local demo   # the server invokes your function on the local rig\n  temporal-lambda local watch  # keep it running; redeploys on every change\n  cargo test                   # tests/local_rig.rs does the same from a test",
            r.crate_name,
            r.path.display(),
            r.deployment_name,
            r.build_id,
            r.task_queue,
            match &toolkit {
                ToolkitSource::CratesIo => "crates.io".to_string(),
                ToolkitSource::Path(p) => p.display().to_string(),
                ToolkitSource::Git(g) => g.clone(),
            },
            r.path.display()
        )
    });
    Ok(())
}
