//! ElastiCache RBAC users, rotated through the ElastiCache API as AWS's
//! `SecretsManagerElasticacheUserRotation` does (ElastiCache refuses `ACL`
//! commands): `ModifyUser` with the pending and the current password, then
//! wait until the user is `active` again.
//!
//! The secret is AWS's format, `{"user_arn", "username", "password"}`, every
//! other field kept; with a `host` (and `port`, `ssl`, or `hosts`) it also
//! names an endpoint where testSecret logs in with the pending password.

use crate::nodes::nodes;
use aws_sdk_elasticache::Client;
use database::secret::{json_with_password, parse_json_object, required_string};
use database::DatabaseSecret;
use password::PasswordPolicy;
use rotation::{deadline, AwsApiError, BackendError, CreateContext, FailureKind};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{Duration, Instant};

/// The field that makes a secret an ElastiCache user's.
pub const USER_ARN_FIELD: &str = "user_arn";
/// Environment variable: the longest wait, in seconds, for the user to be
/// `active` (AWS's default: 600).
pub const MAX_WAIT_VAR: &str = "MAX_WAITING_TIME_FOR_ACTIVE_IN_SECONDS";
/// Environment variable: seconds between two looks at the user's status
/// (AWS's default: 10).
pub const RETRY_INTERVAL_VAR: &str = "WAITING_RETRY_INTERVAL_IN_SECONDS";
/// Environment variable, optional as in AWS's function: the only secret
/// ARN this function may rotate in ElastiCache mode.
pub const SECRET_ARN_VAR: &str = "SECRET_ARN";
/// Environment variable, optional as in AWS's function: the only
/// ElastiCache user name this function may rotate.
pub const USER_NAME_VAR: &str = "USER_NAME";
/// `PASSWORD_LENGTH` when unset, as in AWS's ElastiCache function.
pub const DEFAULT_PASSWORD_LENGTH: usize = 20;
/// ElastiCache's bounds on a password's length.
pub const PASSWORD_LENGTHS: std::ops::RangeInclusive<usize> = 16..=128;

/// An ElastiCache user ARN, `arn:PARTITION:elasticache:REGION:ACCOUNT:user:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserArn {
    /// The whole ARN.
    pub arn: String,
    /// Its region (the ElastiCache client's).
    pub region: String,
    /// The user id (`ModifyUser`'s `UserId`).
    pub user_id: String,
}

impl UserArn {
    /// Reads an ARN, naming the field when it is not a user's.
    pub fn parse(arn: &str) -> Result<Self, BackendError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let bad = |why: &str| {
            BackendError::field(
                USER_ARN_FIELD,
                format!(
                    "{why}: expected arn:aws:elasticache:REGION:ACCOUNT:user:USER_ID, got {arn:?}"
                ),
            )
        };
        if parts.len() != 7 || parts[0] != "arn" || parts[2] != "elasticache" {
            return Err(bad("is not an ElastiCache ARN"));
        }
        if parts[5] != "user" {
            return Err(bad("is not the ARN of an ElastiCache user"));
        }
        let (region, user_id) = (parts[3], parts[6]);
        let valid_id = user_id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && user_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if region.is_empty() || !valid_id {
            return Err(bad("has no region or no valid user id"));
        }
        Ok(Self {
            arn: arn.to_owned(),
            region: region.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}

/// An ElastiCache user's secret. `Debug` shows no password.
pub struct ElastiCacheSecret {
    /// `user_arn`.
    pub user: UserArn,
    /// `username`: the user's name in ElastiCache.
    pub username: String,
    /// `password`; absent before the first rotation, as AWS's function allows.
    pub password: Option<SecretString>,
    /// The endpoint testSecret logs in to, when the secret has a `host`.
    pub endpoint: Option<DatabaseSecret>,
    fields: Map<String, Value>,
}

impl fmt::Debug for ElastiCacheSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElastiCacheSecret")
            .field("user", &self.user)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field(
                "endpoint",
                &self.endpoint.as_ref().map(DatabaseSecret::target),
            )
            .finish_non_exhaustive()
    }
}

