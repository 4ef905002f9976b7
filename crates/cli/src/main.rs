//! `temporal-lambda`: Temporal-side commands for Temporal Serverless Workers on AWS Lambda.
//! Parses, sets up logging and dispatches to [`temporal_lambda_cli::commands`].

use clap::Parser as _;
use temporal_lambda_cli::commands::{self, Cli, Output};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let output = cli.output;
    match commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            if output == Output::Json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
