//! STS (query protocol, `POST /` form-encoded): `AssumeRole` with external-id enforcement and
//! `GetCallerIdentity`. Issued `ASIA…` credentials are persisted and accepted by the Lambda API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthFailure, Caller};
use crate::model::AssumeRoleCall;
use crate::state::Inner;
use crate::store::{now_ms, IssuedCredential};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    resp
}

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let request_id = uuid::Uuid::new_v4();
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>",
            xml_escape(code),
            xml_escape(message)
        ),
    )
}

use crate::credentials::random_string;

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn iso8601(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `POST /` (or `GET /?Action=…`).
pub(crate) async fn handle(
    State(inner): State<Arc<Inner>>,
    caller: Option<axum::Extension<Caller>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let caller = caller.map(|axum::Extension(c)| c);
    let mut params: HashMap<String, String> = HashMap::new();
    if let Some(q) = uri.query() {
        params.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    params.extend(form_urlencoded::parse(&body).into_owned());
    let Some(action) = params.get("Action").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action: send a form-encoded STS request (Action=AssumeRole&Version=2011-06-15&…)",
        );
    };
    // Authenticated by the router's SigV4 layer, which put the caller here.
    let Some(caller) = caller else {
        let (status, code, msg) = AuthFailure::Missing.to_sts_error();
        return error(status, code, &msg);
    };
    let account = inner.config.account_id.clone();
    let caller_arn = {
        let store = inner.store.lock().expect("store lock");
        match store.state.credentials.get(&caller.access_key_id) {
            Some(c) => assumed_role_arn(&account, &c.role_arn, &c.role_session_name),
            None => format!("arn:aws:iam::{account}:user/emulator-user"),
        }
    };
    match action.as_str() {
        "AssumeRole" => {
            let iam_trust = match (&inner.config.iam_endpoint, params.get("RoleArn")) {
                (Some(ep), Some(role)) if !inner.store.lock().expect("store lock").state.roles.contains_key(role) => {
                    match iam_role_trust(ep, role).await {
                        Ok(t) => Some(t),
                        Err(e) => {
                            return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", &format!("reading role {role} from the IAM endpoint {ep}: {e}"))
                        }
                    }
                }
                _ => None,
            };
            assume_role(&inner, &params, &caller_arn, iam_trust)
        }
        "GetCallerIdentity" => {
            inner.sts.lock().expect("sts lock").get_caller_identity_calls += 1;
            xml(
                StatusCode::OK,
                format!(
                    "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId>\
                     <Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId>\
                     </ResponseMetadata></GetCallerIdentityResponse>",
                    xml_escape(&caller_arn),
                    xml_escape(&caller.access_key_id),
                    uuid::Uuid::new_v4()
                ),
            )
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15 (the emulator supports AssumeRole and GetCallerIdentity)"),
        ),
    }
}

fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

fn assumed_role_arn(account: &str, role_arn: &str, session: &str) -> String {
    format!(
        "arn:aws:sts::{account}:assumed-role/{}/{session}",
        role_name(role_arn)
    )
}

/// What an IAM endpoint says about a role: `None` if it does not exist, else the external IDs its
/// trust policy requires (empty: none required).
type IamTrust = Option<Vec<String>>;

async fn iam_role_trust(endpoint: &str, role_arn: &str) -> Result<IamTrust, String> {
    Ok(iam_trust_policy(endpoint, role_arn)
        .await?
        .map(|doc| crate::trust::external_ids_of(&doc)))
}

/// Reads `role_arn`'s trust policy from an IAM query endpoint (`GetRole`): `None` if the role
/// does not exist.
pub(crate) async fn iam_trust_policy(
    endpoint: &str,
    role_arn: &str,
) -> Result<Option<serde_json::Value>, String> {
    use http_body_util::{BodyExt, Full};
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "GetRole")
        .append_pair("Version", "2010-05-08")
        .append_pair("RoleName", name)
        .finish();
    let uri: axum::http::Uri = endpoint.parse().map_err(|e| format!("bad endpoint: {e}"))?;
    let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let req = axum::http::Request::post(uri)
        .header("host", host)
        .header("content-type", "application/x-www-form-urlencoded")
        // moto routes by the SigV4 credential scope; the signature is not checked.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAEMULATOR0000000/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("NoSuchEntity") {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let doc = between(
        &text,
        "<AssumeRolePolicyDocument>",
        "</AssumeRolePolicyDocument>",
    )
    .ok_or("no AssumeRolePolicyDocument in GetRole response")?;
    Ok(Some(crate::trust::parse_policy(doc)))
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// Mints temporary (`ASIA…`) credentials for `role_arn`, recorded so the emulator's APIs accept
/// them: `(access key id, secret key, session token, expiration ms)`.
fn issue(
    state: &mut crate::store::PersistedState,
    role_arn: &str,
    session: &str,
    duration_s: u64,
) -> (String, String, String, u64) {
    let now = now_ms();
    state.credentials.retain(|_, c| c.expiration_ms > now);
    let akid = format!("ASIA{}", random_string(16, UPPER));
    let secret = random_string(40, B64);
    let token = format!("IQoJb3JpZ2luX2VjE{}", random_string(300, B64));
    let expiration_ms = now + duration_s * 1000;
    state.credentials.insert(
        akid.clone(),
        IssuedCredential {
            secret_access_key: secret.clone(),
            session_token: token.clone(),
            expiration_ms,
            role_arn: role_arn.to_string(),
            role_session_name: session.to_string(),
        },
    );
    (akid, secret, token, expiration_ms)
}

