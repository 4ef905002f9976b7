//! The external ID a role stack enforces, and choosing one without rotating it by accident.

use crate::aws::{Aws, AwsError};
use crate::identifiers::ExternalId;

use super::stack::describe_stack;
use super::IamError;

/// The external ID an existing role stack enforces (its `AssumeRoleExternalId` parameter);
/// `Ok(None)` when the stack does not exist or has no such parameter.
pub async fn stack_external_id(aws: &Aws, stack: &str) -> Result<Option<ExternalId>, AwsError> {
    Ok(describe_stack(aws, stack)
        .await?
        .as_ref()
        .and_then(|s| {
            s.parameters()
                .iter()
                .find(|p| p.parameter_key() == Some("AssumeRoleExternalId"))
        })
        .and_then(|p| p.parameter_value())
        .and_then(|v| v.parse().ok()))
}

/// Picks the external ID for a role stack without ever rotating it by accident: the one asked
/// for, else the existing stack's, else the remembered one, else a new random one. An ID asked
/// for that differs from the stack's is refused unless `rotate` is set.
pub async fn choose_external_id(
    aws: &Aws,
    stack: &str,
    requested: Option<&ExternalId>,
    remembered: Option<&ExternalId>,
    rotate: bool,
) -> Result<(ExternalId, bool), IamError> {
    let current = stack_external_id(aws, stack).await?;
    match (requested, current) {
        (Some(r), Some(c)) if r.as_str() != c.as_str() && !rotate => {
            Err(IamError::ExternalIdRotation {
                stack: stack.to_string(),
                current: c.as_str().to_string(),
                requested: r.as_str().to_string(),
            })
        }
        (Some(r), _) => Ok((r.clone(), false)),
        (None, Some(c)) => Ok((c, false)),
        (None, None) => match remembered {
            Some(m) => Ok((m.clone(), false)),
            None => Ok((generate_external_id(), true)),
        },
    }
}

/// A random external ID: 32 characters of `[A-Za-z0-9]` from `rand`'s thread RNG (ChaCha12,
/// seeded from the OS; cryptographically secure).
pub fn generate_external_id() -> ExternalId {
    use rand::Rng as _;
    let s: String = rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    s.parse().expect("generated external IDs are valid")
}
