//! Deploying functions on a running rig through the emulator's handle (no AWS SDK): create or
//! update the function, ask the code which deployment version it is (the describe request),
//! publish a Lambda version and register that deployment version as current.

use std::{path::Path, time::Duration};

use serde::Serialize;
use temporal_lambda_emulator::{
    EmulatorHandle, FunctionSpec, LambdaManagedInstancesCapacityProviderConfig,
};
use temporal_lambda_env::protocol::{version_description, Describe, DESCRIBE_PAYLOAD};
use temporal_lambda_temporal::{
    compute::LambdaTarget,
    connect::temporal_env,
    deployment::{self, RegisterOptions},
};

use crate::{step, FunctionOptions, LocalError, Rig, RigFunction};

/// What [`Rig::redeploy`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Redeployed {
    /// The function before.
    pub previous: RigFunction,
    /// The function now (the same as `previous` when the build produced identical code).
    pub current: RigFunction,
    /// The code (and configuration) did not change: nothing was published or registered.
    pub unchanged: bool,
    /// The code reports a different deployment version than before: it was registered and
    /// made current; workflows pinned to the previous one stay on its Lambda version.
    pub new_version: bool,
}

impl Rig {
    /// Deploys another function: creates it from `bootstrap`, asks the code which deployment
    /// version it is, publishes a Lambda version, registers that deployment version with the
    /// rig's role and makes it current. Refuses a function name already on the rig, and a
    /// deployment version another function of the rig already serves (one version invokes
    /// exactly one function).
    pub async fn deploy(
        &mut self,
        f: &FunctionOptions,
        bootstrap: &Path,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<&RigFunction, LocalError> {
        let name = f.function_name.as_str();
        if self.function_named(name).is_some() {
            return Err(LocalError::Step {
                step: "deploying a function",
                reason: format!(
                    "the rig already has a function named `{name}`: give the second one another name"
                ),
            });
        }
        progress(&format!("deploying {name} and publishing a version"));
        let _ = self.emulator.delete_function(name);
        self.emulator
            .create_function_from_path(self.function_spec(f, bootstrap)?)
            .await
            .map_err(step("creating the function"))?;
        // Ask the code what it is: its deployment version and task queue are compiled in.
        let d = match self.describe_unclaimed(name).await {
            Ok(d) => d,
            Err(e) => {
                let _ = self.emulator.delete_function(name);
                return Err(e);
            }
        };
        if let Some(m) = self.managed_instances {
            self.move_to_managed_instances(f, bootstrap, m, progress)
                .await?;
        }
        let function = self.publish(name, d)?;
        progress(&format!(
            "registering Worker Deployment Version {} and setting it current",
            function.version()
        ));
        self.register(&function).await?;
        self.functions.push(function);
        Ok(self.functions.last().expect("just pushed"))
    }

    /// Deploys new code to a function of the rig: `$LATEST` gets `bootstrap` (and
    /// `TEMPORAL_BUILD_ID=<new_build_id>` when given), a new Lambda version is published and
    /// the deployment version the code reports is pointed at it (registered and made current
    /// if it is a new one). Invocations already running finish on the previous Lambda version;
    /// until they end they may take new tasks too (see [`Self::wait_for_previous_code`]). On
    /// any error the previous version stays registered, so the old code keeps serving.
    pub async fn redeploy(
        &mut self,
        function_name: &str,
        bootstrap: &Path,
        new_build_id: Option<&str>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Redeployed, LocalError> {
        let idx = self
            .functions
            .iter()
            .position(|f| f.function_name == function_name)
            .ok_or_else(|| LocalError::Step {
                step: "redeploying",
                reason: format!("the rig has no function named `{function_name}`"),
            })?;
        if self.managed_instances.is_some() {
            return Err(LocalError::Step {
                step: "redeploying",
                reason: "the rig does not redeploy functions on Lambda Managed Instances yet: stop it and start it again with the new code".into(),
            });
        }
        let previous = self.functions[idx].clone();
        progress(&format!("updating {function_name}'s code"));
        if let Some(b) = new_build_id {
            self.emulator
                .set_function_env(
                    function_name,
                    &[(temporal_lambda_env::connection::BUILD_ID.into(), b.into())],
                )
                .map_err(step("setting TEMPORAL_BUILD_ID"))?;
        }
        self.emulator
            .update_function_code_from_path(function_name, bootstrap)
            .await
            .map_err(step("updating the function code"))?;
        let d = self.describe_unclaimed(function_name).await?;
        let current = self.publish(function_name, d)?;
        let unchanged = current.function_arn == previous.function_arn;
        let new_version = current.version() != previous.version();
        if !unchanged {
            progress(&format!(
                "pointing Worker Deployment Version {} at Lambda version {}",
                current.version(),
                current.lambda_version
            ));
            self.register(&current).await?;
            self.functions[idx] = current.clone();
        }
        Ok(Redeployed {
            previous,
            current,
            unchanged,
            new_version,
        })
    }

    /// Waits (event-driven) until no invocation of `function`'s Lambda version `version` is
    /// running, at most `timeout`; returns how many were running when it started.
    pub async fn wait_for_previous_code(
        &self,
        function: &str,
        version: &str,
        timeout: Duration,
    ) -> Result<usize, LocalError> {
        let running = |rs: &[temporal_lambda_emulator::InvocationRecord]| {
            rs.iter()
                .filter(|r| r.function_name == function && r.version == version && !r.is_finished())
                .count()
        };
        let at_start = running(&self.emulator.invocations());
        if at_start > 0 {
            self.emulator
                .wait_for_invocations(timeout, |rs| running(rs) == 0)
                .await
                .map_err(step("waiting for invocations of the previous code"))?;
        }
        Ok(at_start)
    }

    /// The function `f` as the emulator creates it: its code, timeout, memory, concurrency and
    /// environment, with the rig's connection settings.
    fn function_spec(
        &self,
        f: &FunctionOptions,
        bootstrap: &Path,
    ) -> Result<FunctionSpec, LocalError> {
        let name = f.function_name.as_str();
        let mut spec = FunctionSpec::new(name, bootstrap);
        for (k, v) in &f.env {
            spec = spec.env(k, v);
        }
        spec = spec
            .timeout(f.timeout)
            .memory_mb(self.memory_mb)
            .concurrency(f.concurrency)
            .arch(self.arch);
        // The function's connection, from the shared model (with --tls: the front, its CA and
        // the API key). The CA goes into the function's code, as `package` puts it into the zip:
        // the sandbox runs as an unprivileged user that cannot read the rig's state dir.
        let conn = self.conn();
        for (k, v) in temporal_env(&conn, None, &[]) {
            if k == "HOME" {
                continue;
            }
            spec = spec.env(&k, &v);
        }
        if let Some(ca) = &conn.tls_ca_path {
            let pem = std::fs::read(ca).map_err(step("reading the rig's CA certificate"))?;
            spec = spec.file(
                temporal_lambda_env::connection::zip_paths::SERVER_CA_CERT,
                pem,
            );
        }
        if let Some(tq) = f.task_queue.as_deref().filter(|t| !t.is_empty()) {
            spec = spec.env(temporal_lambda_env::connection::TASK_QUEUE, tq);
        }
        Ok(spec)
    }

    /// Lambda Managed Instances invoke only published versions, and a version's description
    /// (the build it runs) is fixed when it is published: the code was asked what it is while
    /// on-demand, now the function is made again on the rig's capacity provider (Lambda does not
    /// move a function between the two), ready to publish.
    async fn move_to_managed_instances(
        &self,
        f: &FunctionOptions,
        bootstrap: &Path,
        m: crate::ManagedInstances,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(), LocalError> {
        let name = f.function_name.as_str();
        progress(&format!(
            "putting {name} on Lambda Managed Instances ({} environment(s), {} invocations each at once)",
            m.environments, m.max_concurrency
        ));
        self.emulator
            .delete_function(name)
            .map_err(step("deleting the on-demand function"))?;
        let spec = self
            .function_spec(f, bootstrap)?
            .memory_mb(crate::ManagedInstances::memory_mb(self.memory_mb))
            .managed_instances(
                LambdaManagedInstancesCapacityProviderConfig::new(
                    crate::ManagedInstances::CAPACITY_PROVIDER_ARN,
                )
                .max_concurrency(m.max_concurrency),
            );
        self.emulator
            .create_function_from_path(spec)
            .await
            .map_err(step("creating the function on Lambda Managed Instances"))?;
        Ok(())
    }

    /// Publishes `$LATEST` of `name` (described as `d`), the build ID as its description.
    fn publish(&self, name: &str, d: Describe) -> Result<RigFunction, LocalError> {
        let published = self
            .emulator
            .publish_version(
                name,
                Some(&version_description(&d.build_id, &d.deployment_name)),
            )
            .map_err(step("publishing the function version"))?;
        Ok(RigFunction {
            function_name: name.to_string(),
            function_arn: published.function_arn,
            lambda_version: published.version,
            task_queue: d.task_queue,
            deployment_name: d.deployment_name,
            build_id: d.build_id,
            workflow_types: d.workflow_types,
        })
    }

    /// The describe answer of `name`'s `$LATEST`, refused when another function of the rig
    /// already serves that deployment version.
    async fn describe_unclaimed(&self, name: &str) -> Result<Describe, LocalError> {
        let d = describe(&self.emulator, name).await?;
        if let Some(other) = self.functions.iter().find(|o| {
            o.function_name != name
                && o.deployment_name == d.deployment_name
                && o.build_id == d.build_id
        }) {
            return Err(LocalError::Step {
                step: "registering the deployment version",
                reason: format!(
                    "`{name}` and `{}` both report Worker Deployment Version {}:{}, and a version invokes exactly one function: give one of them another build ID (its BUILD_ID in code, or TEMPORAL_BUILD_ID=<id> in its env)",
                    other.function_name, d.deployment_name, d.build_id
                ),
            });
        }
        Ok(d)
    }

    /// Registers `f`'s deployment version with its function ARN and the rig's role, current.
    async fn register(&self, f: &RigFunction) -> Result<(), LocalError> {
        let conn = self
            .conn()
            .connect()
            .await
            .map_err(step("connecting to the dev server"))?;
        deployment::register(
            &conn,
            &RegisterOptions {
                namespace: "default".into(),
                deployment_name: f.deployment_name.clone(),
                build_id: f.build_id.clone(),
                target: LambdaTarget {
                    function_arn: f
                        .function_arn
                        .parse()
                        .map_err(step("parsing the function ARN"))?,
                    role_arn: self
                        .role_arn
                        .parse()
                        .map_err(step("parsing the role ARN"))?,
                    external_id: self
                        .external_id
                        .parse()
                        .map_err(step("generating the external ID"))?,
                },
                update: true,
                set_current: true,
            },
        )
        .await
        .map_err(step("registering the version"))?;
        Ok(())
    }
}

/// Invokes the function with the describe payload and reads its answer.
async fn describe(emulator: &EmulatorHandle, name: &str) -> Result<Describe, LocalError> {
    let out = emulator
        .invoke(name, DESCRIBE_PAYLOAD.as_bytes())
        .await
        .map_err(step("asking the function for its deployment version"))?;
    let parsed = (out.function_error.is_none())
        .then(|| serde_json::from_slice::<Describe>(&out.payload).ok())
        .flatten()
        .filter(|d| !d.deployment_name.is_empty() && !d.build_id.is_empty());
    parsed.ok_or_else(|| {
        let logs = emulator.logs(name).unwrap_or_default();
        let tail: Vec<&str> = logs.lines().rev().take(15).collect();
        LocalError::Step {
            step: "asking the function for its deployment version",
            reason: format!(
                "`{name}` did not answer the describe request ({}): is its main `temporal_lambda_worker::run_worker(...)`? Its last log lines:\n{}",
                String::from_utf8_lossy(&out.payload).chars().take(300).collect::<String>(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        }
    })
}
