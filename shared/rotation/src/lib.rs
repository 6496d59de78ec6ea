//! The Secrets Manager rotation protocol, for any backend.
//!
//! A rotation function is a backend (an implementation of [`Backend`]) handed
//! to [`run`]:
//!
//! ```no_run
//! // The driver's async state machines nest deeply.
//! #![recursion_limit = "256"]
//! # use rotation::*;
//! # struct MyBackend;
//! # impl Backend for MyBackend {
//! #   type Secret = ();
//! #   fn parse(&self, _: &secrecy::SecretString) -> Result<(), BackendError> { Ok(()) }
//! #   fn serialize(&self, _: &()) -> Result<secrecy::SecretString, BackendError> { Ok("{}".to_owned().into()) }
//! #   async fn create_pending(&self, _: &(), _: &CreateContext<'_>) -> Result<(), BackendError> { Ok(()) }
//! #   async fn set_pending(&self, _: &SetContext<'_, ()>) -> Result<SetOutcome, BackendError> { Ok(SetOutcome::Changed) }
//! #   async fn test_pending(&self, _: &()) -> Result<(), BackendError> { Ok(()) }
//! # }
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     rotation::run(MyBackend).await
//! }
//! ```
//!
//! The driver does the rest: it reads the event, runs the pre-checks from one
//! `DescribeSecret`, reads and stores values, moves the staging labels and
//! logs one JSON line per step (secret ARN, step, version, outcome, duration;
//! never a secret value) and one CloudWatch metric record ([`metrics`]).

pub mod aws;
pub mod client;
pub mod deadline;
pub mod driver;
pub mod error;
pub mod event;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod operator;

pub use client::{
    ApiFuture, SdkSecretsApi, SecretMetadata, SecretValue, SecretsApi, SecretsManager, AWSCURRENT,
    AWSPENDING, AWSPREVIOUS,
};
pub use deadline::{Deadline, OutOfTime};
pub use driver::{
    crash_point, rotate, Backend, CreateContext, FinishContext, SetContext, SetOutcome,
    StepOutcome, CRASH_POINT_VAR,
};
pub use error::{
    redact, AwsApiError, BackendError, CredentialFailure, CredentialRole, FailureKind,
    RotationError, SecretsManagerError, FAILURE_KINDS,
};
pub use event::{RotationEvent, Step};
pub use operator::{Check, CheckOutcome, PreflightContext};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use metrics::{MetricsSettings, StepRecord};
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

impl RotationError {
    /// A short name for the kind of failure, used as the Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            RotationError::InvalidEvent(_) => "InvalidEvent",
            RotationError::RotationDisabled { .. } => "RotationDisabled",
            RotationError::UnknownVersion { .. } => "UnknownVersion",
            RotationError::NotPending { .. } => "NotPending",
            RotationError::NoCurrentVersion { .. } => "NoCurrentVersion",
            RotationError::MissingValue { .. } => "MissingValue",
            RotationError::InvalidSecret { .. } => "InvalidSecret",
            RotationError::Step { .. } => "StepFailed",
            RotationError::SecretsManager(_) => "SecretsManagerError",
            RotationError::OutOfTime { .. } => "OutOfTime",
        }
    }
}

/// What the Lambda runtime says about one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The Lambda request id.
    pub request_id: String,
    /// Lambda's deadline, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
}

impl Invocation {
    /// From the runtime's context.
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        Self {
            request_id: context.request_id.clone(),
            deadline_ms: context.deadline,
        }
    }
}

/// Extra time the step-level guard allows past the budget, so that an
/// operation that ran out of time reports itself (naming what it was doing)
/// before the guard does.
const GUARD_GRACE: Duration = Duration::from_millis(100);

/// Handles one invocation inside its own span (`request_id`, `secret_arn`,
/// `step`, `version`: on every line logged while it runs) and time budget
/// (Lambda's deadline less a safety margin): reads the event, runs the step,
/// logs one line with the outcome (and on failure `failure_kind`,
/// `error_type` and `error`), then writes the step's metric record.
pub async fn handle<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    payload: serde_json::Value,
    invocation: &Invocation,
    metric_settings: &MetricsSettings,
) -> Result<(), RotationError> {
    let span = tracing::info_span!(
        "rotation",
        request_id = %invocation.request_id,
        secret_arn = tracing::field::Empty,
        step = tracing::field::Empty,
        version = tracing::field::Empty,
    );
    let deadline = Deadline::from_epoch_millis(invocation.deadline_ms, SystemTime::now());
    deadline::scope(
        deadline,
        handle_in_span(
            backend,
            secrets,
            payload,
            deadline,
            invocation,
            metric_settings,
        ),
    )
    .instrument(span)
    .await
}

