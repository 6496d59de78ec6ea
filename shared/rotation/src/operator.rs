//! Operator events: read-only questions `rotation-ctl` asks a rotation
//! function from inside its network, where only the function reaches the
//! backend.
//!
//! - `{"Action": "preflight", "SecretId": …}`: would a rotation succeed? The
//!   driver checks what it owns (Secrets Manager answers, `AWSCURRENT`
//!   exists and parses) and then asks the backend ([`Backend::preflight`]:
//!   TLS, logging in, the privileges its strategy needs). The answer is a
//!   [`PreflightReport`].
//! - `{"Action": "probe", "SecretId": …}`: which of the labelled versions
//!   (`AWSCURRENT`, `AWSPENDING`, `AWSPREVIOUS`) does the backend accept
//!   now ([`Backend::accepts`])? The answer is a [`ProbeReport`], from which
//!   `rotation-ctl recover` proposes rolling a stuck rotation forward or
//!   back.
//!
//! Neither changes anything: no value is stored, no label moves, nothing is
//! set on the backend. Neither answer holds a secret value: checks report
//! causes (whose texts are secret-free like every error here), never
//! values. A function whose [`OPERATOR_EVENTS_VAR`] is `off` refuses both.

use crate::client::{SecretsManager, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use crate::driver::Backend;
use crate::error::{BackendError, CredentialRole};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The function setting that switches operator events off (`off`, `false`,
/// `0`, `no`); on by default.
pub const OPERATOR_EVENTS_VAR: &str = "OPERATOR_EVENTS";

/// Whether this function answers operator events ([`OPERATOR_EVENTS_VAR`]).
pub fn enabled() -> Result<bool, String> {
    match std::env::var(OPERATOR_EVENTS_VAR) {
        Err(_) => Ok(true),
        Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
            "" | "on" | "true" | "1" | "yes" | "y" => Ok(true),
            "off" | "false" | "0" | "no" | "n" => Ok(false),
            _ => Err(format!(
                "{OPERATOR_EVENTS_VAR} is {value:?}: expected `on` or `off`"
            )),
        },
    }
}

/// What an operator asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Would a rotation succeed? ([`PreflightReport`])
    Preflight,
    /// Which stored versions does the backend accept? ([`ProbeReport`])
    Probe,
}

impl Action {
    /// The action's name in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Preflight => "preflight",
            Action::Probe => "probe",
        }
    }
}

/// An operator event: `{"Action": "preflight" | "probe", "SecretId": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorEvent {
    /// What is asked.
    #[serde(rename = "Action")]
    pub action: Action,
    /// The secret's ARN or name.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
}

impl OperatorEvent {
    /// The operator event `value` is, if it is one (it has an `Action`
    /// field); `Err` names what is wrong with one that is malformed.
    pub fn from_json(value: &serde_json::Value) -> Option<Result<Self, String>> {
        value.get("Action")?;
        Some(
            serde_json::from_value::<OperatorEvent>(value.clone())
                .map_err(|e| format!("operator event: {e}"))
                .and_then(|event| {
                    if event.secret_id.is_empty() {
                        Err("operator event: field `SecretId` is empty".to_owned())
                    } else {
                        Ok(event)
                    }
                }),
        )
    }
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckOutcome {
    /// Holds.
    Pass,
    /// Holds, with something the operator should know (e.g. plaintext
    /// chosen by `"ssl": false`).
    Warn,
    /// Does not hold: a rotation would fail.
    Fail,
    /// Not run (an earlier check it needs failed, or it does not apply).
    Skip,
}

impl CheckOutcome {
    /// `pass`, `warn`, `fail` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "pass",
            CheckOutcome::Warn => "warn",
            CheckOutcome::Fail => "fail",
            CheckOutcome::Skip => "skip",
        }
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One preflight check: what was checked, how it came out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked, e.g. `log in with AWSCURRENT`.
    pub name: String,
    /// How it came out.
    pub outcome: CheckOutcome,
    /// The cause of a failure, or what was found; never a secret.
    pub detail: String,
    /// The failure's kind (`authentication`, `tls`, `permission`, …), when
    /// it failed for a reason the function classifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, CheckOutcome::Pass, detail)
    }

    /// A passed check with a warning.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, CheckOutcome::Warn, detail)
    }

    /// A check not run.
    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, CheckOutcome::Skip, detail)
    }

    /// A failed check, with the cause.
    pub fn fail(name: impl Into<String>, error: &BackendError) -> Self {
        Self {
            failure_kind: Some(error.failure_kind().to_owned()),
            ..Self::new(name, CheckOutcome::Fail, error.to_string())
        }
    }

    /// A check from a result: pass with `passed`, or fail with the error.
    pub fn from_result(name: impl Into<String>, result: Result<String, BackendError>) -> Self {
        match result {
            Ok(detail) => Self::pass(name, detail),
            Err(error) => Self::fail(name, &error),
        }
    }

    fn new(name: impl Into<String>, outcome: CheckOutcome, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome,
            detail: detail.into(),
            failure_kind: None,
        }
    }
}

