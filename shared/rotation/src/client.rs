//! The Secrets Manager calls a rotation makes.
//!
//! [`SecretsManager`] is what the driver and backends use. Under it, the four
//! API actions go through the small [`SecretsApi`] trait, implemented by the
//! AWS SDK ([`SdkSecretsApi`]) and, for unit tests of the driver's
//! decisions, by the test kit's in-memory store. Above it, shared by both:
//! every call runs within the invocation's time budget, and values are
//! cached by version (a version's value never changes once stored, so a
//! value this process wrote or read earlier in the same rotation is not read
//! again).

use crate::deadline;
use crate::error::SecretsManagerError;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
#[derive(Clone)]
pub struct SecretValue {
    /// The version it belongs to.
    pub version_id: String,
    /// The plaintext `SecretString`.
    pub value: SecretString,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("version_id", &self.version_id)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// The future an [`SecretsApi`] call returns.
pub type ApiFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SecretsManagerError>> + Send + 'a>>;

/// The Secrets Manager API actions a rotation uses, one method each. An
/// implementation only talks to its store: time limits and caching are
/// [`SecretsManager`]'s.
pub trait SecretsApi: Send + Sync + fmt::Debug {
    /// `DescribeSecret`.
    fn describe<'a>(&'a self, secret_id: &'a str) -> ApiFuture<'a, SecretMetadata>;

    /// `GetSecretValue` of the version `version_id` and/or the one labelled
    /// `stage`; `Ok(None)` when that version has no value or does not exist.
    fn get_value<'a>(
        &'a self,
        secret_id: &'a str,
        version_id: Option<&'a str>,
        stage: Option<&'a str>,
    ) -> ApiFuture<'a, Option<SecretValue>>;

    /// `PutSecretValue` of `value` as version `token` labelled `AWSPENDING`,
    /// with the event's `RotationToken` when there is one.
    fn put_pending<'a>(
        &'a self,
        secret_id: &'a str,
        token: &'a str,
        value: &'a SecretString,
        rotation_token: Option<&'a str>,
    ) -> ApiFuture<'a, ()>;

    /// `UpdateSecretVersionStage`: move `stage` to `move_to` and/or remove it
    /// from `remove_from`.
    fn update_stage<'a>(
        &'a self,
        secret_id: &'a str,
        stage: &'a str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> ApiFuture<'a, ()>;

    /// When version `version_id` was created (`ListSecretVersionIds`);
    /// `Ok(None)` when the version is not listed or the store keeps no
    /// dates (the default). Used only off the normal path, e.g. to tell a
    /// credential an earlier attempt of this rotation made from an older
    /// one. [`SdkSecretsApi`] answers it with the crate's `version-dates`
    /// feature only, which the function that needs it enables.
    fn version_created<'a>(
        &'a self,
        _secret_id: &'a str,
        _version_id: &'a str,
    ) -> ApiFuture<'a, Option<std::time::SystemTime>> {
        Box::pin(async { Ok(None) })
    }
}

/// The endpoint from `SECRETS_MANAGER_ENDPOINT`, as AWS's functions read it (empty means unset).
pub fn endpoint_from_env() -> Option<String> {
    std::env::var("SECRETS_MANAGER_ENDPOINT")
        .ok()
        .and_then(|v| endpoint_url(&v))
}

