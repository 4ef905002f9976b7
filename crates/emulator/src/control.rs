//! Lambda control plane (REST-JSON, `/2015-03-31/functions…`): create, update, publish, get, list, delete,
//! function concurrency, and the asynchronous invocation settings
//! (`/2019-09-25/functions/{name}/event-invoke-config`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::arn::FunctionRef;
use crate::code;
use crate::http_error::ApiError;
use crate::service;
use crate::state::Inner;
use crate::store::{
    event_invoke_key, AsyncSettings, ConfigPatch, EventInvokePatch, NewFunction,
    StoredEventInvokeConfig,
};

type Q = Query<HashMap<String, String>>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentInput {
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeInput {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFunctionRequest {
    function_name: Option<String>,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    code: Option<CodeInput>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<EnvironmentInput>,
    architectures: Option<Vec<String>>,
    capacity_provider_config: Option<CapacityProviderConfigInput>,
    #[serde(default)]
    publish: bool,
}

/// `CapacityProviderConfig` as a request carries it (its member may be null: a validation error).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CapacityProviderConfigInput {
    lambda_managed_instances_capacity_provider_config:
        Option<crate::model::LambdaManagedInstancesCapacityProviderConfig>,
}

/// The Lambda Managed Instances settings of a request, if it has a `CapacityProviderConfig`.
fn managed_instances_input(
    input: Option<CapacityProviderConfigInput>,
) -> Result<Option<crate::model::LambdaManagedInstancesCapacityProviderConfig>, ApiError> {
    let Some(input) = input else {
        return Ok(None);
    };
    input
        .lambda_managed_instances_capacity_provider_config
        .map(Some)
        .ok_or_else(|| {
            ApiError::validation(
                "1 validation error detected: Value null at \
                 'capacityProviderConfig.lambdaManagedInstancesCapacityProviderConfig' failed to satisfy \
                 constraint: Member must not be null (give CapacityProviderArn, and optionally \
                 PerExecutionEnvironmentMaxConcurrency and ExecutionEnvironmentMemoryGiBPerVCpu)",
            )
        })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeRequest {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
    #[serde(default)]
    publish: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfigRequest {
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<EnvironmentInput>,
    capacity_provider_config: Option<CapacityProviderConfigInput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishRequest {
    description: Option<String>,
    code_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyRequest {
    reserved_concurrent_executions: Option<u32>,
}

fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_required(body)
}

fn parse_required<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    })
}

/// Parses the `{name}` path segment (already URL-decoded) plus an optional `Qualifier`.
pub(crate) fn function_ref(
    inner: &Inner,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<FunctionRef, ApiError> {
    Ok(service::resolve(
        inner,
        name,
        query.get("Qualifier").map(String::as_str),
    )?)
}

fn unsupported_code(s3: bool, image: bool) -> Option<ApiError> {
    (s3 || image).then(|| {
        ApiError::invalid(
            "The emulator accepts code only as Code.ZipFile (base64 zip bytes): S3 locations and container images are not supported",
        )
    })
}

async fn prepare_zip(
    inner: &Arc<Inner>,
    name: &str,
    b64: String,
) -> Result<code::PreparedCode, ApiError> {
    let data_dir = inner.config.data_dir.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || code::from_zip_base64(&data_dir, &name, &b64))
        .await
        .map_err(|e| ApiError::internal(format!("unzip task failed: {e}")))?
        .map_err(ApiError::from)
}

pub(crate) async fn create_function(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateFunctionRequest = parse_required(&body)?;
    let name = req.function_name.ok_or_else(|| {
        ApiError::validation("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
    })?;
    let r = service::resolve(&inner, &name, None)?;
    if r.qualifier.is_some() {
        return Err(ApiError::invalid(format!(
            "FunctionName '{name}' must not have a qualifier in CreateFunction"
        )));
    }
    let code = req.code.unwrap_or_default();
    if let Some(e) = unsupported_code(code.s3_bucket.is_some(), code.image_uri.is_some()) {
        return Err(e);
    }
    let zip = code.zip_file.ok_or_else(|| {
        ApiError::invalid(format!("Code.ZipFile is required to create function {} (base64 of a zip with 'bootstrap' at its root)", r.name))
    })?;
    if inner
        .store
        .lock()
        .expect("store lock")
        .state
        .functions
        .contains_key(&r.name)
    {
        // Checked before the (slow) unzip too; `service::create_function` checks again.
        return Err(ApiError::conflict(format!(
            "Function already exist: {} (update it with UpdateFunctionCode/UpdateFunctionConfiguration, or delete it first)",
            r.name
        )));
    }
    let prepared = prepare_zip(&inner, &r.name, zip).await?;
    let nf = NewFunction {
        name: r.name.clone(),
        runtime: req.runtime,
        role: req.role,
        handler: req.handler,
        description: req.description,
        timeout: req.timeout,
        memory_size: req.memory_size,
        env: req.environment.and_then(|e| e.variables),
        architectures: req.architectures,
        capacity_provider: managed_instances_input(req.capacity_provider_config)?,
    };
    let config = service::create_function(&inner, nf, prepared, req.publish, None)?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

pub(crate) async fn list_functions(State(inner): State<Arc<Inner>>) -> Response {
    let store = inner.store.lock().expect("store lock");
    let fns: Vec<_> = store
        .state
        .functions
        .values()
        .map(|f| f.latest.config.clone())
        .collect();
    Json(json!({ "Functions": fns })).into_response()
}

pub(crate) async fn get_function(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    let store = inner.store.lock().expect("store lock");
    let v = store.resolve(&r)?;
    let f = store.function(&r.name)?;
    let mut out = json!({
        "Configuration": v.config,
        "Code": { "RepositoryType": "S3", "Location": format!("file://{}", v.code_dir.display()) },
        "Tags": {},
    });
    if let Some(n) = f.reserved_concurrency {
        out["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Json(out).into_response())
}

pub(crate) async fn get_configuration(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    let store = inner.store.lock().expect("store lock");
    Ok(Json(store.resolve(&r)?.config.clone()).into_response())
}

fn unqualified(inner: &Inner, name: &str, op: &str) -> Result<String, ApiError> {
    let r = service::resolve(inner, name, None)?;
    match r.qualifier.as_deref() {
        None | Some("$LATEST") => Ok(r.name),
        Some(q) => Err(ApiError::invalid(format!(
            "{op} applies to $LATEST: remove the qualifier ':{q}' from '{name}'"
        ))),
    }
}

pub(crate) async fn update_code(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "UpdateFunctionCode")?;
    let req: UpdateCodeRequest = parse_required(&body)?;
    if let Some(e) = unsupported_code(req.s3_bucket.is_some(), req.image_uri.is_some()) {
        return Err(e);
    }
    let zip = req.zip_file.ok_or_else(|| {
        ApiError::invalid("ZipFile is required (base64 of a zip with 'bootstrap' at its root)")
    })?;
    inner.store.lock().expect("store lock").function(&name)?;
    let prepared = prepare_zip(&inner, &name, zip).await?;
    let config = service::update_code(&inner, &name, prepared, req.publish)?;
    Ok(Json(config).into_response())
}

pub(crate) async fn update_configuration(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "UpdateFunctionConfiguration")?;
    let req: UpdateConfigRequest = parse_body(&body)?;
    let patch = ConfigPatch {
        runtime: req.runtime,
        role: req.role,
        handler: req.handler,
        description: req.description,
        timeout: req.timeout,
        memory_size: req.memory_size,
        env: req.environment.map(|e| e.variables.unwrap_or_default()),
        capacity_provider: managed_instances_input(req.capacity_provider_config)?,
    };
    let config = service::update_configuration(&inner, &name, patch)?;
    Ok(Json(config).into_response())
}

pub(crate) async fn publish_version(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "PublishVersion")?;
    let req: PublishRequest = parse_body(&body)?;
    let config =
        service::publish_version(&inner, &name, req.description, req.code_sha256.as_deref())?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

pub(crate) async fn list_versions(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "ListVersionsByFunction")?;
    let versions = inner
        .store
        .lock()
        .expect("store lock")
        .list_versions(&name)?;
    Ok(Json(json!({ "Versions": versions })).into_response())
}

pub(crate) async fn delete_function(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let r = service::resolve(&inner, &name, q.get("Qualifier").map(String::as_str))?;
    service::delete(&inner, &r)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn put_concurrency(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "PutFunctionConcurrency")?;
    let req: ConcurrencyRequest = parse_required(&body)?;
    let n = req.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::validation("1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
    })?;
    service::set_concurrency(&inner, &name, Some(n))?;
    Ok(Json(json!({ "ReservedConcurrentExecutions": n })).into_response())
}

pub(crate) async fn delete_concurrency(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "DeleteFunctionConcurrency")?;
    service::set_concurrency(&inner, &name, None)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn get_concurrency(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "GetFunctionConcurrency")?;
    let store = inner.store.lock().expect("store lock");
    let out = match store.function(&name)?.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(Json(out).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EventInvokeConfigRequest {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<serde_json::Value>,
}

/// The emulator delivers no async results to destinations: a `DestinationConfig` naming one
/// is refused rather than silently ignored (empty `OnSuccess`/`OnFailure` are fine).
fn check_destinations(d: Option<&serde_json::Value>) -> Result<(), ApiError> {
    let Some(d) = d.filter(|d| !d.is_null()) else {
        return Ok(());
    };
    let obj = d.as_object().ok_or_else(|| {
        ApiError::invalid(
            "DestinationConfig must be an object {\"OnSuccess\": {…}, \"OnFailure\": {…}}",
        )
    })?;
    for (k, v) in obj {
        let set = v
            .get("Destination")
            .is_some_and(|x| !x.is_null() && x.as_str() != Some(""));
        if set {
            return Err(ApiError::invalid(format!(
                "DestinationConfig.{k}.Destination is not supported: the emulator does not deliver asynchronous \
                 invocation results to destinations; remove DestinationConfig (MaximumRetryAttempts and \
                 MaximumEventAgeInSeconds are supported)"
            )));
        }
    }
    Ok(())
}

/// A `FunctionEventInvokeConfig` as Lambda returns it (unset fields show Lambda's defaults).
fn event_invoke_json(
    inner: &Inner,
    r: &FunctionRef,
    c: &StoredEventInvokeConfig,
) -> serde_json::Value {
    let d = AsyncSettings::default();
    json!({
        "LastModified": c.last_modified_ms as f64 / 1000.0,
        "FunctionArn": format!("{}:{}", inner.function_arn(&r.name), event_invoke_key(r.qualifier.as_deref())),
        "MaximumRetryAttempts": c.maximum_retry_attempts.unwrap_or(d.max_retries),
        "MaximumEventAgeInSeconds": c.maximum_event_age_in_seconds.unwrap_or(d.max_event_age_s),
        "DestinationConfig": { "OnSuccess": {}, "OnFailure": {} },
    })
}

async fn put_or_update_event_invoke_config(
    inner: Arc<Inner>,
    name: String,
    q: HashMap<String, String>,
    body: Bytes,
    replace: bool,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    let req: EventInvokeConfigRequest = parse_body(&body)?;
    check_destinations(req.destination_config.as_ref())?;
    let patch = EventInvokePatch {
        maximum_retry_attempts: req.maximum_retry_attempts,
        maximum_event_age_in_seconds: req.maximum_event_age_in_seconds,
    };
    let c = inner
        .store
        .lock()
        .expect("store lock")
        .put_event_invoke_config(&r, patch, replace)?;
    tracing::info!(function = %r.name, qualifier = ?r.qualifier, maximum_retry_attempts = ?c.maximum_retry_attempts,
        maximum_event_age_in_seconds = ?c.maximum_event_age_in_seconds, "event invoke config set");
    Ok(Json(event_invoke_json(&inner, &r, &c)).into_response())
}

/// `PutFunctionEventInvokeConfig`: replaces the config (fields not given are reset).
pub(crate) async fn put_event_invoke_config(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_update_event_invoke_config(inner, name, q, body, true).await
}

/// `UpdateFunctionEventInvokeConfig`: changes only the given fields (creating the config if needed).
pub(crate) async fn update_event_invoke_config(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_update_event_invoke_config(inner, name, q, body, false).await
}

/// `GetFunctionEventInvokeConfig`.
pub(crate) async fn get_event_invoke_config(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    let c = inner
        .store
        .lock()
        .expect("store lock")
        .event_invoke_config(&r)?;
    Ok(Json(event_invoke_json(&inner, &r, &c)).into_response())
}

/// `DeleteFunctionEventInvokeConfig`.
pub(crate) async fn delete_event_invoke_config(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    inner
        .store
        .lock()
        .expect("store lock")
        .delete_event_invoke_config(&r)?;
    tracing::info!(function = %r.name, qualifier = ?r.qualifier, "event invoke config deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `ListFunctionEventInvokeConfigs`: the function's configs (all qualifiers).
pub(crate) async fn list_event_invoke_configs(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = unqualified(&inner, &name, "ListFunctionEventInvokeConfigs")?;
    let store = inner.store.lock().expect("store lock");
    let configs: Vec<_> = store
        .function(&name)?
        .event_invoke_configs
        .iter()
        .map(|(q, c)| {
            let r = FunctionRef {
                name: name.clone(),
                qualifier: Some(q.clone()),
            };
            event_invoke_json(&inner, &r, c)
        })
        .collect();
    Ok(Json(json!({ "FunctionEventInvokeConfigs": configs })).into_response())
}