/// Credentials for a sandbox, as Lambda gives one: the execution role's, in
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (at most 12 h, Lambda's
/// maximum session for a function; revoked with [`revoke`] when the sandbox ends), and only for
/// a role Lambda could assume ([`crate::trust::sandbox_role_refusal`]). `Err` says why none
/// were issued.
pub(crate) async fn sandbox_credentials(
    inner: &Inner,
    role_arn: &str,
    function_name: &str,
) -> Result<(String, String, String), String> {
    let policy = match &inner.config.iam_endpoint {
        Some(ep) => Some(
            iam_trust_policy(ep, role_arn)
                .await
                .map_err(|e| format!("reading role {role_arn} from the IAM endpoint {ep}: {e}"))?,
        ),
        None => None,
    };
    if let Some(why) =
        crate::trust::sandbox_role_refusal(role_arn, &inner.config.account_id, policy.as_ref())
    {
        return Err(why);
    }
    let mut store = inner.store.lock().expect("store lock");
    let (akid, secret, token, _) = issue(&mut store.state, role_arn, function_name, 12 * 3600);
    store
        .save()
        .map_err(|e| format!("saving the issued credentials: {e}"))?;
    Ok((akid, secret, token))
}

/// Forgets issued credentials (a sandbox's, when it has ended; the scheduler revoked them
/// already when the sandbox stopped being listed).
pub(crate) fn revoke(inner: &Inner, access_key_id: &str) {
    let mut store = inner.store.lock().expect("store lock");
    if store.state.credentials.remove(access_key_id).is_some() {
        if let Err(e) = store.save() {
            tracing::warn!("could not save the state after revoking sandbox credentials: {e}");
        }
    }
    drop(store);
    inner
        .revoked
        .lock()
        .expect("revoked lock")
        .remove(access_key_id);
}

fn assume_role(
    inner: &Arc<Inner>,
    params: &HashMap<String, String>,
    caller_arn: &str,
    iam_trust: Option<IamTrust>,
) -> Response {
    let role_arn = params.get("RoleArn").cloned().unwrap_or_default();
    let session = params.get("RoleSessionName").cloned().unwrap_or_default();
    let external_id = params.get("ExternalId").cloned();
    let duration_s = match assume_role_duration(params, &role_arn, &session) {
        Ok(d) => d,
        Err(message) => return error(StatusCode::BAD_REQUEST, "ValidationError", &message),
    };
    let mut store = inner.store.lock().expect("store lock");
    let granted = match store.state.roles.get(&role_arn) {
        None => match &iam_trust {
            Some(Some(required)) => {
                required.is_empty() || external_id.as_ref().is_some_and(|e| required.contains(e))
            }
            _ => false,
        },
        Some(role) => match &role.external_id {
            None => true,
            Some(required) => external_id.as_deref() == Some(required.as_str()),
        },
    };
    record_assume_role_call(inner, &role_arn, &session, &external_id, granted);
    if !granted {
        tracing::info!(%role_arn, external_id = external_id.is_some(), "AssumeRole denied");
        return error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!("User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
        );
    }
    let (akid, secret, token, expiration_ms) =
        issue(&mut store.state, &role_arn, &session, duration_s);
    if let Err(e) = store.save() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            &e.to_string(),
        );
    }
    drop(store);
    tracing::info!(%role_arn, %session, access_key_id = %akid, "AssumeRole granted");
    let account = &inner.config.account_id;
    let role_id = format!("AROA{}", random_string(17, UPPER));
    xml(
        StatusCode::OK,
        format!(
            "<AssumeRoleResponse xmlns=\"{NS}\"><AssumeRoleResult><AssumedRoleUser><Arn>{}</Arn>\
             <AssumedRoleId>{role_id}:{}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>{akid}</AccessKeyId>\
             <SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration>\
             </Credentials><PackedPolicySize>0</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>{}</RequestId>\
             </ResponseMetadata></AssumeRoleResponse>",
            xml_escape(&assumed_role_arn(account, &role_arn, &session)),
            xml_escape(&session),
            xml_escape(&secret),
            xml_escape(&token),
            iso8601(expiration_ms),
            uuid::Uuid::new_v4()
        ),
    )
}

/// `DurationSeconds` (default 3600, 900..=43200), after checking that `RoleArn` and
/// `RoleSessionName` are given; otherwise the `ValidationError` message.
fn assume_role_duration(
    params: &HashMap<String, String>,
    role_arn: &str,
    session: &str,
) -> Result<u64, String> {
    if role_arn.is_empty() || session.is_empty() {
        let field = if role_arn.is_empty() {
            "roleArn"
        } else {
            "roleSessionName"
        };
        return Err(format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"));
    }
    match params.get("DurationSeconds").map(|d| d.parse::<u64>()) {
        None => Ok(3600),
        Some(Ok(d)) if (900..=43200).contains(&d) => Ok(d),
        Some(_) => Err("1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200".to_string()),
    }
}

/// Counts an `AssumeRole` call and keeps it in the (bounded) call list.
fn record_assume_role_call(
    inner: &Inner,
    role_arn: &str,
    session: &str,
    external_id: &Option<String>,
    granted: bool,
) {
    let mut stats = inner.sts.lock().expect("sts lock");
    stats.assume_role_calls += 1;
    if granted {
        stats.assume_role_granted += 1;
    } else {
        stats.assume_role_denied += 1;
    }
    stats.calls.push(AssumeRoleCall {
        role_arn: role_arn.to_string(),
        role_session_name: session.to_string(),
        external_id: external_id.clone(),
        granted,
        at_ms: now_ms(),
    });
    // Bounded: a long-running emulator (or a caller in a loop) must not grow it forever.
    let excess = stats
        .calls
        .len()
        .saturating_sub(crate::model::MAX_STS_CALLS);
    stats.calls.drain(..excess);
}
