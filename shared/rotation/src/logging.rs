//! Logging with `tracing`, as Lambda's advanced logging controls define it.
//!
//! * Format: `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`, any case), which
//!   Lambda sets from the function's `LoggingConfig`. JSON writes one object
//!   per line with `timestamp`, `level` (Lambda filters on it) and the
//!   fields of the invocation's span (`request_id`, `secret_arn`, `step`,
//!   `version`) at the top level of every line, warnings inside backends
//!   included. Without the variable (a local run) the format is JSON, the
//!   format the README's metric filters and queries are written for.
//! * Level: `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `FATAL`), which Lambda sets
//!   when an application log level is configured, wins; else `RUST_LOG`
//!   (a level, or `target=level` directives separated by commas, e.g.
//!   `debug,aws_config=info`); else `info`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Environment variable Lambda sets to the function's log format.
pub const LOG_FORMAT_VAR: &str = "AWS_LAMBDA_LOG_FORMAT";
/// Environment variable Lambda sets to the function's application log level.
pub const LOG_LEVEL_VAR: &str = "AWS_LAMBDA_LOG_LEVEL";

/// Libraries whose `info` lines are noise in a rotation log; they log at `warn`
/// unless `RUST_LOG` says otherwise.
const QUIET_LIBRARIES: &[&str] = &[
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_secretsmanager",
    "aws_sdk_rds",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "hyper",
    "hyper_util",
    "rustls",
    "tokio_postgres",
    "mysql_async",
];

/// Where `lambda_runtime` logs every raw event body at `trace` ("raw JSON
/// event received from Lambda"). A rotation event holds the
/// `RotationToken`, which AWS marks sensitive ("avoid logging the
/// information in this field"), so this target never logs below `debug`,
/// whatever `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` say.
const RAW_EVENT_TARGET: &str = "lambda_runtime::layers::api_response";

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Plain text lines.
    Text,
}

impl LogFormat {
    /// The format `AWS_LAMBDA_LOG_FORMAT` asks for: `Text` (any case) for
    /// text, anything else or nothing for JSON.
    pub fn from_setting(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "text" => LogFormat::Text,
            _ => LogFormat::Json,
        }
    }
}

/// The directives for `level` (e.g. `info`): that level for our lines, `warn`
/// for [`QUIET_LIBRARIES`] (unless `level` is quieter still).
pub fn directives(level: &str) -> String {
    let mut spec = level.to_owned();
    let quieter = matches!(level, "error" | "off");
    for library in QUIET_LIBRARIES {
        spec.push_str(&format!(
            ",{library}={}",
            if quieter { level } else { "warn" }
        ));
    }
    spec
}

/// Lambda's name of the level `value` names (any case; `WARNING` is
/// `WARN`): `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
pub fn lambda_level_name(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("TRACE"),
        "DEBUG" => Some("DEBUG"),
        "INFO" => Some("INFO"),
        "WARN" | "WARNING" => Some("WARN"),
        "ERROR" => Some("ERROR"),
        "FATAL" => Some("FATAL"),
        _ => None,
    }
}

/// Lambda's level names, mapped to `tracing`'s: `FATAL` is `error`.
fn lambda_level(value: &str) -> Option<&'static str> {
    lambda_level_name(value).map(|name| match name {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        _ => "error",
    })
}

/// The log filter, reading variables through `lookup`:
/// `AWS_LAMBDA_LOG_LEVEL` if set and valid, else `RUST_LOG` if set and
/// valid, else `info`.
/// The raw-event target is always capped at `debug` (see
/// [`RAW_EVENT_TARGET`]).
pub fn filter_from(lookup: impl Fn(&str) -> Option<String>) -> Targets {
    let chosen = lookup(LOG_LEVEL_VAR)
        .as_deref()
        .and_then(lambda_level)
        .and_then(|level| directives(level).parse::<Targets>().ok())
        .or_else(|| lookup("RUST_LOG").and_then(|spec| spec.parse::<Targets>().ok()))
        .unwrap_or_else(|| {
            directives("info")
                .parse::<Targets>()
                .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
        });
    // Only a filter that lets something through at trace can reach it.
    if max_level(&chosen) == LevelFilter::TRACE {
        chosen.with_target(RAW_EVENT_TARGET, LevelFilter::DEBUG)
    } else {
        chosen
    }
}

/// The most verbose level `filter` lets through for any target.
pub fn max_level(filter: &Targets) -> LevelFilter {
    filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF)
}

/// The log filter from the process environment (see [`filter_from`]).
pub fn filter() -> Targets {
    filter_from(|name| std::env::var(name).ok())
}

/// Installs the subscriber writing to stdout (which Lambda sends to
/// CloudWatch Logs) in the format and level Lambda's settings ask for.
/// Calling it twice is harmless.
pub fn init() {
    let format = LogFormat::from_setting(std::env::var(LOG_FORMAT_VAR).ok().as_deref());
    let registry = tracing_subscriber::registry().with(filter());
    let _ = match format {
        LogFormat::Json => registry
            .with(
                json_subscriber::fmt::layer()
                    .with_target(false)
                    .with_current_span(false)
                    .with_span_list(false)
                    .flatten_span_list_on_top_level(true)
                    .flatten_event(true),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(false),
            )
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_lambdas_setting() {
        assert_eq!(LogFormat::from_setting(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(Some("TEXT")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Json);
    }

    #[test]
    fn lambdas_level_wins_over_rust_log() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let level = |filter: Targets| max_level(&filter);
        let both = filter_from(env(&[(LOG_LEVEL_VAR, "WARN"), ("RUST_LOG", "trace")]));
        assert_eq!(level(both), LevelFilter::WARN);
        let fatal = filter_from(env(&[(LOG_LEVEL_VAR, "FATAL")]));
        assert_eq!(level(fatal), LevelFilter::ERROR);
        let rust_log = filter_from(env(&[("RUST_LOG", "debug")]));
        assert_eq!(level(rust_log), LevelFilter::DEBUG);
        let bad = filter_from(env(&[(LOG_LEVEL_VAR, "LOUD")]));
        assert_eq!(level(bad), LevelFilter::INFO);
    }

    #[test]
    fn raw_events_are_never_logged_even_at_trace() {
        for spec in [
            "trace",
            "lambda_runtime=trace",
            &format!("{RAW_EVENT_TARGET}=trace"),
        ] {
            let filter = filter_from(|name| (name == "RUST_LOG").then(|| spec.to_owned()));
            let text = filter.to_string();
            assert!(
                text.contains(&format!("{RAW_EVENT_TARGET}=debug")),
                "{text}"
            );
            assert!(
                !text.contains(&format!("{RAW_EVENT_TARGET}=trace")),
                "{text}"
            );
        }
    }
}
