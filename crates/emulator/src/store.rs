//! Persistent state: functions, versions, roles and issued credentials in `<data-dir>/state.json`;
//! code directories under `<data-dir>/functions/<name>/code/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arn::{function_arn, FunctionRef};
use crate::code::PreparedCode;
use crate::error::EmulatorError;
use crate::model::{
    EnvironmentResponse, EphemeralStorage, FunctionConfiguration, LoggingConfig, TracingConfig,
};

/// One version (or `$LATEST`) of a function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    pub config: FunctionConfiguration,
    pub code_dir: PathBuf,
}

/// A function with its `$LATEST` and published versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredFunction {
    pub latest: StoredVersion,
    #[serde(default)]
    pub versions: BTreeMap<u64, StoredVersion>,
    pub next_version: u64,
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// `PutFunctionEventInvokeConfig` settings by qualifier (`$LATEST` also holds the
    /// unqualified function's, as Lambda treats the two alike).
    #[serde(default)]
    pub event_invoke_configs: BTreeMap<String, StoredEventInvokeConfig>,
}

/// A role STS may assume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRole {
    pub external_id: Option<String>,
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IssuedCredential {
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration_ms: u64,
    pub role_arn: String,
    pub role_session_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PersistedState {
    #[serde(default)]
    pub functions: BTreeMap<String, StoredFunction>,
    #[serde(default)]
    pub roles: BTreeMap<String, StoredRole>,
    #[serde(default)]
    pub credentials: BTreeMap<String, IssuedCredential>,
    /// Capacity providers by name (their `CapacityProvider` objects).
    #[serde(default)]
    pub capacity_providers: BTreeMap<String, serde_json::Value>,
}

/// Settings of a new function (from CreateFunction or a [`crate::FunctionSpec`]).
#[derive(Debug, Clone)]
pub(crate) struct NewFunction {
    pub name: String,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
    pub memory_size: Option<u32>,
    pub env: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    pub capacity_provider: Option<crate::model::LambdaManagedInstancesCapacityProviderConfig>,
}

/// UpdateFunctionConfiguration's optional fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigPatch {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
    pub memory_size: Option<u32>,
    pub env: Option<BTreeMap<String, String>>,
    pub capacity_provider: Option<crate::model::LambdaManagedInstancesCapacityProviderConfig>,
}