impl ElastiCacheSecret {
    /// Parses a stored value. Errors name the field and quote no secret.
    pub fn parse(raw: &SecretString) -> Result<Self, BackendError> {
        let mut fields = parse_json_object(raw)?;
        let password = match fields.remove("password") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(SecretString::from(text)),
            Some(_) => return Err(BackendError::field("password", "must be a string")),
        };
        let user = UserArn::parse(&required_string(&fields, USER_ARN_FIELD)?)?;
        let username = required_string(&fields, "username")?;
        let mut secret = Self {
            user,
            username,
            password,
            endpoint: None,
            fields,
        };
        if secret.fields.get("host").is_some_and(|h| !h.is_null()) {
            let placeholder = SecretString::from("-");
            let with_password = json_with_password(
                &secret.fields,
                Some(secret.password.as_ref().unwrap_or(&placeholder)),
            )?;
            let endpoint = DatabaseSecret::parse(&with_password, &crate::backend::SHAPE)?;
            nodes(&endpoint)?;
            secret.endpoint = Some(endpoint);
        }
        Ok(secret)
    }

    /// The same secret with another password.
    pub fn with_password(&self, password: SecretString) -> Self {
        Self {
            user: self.user.clone(),
            username: self.username.clone(),
            endpoint: self
                .endpoint
                .as_ref()
                .map(|e| e.with_password(password.clone())),
            password: Some(password),
            fields: self.fields.clone(),
        }
    }

    /// The JSON to store: the original fields with this password (none
    /// before a first rotation).
    pub fn to_json(&self) -> Result<SecretString, BackendError> {
        json_with_password(&self.fields, self.password.as_ref())
    }
}

/// How the ElastiCache mode makes passwords and waits.
#[derive(Debug, Clone)]
pub struct ElastiCacheSettings {
    /// The password policy (AWS's variables; `PASSWORD_LENGTH` 20 when unset).
    pub policy: PasswordPolicy,
    /// [`MAX_WAIT_VAR`].
    pub max_wait: Duration,
    /// [`RETRY_INTERVAL_VAR`].
    pub retry_interval: Duration,
    /// [`SECRET_ARN_VAR`].
    pub only_secret: Option<String>,
    /// [`USER_NAME_VAR`].
    pub only_user: Option<String>,
}

impl ElastiCacheSettings {
    /// Refuses a password length ElastiCache would refuse (checked in
    /// createSecret, so the same function still rotates ACL users with
    /// shorter passwords).
    pub fn check_length(&self) -> Result<(), BackendError> {
        if PASSWORD_LENGTHS.contains(&self.policy.length) {
            return Ok(());
        }
        Err(BackendError::Config(format!(
            "PASSWORD_LENGTH={} is outside what ElastiCache accepts ({} to {}); nothing was changed",
            self.policy.length,
            PASSWORD_LENGTHS.start(),
            PASSWORD_LENGTHS.end()
        )))
    }

    /// Settings from variables read through `lookup`. Errors name the
    /// variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_exclude: &str,
    ) -> Result<Self, BackendError> {
        let length_default = DEFAULT_PASSWORD_LENGTH.to_string();
        let policy_lookup = |name: &str| match name {
            "PASSWORD_LENGTH" => lookup(name).or_else(|| Some(length_default.clone())),
            _ => lookup(name),
        };
        let policy = PasswordPolicy::from_lookup(policy_lookup, default_exclude)?;
        let seconds = |var: &str, default: u64| match lookup(var) {
            None => Ok(Duration::from_secs(default)),
            Some(raw) => database::settings::parse_seconds(var, &raw),
        };
        Ok(Self {
            policy,
            max_wait: seconds(MAX_WAIT_VAR, 600)?,
            retry_interval: seconds(RETRY_INTERVAL_VAR, 10)?,
            only_secret: lookup(SECRET_ARN_VAR).filter(|v| !v.trim().is_empty()),
            only_user: lookup(USER_NAME_VAR).filter(|v| !v.trim().is_empty()),
        })
    }
}

