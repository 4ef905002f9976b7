//! The `aws-lambda` compute config, exactly as the official `temporal` CLI writes it.
//!
//! `computeConfig.scalingGroups["default"] = { provider: { type: "aws-lambda", details: <payload
//! json/plain {"arn": A, "role": R, "role_external_id": X}> }, scaler: { type: "no-sync" } }`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use temporalio_common::protos::temporal::api::{
    common::v1::Payload,
    compute::v1::{
        ComputeConfig, ComputeConfigScalingGroup, ComputeConfigScalingGroupUpdate, ComputeProvider,
        ComputeScaler,
    },
};

use crate::identifiers::{ExternalId, FunctionArn, RoleArn};

/// Compute provider type for AWS Lambda.
pub const AWS_LAMBDA_PROVIDER: &str = "aws-lambda";
/// Scaler type the official CLI writes for Lambda.
pub const NO_SYNC_SCALER: &str = "no-sync";
/// Name of the scaling group the official CLI writes.
pub const DEFAULT_SCALING_GROUP: &str = "default";
/// Payload encoding of the provider details.
pub const JSON_PLAIN: &str = "json/plain";

/// The Lambda function the server invokes for a deployment version, and how it gets credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaTarget {
    /// Function to invoke (a qualified, published version is recommended).
    pub function_arn: FunctionArn,
    /// Role the server assumes to invoke it.
    pub role_arn: RoleArn,
    /// External ID the role's trust policy requires.
    pub external_id: ExternalId,
}

/// Provider details as stored in the payload. Field order matters: it is the byte layout the
/// official CLI (Go `encoding/json`) produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaProviderDetails {
    /// Function ARN.
    pub arn: String,
    /// Role ARN (omitted when the server is configured not to require a role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// External ID (omitted together with `role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_external_id: Option<String>,
}

/// A scaling group as read back from the server, in a printable form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingGroupView {
    /// Provider type, e.g. `aws-lambda`.
    pub provider_type: String,
    /// Provider details: the decoded JSON when the payload is `json/plain`.
    pub provider_details: Option<serde_json::Value>,
    /// Payload metadata encoding of the details.
    pub provider_details_encoding: Option<String>,
    /// The payload data exactly as stored (UTF-8, lossy).
    pub provider_details_raw: Option<String>,
    /// Scaler type, e.g. `no-sync`.
    pub scaler_type: String,
    /// Task queue types the group is restricted to (empty = all).
    pub task_queue_types: Vec<String>,
}

impl LambdaTarget {
    /// The provider details this target stores.
    pub fn details(&self) -> LambdaProviderDetails {
        LambdaProviderDetails {
            arn: self.function_arn.as_str().to_string(),
            role: Some(self.role_arn.as_str().to_string()),
            role_external_id: Some(self.external_id.as_str().to_string()),
        }
    }

    /// The `default` scaling group.
    pub fn scaling_group(&self) -> ComputeConfigScalingGroup {
        scaling_group(&self.details())
    }

    /// The full compute config for `CreateWorkerDeploymentVersion`.
    pub fn compute_config(&self) -> ComputeConfig {
        ComputeConfig {
            scaling_groups: HashMap::from([(
                DEFAULT_SCALING_GROUP.to_string(),
                self.scaling_group(),
            )]),
        }
    }

    /// Scaling group updates for `UpdateWorkerDeploymentVersionComputeConfig` that replace the
    /// provider and scaler of the `default` group.
    pub fn scaling_group_update(&self) -> HashMap<String, ComputeConfigScalingGroupUpdate> {
        HashMap::from([(
            DEFAULT_SCALING_GROUP.to_string(),
            ComputeConfigScalingGroupUpdate {
                scaling_group: Some(self.scaling_group()),
                update_mask: Some(prost_wkt_types::FieldMask {
                    paths: vec!["provider".to_string(), "scaler".to_string()],
                }),
            },
        )])
    }
}

/// Build a scaling group from provider details.
pub fn scaling_group(details: &LambdaProviderDetails) -> ComputeConfigScalingGroup {
    ComputeConfigScalingGroup {
        task_queue_types: Vec::new(),
        provider: Some(ComputeProvider {
            r#type: AWS_LAMBDA_PROVIDER.to_string(),
            details: Some(json_payload(details)),
            nexus_endpoint: String::new(),
        }),
        scaler: Some(ComputeScaler {
            r#type: NO_SYNC_SCALER.to_string(),
            details: None,
        }),
    }
}

/// Encode a value the way the Temporal SDKs' default converter does for JSON: metadata
/// `encoding: json/plain`, compact JSON bytes.
pub fn json_payload<T: Serialize>(value: &T) -> Payload {
    Payload {
        metadata: HashMap::from([("encoding".to_string(), JSON_PLAIN.as_bytes().to_vec())]),
        data: serde_json::to_vec(value).expect("serializing plain data cannot fail"),
        ..Default::default()
    }
}

