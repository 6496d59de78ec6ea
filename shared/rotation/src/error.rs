//! Errors. None of them ever holds a secret value: messages name the secret,
//! the stage, the field and the credential, never what they contain.

use crate::deadline::OutOfTime;
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

impl FailureKind {
    /// The stable `failure_kind` word for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "network",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Authentication => "authentication",
            FailureKind::Permission => "permission",
            FailureKind::Other => "backend",
        }
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
    #[error("{action} failed: {}{detail}", kind_prefix(*.kind))]
    Operation {
        /// What was being done, e.g. `setting the password of user "app"`.
        action: String,
        /// The class of failure ([`FailureKind::Other`] when unknown).
        kind: FailureKind,
        /// The server's own words, free of secrets.
        detail: String,
    },
    /// An operation did not finish within its limit or the invocation's
    /// remaining time.
    #[error("{operation}: {source}")]
    OutOfTime {
        /// What was being done, e.g. `setting the password of user "app"`.
        operation: String,
        /// How much time it had, and which limit it hit.
        source: OutOfTime,
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
    /// An AWS API other than the rotation's Secrets Manager calls failed
    /// (e.g. the RDS lookup of an admin secret's database).
    #[error(transparent)]
    AwsApi(#[from] AwsApiError),
    /// Something that should not happen did (a bug, not an input problem).
    #[error("internal error (please report it): {0}")]
    Internal(String),
    /// Reading another secret (e.g. the admin secret) failed.
    #[error("{0}")]
    SecretsManager(#[from] SecretsManagerError),
}

fn kind_prefix(kind: FailureKind) -> String {
    match kind {
        FailureKind::Other => String::new(),
        kind => format!("{kind}: "),
    }
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

    /// Shorthand for an [`BackendError::Operation`] of unknown class.
    pub fn operation(action: impl Into<String>, detail: impl Into<String>) -> Self {
        BackendError::Operation {
            action: action.into(),
            kind: FailureKind::Other,
            detail: detail.into(),
        }
    }

    /// The stable `failure_kind` word for logs and metrics (see
    /// [`RotationError::failure_kind`]).
    pub fn failure_kind(&self) -> &'static str {
        match self {
            BackendError::InvalidJson(_) | BackendError::InvalidField { .. } => "invalid_secret",
            // The first credential tried says most: later ones are fallbacks.
            BackendError::Credentials(failures) => failures
                .first()
                .map_or("authentication", |failure| failure.kind.code()),
            BackendError::Operation { kind, .. } => kind.code(),
            BackendError::OutOfTime { .. } => "timeout",
            BackendError::AdminSecret { .. } => "admin_secret",
            BackendError::Password(_) | BackendError::Config(_) => "configuration",
            BackendError::AwsApi(_) => "aws_api",
            BackendError::Internal(_) => "internal",
            BackendError::SecretsManager(error) => error.failure_kind(),
        }
    }
}

/// `text` with every non-empty string of `secrets` replaced by
/// `[REDACTED]`: for a server's message that may quote what it was sent (a
/// statement, a command's arguments).
pub fn redact(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[REDACTED]");
    }
    text
}

/// A call to an AWS API other than the rotation's own Secrets Manager calls
/// failed, or answered that what was asked for does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation} {resource}: {message}")]
pub struct AwsApiError {
    /// The service, e.g. `RDS`.
    pub service: &'static str,
    /// The API action, e.g. `DescribeDBClusters`.
    pub operation: &'static str,
    /// What the call was about (an ARN or identifier).
    pub resource: String,
    /// The service's or SDK's message.
    pub message: String,
}

