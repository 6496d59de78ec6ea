//! CloudWatch metrics, written as one Embedded Metric Format (EMF) record per
//! step to the function's log: no API call and no extra permission, CloudWatch
//! Logs extracts the metrics from the log line.
//!
//! A record is one JSON object on its own line, next to the step's
//! `"rotation step"` line:
//!
//! * dimensions `function` (the Lambda function's name) and `step`, and
//!   `function` alone: [`STEP_DURATION`] (milliseconds), [`STEP_SUCCEEDED`],
//!   [`STEP_FAILED`] and [`COLD_START`] (0 or 1 each), and on finishSecret
//!   [`ROTATION_COMPLETED`];
//! * on a failure, a second directive with dimensions `function` and
//!   `failure_kind` (one of [`crate::FAILURE_KINDS`]): [`STEP_FAILED`] again,
//!   so failures can be counted by kind;
//! * plain fields that are never dimensions (their values are unbounded):
//!   `secret_arn`, `request_id`, `version`.
//!
//! The record has `"message": "rotation metrics"`, a `timestamp` in the log
//! lines' format and a `level` no lower than the function's log level
//! (`AWS_LAMBDA_LOG_LEVEL`): Lambda's log-level filtering drops lines below
//! it, and treats a line without a level as `INFO`, so a function logging at
//! `WARN` would otherwise lose every metric.
//!
//! Settings: `METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]) and
//! `METRICS_ENABLED` (default `true`).

use crate::event::Step;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The variable naming the CloudWatch namespace of the metrics.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
/// The variable that turns the metric records off (`false`).
pub const ENABLED_VAR: &str = "METRICS_ENABLED";
/// The namespace when [`NAMESPACE_VAR`] is not set.
pub const DEFAULT_NAMESPACE: &str = "SecretsRotation";
/// The `message` of a metric record's log line.
pub const MESSAGE: &str = "rotation metrics";

/// Metric: how long the step took, in milliseconds.
pub const STEP_DURATION: &str = "StepDuration";
/// Metric: 1 when the step succeeded (or had nothing to do), else 0.
pub const STEP_SUCCEEDED: &str = "StepSucceeded";
/// Metric: 1 when the step failed, else 0; by `failure_kind` too.
pub const STEP_FAILED: &str = "StepFailed";
/// Metric (finishSecret only): 1 when this finishSecret completed a
/// rotation (moved `AWSCURRENT`, or cleared the `AWSPENDING` an interrupted
/// finishSecret left), else 0.
pub const ROTATION_COMPLETED: &str = "RotationCompleted";
/// Metric: 1 on the first invocation a process handles, else 0.
pub const COLD_START: &str = "ColdStart";

/// Every metric name a record can hold, with its CloudWatch unit.
pub const METRICS: &[(&str, &str)] = &[
    (STEP_DURATION, "Milliseconds"),
    (STEP_SUCCEEDED, "Count"),
    (STEP_FAILED, "Count"),
    (ROTATION_COMPLETED, "Count"),
    (COLD_START, "Count"),
];

/// Dimension: the Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
pub const FUNCTION_DIMENSION: &str = "function";
/// Dimension: the step (`createSecret` … `finishSecret`; `unknown` when the
/// event could not be read).
pub const STEP_DIMENSION: &str = "step";
/// Dimension: the failure's kind (see [`crate::FAILURE_KINDS`]).
pub const FAILURE_KIND_DIMENSION: &str = "failure_kind";
/// The `step` dimension's value when the event named no step.
pub const UNKNOWN_STEP: &str = "unknown";

/// Why the metric settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsSettingError {
    /// The namespace is not one CloudWatch accepts.
    #[error("{NAMESPACE_VAR} {value:?}: {reason}")]
    Namespace {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The switch is not a boolean.
    #[error("{ENABLED_VAR} {0:?}: not a boolean (true or false)")]
    Enabled(String),
}

/// Where the metric records go, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// The CloudWatch namespace; `None` when the records are turned off.
    pub namespace: Option<String>,
    /// The Lambda function's name (the `function` dimension).
    pub function: String,
    /// The lowest level a record is written at: the function's log level.
    pub min_level: &'static str,
}

impl MetricsSettings {
    /// From the variables `lookup` gives: [`NAMESPACE_VAR`], [`ENABLED_VAR`],
    /// `AWS_LAMBDA_FUNCTION_NAME` (else `fallback_function`) and
    /// `AWS_LAMBDA_LOG_LEVEL`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        fallback_function: &str,
    ) -> Result<Self, MetricsSettingError> {
        let enabled = match lookup(ENABLED_VAR) {
            None => true,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "true" | "1" | "y" | "yes" => true,
                "false" | "0" | "n" | "no" => false,
                _ => return Err(MetricsSettingError::Enabled(value)),
            },
        };
        let namespace = match lookup(NAMESPACE_VAR) {
            Some(value) if !value.trim().is_empty() => check_namespace(value)?,
            _ => DEFAULT_NAMESPACE.to_owned(),
        };
        let function = lookup("AWS_LAMBDA_FUNCTION_NAME")
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| fallback_function.to_owned());
        let min_level = lookup(crate::logging::LOG_LEVEL_VAR)
            .as_deref()
            .and_then(crate::logging::lambda_level_name)
            .unwrap_or("INFO");
        Ok(Self {
            namespace: enabled.then_some(namespace),
            function,
            min_level,
        })
    }

    /// From the process environment; the function's name falls back to the
    /// executable's.
    pub fn from_env() -> Result<Self, MetricsSettingError> {
        let executable = std::env::current_exe()
            .ok()
            .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "rotation".to_owned());
        Self::from_lookup(|name| std::env::var(name).ok(), &executable)
    }
}

