//! `rotation-ctl`: status, preflight, recover and rotate, for operators of
//! secrets these functions rotate. See the README's "Operating rotations".

use clap::{Parser, Subcommand};
use rotation_ctl::clients::Clients;
use rotation_ctl::{commands, CtlError, Exit};
use std::process::ExitCode;
use std::time::Duration;

/// Operate Secrets Manager rotations: see their state, check that one would
/// succeed, rescue a stuck one, and run one step by step.
///
/// Exit codes: 0 healthy, 1 overdue, 2 stuck or failed, 3 usage or access
/// error. No command prints a secret value.
#[derive(Debug, Parser)]
#[command(name = "rotation-ctl", version)]
struct Cli {
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rotation settings and state, one row per secret (read-only, reads no
    /// value).
    Status {
        /// Secret names or ARNs.
        secrets: Vec<String>,
        /// Every secret in the account and region.
        #[arg(long)]
        all: bool,
        /// Secrets with this tag, as KEY=VALUE.
        #[arg(long, value_parser = parse_tag)]
        tag: Option<(String, String)>,
    },
    /// Asks the secret's rotation function whether a rotation would succeed
    /// (TLS, login, privileges), changing nothing.
    Preflight {
        /// The secret's name or ARN.
        secret: String,
    },
    /// For a stuck rotation: asks the function which stored version the
    /// backend accepts, and rolls forward or back (only with --apply).
    Recover {
        /// The secret's name or ARN.
        secret: String,
        /// Carry the plan out (otherwise only print it).
        #[arg(long)]
        apply: bool,
    },
    /// Starts a rotation; with --wait, follows it step by step.
    Rotate {
        /// The secret's name or ARN.
        secret: String,
        /// Wait until it succeeds or fails, showing each step.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, e.g. 90s, 5m.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// The function's log group (default: the one its LoggingConfig names, else /aws/lambda/<function name>).
        #[arg(long)]
        log_group: Option<String>,
    },
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

async fn run(cli: Cli) -> Result<Exit, CtlError> {
    let clients = Clients::from_env().await;
    match cli.command {
        Command::Status { secrets, all, tag } => {
            commands::status(&clients, &secrets, all, tag, cli.json).await
        }
        Command::Preflight { secret } => commands::preflight(&clients, &secret, cli.json).await,
        Command::Recover { secret, apply } => {
            commands::recover(&clients, &secret, apply, cli.json).await
        }
        Command::Rotate {
            secret,
            wait,
            timeout,
            log_group,
        } => commands::rotate(&clients, &secret, wait, timeout, log_group, cli.json).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Healthy.code()
            });
        }
    };
    let as_json = cli.json;
    match run(cli).await {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            if as_json {
                println!("{}", serde_json::json!({ "error": error.to_string() }));
            }
            eprintln!("rotation-ctl: {error}");
            ExitCode::from(Exit::Usage.code())
        }
    }
}
