//! PostgreSQL rotation: single user or alternating users, chosen per secret.

use crate::alternating::{
    admin_credential, clone_user, master_arn, other_username, MASTER_ARN_FIELD,
};
use crate::connect::{connect, describe, statement_error};
use crate::secret::PostgresSecret;
use crate::tls::TlsSettings;
use password::PasswordPolicy;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rotation::{
    Backend, BackendError, CreateContext, CredentialFailure, CredentialRole, FailureKind,
    SetContext, SetOutcome,
};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use tokio_postgres::Client;
use zeroize::Zeroizing;

/// `EXCLUDE_CHARACTERS` when unset, as in AWS's PostgreSQL functions.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = ":/@\"'\\";
/// Environment variable: seconds to wait for a connection (default 5).
pub const CONNECT_TIMEOUT_VAR: &str = "CONNECT_TIMEOUT_SECONDS";
/// The connect timeout when [`CONNECT_TIMEOUT_VAR`] is unset.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variable pinning the strategy (see [`Strategy`]).
pub const STRATEGY_VAR: &str = "ROTATION_STRATEGY";

/// Which rotation strategy a secret gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `auto` (default): alternating users when the secret has `masterarn`,
    /// else single user.
    Auto,
    /// `single-user`: the user changes its own password.
    SingleUser,
    /// `alternating-users`: always alternate (a secret without `masterarn` is
    /// refused).
    AlternatingUsers,
}

impl Strategy {
    /// Reads a strategy name.
    pub fn parse(value: &str) -> Result<Self, BackendError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Strategy::Auto),
            "single-user" | "single" => Ok(Strategy::SingleUser),
            "alternating-users" | "alternating" | "multi-user" => Ok(Strategy::AlternatingUsers),
            other => Err(BackendError::Config(format!(
                "{STRATEGY_VAR}={other:?} is not one of auto, single-user, alternating-users"
            ))),
        }
    }
}

/// The PostgreSQL backend.
#[derive(Debug)]
pub struct PostgresBackend {
    /// How new passwords are made.
    pub policy: PasswordPolicy,
    /// TLS settings.
    pub tls: TlsSettings,
    /// How long a login may take.
    pub connect_timeout: Duration,
    /// Single user, alternating users, or chosen per secret.
    pub strategy: Strategy,
    rds: tokio::sync::OnceCell<aws_sdk_rds::Client>,
}

