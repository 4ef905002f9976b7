//! `temporal-lambda set-current`: route new workflows to a version.

use crate::connect::ConnectArgs;
use crate::deployment::{self, SetCurrentOptions, SetCurrentReport};

use super::args::VersionArgs;
use super::ui::emit;
use super::Output;

/// Make a version the current version of its deployment.
#[derive(Debug, clap::Args)]
pub struct SetCurrentArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    version: VersionArgs,
    /// Set current even if no worker has polled this version yet.
    #[arg(long)]
    allow_no_pollers: bool,
    /// Set current even if task queues of the current version are not polled by this one.
    #[arg(long)]
    ignore_missing_task_queues: bool,
}

/// Runs `set-current`.
pub async fn run(output: Output, args: SetCurrentArgs) -> anyhow::Result<()> {
    let c = args.conn.connect().await?;
    let report = deployment::set_current(
        &c,
        &SetCurrentOptions {
            namespace: args.conn.namespace.clone(),
            deployment_name: args.version.deployment_name,
            build_id: args.version.build_id,
            allow_no_pollers: args.allow_no_pollers,
            ignore_missing_task_queues: args.ignore_missing_task_queues,
        },
    )
    .await?;
    emit(output, &report, || set_current_text(&report));
    Ok(())
}

/// One line saying what set-current did.
pub fn set_current_text(r: &SetCurrentReport) -> String {
    if r.already_current {
        format!("{} is already the current version.", r.version)
    } else {
        format!(
            "{} is now the current version (previous: {}).",
            r.version,
            r.previous_build_id.as_deref().unwrap_or("unversioned")
        )
    }
}