/// `value` if CloudWatch takes it as a namespace: 1 to 255 ASCII letters,
/// digits and `.-_/#: `, at least one not a space, not starting with `AWS/`
/// (reserved for AWS's own).
fn check_namespace(value: String) -> Result<String, MetricsSettingError> {
    let reason = if value.len() > 255 {
        Some("longer than 255 characters")
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        Some("only ASCII letters, digits, spaces and . - _ / # : are allowed")
    } else if value.starts_with("AWS/") {
        Some("namespaces starting with AWS/ are reserved for AWS services")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MetricsSettingError::Namespace { value, reason }),
        None => Ok(value),
    }
}

/// The more severe of two of Lambda's level names.
fn more_severe(a: &'static str, b: &'static str) -> &'static str {
    const ORDER: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |level: &str| ORDER.iter().position(|l| *l == level).unwrap_or(2);
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

static COLD: AtomicBool = AtomicBool::new(true);

/// `true` the first time a process calls it, then `false`.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// What one step did, for its metric record.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord<'a> {
    /// The step; `None` when the event could not be read.
    pub step: Option<Step>,
    /// `None` on success, else the failure's kind.
    pub failure_kind: Option<&'static str>,
    /// finishSecret only: whether it completed a rotation.
    pub rotation_completed: bool,
    /// How long the step took.
    pub duration_ms: f64,
    /// Whether this was the process's first invocation.
    pub cold_start: bool,
    /// The secret's ARN (or the id the event gave), a plain field.
    pub secret_arn: Option<&'a str>,
    /// Lambda's request id, a plain field.
    pub request_id: &'a str,
    /// The version (`ClientRequestToken`), a plain field.
    pub version: Option<&'a str>,
}

impl StepRecord<'_> {
    /// The EMF record for `settings` at `now`; `None` when records are off.
    pub fn to_emf(&self, settings: &MetricsSettings, now: SystemTime) -> Option<Value> {
        let namespace = settings.namespace.as_deref()?;
        let step = self.step.map_or(UNKNOWN_STEP, Step::as_str);
        let failed = self.failure_kind.is_some();
        let timestamp_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);

        let mut values: Vec<(&str, Value)> = vec![
            (STEP_DURATION, json!(round_ms(self.duration_ms))),
            (STEP_SUCCEEDED, json!(u8::from(!failed))),
            (STEP_FAILED, json!(u8::from(failed))),
            (COLD_START, json!(u8::from(self.cold_start))),
        ];
        if self.step == Some(Step::Finish) {
            values.push((ROTATION_COMPLETED, json!(u8::from(self.rotation_completed))));
        }
        let definitions = |names: &[&str]| -> Vec<Value> {
            names
                .iter()
                .map(|name| json!({"Name": name, "Unit": unit_of(name)}))
                .collect()
        };
        let names: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
        let mut directives = vec![json!({
            "Namespace": namespace,
            "Dimensions": [[FUNCTION_DIMENSION, STEP_DIMENSION], [FUNCTION_DIMENSION]],
            "Metrics": definitions(&names),
        })];
        if failed {
            directives.push(json!({
                "Namespace": namespace,
                "Dimensions": [[FUNCTION_DIMENSION, FAILURE_KIND_DIMENSION]],
                "Metrics": definitions(&[STEP_FAILED]),
            }));
        }

        let step_level = if failed { "ERROR" } else { "INFO" };
        let mut record = Map::new();
        record.insert(
            "_aws".to_owned(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        record.insert("timestamp".to_owned(), json!(log_timestamp()));
        record.insert(
            "level".to_owned(),
            json!(more_severe(step_level, settings.min_level)),
        );
        record.insert("message".to_owned(), json!(MESSAGE));
        record.insert(FUNCTION_DIMENSION.to_owned(), json!(settings.function));
        record.insert(STEP_DIMENSION.to_owned(), json!(step));
        if let Some(kind) = self.failure_kind {
            record.insert(FAILURE_KIND_DIMENSION.to_owned(), json!(kind));
        }
        for (name, value) in values {
            record.insert(name.to_owned(), value);
        }
        record.insert("request_id".to_owned(), json!(self.request_id));
        if let Some(arn) = self.secret_arn {
            record.insert("secret_arn".to_owned(), json!(arn));
        }
        if let Some(version) = self.version {
            record.insert("version".to_owned(), json!(version));
        }
        Some(Value::Object(record))
    }

    /// Writes the record as one line to stdout (which Lambda sends to
    /// CloudWatch Logs), in one write so it never interleaves with a log line.
    pub fn emit(&self, settings: &MetricsSettings) {
        let Some(record) = self.to_emf(settings, SystemTime::now()) else {
            return;
        };
        let mut line = record.to_string();
        line.push('\n');
        let mut stdout = std::io::stdout().lock();
        // A lost metric line must not fail the step.
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
}

/// The unit of a metric in [`METRICS`].
fn unit_of(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(metric, _)| *metric == name)
        .map_or("None", |(_, unit)| unit)
}