async fn handle_in_span<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    payload: serde_json::Value,
    deadline: Option<Deadline>,
    invocation: &Invocation,
    metric_settings: &MetricsSettings,
) -> Result<(), RotationError> {
    let started = Instant::now();
    let cold_start = metrics::take_cold_start();
    let event = match RotationEvent::from_json(payload) {
        Ok(event) => event,
        Err(reason) => {
            let error = RotationError::InvalidEvent(reason);
            tracing::error!(
                outcome = "failed",
                failure_kind = error.failure_kind(),
                error_type = error.kind(),
                error = %error,
                "rotation step"
            );
            StepRecord {
                step: None,
                failure_kind: Some(error.failure_kind()),
                rotation_completed: false,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                cold_start,
                secret_arn: None,
                request_id: &invocation.request_id,
                version: None,
            }
            .emit(metric_settings);
            return Err(error);
        }
    };
    let span = tracing::Span::current();
    span.record("secret_arn", event.secret_id.as_str());
    span.record("step", event.step.as_str());
    span.record("version", event.client_request_token.as_str());
    let budget_ms = deadline.map(|d| d.budget().as_millis() as u64);
    if deadline.is_none() {
        tracing::warn!(
            deadline_ms = invocation.deadline_ms,
            "the runtime gave no deadline in the future: this invocation has no time budget"
        );
    }

    let step = rotate(backend, secrets, &event);
    let result = match deadline {
        None => step.await,
        Some(deadline) => {
            match tokio::time::timeout_at(deadline.instant() + GUARD_GRACE, step).await {
                Ok(result) => result,
                Err(_) => Err(RotationError::OutOfTime {
                    secret: event.secret_id.clone(),
                    step: event.step.as_str(),
                    source: OutOfTime {
                        allowed: deadline.budget(),
                        by_deadline: true,
                    },
                }),
            }
        }
    };
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(outcome) => tracing::info!(
            outcome = outcome.as_str(),
            duration_ms,
            budget_ms,
            "rotation step"
        ),
        Err(error) => tracing::error!(
            outcome = "failed",
            failure_kind = error.failure_kind(),
            error_type = error.kind(),
            error = %error,
            duration_ms,
            budget_ms,
            "rotation step"
        ),
    }
    StepRecord {
        step: Some(event.step),
        failure_kind: result.as_ref().err().map(RotationError::failure_kind),
        rotation_completed: event.step == Step::Finish
            && matches!(&result, Ok(outcome) if outcome.completes_rotation()),
        duration_ms,
        cold_start,
        // The event's SecretId: Secrets Manager sends the full ARN.
        secret_arn: Some(&event.secret_id),
        request_id: &invocation.request_id,
        version: Some(&event.client_request_token),
    }
    .emit(metric_settings);
    result.map(|_| ())
}

/// Answers an operator event ([`operator`]) inside its own span and time
/// budget, logging one line with the action and its outcome (never a
/// value). No metric record: an operator's question is not a rotation.
pub async fn handle_operator<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    event: Result<operator::OperatorEvent, String>,
    invocation: &Invocation,
) -> Result<serde_json::Value, Diagnostic> {
    let span = tracing::info_span!(
        "operator",
        request_id = %invocation.request_id,
        secret_arn = tracing::field::Empty,
        action = tracing::field::Empty,
    );
    let deadline = Deadline::from_epoch_millis(invocation.deadline_ms, SystemTime::now());
    let started = Instant::now();
    let work = async {
        let event = event.map_err(operator::OperatorError::InvalidEvent)?;
        let span = tracing::Span::current();
        span.record("secret_arn", event.secret_id.as_str());
        span.record("action", event.action.as_str());
        operator::answer(backend, secrets, &event).await
    };
    let result = deadline::scope(deadline, work)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(report) => {
            let failed = report["checks"].as_array().map_or(0, |checks| {
                checks.iter().filter(|c| c["outcome"] == "fail").count()
            });
            tracing::info!(
                outcome = "answered",
                failed_checks = failed,
                duration_ms,
                "operator event"
            );
            Ok(report)
        }
        Err(error) => {
            tracing::error!(outcome = "failed", error_type = error.kind(), error = %error, duration_ms, "operator event");
            Err(Diagnostic {
                error_type: error.kind().to_owned(),
                error_message: error.to_string(),
            })
        }
    }
}

/// Runs `backend` as a Lambda function: sets up logging, builds the
/// Secrets Manager client once, then serves invocations until the runtime
/// stops. A failed step is returned to Lambda with the error's kind as
/// `errorType` and its (secret-free) message as `errorMessage`.
pub async fn run<B: Backend>(backend: B) -> Result<(), lambda_runtime::Error> {
    logging::init();
    // A bad setting is reported at start, before any invocation.
    let metric_settings = MetricsSettings::from_env().inspect_err(|error| {
        tracing::error!(%error, "the function's configuration is unusable");
    })?;
    let secrets = SecretsManager::from_env().await;
    let backend = &backend;
    let secrets = &secrets;
    let metric_settings = &metric_settings;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let invocation = Invocation::from_context(&event.context);
            if let Some(operator_event) = operator::OperatorEvent::from_json(&event.payload) {
                return handle_operator(backend, secrets, operator_event, &invocation).await;
            }
            handle(
                backend,
                secrets,
                event.payload,
                &invocation,
                metric_settings,
            )
            .await
            .map(|()| serde_json::Value::Null)
            .map_err(|error| Diagnostic {
                error_type: error.kind().to_owned(),
                error_message: error.to_string(),
            })
        },
    ))
    .await
}
