//! Rendering shared by the commands: spinners on a terminal, text or JSON reports.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::Output;

/// A spinner on stderr for a long step; hidden in JSON mode and when stderr is not a terminal.
pub fn spinner(output: Output, msg: &str) -> ProgressBar {
    if output == Output::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Progress for steps that take minutes: the spinner on a terminal, else (text mode) one
/// `==> step` line on stderr per step, so a log or CI run shows where it is.
pub fn stepper(output: Output, pb: &ProgressBar) -> impl Fn(&str) + Sync + '_ {
    let lines = output == Output::Text && pb.is_hidden();
    move |m: &str| {
        if lines {
            eprintln!("==> {m}");
        }
        pb.set_message(m.to_string())
    }
}

/// Prints the report: pretty JSON, or the text `text` renders.
pub fn emit<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).expect("reports serialize")
        ),
        Output::Text => println!("{}", text()),
    }
}

/// Prints a dry run's calls.
pub fn print_plan(output: Output, steps: &[String]) {
    emit(
        output,
        &serde_json::json!({ "dry_run": true, "calls": steps }),
        || {
            let mut s = String::from("Dry run: these calls would be made (none was):\n");
            for (i, c) in steps.iter().enumerate() {
                s.push_str(&format!("{:>2}. {c}\n", i + 1));
            }
            s.trim_end().to_string()
        },
    );
}
