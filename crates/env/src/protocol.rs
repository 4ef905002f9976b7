//! The wire protocol between the tooling and a function built with `temporal-lambda-worker`:
//! the describe and check-connection requests and their answers, and the description a Lambda
//! version is published with (which build of which deployment it runs).
//!
//! ```
//! use temporal_lambda_env::protocol::{describes_build, version_description, Describe};
//!
//! let d = version_description("build-1", "hello-app");
//! assert!(describes_build(&d, "build-1", "hello-app"));
//! let answer: Describe =
//!     serde_json::from_str(r#"{"deployment_name":"hello-app","build_id":"build-1"}"#).unwrap();
//! assert_eq!(answer.build_id, "build-1");
//! ```

use serde::{Deserialize, Deserializer, Serialize};

/// The payload key of a request from the tooling: `{"temporal_lambda": "<request>"}`. The
/// server's own invocations carry no payload, so they never match.
pub const REQUEST_KEY: &str = "temporal_lambda";

/// Payload the worker library answers with its [`Describe`] (see `temporal-lambda-worker`).
pub const DESCRIBE_PAYLOAD: &str = r#"{"temporal_lambda":"describe"}"#;

/// Payload that makes the worker connect with its own settings and report the outcome.
pub const CHECK_CONNECTION_PAYLOAD: &str = r#"{"temporal_lambda":"check_connection"}"#;

/// A request from the tooling that a function answers without polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolRequest {
    /// [`DESCRIBE_PAYLOAD`]: answer with a [`Describe`].
    Describe,
    /// [`CHECK_CONNECTION_PAYLOAD`]: connect, answer with a [`ConnectionCheck`].
    CheckConnection,
}

impl ToolRequest {
    /// The request an invocation's payload carries, or `None` for any other payload (the
    /// server's invocations: poll for work).
    ///
    /// ```
    /// use temporal_lambda_env::protocol::{ToolRequest, DESCRIBE_PAYLOAD};
    ///
    /// let payload: serde_json::Value = serde_json::from_str(DESCRIBE_PAYLOAD).unwrap();
    /// assert_eq!(ToolRequest::from_payload(&payload), Some(ToolRequest::Describe));
    /// assert_eq!(ToolRequest::from_payload(&serde_json::Value::Null), None);
    /// ```
    pub fn from_payload<'de, D: Deserializer<'de>>(payload: D) -> Option<Self> {
        #[derive(Deserialize)]
        struct Envelope {
            temporal_lambda: ToolRequest,
        }
        Envelope::deserialize(payload)
            .ok()
            .map(|e| e.temporal_lambda)
    }

    /// The payload that carries this request.
    pub fn payload(self) -> &'static str {
        match self {
            ToolRequest::Describe => DESCRIBE_PAYLOAD,
            ToolRequest::CheckConnection => CHECK_CONNECTION_PAYLOAD,
        }
    }
}

/// What the worker answers to [`CHECK_CONNECTION_PAYLOAD`] (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    /// Connected and the server accepted the credentials.
    pub ok: bool,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// TLS on.
    #[serde(default)]
    pub tls: bool,
    /// A server CA is configured.
    #[serde(default)]
    pub server_ca_cert: bool,
    /// Server-name override.
    #[serde(default)]
    pub server_name: Option<String>,
    /// mTLS client certificate configured.
    #[serde(default)]
    pub client_cert: bool,
    /// `none`, `environment` or `secret`.
    #[serde(default)]
    pub api_key: String,
    /// Connect time, ms.
    #[serde(default)]
    pub connect_ms: u64,
    /// The failure and its fix.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a function built with `temporal-lambda-worker` says about itself (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Describe {
    /// Library name.
    #[serde(default)]
    pub library: String,
    /// Library version.
    #[serde(default)]
    pub library_version: String,
    /// Deployment name compiled in.
    pub deployment_name: String,
    /// Build ID compiled in.
    pub build_id: String,
    /// Task queue.
    #[serde(default)]
    pub task_queue: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// Whether TLS is used.
    #[serde(default)]
    pub tls: bool,
    /// Whether an API key is configured (the key itself is never returned).
    #[serde(default)]
    pub api_key_set: bool,
    /// Workflow types the code registers.
    #[serde(default)]
    pub workflow_types: Vec<String>,
    /// Default versioning behavior of its workflows.
    #[serde(default)]
    pub default_versioning_behavior: String,
    /// Shutdown buffer, ms.
    #[serde(default)]
    pub shutdown_deadline_buffer_ms: u64,
}

/// Prefix of the Lambda version description that records the build ID.
pub const BUILD_ID_TAG: &str = "temporal-build-id=";

/// Prefix of the Lambda version description that records the Worker Deployment name.
pub const DEPLOYMENT_TAG: &str = "temporal-deployment=";

/// The description this toolkit publishes a Lambda version with: the build ID and deployment
/// name it runs ([`BUILD_ID_TAG`], [`DEPLOYMENT_TAG`]). `deploy` finds a build's version by it,
/// and `retire` deletes only a version that carries it for the build retired.
pub fn version_description(build_id: &str, deployment_name: &str) -> String {
    format!("{BUILD_ID_TAG}{build_id} {DEPLOYMENT_TAG}{deployment_name} (temporal-lambda)")
}

/// Whether a Lambda version's description is [`version_description`]`(build_id,
/// deployment_name)`'s: both tags present, with these values.
pub fn describes_build(description: &str, build_id: &str, deployment_name: &str) -> bool {
    let words: Vec<&str> = description.split_whitespace().collect();
    words.contains(&format!("{BUILD_ID_TAG}{build_id}").as_str())
        && words.contains(&format!("{DEPLOYMENT_TAG}{deployment_name}").as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_recognised_and_server_payloads_are_not() {
        let parse = |v: serde_json::Value| ToolRequest::from_payload(&v);
        for r in [ToolRequest::Describe, ToolRequest::CheckConnection] {
            assert_eq!(parse(serde_json::from_str(r.payload()).unwrap()), Some(r));
        }
        assert_eq!(parse(serde_json::Value::Null), None);
        assert_eq!(parse(serde_json::json!({})), None);
        assert_eq!(parse(serde_json::json!("describe")), None);
        assert_eq!(parse(serde_json::json!({REQUEST_KEY: "run"})), None);
    }

    #[test]
    fn version_descriptions_name_build_and_deployment() {
        let d = version_description("b-1", "app");
        assert!(describes_build(&d, "b-1", "app"));
        assert!(!describes_build(&d, "b-1", "other"));
        assert!(!describes_build(&d, "b-11", "app"));
        assert!(!describes_build("b-1", "b-1", "app"));
    }
}
