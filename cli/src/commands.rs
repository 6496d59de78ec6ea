//! The four commands. Each prints a table (or `--json`) on stdout and
//! returns the [`Exit`] code; progress goes to stderr.

use crate::clients::{Clients, SecretInfo};
use crate::recover::{plan, Plan};
use crate::state::{self, short_age, short_date, Pending, RotationState};
use crate::{CtlError, Exit};
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use rotation::operator::{CheckOutcome, PreflightReport, ProbeReport, Verdict};
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("rotation-ctl: the answer does not serialise: {error}"),
    }
}

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// The secret's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether rotation is on.
    pub rotation_enabled: bool,
    /// The rotation function's ARN.
    pub function: Option<String>,
    /// The schedule.
    pub schedule: Option<String>,
    /// The rotation window (`Duration`).
    pub window: Option<String>,
    /// Last rotation (RFC 3339).
    pub last_rotated: Option<String>,
    /// Next rotation (RFC 3339).
    pub next_rotation: Option<String>,
    /// Whether the next rotation's date has passed.
    pub overdue: bool,
    /// The state the labels show.
    pub state: RotationState,
    /// A stuck rotation's pending version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

impl StatusRow {
    fn exit(&self) -> Exit {
        if self.state.is_stuck() {
            Exit::Failed
        } else if self.overdue {
            Exit::Overdue
        } else {
            Exit::Healthy
        }
    }
}

fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    time.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

/// The status of one secret: its settings, and its state from the labels
/// (`ListSecretVersionIds` only when `AWSPENDING` sits on another version).
pub async fn status_of(clients: &Clients, info: &SecretInfo) -> Result<StatusRow, CtlError> {
    let now = SystemTime::now();
    let (state, pending) = if state::pending_elsewhere(
        info.version_with("AWSCURRENT"),
        info.version_with("AWSPENDING"),
    ) {
        let versions = clients.versions(&info.arn).await?;
        state::classify(&versions, now)
    } else {
        (RotationState::Healthy, None)
    };
    Ok(StatusRow {
        name: info.name.clone(),
        arn: info.arn.clone(),
        rotation_enabled: info.rotation_enabled,
        function: info.function.clone(),
        schedule: info.schedule(),
        window: info.window.clone(),
        last_rotated: rfc3339(info.last_rotated),
        next_rotation: rfc3339(info.next_rotation),
        overdue: state::overdue(info.rotation_enabled, info.next_rotation, now),
        state,
        pending,
    })
}

