//! The deployment's other versions: `versions-invocable` (every version that still gets tasks
//! — current, ramping, draining, or with open pinned workflows — still has its Lambda version)
//! and `ramping-healthy` (the ramping version's function logs no errors).

use super::facts::{DeploymentFacts, Facts, NOT_CHECKED};
use super::Verdict;

/// The deployment as the checks see it.
enum Deployment<'a> {
    /// Read.
    Read(&'a DeploymentFacts),
    /// Not there or not looked at: the skip.
    Skip(Verdict),
    /// Reading it failed: the message.
    Unreadable(&'a str),
}

fn deployment(f: &Facts) -> Deployment<'_> {
    match &f.deployment {
        Some(Ok(Some(d))) => Deployment::Read(d),
        Some(Ok(None)) => Deployment::Skip(Verdict::skip("no deployment")),
        Some(Err(e)) => Deployment::Unreadable(e),
        None => Deployment::Skip(Verdict::skip("needs Temporal and AWS credentials")),
    }
}

/// `versions-invocable`.
pub(super) fn versions_invocable(f: &Facts) -> Verdict {
    let d = match deployment(f) {
        Deployment::Read(d) => d,
        Deployment::Skip(skip) => return skip,
        Deployment::Unreadable(e) => return Verdict::warn(e, "check your permissions"),
    };
    let dep = &f.inputs.deployment_name;
    let used: Vec<_> = d
        .versions
        .iter()
        .filter_map(|v| Some((v, d.still_used(v)?)))
        .collect();
    let gone: Vec<String> = used
        .iter()
        .filter_map(|(v, why)| {
            let arn = v.missing_function.as_ref()?;
            Some(format!(
                "{dep}:{} invokes {arn}, which no longer exists, and {why}",
                v.build_id
            ))
        })
        .collect();
    if gone.is_empty() {
        Verdict::ok(format!(
            "the {} version(s) of {dep} that still get tasks have their Lambda versions",
            used.len()
        ))
    } else {
        Verdict::fail(
            gone.join("; "),
            "redeploy that build's code (temporal-lambda deploy) and `register --update` the build with the new ARN: its tasks stall until a function serves them",
        )
    }
}

/// `ramping-healthy`.
pub(super) fn ramping_healthy(f: &Facts) -> Verdict {
    let d = match deployment(f) {
        Deployment::Read(d) => d,
        Deployment::Skip(skip) => return skip,
        Deployment::Unreadable(_) => return Verdict::skip("cannot read the deployment"),
    };
    let dep = &f.inputs.deployment_name;
    let Some(r) = &d.ramping else {
        return Verdict::ok(format!("no version of {dep} is ramping"));
    };
    let Some(arn) = &d.ramping_function else {
        return Verdict::skip(format!("{dep}:{r} has no Lambda function"));
    };
    if crate::retire::split_function_arn(arn).is_none() {
        return Verdict::skip(format!("{arn} is not a Lambda function ARN"));
    }
    let minutes = f.inputs.log_window.as_secs() / 60;
    let pct = d.ramping_percentage;
    match &d.ramping_logs {
        Some(Ok(Some(a))) if a.errors > 0 => {
            let latest: Vec<&str> = a.latest_errors.iter().rev().map(String::as_str).collect();
            Verdict::fail(
                format!(
                    "{dep}:{r} gets {pct} % of new workflows, and {arn} logged {} error line(s) in {} invocation(s) in the last {minutes} min; latest: {}",
                    a.errors,
                    a.invocations,
                    latest.join(" | ")
                ),
                format!(
                    "temporal-lambda rollback --deployment-name {dep} (new workflows go back to {}), then fix the build and ramp it again",
                    d.current.as_deref().unwrap_or("the current build")
                ),
            )
        }
        Some(Ok(a)) => Verdict::ok(format!(
            "{dep}:{r} is ramping ({pct} %); {arn} logged no errors in {} invocation(s) in the last {minutes} min",
            a.as_ref().map(|a| a.invocations).unwrap_or(0)
        )),
        Some(Err(e)) => Verdict::warn(
            e.clone(),
            "allow logs:FilterLogEvents to read the function's logs",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}
