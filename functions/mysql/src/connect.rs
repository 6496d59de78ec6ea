//! Logging in to MySQL/MariaDB, with errors that say which credential failed
//! and why, and never quote a secret.

use database::{DatabaseSecret, TlsSettings};
use mysql_async::{Conn, OptsBuilder, SslOpts};
use rotation::{BackendError, CredentialFailure, CredentialRole, FailureKind};
use secrecy::ExposeSecret;
use std::borrow::Cow;
use std::error::Error as StdError;

/// ER_ACCESS_DENIED_ERROR: wrong user or password.
const ACCESS_DENIED: u16 = 1045;
/// Server errors that mean "not allowed": ER_DBACCESS_DENIED_ERROR,
/// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR,
/// ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_PROCACCESS_DENIED_ERROR, and 1698
/// (MariaDB's "access denied" for a role grant without its admin option).
const PERMISSION_DENIED: &[u16] = &[1044, 1142, 1143, 1227, 1370, 1698];
/// ER_SECURE_TRANSPORT_REQUIRED (MySQL) and MariaDB's "account requires SSL".
const TLS_REQUIRED: &[u16] = &[3159, 4151];

/// Classifies a driver error.
pub fn classify(error: &mysql_async::Error) -> FailureKind {
    use mysql_async::{DriverError, Error, IoError};
    match error {
        Error::Server(e) if e.code == ACCESS_DENIED => FailureKind::Authentication,
        Error::Server(e) if PERMISSION_DENIED.contains(&e.code) => FailureKind::Permission,
        Error::Server(e) if TLS_REQUIRED.contains(&e.code) => FailureKind::Tls,
        Error::Server(_) => FailureKind::Other,
        Error::Io(IoError::Tls(_)) => FailureKind::Tls,
        Error::Io(IoError::Io(io)) => {
            let mut source: Option<&(dyn StdError + 'static)> = io.get_ref().map(|e| e as _);
            while let Some(cause) = source {
                if cause.downcast_ref::<rustls::Error>().is_some() {
                    return FailureKind::Tls;
                }
                source = cause.source();
            }
            match io.kind() {
                std::io::ErrorKind::TimedOut => FailureKind::Timeout,
                std::io::ErrorKind::InvalidData => FailureKind::Tls,
                _ => FailureKind::Unreachable,
            }
        }
        Error::Driver(DriverError::NoClientSslFlagFromServer) => FailureKind::Tls,
        Error::Driver(DriverError::ConnectionClosed) => FailureKind::Unreachable,
        _ => FailureKind::Other,
    }
}

/// The driver's or server's words for a failure, with every string of
/// `secrets` (passwords, hashes) replaced, since a server's syntax errors
/// quote the statement.
pub fn describe(error: &mysql_async::Error, secrets: &[&str]) -> String {
    let text = match error {
        mysql_async::Error::Server(e) => format!("ERROR {} ({}): {}", e.code, e.state, e.message),
        other => other.to_string(),
    };
    rotation::redact(text, secrets)
}

/// Maps a failed statement to [`BackendError::Operation`], naming `action`;
/// `secrets` are removed from the server's message.
pub fn statement_error<'a>(
    action: String,
    secrets: &'a [&'a str],
) -> impl Fn(mysql_async::Error) -> BackendError + 'a {
    move |e| BackendError::Operation {
        action: action.clone(),
        kind: classify(&e),
        detail: describe(&e, secrets),
    }
}

/// Logs in with `secret` as `role`: TLS with a verified certificate unless
/// the secret says `"ssl": false` (or `TLS_MODE=disable`), never the unix
/// socket, never a silent fallback to plaintext. The whole login is bounded
/// by the caller (`database::DatabaseBackend::login`).
pub async fn connect(
    secret: &DatabaseSecret,
    role: CredentialRole,
    tls: &TlsSettings,
) -> Result<Conn, CredentialFailure> {
    let mut opts = OptsBuilder::default()
        .ip_or_hostname(secret.host.clone())
        .tcp_port(secret.port)
        .user(Some(secret.username.clone()))
        .pass(Some(secret.password.expose_secret().to_owned()))
        .db_name(secret.dbname.clone())
        .prefer_socket(false)
        .stmt_cache_size(0);
    if tls.use_tls_for(secret, role) {
        // The same CAs as every other function: public roots (the driver's
        // built-in webpki roots) only when trusted, plus the RDS CAs and the
        // extra file as DER certificates parsed once at start (the driver
        // builds its root store on every connection: PEM would be decoded
        // again each time).
        let ssl = SslOpts::default()
            .with_disable_built_in_roots(!tls.public_roots)
            .with_root_certs(
                tls.extra_root_certificates()
                    .into_iter()
                    .map(|pem| match pem {
                        Cow::Borrowed(built_in) => built_in.into(),
                        Cow::Owned(read) => read.into(),
                    })
                    .collect(),
            );
        opts = opts.ssl_opts(ssl);
    }
    let failure = |kind: FailureKind, detail: String| CredentialFailure {
        role,
        target: secret.target(),
        kind,
        detail,
    };
    Conn::new(opts).await.map_err(|error| {
        failure(
            classify(&error),
            describe(&error, &[secret.password.expose_secret()]),
        )
    })
}
