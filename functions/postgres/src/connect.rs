//! Logging in to PostgreSQL, with errors that say which credential failed and why.

use database::{DatabaseSecret, TlsSettings};
use rotation::{BackendError, CredentialFailure, CredentialRole, FailureKind};
use secrecy::ExposeSecret;
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Shown to the server as `application_name`.
pub const APPLICATION_NAME: &str = "secrets-manager-rotation";

/// Classifies a driver error.
pub fn classify(error: &tokio_postgres::Error) -> FailureKind {
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            FailureKind::Authentication
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            FailureKind::Permission
        } else {
            FailureKind::Other
        };
    }
    if let Some(kind) = error
        .source()
        .and_then(database::tls::transport_failure_kind)
    {
        return kind;
    }
    let text = error.to_string();
    if text.contains("TLS") || text.contains("SSL") {
        FailureKind::Tls
    } else {
        FailureKind::Other
    }
}

/// The driver's message with its causes, e.g.
/// `error connecting to server: Connection refused (os error 111)`.
/// The driver never puts a password in an error.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    error.to_string()
}

/// Maps a failed statement to [`BackendError::Operation`], naming `action`
/// and the driver's class and words for the failure.
pub fn statement_error(action: String) -> impl Fn(tokio_postgres::Error) -> BackendError {
    move |e| BackendError::Operation {
        action: action.clone(),
        kind: classify(&e),
        detail: describe(&e),
    }
}

/// Logs in with `secret` as `role`; the connection runs in its own task.
/// `timeout` bounds each TCP connect; the whole login is bounded by the
/// caller (`database::DatabaseBackend::login`: `CONNECT_TIMEOUT_SECONDS` and
/// the invocation's deadline).
pub async fn connect(
    secret: &DatabaseSecret,
    role: CredentialRole,
    tls: &TlsSettings,
    timeout: Duration,
) -> Result<Client, CredentialFailure> {
    let mut config = Config::new();
    config
        .host(&secret.host)
        .port(secret.port)
        .user(&secret.username)
        .password(secret.password.expose_secret())
        .dbname(secret.dbname.as_deref().unwrap_or("postgres"))
        .application_name(APPLICATION_NAME)
        .connect_timeout(timeout);
    let failure = |error: tokio_postgres::Error| CredentialFailure {
        role,
        target: secret.target(),
        kind: classify(&error),
        detail: describe(&error),
    };
    if tls.use_tls_for(secret, role) {
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let connector = MakeRustlsConnect::new(tls.client_config().clone());
        let (client, connection) = config.connect(connector).await.map_err(failure)?;
        tokio::spawn(connection);
        Ok(client)
    } else {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = config.connect(NoTls).await.map_err(failure)?;
        tokio::spawn(connection);
        Ok(client)
    }
}