/// `status`: one row per secret named, or every secret (`all`), or those
/// tagged `tag` (`KEY=VALUE`).
pub async fn status(
    clients: &Clients,
    secrets: &[String],
    all: bool,
    tag: Option<(String, String)>,
    as_json: bool,
) -> Result<Exit, CtlError> {
    let mut infos = Vec::new();
    for secret in secrets {
        infos.push(clients.describe(secret).await?);
    }
    if all || tag.is_some() {
        let listed = clients.list().await?;
        infos.extend(listed.into_iter().filter(|info| {
            tag.as_ref()
                .is_none_or(|(key, value)| info.tags.iter().any(|(k, v)| k == key && v == value))
        }));
    }
    if infos.is_empty() {
        return Err(CtlError::Usage(
            "no secret to show: name secrets, or use --all or --tag KEY=VALUE".to_owned(),
        ));
    }
    let mut rows = Vec::new();
    for info in &infos {
        rows.push(status_of(clients, info).await?);
    }
    let exit = rows
        .iter()
        .map(StatusRow::exit)
        .max()
        .unwrap_or(Exit::Healthy);
    if as_json {
        print_json(&json!({ "secrets": rows, "exit_code": exit.code() }));
        return Ok(exit);
    }
    let mut out = table(&[
        "SECRET",
        "FUNCTION",
        "ROTATION",
        "LAST ROTATED",
        "NEXT",
        "STATE",
    ]);
    for (row, info) in rows.iter().zip(&infos) {
        let next = info
            .next_rotation
            .map(|t| short_date(t).chars().take(10).collect::<String>())
            .unwrap_or_default();
        let state = match &row.pending {
            Some(pending) => format!(
                "{}: AWSPENDING {}{}",
                row.state.as_str(),
                short_id(&pending.version_id),
                pending
                    .age_seconds
                    .map(|age| format!(", {}", short_age(age)))
                    .unwrap_or_default()
            ),
            None => row.state.as_str().to_owned(),
        };
        let rotation = match (row.rotation_enabled, &row.schedule, &row.window) {
            (false, _, _) => "off".to_owned(),
            (true, Some(schedule), Some(window)) => format!("{schedule}, window {window}"),
            (true, Some(schedule), None) => schedule.clone(),
            (true, None, _) => "on".to_owned(),
        };
        out.add_row(vec![
            Cell::new(&row.name),
            Cell::new(info.function_name().unwrap_or("-")),
            Cell::new(rotation),
            Cell::new(
                info.last_rotated
                    .map(short_date)
                    .unwrap_or_else(|| "never".into()),
            ),
            if row.overdue {
                Cell::new(format!("{next} OVERDUE")).fg(Color::Yellow)
            } else {
                Cell::new(next)
            },
            match row.state {
                RotationState::Healthy => Cell::new(state).fg(Color::Green),
                _ => Cell::new(state).fg(Color::Red),
            },
        ]);
    }
    println!("{out}");
    if rows.iter().any(|r| r.state.is_stuck()) {
        println!("A stuck rotation blocks every later one: run `rotation-ctl recover SECRET`.");
    }
    Ok(exit)
}

fn short_id(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}

/// The secret's rotation function, or a usage error saying how to set one.
fn function_of(info: &SecretInfo) -> Result<&str, CtlError> {
    info.function.as_deref().ok_or_else(|| {
        CtlError::Usage(format!(
            "secret {} has no rotation function: configure rotation first \
             (aws secretsmanager rotate-secret --secret-id {} --rotation-lambda-arn …)",
            info.name, info.arn
        ))
    })
}

/// A function that predates operator events answers them as a malformed
/// rotation event: say so.
fn operator_event_error(error: CtlError) -> CtlError {
    match error {
        CtlError::Function {
            function,
            error_type,
            message,
        } if error_type == "InvalidEvent" && message.contains("Step") => CtlError::Usage(format!(
            "the rotation function {function} does not know operator events \
             (it answered: {message}); deploy this release of the function"
        )),
        other => other,
    }
}

/// `preflight`: the function's checks, one row each.
pub async fn preflight(clients: &Clients, secret: &str, as_json: bool) -> Result<Exit, CtlError> {
    let info = clients.describe(secret).await?;
    let function = function_of(&info)?;
    let answer = clients
        .invoke(
            function,
            &json!({"Action": "preflight", "SecretId": info.arn}),
        )
        .await
        .map_err(operator_event_error)?;
    let report: PreflightReport = serde_json::from_value(answer).map_err(|e| {
        CtlError::Usage(format!(
            "the rotation function {function} answered something that is not a preflight report: {e}"
        ))
    })?;
    let exit = if report.passed() {
        Exit::Healthy
    } else {
        Exit::Failed
    };
    if as_json {
        print_json(&json!({
            "secret_arn": report.secret_arn,
            "function": function,
            "passed": report.passed(),
            "checks": report.checks,
        }));
        return Ok(exit);
    }
    let mut out = table(&["CHECK", "RESULT", "DETAIL"]);
    for check in &report.checks {
        let result = match &check.failure_kind {
            Some(kind) => format!("{} ({kind})", check.outcome),
            None => check.outcome.to_string(),
        };
        let color = match check.outcome {
            CheckOutcome::Pass => Color::Green,
            CheckOutcome::Warn => Color::Yellow,
            CheckOutcome::Fail => Color::Red,
            CheckOutcome::Skip => Color::Grey,
        };
        out.add_row(vec![
            Cell::new(&check.name),
            Cell::new(result).fg(color),
            Cell::new(&check.detail),
        ]);
    }
    println!("Preflight of {} through {function}", info.name);
    println!("{out}");
    println!(
        "{}",
        if report.passed() {
            "A rotation would succeed."
        } else {
            "A rotation would fail: fix the failed checks above."
        }
    );
    Ok(exit)
}