fn api_error(
    operation: &'static str,
    resource: &str,
    error: impl std::error::Error,
) -> BackendError {
    BackendError::AwsApi(AwsApiError::from_sdk(
        "ElastiCache",
        operation,
        resource,
        error,
    ))
}

/// ElastiCache users through the ElastiCache API.
#[derive(Debug)]
pub struct ElastiCacheBackend {
    /// Policy, waits and restrictions.
    pub settings: ElastiCacheSettings,
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl ElastiCacheBackend {
    /// A backend with `settings`; the AWS configuration is loaded on first use.
    pub fn new(settings: ElastiCacheSettings) -> Self {
        Self {
            settings,
            sdk: tokio::sync::OnceCell::new(),
        }
    }

    /// An ElastiCache client in the user's region.
    /// Made once per step, and used for all its calls.
    async fn client(&self, user: &UserArn) -> Client {
        let sdk = self
            .sdk
            .get_or_init(|| async { rotation::aws::sdk_config().await })
            .await;
        let config = aws_sdk_elasticache::config::Builder::from(sdk)
            .region(aws_sdk_elasticache::config::Region::new(
                user.region.clone(),
            ))
            .build();
        aws_sdk_elasticache::Client::from_conf(config)
    }

    /// Refuses a secret or user this function is restricted away from
    /// (`SECRET_ARN`, `USER_NAME`, as in AWS's function).
    fn check_allowed(
        &self,
        secret_arn: &str,
        secret: &ElastiCacheSecret,
    ) -> Result<(), BackendError> {
        if let Some(only) = &self.settings.only_secret {
            if only != secret_arn {
                return Err(BackendError::Config(format!(
                    "{SECRET_ARN_VAR} allows only {only}: this function may not rotate another secret"
                )));
            }
        }
        if let Some(only) = &self.settings.only_user {
            if *only != secret.username {
                return Err(BackendError::field(
                    "username",
                    format!(
                        "is {:?}, but {USER_NAME_VAR} allows only {only:?}",
                        secret.username
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The user's status and name, from `DescribeUsers`.
    async fn describe(
        &self,
        client: &Client,
        user: &UserArn,
    ) -> Result<(String, String), BackendError> {
        let out = client
            .describe_users()
            .user_id(&user.user_id)
            .send()
            .await
            .map_err(|e| api_error("DescribeUsers", &user.arn, e))?;
        let found = out
            .users()
            .iter()
            .find(|u| u.user_id() == Some(user.user_id.as_str()))
            .ok_or_else(|| {
                BackendError::AwsApi(AwsApiError {
                    service: "ElastiCache",
                    operation: "DescribeUsers",
                    resource: user.arn.clone(),
                    message: "no such user".to_owned(),
                })
            })?;
        Ok((
            found.status().unwrap_or_default().to_owned(),
            found.user_name().unwrap_or_default().to_owned(),
        ))
    }

    /// Waits until the user is `active`: at most [`MAX_WAIT_VAR`] and never
    /// past the invocation's deadline, looking every [`RETRY_INTERVAL_VAR`].
    async fn wait_active(
        &self,
        client: &Client,
        user: &UserArn,
        step: &str,
    ) -> Result<(), BackendError> {
        let started = Instant::now();
        let wait = async {
            loop {
                let (status, _) = self.describe(client, user).await?;
                if status == "active" {
                    return Ok(());
                }
                if started.elapsed() + self.settings.retry_interval > self.settings.max_wait {
                    return Err(BackendError::Operation {
                        action: format!(
                            "{step}: waiting for ElastiCache user {} to be active",
                            user.arn
                        ),
                        kind: FailureKind::Timeout,
                        detail: format!(
                            "still {status:?} after {} s ({MAX_WAIT_VAR})",
                            started.elapsed().as_secs()
                        ),
                    });
                }
                tracing::info!(user = %user.arn, %status, "waiting for the user to be active");
                tokio::time::sleep(self.settings.retry_interval).await;
            }
        };
        deadline::within_operation(
            &format!("waiting for ElastiCache user {} to be active", user.arn),
            wait,
        )
        .await
    }

    /// `ModifyUser` with exactly `passwords`.
    async fn set_passwords(
        &self,
        client: &Client,
        user: &UserArn,
        passwords: &[&SecretString],
    ) -> Result<(), BackendError> {
        let mut request = client.modify_user().user_id(&user.user_id);
        for password in passwords {
            request = request.passwords(password.expose_secret());
        }
        let call = async {
            request
                .send()
                .await
                .map_err(|e| api_error("ModifyUser", &user.arn, e))
        };
        deadline::within_operation("calling ElastiCache ModifyUser", call).await?;
        Ok(())
    }

    /// createSecret: checks the user exists and is the secret's, then a new
    /// password.
    pub async fn create_pending(
        &self,
        current: &ElastiCacheSecret,
        ctx: &CreateContext<'_>,
    ) -> Result<ElastiCacheSecret, BackendError> {
        self.check_allowed(ctx.secret_arn, current)?;
        self.settings.check_length()?;
        let client = self.client(&current.user).await;
        let (_, name) = deadline::within_operation(
            "looking up the ElastiCache user",
            self.describe(&client, &current.user),
        )
        .await?;
        if name != current.username {
            return Err(BackendError::field(
                "username",
                format!(
                    "is {:?}, but ElastiCache user {} is named {name:?}",
                    current.username, current.user.arn
                ),
            ));
        }
        Ok(current.with_password(self.settings.policy.generate()?))
    }

    /// setSecret: waits for the user to be `active`, gives it the pending
    /// and the current password (the pending one alone on a first rotation
    /// whose current value has none), and waits for `active` again. Safe
    /// to run again: the same two passwords are set.
    pub async fn set_pending(
        &self,
        secret_arn: &str,
        current: &ElastiCacheSecret,
        pending: &ElastiCacheSecret,
    ) -> Result<(), BackendError> {
        self.check_allowed(secret_arn, pending)?;
        if pending.user != current.user {
            return Err(BackendError::field(
                USER_ARN_FIELD,
                "of the pending value differs from the current one",
            ));
        }
        let new = pending
            .password
            .as_ref()
            .ok_or_else(|| BackendError::field("password", "of the pending value is missing"))?;
        let mut passwords = vec![new];
        if let Some(old) = &current.password {
            passwords.push(old);
        }
        let client = self.client(&pending.user).await;
        self.wait_active(&client, &pending.user, "setSecret")
            .await?;
        self.set_passwords(&client, &pending.user, &passwords)
            .await?;
        self.wait_active(&client, &pending.user, "setSecret")
            .await?;
        tracing::info!(user = %pending.user.arn, passwords = passwords.len(), "the user's passwords were set");
        Ok(())
    }

    /// testSecret: the user is `active` (the secret's endpoint, if any, is
    /// logged in to by the function with the ACL users' login:
    /// [`crate::function::RedisFunction`]).
    pub async fn test_pending(&self, pending: &ElastiCacheSecret) -> Result<(), BackendError> {
        let client = self.client(&pending.user).await;
        self.wait_active(&client, &pending.user, "testSecret").await
    }

    /// After finishSecret, with `DISCARD_OLD_PASSWORD`: the new password only.
    pub async fn after_finish(&self, current: &ElastiCacheSecret) -> Result<(), BackendError> {
        let password = current
            .password
            .as_ref()
            .ok_or_else(|| BackendError::field("password", "is missing"))?;
        let client = self.client(&current.user).await;
        self.wait_active(&client, &current.user, "finishSecret")
            .await?;
        self.set_passwords(&client, &current.user, &[password])
            .await?;
        tracing::info!(user = %current.user.arn, "the old password was discarded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ElastiCacheSecret, BackendError> {
        ElastiCacheSecret::parse(&SecretString::from(value.to_string()))
    }

    #[test]
    fn user_arns_are_read_and_bad_ones_named() {
        let arn =
            UserArn::parse("arn:aws:elasticache:eu-west-1:123456789012:user:app-user").unwrap();
        assert_eq!(
            (arn.region.as_str(), arn.user_id.as_str()),
            ("eu-west-1", "app-user")
        );
        for bad in [
            "app-user",
            "arn:aws:rds:eu-west-1:1:user:x",
            "arn:aws:elasticache:eu-west-1:1:usergroup:x",
            "arn:aws:elasticache::1:user:x",
            "arn:aws:elasticache:eu-west-1:1:user:1x",
            "arn:aws:elasticache:eu-west-1:1:user:a_b",
        ] {
            let error = UserArn::parse(bad).unwrap_err().to_string();
            assert!(error.contains("user_arn"), "{bad}: {error}");
        }
    }

    #[test]
    fn aws_format_parses_keeps_fields_and_hides_the_password() {
        let secret = parse(json!({
            "user_arn": "arn:aws:elasticache:us-east-1:123456789012:user:app",
            "username": "app",
            "password": "current-Password-12345",
            "note": [1, 2]
        }))
        .unwrap();
        assert!(secret.endpoint.is_none());
        let debug = format!("{secret:?}");
        assert!(
            !debug.contains("current-Password") && debug.contains("REDACTED"),
            "{debug}"
        );
        let next = secret.with_password(SecretString::from("next-Password-1234567"));
        let stored: Value = serde_json::from_str(next.to_json().unwrap().expose_secret()).unwrap();
        assert_eq!(stored["note"], json!([1, 2]));
        assert_eq!(stored["password"], "next-Password-1234567");
        assert_eq!(stored["username"], "app");
    }

    #[test]
    fn a_first_rotation_may_have_no_password_and_an_endpoint_is_checked() {
        let secret = parse(json!({
            "user_arn": "arn:aws:elasticache:us-east-1:123456789012:user:app",
            "username": "app",
            "host": "cache.example", "port": 6380
        }))
        .unwrap();
        assert!(secret.password.is_none());
        assert_eq!(secret.endpoint.as_ref().map(|e| e.port), Some(6380));
        let stored: Value =
            serde_json::from_str(secret.to_json().unwrap().expose_secret()).unwrap();
        assert!(stored.get("password").is_none());

        for (value, field) in [
            (json!({"username": "app"}), "user_arn"),
            (
                json!({"user_arn": "arn:aws:elasticache:us-east-1:1:user:app"}),
                "username",
            ),
            (
                json!({"user_arn": "arn:aws:elasticache:us-east-1:1:user:app", "username": "app", "password": 7}),
                "password",
            ),
            (
                json!({"user_arn": "arn:aws:elasticache:us-east-1:1:user:app", "username": "app", "host": "h", "port": "x"}),
                "port",
            ),
        ] {
            let error = parse(value).unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn settings_follow_aws_defaults_and_refuse_lengths_elasticache_refuses() {
        let settings = |vars: &'static [(&'static str, &'static str)]| {
            ElastiCacheSettings::from_lookup(
                move |name| {
                    vars.iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_string())
                },
                "/@\"'\\",
            )
        };
        let defaults = settings(&[]).unwrap();
        assert_eq!(defaults.policy.length, DEFAULT_PASSWORD_LENGTH);
        assert_eq!(defaults.max_wait, Duration::from_secs(600));
        assert_eq!(defaults.retry_interval, Duration::from_secs(10));
        // (DISCARD_OLD_PASSWORD is the engine's: one setting for both modes.)
        assert!(defaults.only_secret.is_none() && defaults.only_user.is_none());
        defaults.check_length().unwrap();
        let error = settings(&[("PASSWORD_LENGTH", "12")])
            .unwrap()
            .check_length()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("PASSWORD_LENGTH") && error.contains("16"),
            "{error}"
        );
        let error = settings(&[(MAX_WAIT_VAR, "soon")]).unwrap_err().to_string();
        assert!(error.contains(MAX_WAIT_VAR), "{error}");
    }
}
