//! The rotation steps for generated secrets: createSecret makes every
//! described field anew; setSecret has nothing to set (the consumers read
//! the secret); testSecret checks the pending value against its
//! description; finishSecret only moves the labels.

use crate::description::WEAK_BITS;
use crate::secret::GeneratedSecret;
use crate::values::{self, Generated};
use password::PasswordPolicy;
use rotation::{Backend, BackendError, CreateContext, SetContext, SetOutcome};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// `EXCLUDE_CHARACTERS` when the variable is unset: AWS's template's
/// default (`/@"'\`).
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";

/// The backend: the function's password policy (for plain-string secrets,
/// and the defaults of `password` entries).
#[derive(Debug, Clone)]
pub struct GeneratedBackend {
    /// The policy from the environment variables.
    pub policy: PasswordPolicy,
}

impl GeneratedBackend {
    /// A backend with `policy`.
    pub fn new(policy: PasswordPolicy) -> Self {
        Self { policy }
    }
}

/// The backend from the process environment (the password policy
/// variables, with AWS's template's `EXCLUDE_CHARACTERS` default).
pub fn backend_from_env() -> Result<GeneratedBackend, password::PolicyError> {
    Ok(GeneratedBackend::new(PasswordPolicy::from_env(
        DEFAULT_EXCLUDE_CHARACTERS,
    )?))
}

fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::SysRng> {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}

impl Backend for GeneratedBackend {
    type Secret = GeneratedSecret;

    fn parse(&self, raw: &SecretString) -> Result<GeneratedSecret, BackendError> {
        GeneratedSecret::parse(raw, &self.policy)
    }

    fn serialize(&self, secret: &GeneratedSecret) -> Result<SecretString, BackendError> {
        secret.serialize()
    }

    async fn create_pending(
        &self,
        current: &GeneratedSecret,
        _ctx: &CreateContext<'_>,
    ) -> Result<GeneratedSecret, BackendError> {
        let mut rng = os_rng();
        match current {
            GeneratedSecret::Plain(_) => {
                Ok(GeneratedSecret::Plain(self.policy.generate_with(&mut rng)?))
            }
            GeneratedSecret::Described { object, specs } => {
                // A secret from the start, so that every value in it is
                // zeroised on drop, on an error too.
                let mut pending = GeneratedSecret::Described {
                    object: object.clone(),
                    specs: specs.clone(),
                };
                for spec in specs {
                    let bits = spec.kind.entropy_bits();
                    if bits < WEAK_BITS {
                        tracing::warn!(
                            field = %spec.field,
                            bits = bits.floor(),
                            "a weak value: field `{}` carries only {} bits of randomness \
                             (at least {WEAK_BITS} recommended): make its entry longer",
                            spec.field,
                            bits.floor()
                        );
                    }
                    let generated = values::generate(&spec.kind, &mut rng).map_err(|e| {
                        BackendError::field(format!("rotation.{}", spec.field), e.0)
                    })?;
                    match (generated, spec.kind.public_key_field()) {
                        (Generated::One(value), None) => {
                            pending.put(&spec.field, value.to_string())?;
                        }
                        (Generated::KeyPair { private, public }, Some(public_key_field)) => {
                            pending.put(&spec.field, private.to_string())?;
                            pending.put(public_key_field, public)?;
                        }
                        _ => {
                            return Err(BackendError::Internal(format!(
                                "field `{}`: a {} entry made a value of another shape",
                                spec.field,
                                spec.kind.type_name()
                            )))
                        }
                    }
                }
                Ok(pending)
            }
        }
    }

    fn has_set_work(&self) -> bool {
        false
    }

    async fn set_pending(
        &self,
        _ctx: &SetContext<'_, GeneratedSecret>,
    ) -> Result<SetOutcome, BackendError> {
        // Never called: has_set_work is false.
        Ok(SetOutcome::AlreadySet)
    }

    async fn test_pending(&self, pending: &GeneratedSecret) -> Result<(), BackendError> {
        match pending {
            GeneratedSecret::Plain(value) => {
                self.policy.check(value.expose_secret()).map_err(|e| {
                    BackendError::operation(
                        "checking the plain-string value against the password policy",
                        e.to_string(),
                    )
                })
            }
            GeneratedSecret::Described { object, specs } => {
                for spec in specs {
                    let string = |field: &str| -> Result<&str, BackendError> {
                        match object.get(field) {
                            Some(Value::String(s)) => Ok(s.as_str()),
                            Some(_) => Err(BackendError::field(field, "must be a string")),
                            None => Err(BackendError::field(field, "is missing")),
                        }
                    };
                    let value = string(&spec.field)?;
                    let public = match spec.kind.public_key_field() {
                        Some(field) => Some(string(field)?),
                        None => None,
                    };
                    values::check(&spec.kind, value, public).map_err(|e| {
                        BackendError::field(
                            spec.field.clone(),
                            format!(
                                "does not match its description ({}): {e}",
                                spec.kind.type_name()
                            ),
                        )
                    })?;
                }
                Ok(())
            }
        }
    }
}
