//! The Lambda service as it performs each call, with no HTTP types: name resolution, the
//! control plane (each operation changes the store and tells the scheduler, in one place) and
//! Invoke (fault knob, payload limits, JSON check, then the scheduler's queue). Every failure is
//! an [`EmulatorError`]. The HTTP adapters (`control`, `invoke`) and [`crate::EmulatorHandle`]
//! both call these, so they cannot drift apart.

use std::sync::Arc;

use bytes::Bytes;

use crate::arn::{merge_qualifier, parse_function_ref, FunctionRef};
use crate::code::PreparedCode;
use crate::error::EmulatorError;
use crate::model::{FunctionConfiguration, InvocationType};
use crate::scheduler;
use crate::state::Inner;
use crate::store::{ConfigPatch, NewFunction};

/// A function name, `name:qualifier` or (qualified) ARN of this emulator's region and account,
/// with an optional explicit `Qualifier` that must agree with the one in the name.
pub(crate) fn resolve(
    inner: &Inner,
    name_or_arn: &str,
    qualifier: Option<&str>,
) -> Result<FunctionRef, EmulatorError> {
    let r = parse_function_ref(name_or_arn, &inner.config.region, &inner.config.account_id)?;
    merge_qualifier(r, qualifier)
}

/// CreateFunction: refuses an existing name; on failure the prepared code dir is removed.
pub(crate) fn create_function(
    inner: &Arc<Inner>,
    nf: NewFunction,
    code: PreparedCode,
    publish: bool,
    reserved_concurrency: Option<u32>,
) -> Result<FunctionConfiguration, EmulatorError> {
    let name = nf.name.clone();
    let (code_dir, owned) = (code.code_dir.clone(), code.owned);
    let res = {
        let mut store = inner.store.lock().expect("store lock");
        if store.state.functions.contains_key(&name) {
            Err(EmulatorError::Conflict(format!(
                "Function already exist: {name} (update it with UpdateFunctionCode/UpdateFunctionConfiguration, or delete it first)"
            )))
        } else {
            store.create(nf, code, publish).and_then(|config| {
                if reserved_concurrency.is_some() {
                    store.set_concurrency(&name, reserved_concurrency)?;
                }
                Ok(config)
            })
        }
    };
    match res {
        Ok(config) => {
            if let Some(n) = reserved_concurrency {
                scheduler::set_limit(inner, &name, n);
            }
            tracing::info!(function = %config.function_name, code_sha256 = %config.code_sha256, "function created");
            Ok(config)
        }
        Err(e) => {
            if owned {
                let _ = std::fs::remove_dir_all(code_dir);
            }
            Err(e)
        }
    }
}

/// UpdateFunctionCode: idle sandboxes of the old `$LATEST` are retired.
pub(crate) fn update_code(
    inner: &Arc<Inner>,
    name: &str,
    code: PreparedCode,
    publish: bool,
) -> Result<FunctionConfiguration, EmulatorError> {
    let config = inner
        .store
        .lock()
        .expect("store lock")
        .update_code(name, code, publish)?;
    scheduler::latest_updated(inner, name, &config.revision_id);
    tracing::info!(function = %name, code_sha256 = %config.code_sha256, "function code updated");
    Ok(config)
}

/// UpdateFunctionConfiguration (with `patch` already merged as the caller wants).
pub(crate) fn update_configuration(
    inner: &Arc<Inner>,
    name: &str,
    patch: ConfigPatch,
) -> Result<FunctionConfiguration, EmulatorError> {
    let config = inner
        .store
        .lock()
        .expect("store lock")
        .update_config(name, patch)?;
    scheduler::latest_updated(inner, name, &config.revision_id);
    Ok(config)
}

/// Adds or replaces environment variables of `$LATEST` (UpdateFunctionConfiguration with the
/// merged `Environment`), under one store lock.
pub(crate) fn merge_environment(
    inner: &Arc<Inner>,
    name: &str,
    vars: &[(String, String)],
) -> Result<FunctionConfiguration, EmulatorError> {
    let config = {
        let mut store = inner.store.lock().expect("store lock");
        let mut env = store.function(name)?.latest.config.env_vars();
        for (k, v) in vars {
            env.insert(k.clone(), v.clone());
        }
        store.update_config(
            name,
            ConfigPatch {
                env: Some(env),
                ..Default::default()
            },
        )?
    };
    scheduler::latest_updated(inner, name, &config.revision_id);
    Ok(config)
}