/// Decode a payload to JSON when it is `json/plain`; otherwise `None`.
pub fn payload_json(p: &Payload) -> Option<serde_json::Value> {
    match p.metadata.get("encoding").map(Vec::as_slice) {
        Some(b"json/plain") => serde_json::from_slice(&p.data).ok(),
        Some(b"binary/null") => Some(serde_json::Value::Null),
        _ => None,
    }
}

/// The Lambda provider details of the `default` scaling group, if the config has one.
pub fn lambda_details(config: &ComputeConfig) -> Option<LambdaProviderDetails> {
    let group = config.scaling_groups.get(DEFAULT_SCALING_GROUP)?;
    let provider = group.provider.as_ref()?;
    if provider.r#type != AWS_LAMBDA_PROVIDER {
        return None;
    }
    serde_json::from_slice(&provider.details.as_ref()?.data).ok()
}

/// Whether `config` stores exactly `target` (same groups, provider, details and scaler).
pub fn matches(config: &ComputeConfig, target: &LambdaTarget) -> bool {
    config.scaling_groups.len() == 1
        && config
            .scaling_groups
            .get(DEFAULT_SCALING_GROUP)
            .is_some_and(|g| {
                g.task_queue_types.is_empty()
                    && g.scaler.as_ref().map(|s| s.r#type.as_str()) == Some(NO_SYNC_SCALER)
                    && g.provider.as_ref().map(|p| p.r#type.as_str()) == Some(AWS_LAMBDA_PROVIDER)
            })
        && lambda_details(config).as_ref() == Some(&target.details())
}

/// A printable view of every scaling group.
pub fn view(config: &ComputeConfig) -> std::collections::BTreeMap<String, ScalingGroupView> {
    config
        .scaling_groups
        .iter()
        .map(|(name, g)| {
            let provider = g.provider.as_ref();
            let details = provider.and_then(|p| p.details.as_ref());
            (
                name.clone(),
                ScalingGroupView {
                    provider_type: provider.map(|p| p.r#type.clone()).unwrap_or_default(),
                    provider_details: details.and_then(payload_json),
                    provider_details_encoding: details.and_then(|d| {
                        d.metadata
                            .get("encoding")
                            .map(|e| String::from_utf8_lossy(e).into_owned())
                    }),
                    provider_details_raw: details
                        .map(|d| String::from_utf8_lossy(&d.data).into_owned()),
                    scaler_type: g.scaler.as_ref().map(|s| s.r#type.clone()).unwrap_or_default(),
                    task_queue_types: g
                        .task_queue_types
                        .iter()
                        .map(|t| {
                            temporalio_common::protos::temporal::api::enums::v1::TaskQueueType::try_from(*t)
                                .map(|t| t.as_str_name().to_string())
                                .unwrap_or_else(|_| t.to_string())
                        })
                        .collect(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LambdaTarget {
        LambdaTarget {
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:hello:1"
                .parse()
                .unwrap(),
            role_arn: "arn:aws:iam::123456789012:role/invoker".parse().unwrap(),
            external_id: "ext-id-123".parse().unwrap(),
        }
    }

    #[test]
    fn payload_bytes_match_the_official_cli() {
        let cfg = target().compute_config();
        let g = &cfg.scaling_groups["default"];
        let p = g.provider.as_ref().unwrap();
        assert_eq!(p.r#type, "aws-lambda");
        let d = p.details.as_ref().unwrap();
        assert_eq!(d.metadata.len(), 1);
        assert_eq!(d.metadata["encoding"], b"json/plain");
        assert_eq!(
            std::str::from_utf8(&d.data).unwrap(),
            r#"{"arn":"arn:aws:lambda:us-east-1:123456789012:function:hello:1","role":"arn:aws:iam::123456789012:role/invoker","role_external_id":"ext-id-123"}"#
        );
        assert_eq!(g.scaler.as_ref().unwrap().r#type, "no-sync");
        assert!(g.scaler.as_ref().unwrap().details.is_none());
        assert!(matches(&cfg, &target()));
    }

    #[test]
    fn different_target_does_not_match() {
        let cfg = target().compute_config();
        let mut other = target();
        other.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:hello:2"
            .parse()
            .unwrap();
        assert!(!matches(&cfg, &other));
        assert!(!matches(&ComputeConfig::default(), &target()));
    }

    #[test]
    fn view_decodes_details() {
        let v = view(&target().compute_config());
        let g = &v["default"];
        assert_eq!(g.provider_type, "aws-lambda");
        assert_eq!(g.provider_details_encoding.as_deref(), Some("json/plain"));
        assert_eq!(
            g.provider_details.as_ref().unwrap()["role_external_id"],
            "ext-id-123"
        );
    }
}