/// `recover`: probe, plan, and with `apply` carry the plan out.
pub async fn recover(
    clients: &Clients,
    secret: &str,
    apply: bool,
    as_json: bool,
) -> Result<Exit, CtlError> {
    let info = clients.describe(secret).await?;
    let row = status_of(clients, &info).await?;
    if !row.state.is_stuck() {
        if as_json {
            print_json(
                &json!({"secret_arn": info.arn, "state": row.state, "plan": null, "applied": false}),
            );
        } else {
            println!(
                "{}: not stuck (no AWSPENDING on another version); nothing to recover.",
                info.name
            );
        }
        return Ok(Exit::Healthy);
    }
    let function = function_of(&info)?;
    let answer = clients
        .invoke(function, &json!({"Action": "probe", "SecretId": info.arn}))
        .await
        .map_err(operator_event_error)?;
    let probe: ProbeReport = serde_json::from_value(answer).map_err(|e| {
        CtlError::Usage(format!(
            "the rotation function {function} answered something that is not a probe report: {e}"
        ))
    })?;
    let plan = plan(&probe);
    let commands = plan.commands(&info.arn);
    let mut applied = false;
    if apply && !commands.is_empty() {
        match &plan {
            Plan::RollForward { pending, current } => {
                clients
                    .move_stage(&info.arn, "AWSCURRENT", Some(pending), Some(current))
                    .await?;
                clients
                    .move_stage(&info.arn, "AWSPENDING", None, Some(pending))
                    .await?;
            }
            Plan::RollBack { pending, .. } => {
                clients
                    .move_stage(&info.arn, "AWSPENDING", None, Some(pending))
                    .await?;
            }
            Plan::Manual { .. } => {}
        }
        applied = true;
    }
    let exit = if applied { Exit::Healthy } else { Exit::Failed };
    if as_json {
        print_json(&json!({
            "secret_arn": info.arn,
            "state": row.state,
            "probe": probe.versions,
            "plan": plan,
            "commands": commands,
            "applied": applied,
        }));
        return Ok(exit);
    }
    println!(
        "{} is {}: its function {} was asked which stored version the backend accepts.",
        info.name,
        row.state.as_str(),
        info.function_name().unwrap_or(function)
    );
    let mut out = table(&["VERSION", "LABELS", "BACKEND", "DETAIL"]);
    for version in &probe.versions {
        let color = match version.verdict {
            Verdict::Accepted => Color::Green,
            _ => Color::Red,
        };
        out.add_row(vec![
            Cell::new(&version.version_id),
            Cell::new(version.stages.join(", ")),
            Cell::new(version.verdict.as_str()).fg(color),
            Cell::new(&version.detail),
        ]);
    }
    println!("{out}");
    match &plan {
        Plan::RollForward { .. } => println!(
            "Plan: roll forward. The backend accepts the pending value: move AWSCURRENT to it, \
             as finishSecret would have."
        ),
        Plan::RollBack { reason, .. } => println!("Plan: roll back. {reason}."),
        Plan::Manual { reason } => println!("No stored value to roll to: {reason}."),
    }
    if !commands.is_empty() {
        println!(
            "{}",
            if applied {
                "Applied; the equivalent commands:"
            } else {
                "The equivalent commands (run them, or rotation-ctl recover --apply):"
            }
        );
        for command in &commands {
            println!("  {command}");
        }
    }
    if applied {
        println!("Recovered. The next rotation starts afresh: rotation-ctl rotate {secret} --wait");
    }
    Ok(exit)
}

/// What a step's log line said.
#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    /// The step.
    pub step: String,
    /// `done`, `skipped: …` or `failed`.
    pub outcome: String,
    /// How long it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// On failure: the kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// On failure: the error line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `"rotation step"` lines of `version`, in order.
