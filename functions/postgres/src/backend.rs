//! Single-user PostgreSQL rotation.

use crate::connect::{classify, connect, describe};
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

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    /// How new passwords are made.
    pub policy: PasswordPolicy,
    /// TLS settings.
    pub tls: TlsSettings,
    /// How long a login may take.
    pub connect_timeout: Duration,
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
        Ok(Self {
            policy,
            tls,
            connect_timeout,
        })
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
        Ok(current.with_password(self.policy.generate()?))
    }

    async fn set_pending(
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
        let mut client = None;
        let mut candidates = vec![(ctx.current, CredentialRole::Current)];
        if let Some(previous) = ctx.previous {
            candidates.push((previous, CredentialRole::Previous));
        }
        for (secret, role) in candidates {
            match self.login(secret, role).await {
                Ok(c) => {
                    if role == CredentialRole::Previous {
                        tracing::warn!(
                            "logged in with the AWSPREVIOUS value: recovering from a rotation that stopped half-way"
                        );
                    }
                    client = Some(c);
                    break;
                }
                Err(failure) => failures.push(failure),
            }
        }
        let Some(client) = client else {
            return Err(BackendError::Credentials(failures));
        };
        let sql = set_password_sql(&pending.username, &pending.password);
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| BackendError::Operation {
                action: format!("setting the password of user {:?}", pending.username),
                detail: format!("{}: {}", classify(&e), describe(&e)),
            })?;
        Ok(SetOutcome::Changed)
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