/// Milliseconds to three decimals (microseconds).
fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Now, as the JSON log lines write their `timestamp` (RFC 3339, UTC).
fn log_timestamp() -> String {
    let mut text = String::new();
    let _ = tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut text));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<MetricsSettings, MetricsSettingError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MetricsSettings::from_lookup(
            |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            },
            "rotate-test",
        )
    }

    fn record(step: Option<Step>, failure_kind: Option<&'static str>) -> StepRecord<'static> {
        StepRecord {
            step,
            failure_kind,
            rotation_completed: failure_kind.is_none(),
            duration_ms: 12.345_678,
            cold_start: true,
            secret_arn: Some("arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf"),
            request_id: "req-1",
            version: Some("v-1"),
        }
    }

    #[test]
    fn defaults_and_settings() {
        let default = settings(&[]).unwrap();
        assert_eq!(default.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
        assert_eq!(default.function, "rotate-test");
        assert_eq!(default.min_level, "INFO");
        let named = settings(&[
            (NAMESPACE_VAR, "Team/Rotation"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-rotate-postgres"),
            ("AWS_LAMBDA_LOG_LEVEL", "warn"),
        ])
        .unwrap();
        assert_eq!(named.namespace.as_deref(), Some("Team/Rotation"));
        assert_eq!(named.function, "stack-rotate-postgres");
        assert_eq!(named.min_level, "WARN");
        assert_eq!(settings(&[(ENABLED_VAR, "false")]).unwrap().namespace, None);
        assert_eq!(
            settings(&[(ENABLED_VAR, "maybe")]).unwrap_err().to_string(),
            "METRICS_ENABLED \"maybe\": not a boolean (true or false)"
        );
        for bad in ["AWS/Lambda", "a{b}", &"x".repeat(256)] {
            let error = settings(&[(NAMESPACE_VAR, bad)]).unwrap_err();
            assert!(error.to_string().starts_with(NAMESPACE_VAR), "{error}");
        }
    }

    #[test]
    fn a_success_has_one_directive_and_a_finish_counts_the_rotation() {
        let s = settings(&[]).unwrap();
        let emf = record(Some(Step::Finish), None)
            .to_emf(
                &s,
                UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123),
            )
            .unwrap();
        assert_eq!(emf["_aws"]["Timestamp"], 1_700_000_000_123_u64);
        let directives = emf["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        assert_eq!(
            directives[0]["Dimensions"],
            json!([["function", "step"], ["function"]])
        );
        assert_eq!(emf["function"], "rotate-test");
        assert_eq!(emf["step"], "finishSecret");
        assert_eq!(emf[STEP_DURATION], 12.346);
        assert_eq!(emf[STEP_SUCCEEDED], 1);
        assert_eq!(emf[STEP_FAILED], 0);
        assert_eq!(emf[ROTATION_COMPLETED], 1);
        assert_eq!(emf[COLD_START], 1);
        assert_eq!(emf["level"], "INFO");
        assert!(emf.get("failure_kind").is_none());
        // Not a finish: no rotation count.
        let set = record(Some(Step::Set), None)
            .to_emf(&s, SystemTime::now())
            .unwrap();
        assert!(set.get(ROTATION_COMPLETED).is_none());
    }

    #[test]
    fn a_failure_is_counted_by_kind_and_logged_at_least_at_the_functions_level() {
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).unwrap();
        let emf = record(None, Some("tls"))
            .to_emf(&s, SystemTime::now())
            .unwrap();
        let directives = emf["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(
            directives[1]["Dimensions"],
            json!([["function", "failure_kind"]])
        );
        assert_eq!(
            directives[1]["Metrics"],
            json!([{"Name": "StepFailed", "Unit": "Count"}])
        );
        assert_eq!(emf["step"], UNKNOWN_STEP);
        assert_eq!(emf["failure_kind"], "tls");
        assert_eq!(emf[STEP_FAILED], 1);
        assert_eq!(emf["level"], "FATAL");
        let info = settings(&[]).unwrap();
        let emf = record(None, Some("tls"))
            .to_emf(&info, SystemTime::now())
            .unwrap();
        assert_eq!(emf["level"], "ERROR");
    }

    #[test]
    fn records_can_be_turned_off() {
        let off = settings(&[(ENABLED_VAR, "no")]).unwrap();
        assert!(record(None, None).to_emf(&off, SystemTime::now()).is_none());
    }

    #[test]
    fn every_metric_has_a_cloudwatch_unit() {
        for (name, unit) in METRICS {
            assert!(["Milliseconds", "Count"].contains(unit), "{name}: {unit}");
            assert_eq!(unit_of(name), *unit);
        }
    }
}
