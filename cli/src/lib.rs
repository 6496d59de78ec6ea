//! `rotation-ctl`: the operators' tool for secrets these functions rotate.
//!
//! - `status`: rotation settings and the state the labels show (healthy,
//!   stuck-empty, stuck), read-only and value-free;
//! - `preflight`: asks the secret's own function, from inside its network,
//!   whether a rotation would succeed ([`rotation::operator`]);
//! - `recover`: for a stuck rotation, asks the function which stored
//!   version the backend accepts and rolls forward or back;
//! - `rotate`: starts a rotation and follows it step by step.
//!
//! Every command prints a table or `--json`, exits with an [`Exit`] code,
//! and never prints a secret value: it reads none (the function's answers
//! hold none either).

pub mod clients;
pub mod commands;
pub mod recover;
pub mod state;

use std::fmt;

/// The exit codes scripts can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: healthy, or the command did what was asked.
    Healthy = 0,
    /// 1: a rotation is overdue.
    Overdue = 1,
    /// 2: a rotation is stuck, failed, or would fail.
    Failed = 2,
    /// 3: bad usage, or an AWS call was refused or failed.
    Usage = 3,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a command could not do its work (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// An AWS call failed: the operation, what it was about, the service's
    /// code and message.
    #[error("{operation} {target}: {message}")]
    Aws {
        /// e.g. `DescribeSecret`.
        operation: &'static str,
        /// The secret or function.
        target: String,
        /// The service's error code and message.
        message: String,
    },
    /// The command cannot apply to this secret (no rotation function, …).
    #[error("{0}")]
    Usage(String),
    /// The rotation function answered with an error.
    #[error("the rotation function {function} answered {error_type}: {message}")]
    Function {
        /// The function's ARN.
        function: String,
        /// Lambda's `errorType`.
        error_type: String,
        /// Lambda's `errorMessage`.
        message: String,
    },
}

impl CtlError {
    /// An AWS SDK error, with the service's code and message when it gave
    /// them (the SDK's whole chain otherwise).
    pub fn aws<E>(operation: &'static str, target: &str, error: E) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let message = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayChain(&error).to_string(),
        };
        CtlError::Aws {
            operation,
            target: target.to_owned(),
            message,
        }
    }
}

/// An error and its sources, on one line.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
