//! Capacity providers (Lambda Managed Instances) as stored API objects: create, get, list,
//! delete. The emulator keeps what CreateCapacityProvider was given and answers it back as the
//! `CapacityProvider` object, `State: Active` at once (Lambda goes through `Pending`); it runs no
//! instances for them, and a function's `CapacityProviderArn` need not name one of them.

use serde_json::{Map, Value};

use super::{last_modified, Store};
use crate::error::EmulatorError;

impl Store {
    /// CreateCapacityProvider: `CapacityProviderName`, `VpcConfig.SubnetIds` and
    /// `PermissionsConfig.CapacityProviderOperatorRoleArn` are required.
    pub(crate) fn create_capacity_provider(
        &mut self,
        mut body: Map<String, Value>,
    ) -> Result<Value, EmulatorError> {
        let name = match body.remove("CapacityProviderName") {
            Some(Value::String(n)) => n,
            _ => {
                return Err(EmulatorError::Validation(
                    "1 validation error detected: Value null at 'capacityProviderName' failed to satisfy \
                     constraint: Member must not be null (give CapacityProviderName)"
                        .into(),
                ))
            }
        };
        let arn = format!(
            "arn:aws:lambda:{}:{}:capacity-provider:{name}",
            self.region, self.account
        );
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name || arn.len() > 140 {
            return Err(EmulatorError::Validation(format!(
                "CapacityProviderName '{name}' is invalid: use [a-zA-Z0-9-_]+ (its ARN at most 140 characters)"
            )));
        }
        let subnets = body
            .get("VpcConfig")
            .and_then(|v| v.get("SubnetIds"))
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty());
        if !subnets {
            return Err(EmulatorError::Validation(
                "VpcConfig.SubnetIds is required: give the subnets the instances run in".into(),
            ));
        }
        let role = body
            .get("PermissionsConfig")
            .and_then(|v| v.get("CapacityProviderOperatorRoleArn"))
            .and_then(Value::as_str)
            .is_some();
        if !role {
            return Err(EmulatorError::Validation(
                "PermissionsConfig.CapacityProviderOperatorRoleArn is required: give the role Lambda \
                 assumes to manage the instances"
                    .into(),
            ));
        }
        if self.state.capacity_providers.contains_key(&name) {
            return Err(EmulatorError::Conflict(format!(
                "Capacity provider {name} already exists: delete it first, or use another name"
            )));
        }
        body.insert("CapacityProviderArn".into(), Value::String(arn));
        body.insert("State".into(), Value::String("Active".into()));
        body.insert("LastModified".into(), Value::String(last_modified()));
        let provider = Value::Object(body);
        self.state.capacity_providers.insert(name, provider.clone());
        self.save()?;
        Ok(provider)
    }

    /// GetCapacityProvider.
    pub(crate) fn capacity_provider(&self, name: &str) -> Result<Value, EmulatorError> {
        self.state
            .capacity_providers
            .get(name)
            .cloned()
            .ok_or_else(|| {
                EmulatorError::NotFound(format!(
                    "Capacity provider not found: {name} (create it with CreateCapacityProvider)"
                ))
            })
    }

    /// ListCapacityProviders (all of them: no paging).
    pub(crate) fn list_capacity_providers(&self) -> Vec<Value> {
        self.state.capacity_providers.values().cloned().collect()
    }

    /// DeleteCapacityProvider: refused while a function uses it (delete the function first).
    pub(crate) fn delete_capacity_provider(&mut self, name: &str) -> Result<Value, EmulatorError> {
        let mut provider = self.capacity_provider(name)?;
        let arn = provider["CapacityProviderArn"].as_str().unwrap_or_default();
        let user = self.state.functions.values().find(|f| {
            f.latest
                .config
                .managed_instances()
                .map(|m| m.capacity_provider_arn.as_str())
                == Some(arn)
        });
        if let Some(f) = user {
            return Err(EmulatorError::Conflict(format!(
                "Capacity provider {name} is used by function {}: delete the function first \
                 (DeleteFunction), then the capacity provider",
                f.latest.config.function_name
            )));
        }
        self.state.capacity_providers.remove(name);
        self.save()?;
        provider["State"] = Value::String("Deleting".into());
        Ok(provider)
    }
}
