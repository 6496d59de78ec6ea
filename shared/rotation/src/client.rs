//! The Secrets Manager calls a rotation makes, on the AWS SDK for Rust.

use crate::deadline;
use crate::error::SecretsManagerError;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;
use std::collections::HashMap;

/// The staging label of the value in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The staging label of the value being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// The staging label of the value in use before the last rotation.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// What `DescribeSecret` says about a secret, as far as rotation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's full ARN.
    pub arn: String,
    /// `RotationEnabled`: `Some(false)` means rotation was explicitly turned off.
    pub rotation_enabled: Option<bool>,
    /// Every version that carries a staging label, with its labels.
    pub versions: HashMap<String, Vec<String>>,
    /// The secret's tags, as (key, value).
    pub tags: Vec<(String, String)>,
}

impl SecretMetadata {
    /// The version carrying `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// The value of tag `key`, if the secret has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `version` carries `stage`.
    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.versions
            .get(version)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// A secret value as read from the service.
pub struct SecretValue {
    /// The version it belongs to.
    pub version_id: String,
    /// The plaintext `SecretString`.
    pub value: SecretString,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("version_id", &self.version_id)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// The Secrets Manager client a rotation uses.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

/// The endpoint from `SECRETS_MANAGER_ENDPOINT`, as AWS's functions read it (empty means unset).
pub fn endpoint_from_env() -> Option<String> {
    std::env::var("SECRETS_MANAGER_ENDPOINT")
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn sdk_error<E>(operation: &'static str, secret: &str, err: E) -> SecretsManagerError
where
    E: std::error::Error,
{
    SecretsManagerError {
        operation,
        secret: secret.to_owned(),
        message: DisplayErrorContext(err).to_string(),
        out_of_time: false,
    }
}

/// Runs one API call within the invocation's remaining time (the SDK's own
/// retries included); running out is an error naming the call.
async fn timed<F: std::future::Future>(
    operation: &'static str,
    secret: &str,
    call: F,
) -> Result<F::Output, SecretsManagerError> {
    deadline::within(None, call)
        .await
        .map_err(|out_of_time| SecretsManagerError {
            operation,
            secret: secret.to_owned(),
            message: out_of_time.to_string(),
            out_of_time: true,
        })
}

impl SecretsManager {
    /// A client from the default AWS configuration chain (environment,
    /// profile, container or instance role). `SECRETS_MANAGER_ENDPOINT`, when
    /// set, overrides the endpoint, as in AWS's functions;
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` is honoured by the SDK itself.
    pub async fn from_env() -> Self {
        let shared = aws_config::load_from_env().await;
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&shared);
        if let Some(endpoint) = endpoint_from_env() {
            config = config.endpoint_url(endpoint);
        }
        Self::new(Client::from_conf(config.build()))
    }

    /// Wraps an existing SDK client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `DescribeSecret`.
    pub async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, SecretsManagerError> {
        let call = self.client.describe_secret().secret_id(secret_id).send();
        let out = timed("DescribeSecret", secret_id, call)
            .await?
            .map_err(|e| sdk_error("DescribeSecret", secret_id, e))?;
        Ok(SecretMetadata {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled(),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: out
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        })
    }

    /// `GetSecretValue` of the version with `stage` (and `version_id`, when
    /// given). `Ok(None)` when that version has no value or does not exist.
    pub async fn get_value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<SecretValue>, SecretsManagerError> {
        let call = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_owned))
            .version_stage(stage)
            .send();
        let result = timed("GetSecretValue", secret_id, call).await?;
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                let not_found = err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception());
                if not_found {
                    return Ok(None);
                }
                return Err(sdk_error("GetSecretValue", secret_id, err));
            }
        };
        let version = out.version_id().unwrap_or_default().to_owned();
        match out.secret_string {
            Some(value) => Ok(Some(SecretValue {
                version_id: version,
                value: SecretString::from(value),
            })),
            None => Err(SecretsManagerError {
                operation: "GetSecretValue",
                secret: secret_id.to_owned(),
                message: format!(
                    "version {version} ({stage}) holds a binary value; rotation needs a JSON SecretString"
                ),
                out_of_time: false,
            }),
        }
    }

    /// `PutSecretValue` of `value` as version `token` with stage `AWSPENDING`,
    /// passing the event's `RotationToken` on when there is one.
    pub async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), SecretsManagerError> {
        use secrecy::ExposeSecret;
        let call = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(str::to_owned))
            .send();
        timed("PutSecretValue", secret_id, call)
            .await?
            .map_err(|e| sdk_error("PutSecretValue", secret_id, e))?;
        Ok(())
    }

    /// `UpdateSecretVersionStage`: move `stage` to `move_to` and/or remove it
    /// from `remove_from`.
    pub async fn update_stage(
        &self,
        secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<(), SecretsManagerError> {
        let call = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(move_to.map(str::to_owned))
            .set_remove_from_version_id(remove_from.map(str::to_owned))
            .send();
        timed("UpdateSecretVersionStage", secret_id, call)
            .await?
            .map_err(|e| sdk_error("UpdateSecretVersionStage", secret_id, e))?;
        Ok(())
    }
}
