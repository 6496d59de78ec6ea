//! JSON logging with `tracing`.

use tracing_subscriber::EnvFilter;

/// Libraries whose `info` lines are noise in a rotation log; they log at `warn`
/// unless `RUST_LOG` says otherwise.
const QUIET_LIBRARIES: &[&str] = &[
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_secretsmanager",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "hyper",
    "hyper_util",
    "rustls",
    "tokio_postgres",
];

/// The directives for `level` (e.g. `info`): that level for our lines, `warn`
/// for [`QUIET_LIBRARIES`].
pub fn directives(level: &str) -> String {
    let mut spec = level.to_owned();
    for library in QUIET_LIBRARIES {
        spec.push_str(&format!(",{library}=warn"));
    }
    spec
}

/// The log filter: `RUST_LOG` if set and valid, else Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn filter() -> EnvFilter {
    if let Ok(spec) = std::env::var("RUST_LOG") {
        if let Ok(filter) = EnvFilter::try_new(spec) {
            return filter;
        }
    }
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_else(|_| "info".to_owned());
    EnvFilter::try_new(directives(&level)).unwrap_or_else(|_| EnvFilter::new(directives("info")))
}

/// Installs a JSON subscriber writing one object per line to stdout (which
/// Lambda sends to CloudWatch Logs). Calling it twice is harmless.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter())
        .try_init();
}
