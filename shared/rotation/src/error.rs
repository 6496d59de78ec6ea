//! Errors. None of them ever holds a secret value: messages name the secret,
//! the stage, the field and the credential, never what they contain.

use password::PolicyError;
use std::fmt;

/// Which credential an attempt used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRole {
    /// The value under `AWSPENDING` (the one being rotated in).
    Pending,
    /// The value under `AWSCURRENT`.
    Current,
    /// The value under `AWSPREVIOUS`.
    Previous,
    /// The admin (master) credential of an alternating-users rotation.
    Admin,
}

impl fmt::Display for CredentialRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialRole::Pending => "pending",
            CredentialRole::Current => "current",
            CredentialRole::Previous => "previous",
            CredentialRole::Admin => "admin",
        })
    }
}

/// Why a credential could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing answered (refused, no route, name not found).
    Unreachable,
    /// The connection or the server took too long.
    Timeout,
    /// TLS failed: certificate not trusted, wrong host, or the server has no TLS.
    Tls,
    /// The server refused the user name or password.
    Authentication,
    /// Logged in, but not allowed to do what the step needs.
    Permission,
    /// Anything else the server or driver reported.
    Other,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Unreachable => "server unreachable",
            FailureKind::Timeout => "timed out",
            FailureKind::Tls => "TLS failure",
            FailureKind::Authentication => "authentication failed",
            FailureKind::Permission => "permission denied",
            FailureKind::Other => "error",
        })
    }
}

/// One failed attempt to use a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFailure {
    /// Which credential.
    pub role: CredentialRole,
    /// Where it was used, e.g. `user "app" at db.example.com:5432`. No secret.
    pub target: String,
    /// The class of failure.
    pub kind: FailureKind,
    /// The driver's or server's own words, free of secrets.
    pub detail: String,
}

impl fmt::Display for CredentialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} credential ({}): {}: {}",
            self.role, self.target, self.kind, self.detail
        )
    }
}

/// What a backend reports. Its messages must never include a secret value.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The secret value is not a JSON object.
    #[error("value is not a valid JSON object: {0}")]
    InvalidJson(String),
    /// A field of the secret is missing or unusable.
    #[error("field `{field}` {reason}")]
    InvalidField {
        /// The JSON field's name.
        field: String,
        /// What is wrong with it (never its value when it may be secret).
        reason: String,
    },
    /// One or more credentials could not be used; every attempt is listed.
    #[error("{}", join_failures(.0))]
    Credentials(Vec<CredentialFailure>),
    /// A statement failed after logging in.
    #[error("{action} failed: {detail}")]
    Operation {
        /// What was being done, e.g. `setting the password of user "app"`.
        action: String,
        /// The server's own words, free of secrets.
        detail: String,
    },
    /// The admin secret of an alternating-users rotation is unusable.
    #[error("admin secret {secret}: {reason}")]
    AdminSecret {
        /// The admin secret's ARN or name (`masterarn`).
        secret: String,
        /// What is wrong (never its value).
        reason: String,
    },
    /// The password policy cannot produce a password.
    #[error("password policy: {0}")]
    Password(#[from] PolicyError),
    /// The function's configuration (environment) is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading another secret (e.g. the admin secret) failed.
    #[error("{0}")]
    SecretsManager(#[from] SecretsManagerError),
}

fn join_failures(failures: &[CredentialFailure]) -> String {
    match failures {
        [] => "no credential was tried".to_owned(),
        [one] => one.to_string(),
        many => {
            let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("no credential could log in: {}", parts.join("; "))
        }
    }
}

impl BackendError {
    /// Shorthand for [`BackendError::InvalidField`].
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BackendError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a single [`CredentialFailure`].
    pub fn credential(failure: CredentialFailure) -> Self {
        BackendError::Credentials(vec![failure])
    }
}

/// A Secrets Manager call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Secrets Manager {operation} on {secret}: {message}")]
pub struct SecretsManagerError {
    /// The API action, e.g. `GetSecretValue`.
    pub operation: &'static str,
    /// The secret the call was about.
    pub secret: String,
    /// The service's or SDK's message.
    pub message: String,
}

/// Why a rotation step failed. Every variant names the secret.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The event could not be read.
    #[error("invalid rotation event: {0}")]
    InvalidEvent(String),
    /// Rotation is explicitly disabled on the secret.
    #[error("secret {secret}: rotation is not enabled")]
    RotationDisabled {
        /// The secret.
        secret: String,
    },
    /// The token names no version of the secret.
    #[error("secret {secret}: version {version} is not a version of this secret")]
    UnknownVersion {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        version: String,
    },
    /// The token's version does not carry `AWSPENDING`.
    #[error("secret {secret}: version {version} is not set as AWSPENDING for rotation")]
    NotPending {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        version: String,
    },
    /// No version carries `AWSCURRENT`.
    #[error("secret {secret}: no version is labelled AWSCURRENT")]
    NoCurrentVersion {
        /// The secret.
        secret: String,
    },
    /// A stored value is missing when it must exist.
    #[error("secret {secret}: the {stage} value (version {version}) is missing")]
    MissingValue {
        /// The secret.
        secret: String,
        /// `AWSCURRENT` or `AWSPENDING`.
        stage: &'static str,
        /// The version looked at.
        version: String,
    },
    /// A stored value cannot be used.
    #[error("secret {secret}: the {stage} value is invalid: {source}")]
    InvalidSecret {
        /// The secret.
        secret: String,
        /// `AWSCURRENT`, `AWSPENDING` or `AWSPREVIOUS`.
        stage: &'static str,
        /// What is wrong.
        source: BackendError,
    },
    /// The backend failed during a step.
    #[error("secret {secret}: {step} failed: {source}")]
    Step {
        /// The secret.
        secret: String,
        /// The step's name.
        step: &'static str,
        /// What failed.
        source: BackendError,
    },
    /// A Secrets Manager call failed.
    #[error(transparent)]
    SecretsManager(#[from] SecretsManagerError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_failures_say_which_and_why() {
        let err = BackendError::Credentials(vec![
            CredentialFailure {
                role: CredentialRole::Current,
                target: "user \"app\" at db:5432".into(),
                kind: FailureKind::Authentication,
                detail: "password authentication failed".into(),
            },
            CredentialFailure {
                role: CredentialRole::Previous,
                target: "user \"app\" at db:5432".into(),
                kind: FailureKind::Tls,
                detail: "UnknownIssuer".into(),
            },
        ]);
        let text = err.to_string();
        assert!(text.contains("current credential"), "{text}");
        assert!(text.contains("authentication failed"), "{text}");
        assert!(text.contains("previous credential"), "{text}");
        assert!(text.contains("TLS failure"), "{text}");
    }

    #[test]
    fn invalid_secret_names_secret_stage_and_field() {
        let err = RotationError::InvalidSecret {
            secret: "arn:s".into(),
            stage: "AWSCURRENT",
            source: BackendError::field("host", "is missing"),
        };
        assert_eq!(
            err.to_string(),
            "secret arn:s: the AWSCURRENT value is invalid: field `host` is missing"
        );
    }
}