/// A function's answer to a preflight event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// The secret's ARN.
    pub secret_arn: String,
    /// Every check, in the order they ran.
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// Whether a rotation would succeed: no check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != CheckOutcome::Fail)
    }
}

/// Whether the backend accepts one stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The backend accepts the credential.
    Accepted,
    /// The backend refuses it (or could not be asked: see the detail).
    Refused,
    /// The version holds no value (a rotation died in createSecret).
    Empty,
    /// The value does not parse.
    Invalid,
}

impl Verdict {
    /// `accepted`, `refused`, `empty` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Refused => "refused",
            Verdict::Empty => "empty",
            Verdict::Invalid => "invalid",
        }
    }
}

/// One labelled version and the backend's verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionProbe {
    /// The version id.
    pub version_id: String,
    /// Its labels.
    pub stages: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, when not accepted; never a secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The refusal's kind (`authentication`, `unreachable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
}

/// A function's answer to a probe event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The secret's ARN.
    pub secret_arn: String,
    /// The versions labelled `AWSCURRENT`, `AWSPENDING` or `AWSPREVIOUS`,
    /// in that order.
    pub versions: Vec<VersionProbe>,
}

impl ProbeReport {
    /// The probe of the version carrying `stage`.
    pub fn with_stage(&self, stage: &str) -> Option<&VersionProbe> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }
}

/// Why an operator event got no report.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The event is malformed.
    #[error("invalid operator event: {0}")]
    InvalidEvent(String),
    /// The function's [`OPERATOR_EVENTS_VAR`] switches operator events off
    /// (or holds something else than on/off).
    #[error("this function does not answer operator events: {0}")]
    Disabled(String),
    /// Secrets Manager failed (the probe needs it; preflight reports it
    /// as a failed check instead).
    #[error(transparent)]
    SecretsManager(#[from] crate::error::SecretsManagerError),
}

impl OperatorError {
    /// A short name for the Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            OperatorError::InvalidEvent(_) => "InvalidEvent",
            OperatorError::Disabled(_) => "OperatorEventsDisabled",
            OperatorError::SecretsManager(_) => "SecretsManagerError",
        }
    }
}

/// Answers one operator event: the report as JSON, or why there is none.
pub async fn answer<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    event: &OperatorEvent,
) -> Result<serde_json::Value, OperatorError> {
    match enabled() {
        Ok(true) => {}
        Ok(false) => {
            return Err(OperatorError::Disabled(format!(
                "{OPERATOR_EVENTS_VAR} is off"
            )))
        }
        Err(reason) => return Err(OperatorError::Disabled(reason)),
    }
    let report = match event.action {
        Action::Preflight => {
            serde_json::to_value(preflight(backend, secrets, &event.secret_id).await)
        }
        Action::Probe => serde_json::to_value(probe(backend, secrets, &event.secret_id).await?),
    };
    report.map_err(|e| OperatorError::InvalidEvent(format!("the report does not serialise: {e}")))
}

/// Everything [`Backend::preflight`] may use.
pub struct PreflightContext<'a> {
    /// The secret's ARN.
    pub secret_arn: &'a str,
    /// The Secrets Manager client (e.g. to read an admin secret).
    pub secrets: &'a SecretsManager,
}

