//! Asynchronous-invocation settings (`Put/Get/Update/DeleteFunctionEventInvokeConfig`): what is
//! stored, the defaults, validation, and the settings an invocation runs with.

use serde::{Deserialize, Serialize};

use super::{now_ms, Store};
use crate::arn::FunctionRef;
use crate::error::EmulatorError;

/// Asynchronous-invocation settings of a function or version (`PutFunctionEventInvokeConfig`);
/// `None` = not set (Lambda's default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredEventInvokeConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_in_seconds: Option<u32>,
    pub last_modified_ms: u64,
}

/// Lambda's default `MaximumRetryAttempts`.
pub(crate) const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 2;
/// Lambda's default (and largest) `MaximumEventAgeInSeconds`: 6 hours.
pub(crate) const DEFAULT_MAX_EVENT_AGE_S: u32 = 21_600;

/// Put/UpdateFunctionEventInvokeConfig's fields, as given (validated by the store).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EventInvokePatch {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
}

/// The effective async settings for one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AsyncSettings {
    pub max_retries: u32,
    pub max_event_age_s: u32,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRY_ATTEMPTS,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
        }
    }
}

/// The key of a qualifier in [`StoredFunction::event_invoke_configs`](super::StoredFunction::event_invoke_configs).
pub(crate) fn event_invoke_key(qualifier: Option<&str>) -> &str {
    qualifier.unwrap_or("$LATEST")
}

fn validate_event_invoke(
    p: &EventInvokePatch,
) -> Result<(Option<u32>, Option<u32>), EmulatorError> {
    let retries = match p.maximum_retry_attempts {
        Some(n) if !(0..=2).contains(&n) => {
            return Err(EmulatorError::InvalidParameter(format!(
                "MaximumRetryAttempts {n} is out of range: it must be 0..=2 (retries of a failed asynchronous invocation)"
            )))
        }
        n => n.map(|n| n as u32),
    };
    let age = match p.maximum_event_age_in_seconds {
        Some(n) if !(60..=21_600).contains(&n) => {
            return Err(EmulatorError::InvalidParameter(format!(
                "MaximumEventAgeInSeconds {n} is out of range: it must be 60..=21600 (1 minute to 6 hours)"
            )))
        }
        n => n.map(|n| n as u32),
    };
    Ok((retries, age))
}

impl Store {
    /// Put (`replace`: unset fields go back to the defaults) or Update (`!replace`: only the
    /// given fields change; creates the config if there is none) the event invoke config of a
    /// function or version. Returns the stored config.
    pub(crate) fn put_event_invoke_config(
        &mut self,
        r: &FunctionRef,
        patch: EventInvokePatch,
        replace: bool,
    ) -> Result<StoredEventInvokeConfig, EmulatorError> {
        let (retries, age) = validate_event_invoke(&patch)?;
        self.resolve(r)?;
        let key = event_invoke_key(r.qualifier.as_deref()).to_string();
        let f = self.function_mut(&r.name)?;
        let c = f.event_invoke_configs.entry(key).or_default();
        if replace {
            *c = StoredEventInvokeConfig::default();
        }
        if retries.is_some() {
            c.maximum_retry_attempts = retries;
        }
        if age.is_some() {
            c.maximum_event_age_in_seconds = age;
        }
        c.last_modified_ms = now_ms();
        let out = c.clone();
        self.save()?;
        Ok(out)
    }

    fn no_event_invoke_config(&self, r: &FunctionRef) -> EmulatorError {
        let key = event_invoke_key(r.qualifier.as_deref());
        EmulatorError::NotFound(format!(
            "The function {}:{key} doesn't have an EventInvokeConfig (create one with PutFunctionEventInvokeConfig)",
            self.arn(&r.name)
        ))
    }

    /// The event invoke config of a function or version; not found if there is none.
    pub(crate) fn event_invoke_config(
        &self,
        r: &FunctionRef,
    ) -> Result<StoredEventInvokeConfig, EmulatorError> {
        self.resolve(r)?;
        self.function(&r.name)?
            .event_invoke_configs
            .get(event_invoke_key(r.qualifier.as_deref()))
            .cloned()
            .ok_or_else(|| self.no_event_invoke_config(r))
    }

    /// Deletes the event invoke config of a function or version; not found if there is none.
    pub(crate) fn delete_event_invoke_config(
        &mut self,
        r: &FunctionRef,
    ) -> Result<(), EmulatorError> {
        self.resolve(r)?;
        let err = self.no_event_invoke_config(r);
        let f = self.function_mut(&r.name)?;
        if f.event_invoke_configs
            .remove(event_invoke_key(r.qualifier.as_deref()))
            .is_none()
        {
            return Err(err);
        }
        self.save()
    }

    /// The async settings for an invocation of `r`: from its qualifier's config if it has one,
    /// else from the unqualified (`$LATEST`) one; fields not set there are Lambda's defaults.
    pub(crate) fn async_settings(&self, r: &FunctionRef) -> AsyncSettings {
        let d = AsyncSettings::default();
        let Some(f) = self.state.functions.get(&r.name) else {
            return d;
        };
        let c = f
            .event_invoke_configs
            .get(event_invoke_key(r.qualifier.as_deref()))
            .or_else(|| f.event_invoke_configs.get("$LATEST"));
        match c {
            Some(c) => AsyncSettings {
                max_retries: c.maximum_retry_attempts.unwrap_or(d.max_retries),
                max_event_age_s: c.maximum_event_age_in_seconds.unwrap_or(d.max_event_age_s),
            },
            None => d,
        }
    }
}