impl PostgresBackend {
    /// The backend configured from the environment (password policy, TLS,
    /// connect timeout). Fails on an unusable setting, naming it.
    pub fn from_env() -> Result<Self, BackendError> {
        let policy = PasswordPolicy::from_env(DEFAULT_EXCLUDE_CHARACTERS)?;
        let tls = TlsSettings::from_env()?;
        let connect_timeout = match std::env::var(CONNECT_TIMEOUT_VAR) {
            Err(_) => DEFAULT_CONNECT_TIMEOUT,
            Ok(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    BackendError::Config(format!(
                        "{CONNECT_TIMEOUT_VAR}={raw:?} is not a whole number of seconds above 0"
                    ))
                })?,
        };
        let strategy = Strategy::parse(&std::env::var(STRATEGY_VAR).unwrap_or_default())?;
        Ok(Self::new(policy, tls, connect_timeout, strategy))
    }

    /// A backend from explicit settings.
    pub fn new(
        policy: PasswordPolicy,
        tls: TlsSettings,
        connect_timeout: Duration,
        strategy: Strategy,
    ) -> Self {
        Self {
            policy,
            tls,
            connect_timeout,
            strategy,
            rds: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether `secret` rotates with alternating users.
    pub fn alternates(&self, secret: &PostgresSecret) -> bool {
        match self.strategy {
            Strategy::SingleUser => false,
            Strategy::AlternatingUsers => true,
            Strategy::Auto => secret.text_field(MASTER_ARN_FIELD).is_some(),
        }
    }

    /// The RDS client, made on first use (only RDS-managed admin secrets need it).
    async fn rds_client(&self) -> aws_sdk_rds::Client {
        self.rds
            .get_or_init(|| async { aws_sdk_rds::Client::new(&aws_config::load_from_env().await) })
            .await
            .clone()
    }

    async fn set_single_user(
        &self,
        ctx: &SetContext<'_, PostgresSecret>,
    ) -> Result<SetOutcome, BackendError> {
        let pending = ctx.pending;
        if pending.username != ctx.current.username {
            return Err(BackendError::field(
                "username",
                format!(
                    "of the pending value ({:?}) differs from the current one ({:?}); \
                     single-user rotation only changes a user's own password",
                    pending.username, ctx.current.username
                ),
            ));
        }
        let mut failures = Vec::new();
        match self.login(pending, CredentialRole::Pending).await {
            Ok(_) => return Ok(SetOutcome::AlreadySet),
            Err(failure) => {
                tracing::debug!(error = %failure, "pending credential does not log in yet");
                // Unreachable or TLS problems will show again on the next login.
                if failure.kind != FailureKind::Authentication {
                    failures.push(failure);
                }
            }
        }
        let client = match self.login(ctx.current, CredentialRole::Current).await {
            Ok(client) => Some(client),
            Err(failure) => {
                failures.push(failure);
                match ctx.previous().await {
                    None => None,
                    Some(previous) => match self.login(previous, CredentialRole::Previous).await {
                        Ok(client) => {
                            tracing::warn!(
                                "logged in with the AWSPREVIOUS value: recovering from a rotation that stopped half-way"
                            );
                            Some(client)
                        }
                        Err(failure) => {
                            failures.push(failure);
                            None
                        }
                    },
                }
            }
        };
        let Some(client) = client else {
            return Err(BackendError::Credentials(failures));
        };
        let sql = set_password_sql(&pending.username, &pending.password);
        client
            .batch_execute(&sql)
            .await
            .map_err(statement_error(format!(
                "setting the password of user {:?}",
                pending.username
            )))?;
        Ok(SetOutcome::Changed)
    }

    async fn set_alternating(
        &self,
        ctx: &SetContext<'_, PostgresSecret>,
    ) -> Result<SetOutcome, BackendError> {
        let (pending, current) = (ctx.pending, ctx.current);
        if pending.username == current.username {
            return Err(BackendError::field(
                "username",
                format!(
                    "of the pending value is the current user {:?}: alternating-users rotation sets the other user of the pair",
                    current.username
                ),
            ));
        }
        if self.login(pending, CredentialRole::Pending).await.is_ok() {
            return Ok(SetOutcome::AlreadySet);
        }
        // The current user is the model of the clone: it must work.
        self.login(current, CredentialRole::Current)
            .await
            .map_err(BackendError::credential)?;
        let admin = admin_credential(current, ctx.secrets, self.rds_client()).await?;
        let mut client = self
            .login(&admin, CredentialRole::Admin)
            .await
            .map_err(BackendError::credential)?;
        clone_user(
            &mut client,
            &current.username,
            &pending.username,
            &pending.password,
        )
        .await?;
        Ok(SetOutcome::Changed)
    }

    async fn login(
        &self,
        secret: &PostgresSecret,
        role: CredentialRole,
    ) -> Result<Client, CredentialFailure> {
        connect(secret, role, &self.tls, self.connect_timeout).await
    }
}

/// The SQL that sets `username`'s password to `password`, sent as a
/// SCRAM-SHA-256 verifier so the plaintext never reaches the server.
pub fn set_password_sql(username: &str, password: &SecretString) -> Zeroizing<String> {
    let verifier = Zeroizing::new(postgres_protocol::password::scram_sha_256(
        password.expose_secret().as_bytes(),
    ));
    Zeroizing::new(format!(
        "ALTER ROLE {} WITH PASSWORD {}",
        escape_identifier(username),
        escape_literal(&verifier)
    ))
}

impl Backend for PostgresBackend {
    type Secret = PostgresSecret;

    fn parse(&self, raw: &SecretString) -> Result<PostgresSecret, BackendError> {
        PostgresSecret::parse(raw)
    }

    fn serialize(&self, secret: &PostgresSecret) -> Result<SecretString, BackendError> {
        secret.to_json()
    }

    async fn create_pending(
        &self,
        current: &PostgresSecret,
        _ctx: &CreateContext<'_>,
    ) -> Result<PostgresSecret, BackendError> {
        let password = self.policy.generate()?;
        if self.alternates(current) {
            master_arn(current)?;
            let other = other_username(&current.username)?;
            Ok(current.with_user(&other, password))
        } else {
            Ok(current.with_password(password))
        }
    }

    async fn set_pending(
        &self,
        ctx: &SetContext<'_, PostgresSecret>,
    ) -> Result<SetOutcome, BackendError> {
        if self.alternates(ctx.current) {
            self.set_alternating(ctx).await
        } else {
            self.set_single_user(ctx).await
        }
    }

    async fn test_pending(&self, pending: &PostgresSecret) -> Result<(), BackendError> {
        let client = self
            .login(pending, CredentialRole::Pending)
            .await
            .map_err(BackendError::credential)?;
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .map_err(|e| BackendError::Operation {
                action: "running a test query".to_owned(),
                detail: describe(&e),
            })?;
        let user: String = row.get(0);
        if user != pending.username {
            return Err(BackendError::Operation {
                action: "running a test query".to_owned(),
                detail: format!("logged in as {user:?}, expected {:?}", pending.username),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_goes_as_a_verifier_and_the_name_is_quoted() {
        let password = SecretString::from("plain-text-password".to_owned());
        let sql = set_password_sql("we\"ird name'; DROP ROLE x; --", &password);
        assert!(!sql.contains("plain-text-password"), "{}", *sql);
        assert!(sql.starts_with("ALTER ROLE \"we\"\"ird name'; DROP ROLE x; --\" WITH PASSWORD 'SCRAM-SHA-256$4096:"), "{}", *sql);
    }
}