impl AwsApiError {
    /// A failed call of `operation` on `service` about `resource`, with the
    /// SDK's error and its causes as the message.
    pub fn from_sdk(
        service: &'static str,
        operation: &'static str,
        resource: &str,
        error: impl std::error::Error,
    ) -> Self {
        Self {
            service,
            operation,
            resource: resource.to_owned(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
        }
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
    /// Whether the call ran out of the invocation's time.
    pub out_of_time: bool,
}

impl SecretsManagerError {
    /// `timeout` when the call ran out of time, else `secrets_manager`.
    pub fn failure_kind(&self) -> &'static str {
        if self.out_of_time {
            "timeout"
        } else {
            "secrets_manager"
        }
    }
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
    /// The step did not finish within the invocation's time (a last guard:
    /// operations inside it normally report their own timeout first).
    #[error("secret {secret}: {step} ran out of time: {source}")]
    OutOfTime {
        /// The secret.
        secret: String,
        /// The step's name.
        step: &'static str,
        /// How much time it had.
        source: OutOfTime,
    },
}

/// Every `failure_kind` a failed step's log line can carry, for docs and
/// tests: one stable word per class of failure.
pub const FAILURE_KINDS: &[(&str, &str)] = &[
    ("invalid_event", "the invocation's event is not a rotation event"),
    ("rotation_disabled", "rotation is turned off on the secret"),
    (
        "secret_state",
        "the token is not a version of the secret, is not AWSPENDING, or a value the step needs is missing",
    ),
    ("invalid_secret", "a stored value is not valid JSON or a field is missing or wrong"),
    ("configuration", "a function setting (environment variable) or the password policy is unusable"),
    ("admin_secret", "the admin secret named by masterarn is unusable"),
    ("secrets_manager", "a Secrets Manager API call failed (permissions, network path, throttling)"),
    ("aws_api", "another AWS API call failed, e.g. the RDS lookup of an admin secret's database"),
    ("network", "the backend did not answer: refused, no route, name not found"),
    ("tls", "TLS failed: certificate not trusted, wrong host name, or no TLS on the server"),
    ("timeout", "an operation or the whole step ran out of time"),
    ("authentication", "the backend refused the user name or password"),
    ("permission", "logged in, but not allowed to do what the step needs"),
    ("backend", "any other error the backend reported"),
    ("internal", "a bug in the function: please report it"),
];

impl RotationError {
    /// The stable `failure_kind` word of this failure, one of
    /// [`FAILURE_KINDS`]: what a CloudWatch metric filter counts.
    pub fn failure_kind(&self) -> &'static str {
        match self {
            RotationError::InvalidEvent(_) => "invalid_event",
            RotationError::RotationDisabled { .. } => "rotation_disabled",
            RotationError::UnknownVersion { .. }
            | RotationError::NotPending { .. }
            | RotationError::NoCurrentVersion { .. }
            | RotationError::MissingValue { .. } => "secret_state",
            RotationError::InvalidSecret { .. } => "invalid_secret",
            RotationError::Step { source, .. } => source.failure_kind(),
            RotationError::SecretsManager(error) => error.failure_kind(),
            RotationError::OutOfTime { .. } => "timeout",
        }
    }
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

    #[test]
    fn every_failure_kind_is_a_documented_word() {
        let documented: Vec<&str> = FAILURE_KINDS.iter().map(|(k, _)| *k).collect();
        let failure = |kind| CredentialFailure {
            role: CredentialRole::Current,
            target: "t".into(),
            kind,
            detail: "d".into(),
        };
        let step = |source| RotationError::Step {
            secret: "s".into(),
            step: "setSecret",
            source,
        };
        let sm = |out_of_time| SecretsManagerError {
            operation: "GetSecretValue",
            secret: "s".into(),
            message: "m".into(),
            out_of_time,
        };
        let out_of_time = OutOfTime {
            allowed: std::time::Duration::from_secs(1),
            by_deadline: true,
        };
        let cases = [
            (RotationError::InvalidEvent("x".into()), "invalid_event"),
            (
                RotationError::RotationDisabled { secret: "s".into() },
                "rotation_disabled",
            ),
            (
                RotationError::NotPending {
                    secret: "s".into(),
                    version: "v".into(),
                },
                "secret_state",
            ),
            (
                step(BackendError::field("host", "is missing")),
                "invalid_secret",
            ),
            (
                step(BackendError::Credentials(vec![
                    failure(FailureKind::Unreachable),
                    failure(FailureKind::Authentication),
                ])),
                "network",
            ),
            (
                step(BackendError::credential(failure(FailureKind::Tls))),
                "tls",
            ),
            (
                step(BackendError::credential(failure(FailureKind::Timeout))),
                "timeout",
            ),
            (
                step(BackendError::credential(failure(
                    FailureKind::Authentication,
                ))),
                "authentication",
            ),
            (
                step(BackendError::Operation {
                    action: "a".into(),
                    kind: FailureKind::Permission,
                    detail: "d".into(),
                }),
                "permission",
            ),
            (step(BackendError::operation("a", "d")), "backend"),
            (
                step(BackendError::OutOfTime {
                    operation: "o".into(),
                    source: out_of_time,
                }),
                "timeout",
            ),
            (
                step(BackendError::AdminSecret {
                    secret: "a".into(),
                    reason: "r".into(),
                }),
                "admin_secret",
            ),
            (step(BackendError::Config("c".into())), "configuration"),
            (
                step(BackendError::AwsApi(AwsApiError {
                    service: "RDS",
                    operation: "DescribeDBClusters",
                    resource: "c".into(),
                    message: "m".into(),
                })),
                "aws_api",
            ),
            (step(BackendError::Internal("i".into())), "internal"),
            (RotationError::SecretsManager(sm(false)), "secrets_manager"),
            (RotationError::SecretsManager(sm(true)), "timeout"),
            (
                RotationError::OutOfTime {
                    secret: "s".into(),
                    step: "setSecret",
                    source: out_of_time,
                },
                "timeout",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.failure_kind(), expected, "{error}");
            assert!(
                documented.contains(&expected),
                "{expected} is not documented"
            );
        }
    }

    #[test]
    fn operations_name_their_class_unless_unknown() {
        let classified = BackendError::Operation {
            action: "setting the password".into(),
            kind: FailureKind::Permission,
            detail: "ERROR 1227".into(),
        };
        assert_eq!(
            classified.to_string(),
            "setting the password failed: permission denied: ERROR 1227"
        );
        assert_eq!(
            BackendError::operation("running a test query", "wrong user").to_string(),
            "running a test query failed: wrong user"
        );
    }
}