pub(crate) struct Store {
    path: PathBuf,
    data_dir: PathBuf,
    region: String,
    account: String,
    pub state: PersistedState,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now, as a UTC date-time (from the system clock; chrono's own `clock` feature is not used, see
/// Cargo.toml).
pub(crate) fn now_utc() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(now_ms() as i64).unwrap_or_default()
}

fn last_modified() -> String {
    now_utc().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

pub(crate) use temporal_lambda_env::private_file::{
    create_private_dir_all as create_private_dir, ensure_private_dir,
};

impl Store {
    /// Loads `<data_dir>/state.json` (or starts empty).
    pub(crate) fn load(
        data_dir: &Path,
        region: &str,
        account: &str,
    ) -> Result<Self, EmulatorError> {
        create_private_dir(data_dir)
            .map_err(|e| EmulatorError::io("creating data dir", data_dir, e))?;
        let path = data_dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                // Issued secret keys and session tokens live here: owner-only, also for a file an
                // older emulator wrote with the default umask.
                let private = std::fs::Permissions::from_mode(0o600);
                std::fs::set_permissions(&path, private).map_err(|e| {
                    EmulatorError::io(
                        "making the state file private (chmod 600; is it owned by another user?)",
                        &path,
                        e,
                    )
                })?;
                serde_json::from_slice(&bytes).map_err(|e| EmulatorError::CorruptState {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PersistedState::default(),
            Err(e) => return Err(EmulatorError::io("reading state file", &path, e)),
        };
        Ok(Self {
            path,
            data_dir: data_dir.to_path_buf(),
            region: region.into(),
            account: account.into(),
            state,
        })
    }

    /// Writes the state atomically (temp file + rename). The file holds issued secret keys,
    /// session tokens and function environments, so it is created 0600; a stale temp file is
    /// removed first and the new one is created exclusively (`O_EXCL | O_NOFOLLOW`): a symlink or
    /// file planted at the temp path is never followed or written through.
    pub(crate) fn save(&self) -> Result<(), EmulatorError> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.state).expect("state serializes");
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(EmulatorError::io(
                    "removing a stale temporary state file (delete it by hand)",
                    &tmp,
                    e,
                ))
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| EmulatorError::io("creating temporary state file", &tmp, e))?;
        file.write_all(&bytes)
            .map_err(|e| EmulatorError::io("writing state file", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| EmulatorError::io("replacing state file", &self.path, e))
    }

    fn arn(&self, name: &str) -> String {
        function_arn(&self.region, &self.account, name)
    }

    fn not_found(&self, name: &str, qualifier: Option<&str>) -> EmulatorError {
        let arn = match qualifier {
            Some(q) => format!("{}:{q}", self.arn(name)),
            None => self.arn(name),
        };
        let known: Vec<&str> = self
            .state
            .functions
            .keys()
            .map(String::as_str)
            .take(20)
            .collect();
        EmulatorError::NotFound(format!(
            "Function not found: {arn} (known functions: {known:?}; create it with CreateFunction or publish the version)"
        ))
    }

    pub(crate) fn create(
        &mut self,
        nf: NewFunction,
        code: PreparedCode,
        publish: bool,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        validate_name(&nf.name)?;
        if self.state.functions.contains_key(&nf.name) {
            return Err(EmulatorError::Conflict(format!(
                "Function already exist: {} (update it with UpdateFunctionCode/UpdateFunctionConfiguration, or delete it first)",
                nf.name
            )));
        }
        let timeout = nf.timeout.unwrap_or(3);
        validate_timeout(timeout)?;
        let memory = nf.memory_size.unwrap_or(128);
        validate_memory(memory)?;
        let env = nf.env.unwrap_or_default();
        validate_env(&env)?;
        if let Some(cp) = &nf.capacity_provider {
            crate::managed::validate(cp, memory).map_err(EmulatorError::InvalidParameter)?;
        }
        let architectures = nf
            .architectures
            .unwrap_or_else(|| vec!["x86_64".to_string()]);
        if architectures.len() != 1 || !["x86_64", "arm64"].contains(&architectures[0].as_str()) {
            return Err(EmulatorError::InvalidParameter(format!(
                "Architectures {architectures:?} is invalid: give exactly one of \"x86_64\" or \"arm64\""
            )));
        }
        let config = FunctionConfiguration {
            function_name: nf.name.clone(),
            function_arn: self.arn(&nf.name),
            runtime: nf.runtime.unwrap_or_else(|| "provided.al2023".to_string()),
            role: nf.role.unwrap_or_else(|| {
                format!(
                    "arn:aws:iam::{}:role/lambda-emulator-execution",
                    self.account
                )
            }),
            handler: nf.handler.unwrap_or_else(|| "bootstrap".to_string()),
            code_size: code.size,
            description: nf.description.unwrap_or_default(),
            timeout,
            memory_size: memory,
            last_modified: last_modified(),
            code_sha256: code.sha256.clone(),
            version: "$LATEST".to_string(),
            environment: (!env.is_empty()).then_some(EnvironmentResponse { variables: env }),
            tracing_config: TracingConfig {
                mode: "PassThrough".to_string(),
            },
            revision_id: uuid::Uuid::new_v4().to_string(),
            // An LMI function's `$LATEST` cannot be invoked: `ActiveNonInvocable` (a `State` of the
            // SDK model; LocalStack sets it on create, AWS's docs do not say when it is shown).
            state: if nf.capacity_provider.is_some() {
                "ActiveNonInvocable"
            } else {
                "Active"
            }
            .to_string(),
            last_update_status: "Successful".to_string(),
            package_type: "Zip".to_string(),
            architectures,
            ephemeral_storage: EphemeralStorage { size: 512 },
            logging_config: LoggingConfig {
                log_format: "Text".to_string(),
                log_group: format!("/aws/lambda/{}", nf.name),
            },
            capacity_provider_config: nf.capacity_provider.map(|c| {
                crate::model::CapacityProviderConfig {
                    lambda_managed_instances_capacity_provider_config: c,
                }
            }),
        };
        let name = nf.name.clone();
        self.state.functions.insert(
            name.clone(),
            StoredFunction {
                latest: StoredVersion {
                    config: config.clone(),
                    code_dir: code.code_dir,
                },
                versions: BTreeMap::new(),
                next_version: 1,
                reserved_concurrency: None,
                event_invoke_configs: BTreeMap::new(),
            },
        );
        if publish {
            self.publish(&name, None)?;
        }
        self.save()?;
        Ok(config)
    }

    fn function_mut(&mut self, name: &str) -> Result<&mut StoredFunction, EmulatorError> {
        if !self.state.functions.contains_key(name) {
            return Err(self.not_found(name, None));
        }
        Ok(self.state.functions.get_mut(name).expect("checked"))
    }

    pub(crate) fn function(&self, name: &str) -> Result<&StoredFunction, EmulatorError> {
        self.state
            .functions
            .get(name)
            .ok_or_else(|| self.not_found(name, None))
    }

    pub(crate) fn update_code(
        &mut self,
        name: &str,
        code: PreparedCode,
        publish: bool,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let f = self.function_mut(name)?;
        f.latest.code_dir = code.code_dir;
        let c = &mut f.latest.config;
        c.code_sha256 = code.sha256;
        c.code_size = code.size;
        c.last_modified = last_modified();
        c.revision_id = uuid::Uuid::new_v4().to_string();
        let out = c.clone();
        if publish {
            self.publish(name, None)?;
        }
        self.save()?;
        Ok(out)
    }

    pub(crate) fn update_config(
        &mut self,
        name: &str,
        patch: ConfigPatch,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        if let Some(t) = patch.timeout {
            validate_timeout(t)?;
        }
        if let Some(m) = patch.memory_size {
            validate_memory(m)?;
        }
        if let Some(env) = &patch.env {
            validate_env(env)?;
        }
        let f = self.function_mut(name)?;
        let c = &mut f.latest.config;
        if let Some(cp) = &patch.capacity_provider {
            if c.capacity_provider_config.is_none() {
                return Err(EmulatorError::InvalidParameter(format!(
                    "CapacityProviderConfig isn't supported for Lambda Default functions. Function {name} \
                     runs on demand: create a new function with CapacityProviderConfig instead"
                )));
            }
            crate::managed::validate(cp, patch.memory_size.unwrap_or(c.memory_size))
                .map_err(EmulatorError::InvalidParameter)?;
        } else if let (Some(cp), Some(m)) = (c.managed_instances(), patch.memory_size) {
            crate::managed::validate(cp, m).map_err(EmulatorError::InvalidParameter)?;
        }
        if let Some(cp) = patch.capacity_provider {
            c.capacity_provider_config = Some(crate::model::CapacityProviderConfig {
                lambda_managed_instances_capacity_provider_config: cp,
            });
        }
        if let Some(v) = patch.runtime {
            c.runtime = v;
        }
        if let Some(v) = patch.role {
            c.role = v;
        }
        if let Some(v) = patch.handler {
            c.handler = v;
        }
        if let Some(v) = patch.description {
            c.description = v;
        }
        if let Some(v) = patch.timeout {
            c.timeout = v;
        }
        if let Some(v) = patch.memory_size {
            c.memory_size = v;
        }
        if let Some(env) = patch.env {
            c.environment = (!env.is_empty()).then_some(EnvironmentResponse { variables: env });
        }
        c.last_modified = last_modified();
        c.revision_id = uuid::Uuid::new_v4().to_string();
        let out = c.clone();
        self.save()?;
        Ok(out)
    }

    /// PublishVersion: snapshots `$LATEST` as the next number, unless nothing changed since the
    /// last published version (then that version is returned, as Lambda does).
    pub(crate) fn publish(
        &mut self,
        name: &str,
        description: Option<String>,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let arn = self.arn(name);
        let f = self.function_mut(name)?;
        let latest = &f.latest.config;
        if let Some((_, last)) = f.versions.iter().next_back() {
            let l = &last.config;
            let same = l.code_sha256 == latest.code_sha256
                && l.environment == latest.environment
                && l.timeout == latest.timeout
                && l.memory_size == latest.memory_size
                && l.handler == latest.handler
                && l.runtime == latest.runtime
                && l.role == latest.role
                && l.capacity_provider_config == latest.capacity_provider_config
                && last.code_dir == f.latest.code_dir;
            if same {
                return Ok(l.clone());
            }
        }
        let n = f.next_version;
        f.next_version += 1;
        let mut config = f.latest.config.clone();
        config.version = n.to_string();
        config.function_arn = format!("{arn}:{n}");
        config.revision_id = uuid::Uuid::new_v4().to_string();
        config.state = "Active".to_string();
        if let Some(d) = description {
            config.description = d;
        }
        f.versions.insert(
            n,
            StoredVersion {
                config: config.clone(),
                code_dir: f.latest.code_dir.clone(),
            },
        );
        self.save()?;
        Ok(config)
    }

    /// Resolves a reference to a stored version (`None`/`$LATEST` = `$LATEST`).
    pub(crate) fn resolve(&self, r: &FunctionRef) -> Result<&StoredVersion, EmulatorError> {
        let f = self
            .state
            .functions
            .get(&r.name)
            .ok_or_else(|| self.not_found(&r.name, r.qualifier.as_deref()))?;
        match r.qualifier.as_deref() {
            None | Some("$LATEST") => Ok(&f.latest),
            Some(q) => q
                .parse::<u64>()
                .ok()
                .and_then(|n| f.versions.get(&n))
                .ok_or_else(|| self.not_found(&r.name, Some(q))),
        }
    }

    /// Resolves the version an invoke runs. For a function on Lambda Managed Instances:
    /// `$LATEST` is refused, and an unqualified invoke runs the newest published version (the
    /// emulator's stand-in for `$LATEST.PUBLISHED`), or is refused when none is published.
    pub(crate) fn resolve_invoke(&self, r: &FunctionRef) -> Result<&StoredVersion, EmulatorError> {
        let f = self
            .state
            .functions
            .get(&r.name)
            .ok_or_else(|| self.not_found(&r.name, r.qualifier.as_deref()))?;
        if f.latest.config.capacity_provider_config.is_none() {
            return self.resolve(r);
        }
        let newest = f.versions.keys().next_back().copied();
        match crate::managed::invoke_version(r.qualifier.as_deref(), newest) {
            Ok(Some(n)) => Ok(&f.versions[&n]),
            Ok(None) => self.resolve(r),
            Err(e @ crate::managed::Refusal::LatestQualifier) => {
                Err(EmulatorError::InvalidParameter(e.to_string()))
            }
            Err(e @ crate::managed::Refusal::NoPublishedVersion) => {
                Err(EmulatorError::NoPublishedVersion(e.to_string()))
            }
        }
    }

    pub(crate) fn list_versions(
        &self,
        name: &str,
    ) -> Result<Vec<FunctionConfiguration>, EmulatorError> {
        let f = self.function(name)?;
        let mut out = vec![f.latest.config.clone()];
        out.extend(f.versions.values().map(|v| v.config.clone()));
        Ok(out)
    }

    /// Deletes a function (all versions) or one published version. Returns the deleted function's
    /// emulator-owned code root, if the whole function was deleted.
    pub(crate) fn delete(
        &mut self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<PathBuf>, EmulatorError> {
        match qualifier {
            None => {
                if self.state.functions.remove(name).is_none() {
                    return Err(self.not_found(name, None));
                }
                self.save()?;
                Ok(Some(self.data_dir.join("functions").join(name)))
            }
            Some("$LATEST") => Err(EmulatorError::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function: omit the qualifier".to_string(),
            )),
            Some(q) => {
                let n = q.parse::<u64>().ok();
                let f = self.function_mut(name)?;
                if n.and_then(|n| f.versions.remove(&n)).is_none() {
                    return Err(self.not_found(name, Some(q)));
                }
                f.event_invoke_configs.remove(q);
                self.save()?;
                Ok(None)
            }
        }
    }

    pub(crate) fn set_concurrency(
        &mut self,
        name: &str,
        n: Option<u32>,
    ) -> Result<(), EmulatorError> {
        if let Some(n) = n {
            if n > 1000 {
                return Err(EmulatorError::InvalidParameter(format!(
                    "ReservedConcurrentExecutions {n} is out of range: it must be 0..=1000"
                )));
            }
        }
        self.function_mut(name)?.reserved_concurrency = n;
        self.save()
    }

    pub(crate) fn register_role(
        &mut self,
        arn: &str,
        external_id: Option<&str>,
    ) -> Result<(), EmulatorError> {
        let valid = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.split_once(":role/"))
            .is_some_and(|(acct, name)| {
                acct.len() == 12 && acct.chars().all(|c| c.is_ascii_digit()) && !name.is_empty()
            });
        if !valid {
            return Err(EmulatorError::InvalidParameter(format!(
                "role ARN '{arn}' is malformed: expected arn:aws:iam::<12-digit account>:role/<name>"
            )));
        }
        if let Some(x) = external_id {
            let ok = (2..=1224).contains(&x.len())
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
            if !ok {
                return Err(EmulatorError::InvalidParameter(format!(
                    "external id '{x}' for role {arn} is invalid: 2-1224 characters among letters, digits and _+=,.@:/-"
                )));
            }
        }
        self.state.roles.insert(
            arn.to_string(),
            StoredRole {
                external_id: external_id.map(str::to_string),
            },
        );
        self.save()
    }
}

mod capacity_providers;
mod event_invoke;
#[cfg(test)]
pub(crate) mod tests;
mod validate;
pub(crate) use event_invoke::{
    event_invoke_key, AsyncSettings, EventInvokePatch, StoredEventInvokeConfig,
};
pub(crate) use validate::is_valid_function_name;
use validate::{validate_env, validate_memory, validate_name, validate_timeout};