/// An endpoint setting as a URL: empty means unset, and a bare host name
/// (`secretsmanager.us-east-1.amazonaws.com`, what Terraform's and Pulumi's
/// documented examples pass as the applications' `endpoint`) means https.
pub fn endpoint_url(setting: &str) -> Option<String> {
    let setting = setting.trim();
    if setting.is_empty() {
        None
    } else if setting.contains("://") {
        Some(setting.to_owned())
    } else {
        Some(format!("https://{setting}"))
    }
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

/// A secret's tags as (key, value) pairs, from `DescribeSecret` or
/// `ListSecrets`.
pub fn tag_pairs(tags: &[aws_sdk_secretsmanager::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// [`SecretsApi`] on the AWS SDK for Rust.
#[derive(Debug, Clone)]
pub struct SdkSecretsApi {
    client: Client,
}

impl SdkSecretsApi {
    /// Wraps an SDK client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl SecretsApi for SdkSecretsApi {
    fn describe<'a>(&'a self, secret_id: &'a str) -> ApiFuture<'a, SecretMetadata> {
        Box::pin(async move {
            let out = self
                .client
                .describe_secret()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSecret", secret_id, e))?;
            Ok(SecretMetadata {
                arn: out.arn().unwrap_or(secret_id).to_owned(),
                rotation_enabled: out.rotation_enabled(),
                versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
                tags: tag_pairs(out.tags()),
            })
        })
    }

    fn get_value<'a>(
        &'a self,
        secret_id: &'a str,
        version_id: Option<&'a str>,
        stage: Option<&'a str>,
    ) -> ApiFuture<'a, Option<SecretValue>> {
        Box::pin(async move {
            let result = self
                .client
                .get_secret_value()
                .secret_id(secret_id)
                .set_version_id(version_id.map(str::to_owned))
                .set_version_stage(stage.map(str::to_owned))
                .send()
                .await;
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
                        "version {version} ({}) holds a binary value; rotation needs a JSON SecretString",
                        stage.unwrap_or("no stage")
                    ),
                    out_of_time: false,
                }),
            }
        })
    }

    fn put_pending<'a>(
        &'a self,
        secret_id: &'a str,
        token: &'a str,
        value: &'a SecretString,
        rotation_token: Option<&'a str>,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_secret_value()
                .secret_id(secret_id)
                .client_request_token(token)
                .secret_string(value.expose_secret())
                .version_stages(AWSPENDING)
                .set_rotation_token(rotation_token.map(str::to_owned))
                .send()
                .await
                .map_err(|e| sdk_error("PutSecretValue", secret_id, e))?;
            Ok(())
        })
    }

    fn update_stage<'a>(
        &'a self,
        secret_id: &'a str,
        stage: &'a str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .update_secret_version_stage()
                .secret_id(secret_id)
                .version_stage(stage)
                .set_move_to_version_id(move_to.map(str::to_owned))
                .set_remove_from_version_id(remove_from.map(str::to_owned))
                .send()
                .await
                .map_err(|e| sdk_error("UpdateSecretVersionStage", secret_id, e))?;
            Ok(())
        })
    }

    #[cfg(feature = "version-dates")]
    fn version_created<'a>(
        &'a self,
        secret_id: &'a str,
        version_id: &'a str,
    ) -> ApiFuture<'a, Option<std::time::SystemTime>> {
        Box::pin(async move {
            let mut next: Option<String> = None;
            loop {
                let out = self
                    .client
                    .list_secret_version_ids()
                    .secret_id(secret_id)
                    .include_deprecated(true)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| sdk_error("ListSecretVersionIds", secret_id, e))?;
                if let Some(version) = out
                    .versions()
                    .iter()
                    .find(|v| v.version_id() == Some(version_id))
                {
                    return Ok(version
                        .created_date()
                        .and_then(|date| std::time::SystemTime::try_from(*date).ok()));
                }
                match out.next_token() {
                    Some(token) => next = Some(token.to_owned()),
                    None => return Ok(None),
                }
            }
        })
    }
}

/// Versions' values this process read or wrote, by (secret ARN, version id).
/// Bounded in size and age: a rotation's four steps reach one warm instance
/// within seconds to minutes; nothing is kept for longer than that needs.
#[derive(Default)]
struct ValueCache {
    entries: HashMap<(String, String), (SecretString, Instant)>,
}

impl ValueCache {
    /// Most entries kept (the oldest go first).
    const CAPACITY: usize = 32;
    /// How long an entry is kept.
    const MAX_AGE: Duration = Duration::from_secs(15 * 60);

    fn get(&mut self, secret: &str, version: &str) -> Option<SecretString> {
        self.expire();
        self.entries
            .get(&(secret.to_owned(), version.to_owned()))
            .map(|(value, _)| value.clone())
    }

    fn put(&mut self, secret: &str, version: &str, value: &SecretString) {
        self.expire();
        if self.entries.len() >= Self::CAPACITY {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(key, _)| key.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            (secret.to_owned(), version.to_owned()),
            (value.clone(), Instant::now()),
        );
    }

    fn expire(&mut self) {
        self.entries
            .retain(|_, (_, at)| at.elapsed() < Self::MAX_AGE);
    }
}

/// The Secrets Manager client a rotation uses: an [`SecretsApi`] with the
/// invocation's time limit on every call and a cache of version values.
#[derive(Clone)]
pub struct SecretsManager {
    api: Arc<dyn SecretsApi>,
    cache: Arc<Mutex<ValueCache>>,
}

