//! The AWS calls `rotation-ctl` makes: Secrets Manager (never
//! `GetSecretValue`), Lambda `Invoke` of a secret's rotation function, and
//! CloudWatch Logs reads of that function's log group. Endpoints, region
//! and credentials come from the standard chain (`AWS_PROFILE`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, …) over the project's one HTTP and TLS
//! stack ([`rotation::aws`]).

use crate::state::{from_epoch, VersionInfo};
use crate::CtlError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_secretsmanager::types::RotationRulesType;
use rotation::client::tag_pairs;
use std::collections::HashMap;
use std::time::SystemTime;

/// A secret's rotation settings and labels, from `DescribeSecret` or
/// `ListSecrets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// The secret's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether rotation is on.
    pub rotation_enabled: bool,
    /// The rotation function's ARN.
    pub function: Option<String>,
    /// `AutomaticallyAfterDays`.
    pub after_days: Option<i64>,
    /// `ScheduleExpression`.
    pub schedule_expression: Option<String>,
    /// `Duration`: the rotation window.
    pub window: Option<String>,
    /// When it was last rotated.
    pub last_rotated: Option<SystemTime>,
    /// When the service will rotate it next.
    pub next_rotation: Option<SystemTime>,
    /// `VersionIdsToStages`.
    pub stages: HashMap<String, Vec<String>>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

impl SecretInfo {
    /// The version carrying `stage`.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        crate::state::version_with(&self.stages, stage)
    }

    /// The rotation function's name (the ARN's last part).
    pub fn function_name(&self) -> Option<&str> {
        self.function
            .as_deref()
            .map(|arn| arn.rsplit(':').next().unwrap_or(arn))
    }

    /// The schedule in words: `every 30 days`, or the expression.
    pub fn schedule(&self) -> Option<String> {
        match (&self.schedule_expression, self.after_days) {
            (Some(expression), _) => Some(expression.clone()),
            (None, Some(days)) => Some(format!("every {days} days")),
            (None, None) => None,
        }
    }
}

/// `AutomaticallyAfterDays`, `ScheduleExpression` and `Duration`.
type Rules = (Option<i64>, Option<String>, Option<String>);

fn rules(rules: Option<&RotationRulesType>) -> Rules {
    (
        rules.and_then(|r| r.automatically_after_days()),
        rules
            .and_then(|r| r.schedule_expression())
            .map(str::to_owned),
        rules.and_then(|r| r.duration()).map(str::to_owned),
    )
}

fn time(value: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    value.and_then(|t| from_epoch(t.as_secs_f64()))
}

/// The clients, made once from the default configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    /// Clients from the standard configuration chain.
    pub async fn from_env() -> Self {
        let config = rotation::aws::sdk_config().await;
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        }
    }

    /// `DescribeSecret`.
    pub async fn describe(&self, secret_id: &str) -> Result<SecretInfo, CtlError> {
        let out = self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| CtlError::aws("DescribeSecret", secret_id, e))?;
        let (after_days, schedule_expression, window) = rules(out.rotation_rules());
        Ok(SecretInfo {
            name: out.name().unwrap_or(secret_id).to_owned(),
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            function: out.rotation_lambda_arn().map(str::to_owned),
            after_days,
            schedule_expression,
            window,
            last_rotated: time(out.last_rotated_date()),
            next_rotation: time(out.next_rotation_date()),
            stages: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: tag_pairs(out.tags()),
        })
    }

    /// Every secret (`ListSecrets`, all pages).
    pub async fn list(&self) -> Result<Vec<SecretInfo>, CtlError> {
        let mut secrets = Vec::new();
        let mut pages = self.secrets.list_secrets().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CtlError::aws("ListSecrets", "(all)", e))?;
            for entry in page.secret_list() {
                let (after_days, schedule_expression, window) = rules(entry.rotation_rules());
                secrets.push(SecretInfo {
                    name: entry.name().unwrap_or_default().to_owned(),
                    arn: entry.arn().unwrap_or_default().to_owned(),
                    rotation_enabled: entry.rotation_enabled().unwrap_or(false),
                    function: entry.rotation_lambda_arn().map(str::to_owned),
                    after_days,
                    schedule_expression,
                    window,
                    last_rotated: time(entry.last_rotated_date()),
                    next_rotation: time(entry.next_rotation_date()),
                    stages: entry
                        .secret_versions_to_stages()
                        .cloned()
                        .unwrap_or_default(),
                    tags: tag_pairs(entry.tags()),
                });
            }
        }
        Ok(secrets)
    }

    /// `ListSecretVersionIds` (labelled versions, all pages).
    pub async fn versions(&self, secret_id: &str) -> Result<Vec<VersionInfo>, CtlError> {
        let mut versions = Vec::new();
        let mut pages = self
            .secrets
            .list_secret_version_ids()
            .secret_id(secret_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CtlError::aws("ListSecretVersionIds", secret_id, e))?;
            for version in page.versions() {
                versions.push(VersionInfo {
                    id: version.version_id().unwrap_or_default().to_owned(),
                    stages: version.version_stages().to_vec(),
                    created: time(version.created_date()),
                    has_keys: !version.kms_key_ids().is_empty(),
                });
            }
        }
        Ok(versions)
    }

    /// `UpdateSecretVersionStage`: moves `stage` to `to` (if given) from
    /// `from` (if given).
    pub async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), CtlError> {
        self.secrets
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CtlError::aws("UpdateSecretVersionStage", secret_id, e))
    }

    /// Invokes `function` with `payload` and waits for its answer; a
    /// function error becomes [`CtlError::Function`].
    pub async fn invoke(
        &self,
        function: &str,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value, CtlError> {
        let out = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| CtlError::aws("Invoke", function, e))?;
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        let answer: serde_json::Value =
            serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        if let Some(kind) = out.function_error() {
            return Err(CtlError::Function {
                function: function.to_owned(),
                error_type: answer["errorType"].as_str().unwrap_or(kind).to_owned(),
                message: answer["errorMessage"]
                    .as_str()
                    .unwrap_or("(no message)")
                    .to_owned(),
            });
        }
        Ok(answer)
    }

    /// The log group `function` writes to: its `LoggingConfig.LogGroup`
    /// (the stack's, whose name CloudFormation chose), else Lambda's
    /// default `/aws/lambda/<name>` (also when the configuration cannot be
    /// read, e.g. without `lambda:GetFunctionConfiguration`).
    pub async fn log_group_of(&self, function: &str) -> String {
        let default = format!(
            "/aws/lambda/{}",
            function.rsplit(':').next().unwrap_or(function)
        );
        match self
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
        {
            Ok(config) => config
                .logging_config()
                .and_then(|c| c.log_group())
                .filter(|g| !g.is_empty())
                .map_or(default, str::to_owned),
            Err(_) => default,
        }
    }

    /// The function's JSON log lines in `group` since `start_ms` (epoch
    /// milliseconds), all pages; `Err` when the group cannot be read.
    pub async fn log_lines(
        &self,
        group: &str,
        start_ms: i64,
    ) -> Result<Vec<serde_json::Value>, CtlError> {
        let mut lines = Vec::new();
        let mut pages = self
            .logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CtlError::aws("FilterLogEvents", group, e))?;
            for event in page.events() {
                if let Some(line) = event
                    .message()
                    .and_then(|m| serde_json::from_str::<serde_json::Value>(m.trim()).ok())
                {
                    lines.push(line);
                }
            }
        }
        Ok(lines)
    }
}
