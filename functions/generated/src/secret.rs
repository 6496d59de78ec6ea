//! The stored value: a plain string (AWS's template's format, rotated as
//! one password), or a JSON object whose `rotation` object describes the
//! fields to generate; every other field is carried over unchanged.

use crate::description::{self, FieldSpec, ROTATION_FIELD};
use password::PasswordPolicy;
use rotation::json::zeroize_strings;
use rotation::BackendError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// A parsed secret value. `Debug` shows the described fields' names and
/// types, never a value.
pub enum GeneratedSecret {
    /// A value that is not a JSON object or array: one password.
    Plain(SecretString),
    /// A JSON object with a `rotation` description.
    Described {
        /// The whole object, description and kept fields included.
        object: Map<String, Value>,
        /// The description, read.
        specs: Vec<FieldSpec>,
    },
}

impl std::fmt::Debug for GeneratedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeneratedSecret::Plain(_) => f.write_str("Plain([redacted])"),
            GeneratedSecret::Described { specs, .. } => {
                let fields: Vec<String> = specs
                    .iter()
                    .map(|s| format!("{}: {}", s.field, s.kind.type_name()))
                    .collect();
                write!(f, "Described {{ {} }}", fields.join(", "))
            }
        }
    }
}

impl Drop for GeneratedSecret {
    fn drop(&mut self) {
        if let GeneratedSecret::Described { object, .. } = self {
            for value in object.values_mut() {
                zeroize_strings(value);
            }
        }
    }
}

impl GeneratedSecret {
    /// Reads a stored value; `policy` is the function's password policy,
    /// which `password` entries refine.
    pub fn parse(raw: &SecretString, policy: &PasswordPolicy) -> Result<Self, BackendError> {
        let text = raw.expose_secret();
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => {
                let rotation = object.get(ROTATION_FIELD).ok_or_else(|| {
                    BackendError::field(
                        ROTATION_FIELD,
                        "is missing: a JSON secret names the fields to generate in a `rotation` \
                         object, e.g. {\"rotation\": {\"api_key\": \"password\"}} \
                         (a plain-string secret is rotated as one password)",
                    )
                })?;
                let specs = description::parse(rotation, policy)?;
                Ok(GeneratedSecret::Described { object, specs })
            }
            Ok(Value::Array(_)) => Err(BackendError::InvalidJson(
                "it is a JSON array; a secret to generate is a JSON object with a `rotation` \
                 description, or a plain string"
                    .to_owned(),
            )),
            // Not JSON, or a JSON scalar: a plain string, as AWS's template stores.
            _ => Ok(GeneratedSecret::Plain(SecretString::from(text.to_owned()))),
        }
    }

    /// Sets `field` of a described secret to `value`, overwriting the
    /// memory of the value it replaces. A plain secret has no fields: the
    /// call is refused.
    pub fn put(&mut self, field: &str, value: String) -> Result<(), BackendError> {
        match self {
            GeneratedSecret::Described { object, .. } => {
                if let Some(mut old) = object.insert(field.to_owned(), Value::String(value)) {
                    zeroize_strings(&mut old);
                }
                Ok(())
            }
            GeneratedSecret::Plain(_) => Err(BackendError::Internal(format!(
                "field `{field}` set on a plain-string secret"
            ))),
        }
    }

    /// The text to store.
    pub fn serialize(&self) -> Result<SecretString, BackendError> {
        match self {
            GeneratedSecret::Plain(value) => Ok(value.clone()),
            GeneratedSecret::Described { object, .. } => serde_json::to_string(object)
                .map(SecretString::from)
                .map_err(|e| BackendError::Internal(format!("serialising the secret: {e}"))),
        }
    }
}