impl fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManager")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// Runs one API call within the invocation's remaining time (the SDK's own
/// retries included); running out is an error naming the call.
async fn timed<T>(
    operation: &'static str,
    secret: &str,
    call: ApiFuture<'_, T>,
) -> Result<T, SecretsManagerError> {
    deadline::within(None, call)
        .await
        .map_err(|out_of_time| SecretsManagerError {
            operation,
            secret: secret.to_owned(),
            message: out_of_time.to_string(),
            out_of_time: true,
        })?
}

impl SecretsManager {
    /// A client from the default AWS configuration chain (environment,
    /// profile, container or instance role). `SECRETS_MANAGER_ENDPOINT`, when
    /// set, overrides the endpoint, as in AWS's functions;
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` is honoured by the SDK itself.
    pub async fn from_env() -> Self {
        let shared = crate::aws::sdk_config().await;
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&shared);
        if let Some(endpoint) = endpoint_from_env() {
            config = config.endpoint_url(endpoint);
        }
        Self::new(Client::from_conf(config.build()))
    }

    /// Wraps an SDK client.
    pub fn new(client: Client) -> Self {
        Self::with_api(Arc::new(SdkSecretsApi::new(client)))
    }

    /// Wraps any [`SecretsApi`] (the test kit's in-memory store, in tests).
    pub fn with_api(api: Arc<dyn SecretsApi>) -> Self {
        Self {
            api,
            cache: Arc::new(Mutex::new(ValueCache::default())),
        }
    }

    fn cached(&self, secret: &str, version: &str) -> Option<SecretString> {
        self.cache.lock().ok()?.get(secret, version)
    }

    fn remember(&self, secret: &str, version: &str, value: &SecretString) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(secret, version, value);
        }
    }

    /// When version `version_id` of the secret was created (see
    /// [`SecretsApi::version_created`]). Never cached.
    pub async fn version_created(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<std::time::SystemTime>, SecretsManagerError> {
        timed(
            "ListSecretVersionIds",
            secret_id,
            self.api.version_created(secret_id, version_id),
        )
        .await
    }

    /// `DescribeSecret`. Never cached: labels move.
    pub async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, SecretsManagerError> {
        timed("DescribeSecret", secret_id, self.api.describe(secret_id)).await
    }

    /// `GetSecretValue` of the version with `stage` (and `version_id`, when
    /// given). `Ok(None)` when that version has no value or does not exist.
    /// With a `version_id` whose value this process already read or wrote,
    /// no call is made: a version's value never changes once stored (the
    /// caller has checked the version's labels with [`Self::describe`]).
    pub async fn get_value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<SecretValue>, SecretsManagerError> {
        if let Some(version) = version_id {
            if let Some(value) = self.cached(secret_id, version) {
                return Ok(Some(SecretValue {
                    version_id: version.to_owned(),
                    value,
                }));
            }
        }
        let call = self.api.get_value(secret_id, version_id, Some(stage));
        let found = timed("GetSecretValue", secret_id, call).await?;
        if let Some(value) = &found {
            self.remember(secret_id, &value.version_id, &value.value);
        }
        Ok(found)
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
        let call = self
            .api
            .put_pending(secret_id, token, value, rotation_token);
        timed("PutSecretValue", secret_id, call).await?;
        self.remember(secret_id, token, value);
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
            .api
            .update_stage(secret_id, stage, move_to, remove_from);
        timed("UpdateSecretVersionStage", secret_id, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_keyed_by_version() {
        let mut cache = ValueCache::default();
        let value = SecretString::from("v".to_owned());
        for i in 0..(ValueCache::CAPACITY + 5) {
            cache.put("arn", &i.to_string(), &value);
        }
        assert_eq!(cache.entries.len(), ValueCache::CAPACITY);
        assert!(cache.get("arn", "0").is_none(), "the oldest went first");
        assert!(cache
            .get("arn", &(ValueCache::CAPACITY + 4).to_string())
            .is_some());
        assert!(cache.get("other-arn", "5").is_none());
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_https() {
        assert_eq!(endpoint_url("  "), None);
        assert_eq!(
            endpoint_url("secretsmanager.eu-west-1.amazonaws.com").as_deref(),
            Some("https://secretsmanager.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:4566 ").as_deref(),
            Some("http://127.0.0.1:4566")
        );
    }
}