fn step_lines(lines: &[serde_json::Value], version: &str) -> Vec<StepLine> {
    lines
        .iter()
        .filter(|l| l["message"] == "rotation step" && l["version"] == version)
        .map(|l| StepLine {
            step: l["step"].as_str().unwrap_or("?").to_owned(),
            outcome: l["outcome"].as_str().unwrap_or("?").to_owned(),
            duration_ms: l["duration_ms"].as_f64(),
            failure_kind: l["failure_kind"].as_str().map(str::to_owned),
            error: l["error"].as_str().map(str::to_owned),
        })
        .collect()
}

/// What to do after a step failed with `failure_kind`.
pub fn next_step(failure_kind: Option<&str>) -> &'static str {
    match failure_kind {
        Some("authentication") => {
            "the backend refused the credential the error names: check that user and password on the backend"
        }
        Some("tls") => "the TLS handshake failed: check the server's certificate, TLS_EXTRA_CA_FILE and the secret's \"ssl\"",
        Some("network") | Some("timeout") => {
            "the backend did not answer in time: check host, port, security groups and the function's VPC"
        }
        Some("permission") => "the user or admin lacks a privilege: rotation-ctl preflight names it",
        Some("invalid_secret") => "a stored value is wrong: the error names the field",
        Some("admin_secret") => "the admin secret named by masterarn is unusable: check it and the function's access",
        Some("configuration") => "a function setting is unusable: check the function's environment",
        _ => "read the error above; rotation-ctl preflight checks the rest",
    }
}

/// How `rotate` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotateOutcome {
    /// RotateSecret accepted; not waited for.
    Started,
    /// `AWSCURRENT` moved to the new version.
    Succeeded,
    /// A step failed.
    Failed,
    /// Still running at the timeout.
    TimedOut,
}