/// The checks the driver runs before the backend's: Secrets Manager
/// answers and the secret is set up to rotate; `AWSCURRENT` exists and
/// parses. Then [`Backend::preflight`]'s.
pub async fn preflight<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    secret_id: &str,
) -> PreflightReport {
    let mut checks = Vec::new();
    let meta = match secrets.describe(secret_id).await {
        Ok(meta) => meta,
        Err(error) => {
            checks.push(Check::fail(
                "Secrets Manager answers (DescribeSecret)",
                &BackendError::SecretsManager(error),
            ));
            return PreflightReport {
                secret_arn: secret_id.to_owned(),
                checks,
            };
        }
    };
    checks.push(Check::pass(
        "Secrets Manager answers (DescribeSecret)",
        "the endpoint answered from the function's network",
    ));
    checks.push(match meta.rotation_enabled {
        Some(false) => Check::warn(
            "rotation is enabled",
            "rotation is disabled on this secret: a scheduled rotation will not run \
             (RotateSecret with this function enables it)",
        ),
        _ => Check::pass("rotation is enabled", "yes"),
    });
    let pending = meta.version_with(AWSPENDING);
    let current_version = meta.version_with(AWSCURRENT);
    checks.push(match (pending, current_version) {
        (Some(p), Some(c)) if p != c => Check {
            failure_kind: Some("other".to_owned()),
            ..Check::new(
                "no rotation in progress",
                CheckOutcome::Fail,
                format!(
                    "AWSPENDING is on version {p}, not on AWSCURRENT: a previous rotation \
                     did not finish and RotateSecret will refuse (rotation-ctl recover)"
                ),
            )
        },
        _ => Check::pass(
            "no rotation in progress",
            "no AWSPENDING on another version",
        ),
    });
    let name = "AWSCURRENT parses";
    let current = match secrets
        .get_value(&meta.arn, current_version, AWSCURRENT)
        .await
    {
        Ok(Some(value)) => match backend.parse(&value.value) {
            Ok(current) => current,
            Err(error) => {
                checks.push(Check::fail(name, &error));
                return PreflightReport {
                    secret_arn: meta.arn,
                    checks,
                };
            }
        },
        Ok(None) => {
            checks.push(Check {
                failure_kind: Some("other".to_owned()),
                ..Check::new(
                    name,
                    CheckOutcome::Fail,
                    "the secret has no AWSCURRENT value",
                )
            });
            return PreflightReport {
                secret_arn: meta.arn,
                checks,
            };
        }
        Err(error) => {
            checks.push(Check::fail(name, &BackendError::SecretsManager(error)));
            return PreflightReport {
                secret_arn: meta.arn,
                checks,
            };
        }
    };
    checks.push(Check::pass(
        name,
        "the value has every field this function needs",
    ));
    let ctx = PreflightContext {
        secret_arn: &meta.arn,
        secrets,
    };
    checks.extend(backend.preflight(&current, &ctx).await);
    PreflightReport {
        secret_arn: meta.arn,
        checks,
    }
}

/// The credential a stage's value is.
fn role_of(stage: &str) -> CredentialRole {
    match stage {
        AWSPENDING => CredentialRole::Pending,
        AWSPREVIOUS => CredentialRole::Previous,
        _ => CredentialRole::Current,
    }
}

/// Asks the backend about every labelled version ([`Backend::accepts`]),
/// changing nothing.
pub async fn probe<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    secret_id: &str,
) -> Result<ProbeReport, crate::error::SecretsManagerError> {
    let meta = secrets.describe(secret_id).await?;
    let mut versions = Vec::new();
    for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
        let Some(version) = meta.version_with(stage) else {
            continue;
        };
        if versions
            .iter()
            .any(|v: &VersionProbe| v.version_id == version)
        {
            continue;
        }
        let mut stages = meta.versions.get(version).cloned().unwrap_or_default();
        stages.sort();
        let probe = |verdict, detail: String, failure_kind: Option<String>| VersionProbe {
            version_id: version.to_owned(),
            stages: stages.clone(),
            verdict,
            detail,
            failure_kind,
        };
        let value = match secrets.get_value(&meta.arn, Some(version), stage).await? {
            None => {
                versions.push(probe(
                    Verdict::Empty,
                    "the version holds no value".to_owned(),
                    None,
                ));
                continue;
            }
            Some(value) => value,
        };
        let result = match backend.parse(&value.value) {
            Err(error) => probe(
                Verdict::Invalid,
                error.to_string(),
                Some(error.failure_kind().to_owned()),
            ),
            Ok(secret) => match backend.accepts(&secret, role_of(stage)).await {
                Ok(()) => probe(Verdict::Accepted, String::new(), None),
                Err(error) => probe(
                    Verdict::Refused,
                    error.to_string(),
                    Some(error.failure_kind().to_owned()),
                ),
            },
        };
        versions.push(result);
    }
    Ok(ProbeReport {
        secret_arn: meta.arn,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tells_operator_events_from_rotation_events() {
        assert!(OperatorEvent::from_json(
            &json!({"SecretId": "s", "ClientRequestToken": "t", "Step": "createSecret"})
        )
        .is_none());
        let event = OperatorEvent::from_json(&json!({"Action": "probe", "SecretId": "s"}))
            .unwrap()
            .unwrap();
        assert_eq!(event.action, Action::Probe);
        let bad = OperatorEvent::from_json(&json!({"Action": "drop", "SecretId": "s"}))
            .unwrap()
            .unwrap_err();
        assert!(bad.contains("drop"), "{bad}");
        let empty = OperatorEvent::from_json(&json!({"Action": "preflight", "SecretId": ""}))
            .unwrap()
            .unwrap_err();
        assert!(empty.contains("SecretId"), "{empty}");
    }

    #[test]
    fn a_report_passes_unless_a_check_failed() {
        let mut report = PreflightReport {
            secret_arn: "a".into(),
            checks: vec![Check::pass("x", "ok"), Check::warn("y", "plaintext")],
        };
        assert!(report.passed());
        report.checks.push(Check::fail(
            "z",
            &BackendError::Config("no privilege".into()),
        ));
        assert!(!report.passed());
        let text = serde_json::to_value(&report).unwrap();
        assert_eq!(text["checks"][2]["outcome"], "fail");
        assert_eq!(text["checks"][2]["failure_kind"], "configuration");
    }
}
