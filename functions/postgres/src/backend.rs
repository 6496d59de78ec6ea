//! The PostgreSQL engine: logging in, the password statement, cloning a user.

use crate::connect::{connect, statement_error};
use database::alternating::{NameLimit, NameUnit};
use database::{
    DatabaseBackend, DatabaseSecret, DatabaseSettings, Engine, Need, PrivilegeCheck, SecretShape,
};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rotation::{BackendError, CredentialFailure, CredentialRole};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;
use zeroize::Zeroizing;

/// `EXCLUDE_CHARACTERS` when unset, as in AWS's PostgreSQL functions.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = ":/@\"'\\";
/// PostgreSQL's limit on identifiers, in bytes (NAMEDATALEN - 1).
pub const MAX_NAME_BYTES: usize = 63;

/// The PostgreSQL secret shape: engines `postgres` and `aurora-postgresql`,
/// port 5432, database `postgres` by default.
pub static SHAPE: SecretShape = SecretShape {
    family: "PostgreSQL",
    engines: &["postgres", "aurora-postgresql"],
    default_port: 5432,
    default_dbname: Some("postgres"),
};

/// The PostgreSQL rotation backend: the shared flows with [`PostgresEngine`].
pub type PostgresBackend = DatabaseBackend<PostgresEngine>;

/// The backend configured from the environment. Fails on an unusable
/// setting, naming it.
pub fn backend_from_env() -> Result<PostgresBackend, BackendError> {
    let settings = DatabaseSettings::from_env(DEFAULT_EXCLUDE_CHARACTERS)?;
    Ok(DatabaseBackend::new(settings, PostgresEngine::new()))
}

/// PostgreSQL: tokio-postgres over rustls, SCRAM-SHA-256 verifiers.
#[derive(Debug)]
pub struct PostgresEngine {
    name_limit: NameLimit,
}

impl PostgresEngine {
    /// The engine (63-byte names).
    pub fn new() -> Self {
        Self {
            name_limit: NameLimit {
                max: MAX_NAME_BYTES,
                unit: NameUnit::Bytes,
                source: "PostgreSQL's limit for names".to_owned(),
            },
        }
    }
}

impl Default for PostgresEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// The SQL that sets `username`'s password to `password`, sent as a
/// SCRAM-SHA-256 verifier so the plaintext never reaches the server.
pub fn set_password_sql(
    username: &str,
    password: &SecretString,
) -> Result<Zeroizing<String>, BackendError> {
    let verifier = crate::scram::verifier(password.expose_secret())?;
    Ok(Zeroizing::new(format!(
        "ALTER ROLE {} WITH PASSWORD {}",
        escape_identifier(username),
        escape_literal(&verifier)
    )))
}

impl Engine for PostgresEngine {
    type Conn = Client;

    fn shape(&self) -> &'static SecretShape {
        &SHAPE
    }

    fn name_limit(&self) -> Option<&NameLimit> {
        Some(&self.name_limit)
    }

    fn can_clone_users(&self) -> bool {
        true
    }

    async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        settings: &DatabaseSettings,
    ) -> Result<Client, CredentialFailure> {
        connect(secret, role, &settings.tls, settings.connect_timeout).await
    }

    async fn set_own_password(
        &self,
        conn: &mut Client,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        conn.batch_execute(&set_password_sql(&pending.username, &pending.password)?)
            .await
            .map_err(statement_error(format!(
                "setting the password of user {:?}",
                pending.username
            )))
    }

    async fn clone_user(
        &self,
        admin: &mut Client,
        _current_conn: &mut Client,
        current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        crate::clone::clone_user(
            admin,
            &current.username,
            &pending.username,
            &pending.password,
        )
        .await
    }

    async fn check_privileges(
        &self,
        conn: &mut Client,
        need: Need,
    ) -> Result<PrivilegeCheck, BackendError> {
        if need != Need::CloneUsers {
            return Ok(PrivilegeCheck::Held(
                "a role may always change its own password".to_owned(),
            ));
        }
        let row = conn
            .query_one(
                "SELECT current_user::text, rolsuper, rolcreaterole FROM pg_roles \
                 WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(statement_error(
                "reading the session's role attributes".to_owned(),
            ))?;
        let (role, superuser, createrole): (String, bool, bool) =
            (row.get(0), row.get(1), row.get(2));
        Ok(if superuser {
            PrivilegeCheck::Held(format!("{role:?} is a superuser"))
        } else if createrole {
            PrivilegeCheck::Held(format!(
                "{role:?} has CREATEROLE (on PostgreSQL 16 and later it also needs the \
                 ADMIN option on the roles the user is a member of)"
            ))
        } else {
            PrivilegeCheck::Missing(format!(
                "{role:?} has neither CREATEROLE nor SUPERUSER, so it cannot create the other \
                 user or set its password (ALTER ROLE {role:?} CREATEROLE)"
            ))
        })
    }

    async fn session_user(&self, conn: &mut Client) -> Result<String, BackendError> {
        let row = conn
            .query_one("SELECT current_user::text", &[])
            .await
            .map_err(statement_error("running a test query".to_owned()))?;
        Ok(row.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_goes_as_a_verifier_and_the_name_is_quoted() {
        let password = SecretString::from("plain-text-password".to_owned());
        let sql = set_password_sql("we\"ird name'; DROP ROLE x; --", &password).unwrap();
        assert!(!sql.contains("plain-text-password"), "{}", *sql);
        assert!(sql.starts_with("ALTER ROLE \"we\"\"ird name'; DROP ROLE x; --\" WITH PASSWORD 'SCRAM-SHA-256$4096:"), "{}", *sql);
    }
}