/// `rotate`: refuses a stuck secret, starts a rotation with its own token,
/// and with `wait` follows it until it succeeds, fails or `timeout` passes.
pub async fn rotate(
    clients: &Clients,
    secret: &str,
    wait: bool,
    timeout: Duration,
    log_group: Option<String>,
    as_json: bool,
) -> Result<Exit, CtlError> {
    let info = clients.describe(secret).await?;
    let row = status_of(clients, &info).await?;
    if row.state.is_stuck() {
        let message = format!(
            "{} is {}: a previous rotation did not finish (AWSPENDING on version {}). \
             Run `rotation-ctl recover {secret}` first.",
            info.name,
            row.state.as_str(),
            row.pending.as_ref().map_or("?", |p| p.version_id.as_str())
        );
        if as_json {
            print_json(
                &json!({"secret_arn": info.arn, "outcome": "refused", "state": row.state, "error": message}),
            );
        } else {
            eprintln!("{message}");
        }
        return Ok(Exit::Failed);
    }
    let function = function_of(&info)?.to_owned();
    let group = match log_group {
        Some(group) => group,
        None => clients.log_group_of(&function).await,
    };
    let version = uuid::Uuid::new_v4().to_string();
    let started_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let started = Instant::now();
    let bar = if as_json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(format!("RotateSecret {} (version {version})", info.name));
        bar
    };
    let say = |text: String| {
        if !as_json {
            bar.suspend(|| println!("{text}"));
        }
    };
    let rotated = clients
        .secrets
        .rotate_secret()
        .secret_id(&info.arn)
        .client_request_token(&version)
        .send()
        .await;
    let mut shown = 0;
    let mut steps: Vec<StepLine> = Vec::new();
    let mut logs_readable = true;
    let finish = |outcome: RotateOutcome, steps: &[StepLine], error: Option<String>| {
        bar.finish_and_clear();
        if as_json {
            print_json(&json!({
                "secret_arn": info.arn,
                "version": version,
                "outcome": outcome,
                "steps": steps,
                "error": error,
            }));
        }
    };
    if let Err(error) = rotated {
        let error = CtlError::aws("RotateSecret", &info.arn, error);
        // Follow the logs once: a local emulator runs the steps inside the
        // call, and its error is the failed step's.
        if let Ok(lines) = clients.log_lines(&group, started_ms - 2000).await {
            steps = step_lines(&lines, &version);
        }
        for line in &steps {
            say(step_text(line));
        }
        let failure_kind = steps.iter().rev().find_map(|s| s.failure_kind.clone());
        finish(RotateOutcome::Failed, &steps, Some(error.to_string()));
        if !as_json {
            println!("✗ {error}");
            println!("Next: {}.", next_step(failure_kind.as_deref()));
            println!(
                "Then: rotation-ctl recover {secret} (if a rotation is stuck), and rotate again."
            );
        }
        return Ok(Exit::Failed);
    }
    say(format!(
        "Rotation of {} started: version {version}, function {}",
        info.name,
        info.function_name().unwrap_or(&function)
    ));
    if !wait {
        finish(RotateOutcome::Started, &steps, None);
        if !as_json {
            println!("Follow it: rotation-ctl status {secret}; logs: {group}");
        }
        return Ok(Exit::Healthy);
    }
    loop {
        let now = clients.describe(&info.arn).await?;
        let labels = now.stages.get(&version).cloned().unwrap_or_default();
        let succeeded = labels.iter().any(|l| l == "AWSCURRENT");
        if logs_readable {
            match clients.log_lines(&group, started_ms - 2000).await {
                Ok(lines) => steps = step_lines(&lines, &version),
                Err(error) => {
                    logs_readable = false;
                    say(format!(
                        "(the function's log group cannot be read: {error}; following the labels only)"
                    ));
                }
            }
        }
        for line in steps.iter().skip(shown) {
            say(step_text(line));
        }
        shown = steps.len();
        if let Some(failed) = steps.iter().find(|s| s.outcome == "failed") {
            let failure_kind = failed.failure_kind.clone();
            let error = failed.error.clone();
            finish(RotateOutcome::Failed, &steps, error.clone());
            if !as_json {
                println!(
                    "✗ Rotation failed at {}: {}",
                    failed.step,
                    error.unwrap_or_default()
                );
                println!("Next: {}.", next_step(failure_kind.as_deref()));
                println!(
                    "Then: rotation-ctl recover {secret} (AWSPENDING stays on version {version}), and rotate again."
                );
            }
            return Ok(Exit::Failed);
        }
        if succeeded {
            finish(RotateOutcome::Succeeded, &steps, None);
            if !as_json {
                println!(
                    "✓ Rotated {}: AWSCURRENT is version {version} ({:.1} s).",
                    info.name,
                    started.elapsed().as_secs_f64()
                );
            }
            return Ok(Exit::Healthy);
        }
        let phase = if labels.iter().any(|l| l == "AWSPENDING") {
            match steps.last() {
                Some(last) => format!("after {} ({})", last.step, last.outcome),
                None => "AWSPENDING staged, steps running".to_owned(),
            }
        } else {
            "waiting for the service".to_owned()
        };
        bar.set_message(format!("{}: {phase}", info.name));
        if started.elapsed() >= timeout {
            finish(
                RotateOutcome::TimedOut,
                &steps,
                Some(format!(
                    "still running after {}",
                    humantime::format_duration(timeout)
                )),
            );
            if !as_json {
                println!(
                    "… still running after {}: rotation-ctl status {secret}; logs: {group}",
                    humantime::format_duration(timeout)
                );
            }
            return Ok(Exit::Failed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn step_text(line: &StepLine) -> String {
    let duration = line
        .duration_ms
        .map(|ms| format!(" ({ms:.0} ms)"))
        .unwrap_or_default();
    if line.outcome == "failed" {
        format!(
            "  ✗ {:<13} failed{}{duration}",
            line.step,
            line.failure_kind
                .as_deref()
                .map(|k| format!(" [{k}]"))
                .unwrap_or_default()
        )
    } else {
        format!("  ✓ {:<13} {}{duration}", line.step, line.outcome)
    }
}
