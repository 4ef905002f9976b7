//! `temporal-lambda package`: build for provided.al2023 and zip deterministically.

use std::path::PathBuf;

use super::args::BuildArgs;
use super::ui::{emit, spinner};
use super::Output;

/// Build the worker for Lambda (provided.al2023, glibc 2.34) and zip it deterministically.
#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Output zip.
    #[arg(long, short = 'O', default_value = "target/lambda/function.zip")]
    out: PathBuf,
}

/// Runs `package`.
pub fn run(output: Output, args: PackageArgs) -> anyhow::Result<()> {
    let PackageArgs { build, out } = args;
    let opts = build.options();
    let pb = spinner(output, "building");
    let text = output == Output::Text;
    let res = temporal_lambda_package::build(&opts, &mut |line| {
        if text && pb.is_hidden() && (line.starts_with("running") || line.starts_with("Finished")) {
            eprintln!("==> {line}");
        }
        pb.set_message(line.to_string())
    });
    pb.finish_and_clear();
    let bin = res?;
    // What was built is what was asked for (a builder named by TEMPORAL_LAMBDA_ARM64_CARGO, or a
    // cargo config that overrides the target, could produce another).
    let mut header = Vec::with_capacity(64);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&bin)?, 64),
        &mut header,
    )?;
    let built = temporal_lambda_package::executable_arch(&header)?;
    anyhow::ensure!(
        built == opts.arch,
        "{} is built for {built}, not {}: check the builder (TEMPORAL_LAMBDA_ARM64_CARGO) and any \
         `build.target` in your cargo config",
        bin.display(),
        opts.arch
    );
    let glibc =
        temporal_lambda_package::check_glibc(&bin, temporal_lambda_package::max_glibc(opts.arch))?;
    let z = temporal_lambda_package::zip_bootstrap(&bin, &build.include, &out)?;
    let report = serde_json::json!({
        "zip": z,
        "binary": bin,
        "binary_size": std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0),
        "arch": opts.arch.lambda_name(),
        "newest_glibc_needed": glibc.map(|g| g.to_string()),
    });
    emit(output, &report, || {
        format!(
            "{} {} bytes ({:.1} MB), CodeSha256 {}\n  bootstrap: {} ({}); newest glibc symbol version it needs: {} (Lambda provided.al2023 has 2.34)",
            z.path.display(),
            z.size,
            z.size as f64 / 1e6,
            z.code_sha256,
            bin.display(),
            opts.arch.lambda_name(),
            glibc.map(|g| g.to_string()).unwrap_or_else(|| "none (static)".into())
        )
    });
    Ok(())
}