/// PublishVersion; with `code_sha256`, only if `$LATEST` still has that code.
pub(crate) fn publish_version(
    inner: &Arc<Inner>,
    name: &str,
    description: Option<String>,
    code_sha256: Option<&str>,
) -> Result<FunctionConfiguration, EmulatorError> {
    let mut store = inner.store.lock().expect("store lock");
    if let Some(sha) = code_sha256 {
        let current = &store.function(name)?.latest.config.code_sha256;
        if current != sha {
            return Err(EmulatorError::InvalidParameter(format!(
                "CodeSha256 ({sha}) is different from current CodeSha256 in $LATEST ({current}). Please try again with the CodeSha256 in $LATEST."
            )));
        }
    }
    let config = store.publish(name, description)?;
    tracing::info!(function = %name, version = %config.version, "version published");
    Ok(config)
}

/// Put (`Some`) or DeleteFunctionConcurrency (`None`: the account default applies).
pub(crate) fn set_concurrency(
    inner: &Arc<Inner>,
    name: &str,
    limit: Option<u32>,
) -> Result<(), EmulatorError> {
    inner
        .store
        .lock()
        .expect("store lock")
        .set_concurrency(name, limit)?;
    scheduler::set_limit(
        inner,
        name,
        limit.unwrap_or(inner.config.default_concurrency),
    );
    Ok(())
}

/// DeleteFunction (a whole function, or one version): its queued invocations fail, its idle
/// sandboxes stop, its code is removed.
pub(crate) fn delete(inner: &Arc<Inner>, r: &FunctionRef) -> Result<(), EmulatorError> {
    let removed_root = inner
        .store
        .lock()
        .expect("store lock")
        .delete(&r.name, r.qualifier.as_deref())?;
    scheduler::function_deleted(inner, &r.name, r.qualifier.as_deref());
    if let Some(root) = removed_root {
        let _ = std::fs::remove_dir_all(root);
    }
    tracing::info!(function = %r.name, qualifier = ?r.qualifier, "deleted");
    Ok(())
}

const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// The ARN the runtime sees as `Lambda-Runtime-Invoked-Function-Arn` (qualified if the caller
/// qualified it).
pub(crate) fn invoked_arn(inner: &Inner, r: &FunctionRef) -> String {
    match &r.qualifier {
        Some(q) => format!("{}:{q}", inner.function_arn(&r.name)),
        None => inner.function_arn(&r.name),
    }
}

/// An empty payload becomes `{}` (as Lambda delivers it); anything else must be JSON.
pub(crate) fn normalize_payload(body: &[u8]) -> Result<Bytes, EmulatorError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| {
        EmulatorError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
    })?;
    Ok(Bytes::copy_from_slice(body))
}

/// Invoke as the Lambda service takes it: the fault knob, the payload limits (6 MB
/// synchronous, 1 MB `Event`), the JSON check, then the queue. `kind` `None` is a `DryRun`
/// (checks only; answers the version that would run).
pub(crate) fn invoke(
    inner: &Arc<Inner>,
    r: FunctionRef,
    kind: Option<InvocationType>,
    body: &[u8],
) -> Result<Accepted, EmulatorError> {
    if inner.faults.lock().expect("faults lock").reject_invoke() {
        tracing::warn!(function = %r.name, "fault injected: Invoke refused with ServiceException");
        return Err(EmulatorError::Service(
            "The AWS Lambda service encountered an internal error (injected by the emulator's fault settings)"
                .into(),
        ));
    }
    let limit = if kind == Some(InvocationType::Event) {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    if body.len() > limit {
        return Err(EmulatorError::RequestTooLarge(format!(
            "Request must be smaller than {limit} bytes for the Invoke operation"
        )));
    }
    let payload = normalize_payload(body)?;
    let arn = invoked_arn(inner, &r);
    let Some(kind) = kind else {
        let version = inner
            .store
            .lock()
            .expect("store lock")
            .resolve_invoke(&r)?
            .config
            .version
            .clone();
        return Ok(Accepted::DryRun { version });
    };
    scheduler::submit(inner, r, arn, payload, kind).map(Accepted::Queued)
}

/// What [`invoke`] did.
pub(crate) enum Accepted {
    /// Queued; a synchronous call has a reply channel.
    Queued(scheduler::Submitted),
    /// A `DryRun`: nothing queued.
    DryRun {
        /// The version that would run.
        version: String,
    },
}
