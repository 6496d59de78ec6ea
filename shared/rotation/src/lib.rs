//! The Secrets Manager rotation protocol, for any backend.
//!
//! A rotation function is a backend (an implementation of [`Backend`]) handed
//! to [`run`]:
//!
//! ```no_run
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
//! never a secret value).

pub mod client;
pub mod driver;
pub mod error;
pub mod event;
pub mod logging;

pub use client::{
    SecretMetadata, SecretValue, SecretsManager, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
pub use driver::{rotate, Backend, CreateContext, SetContext, SetOutcome, StepOutcome};
pub use error::{
    BackendError, CredentialFailure, CredentialRole, FailureKind, RotationError,
    SecretsManagerError,
};
pub use event::{RotationEvent, Step};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use std::time::Instant;

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
        }
    }
}

/// Handles one invocation: reads the event, runs the step, logs one line.
pub async fn handle<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    payload: serde_json::Value,
) -> Result<(), RotationError> {
    let started = Instant::now();
    let event = match RotationEvent::from_json(payload) {
        Ok(event) => event,
        Err(reason) => {
            let error = RotationError::InvalidEvent(reason);
            tracing::error!(outcome = "failed", error = %error, "rotation step");
            return Err(error);
        }
    };
    let mut arn = None;
    let result = rotate(backend, secrets, &event, &mut arn).await;
    let secret_arn = arn.as_deref().unwrap_or(&event.secret_id);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(outcome) => tracing::info!(
            secret_arn,
            step = event.step.as_str(),
            version = %event.client_request_token,
            outcome = outcome.as_str(),
            duration_ms,
            "rotation step"
        ),
        Err(error) => tracing::error!(
            secret_arn,
            step = event.step.as_str(),
            version = %event.client_request_token,
            outcome = "failed",
            error_type = error.kind(),
            error = %error,
            duration_ms,
            "rotation step"
        ),
    }
    result.map(|_| ())
}

/// Runs `backend` as a Lambda function: sets up JSON logging, builds the
/// Secrets Manager client once, then serves invocations until the runtime
/// stops. A failed step is returned to Lambda with the error's kind as
/// `errorType` and its (secret-free) message as `errorMessage`.
pub async fn run<B: Backend>(backend: B) -> Result<(), lambda_runtime::Error> {
    logging::init();
    let secrets = SecretsManager::from_env().await;
    let backend = &backend;
    let secrets = &secrets;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(backend, secrets, event.payload)
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
