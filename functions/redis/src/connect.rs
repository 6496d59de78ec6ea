//! Logging in to a Redis or Valkey node: TCP, TLS with the shared rustls
//! settings (verified by default), then `AUTH user password`; errors that
//! say which credential and which node failed, and why, and never quote a
//! secret.

use crate::nodes::Node;
use database::{DatabaseSecret, TlsSettings};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisConnectionInfo, RedisError, ServerErrorKind};
use rotation::{redact, BackendError, CredentialFailure, CredentialRole, FailureKind};
use rustls_pki_types::ServerName;
use secrecy::ExposeSecret;
use std::error::Error as StdError;
use std::time::Duration;
use tokio::net::TcpStream;

/// The share of `CONNECT_TIMEOUT_SECONDS` a TLS handshake may take before
/// it is reported as a server that does not speak TLS.
const HANDSHAKE_SHARE: f64 = 0.75;

/// A logged-in session with one node.
pub struct NodeSession {
    /// The node, for messages.
    pub node: Node,
    /// The connection (its reader runs in its own task).
    pub conn: MultiplexedConnection,
}

impl std::fmt::Debug for NodeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSession")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Classifies a driver or server error.
pub fn classify(error: &RedisError) -> FailureKind {
    if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
    {
        return FailureKind::Authentication;
    }
    if error.kind() == ErrorKind::Server(ServerErrorKind::NoPerm) || error.code() == Some("NOPERM")
    {
        return FailureKind::Permission;
    }
    if error.is_timeout() {
        return FailureKind::Timeout;
    }
    if error.is_io_error() || error.is_connection_refusal() {
        return io_kind(error);
    }
    FailureKind::Other
}

/// The kind of an I/O failure (TLS when rustls is among its causes).
fn io_kind(error: &(dyn StdError + 'static)) -> FailureKind {
    database::tls::transport_failure_kind(error).unwrap_or(FailureKind::Unreachable)
}

/// The driver's or server's words for a failure, with every string of
/// `secrets` (passwords, their hashes) replaced: a server's syntax error
/// quotes the command's arguments.
pub fn describe(error: &RedisError, secrets: &[&str]) -> String {
    let text = match (error.kind(), error.code(), error.detail()) {
        // A server error as the server wrote it: `NOPERM this user has …`.
        (ErrorKind::Server(_) | ErrorKind::Extension, Some(code), Some(detail)) => {
            format!("{code} {detail}")
        }
        _ => error.to_string(),
    };
    redact(text, secrets)
}

/// Maps a failed command to [`BackendError::Operation`], naming `action`
/// and the node; `secrets` are removed from the server's message.
pub fn command_error(
    action: &str,
    node: &Node,
    error: &RedisError,
    secrets: &[&str],
) -> BackendError {
    BackendError::Operation {
        action: format!("{action} on {node}"),
        kind: classify(error),
        detail: describe(error, secrets),
    }
}

/// Logs in to `node` with `secret`'s user and password as `role`: TLS with a
/// verified certificate for the node's host unless the secret says
/// `"ssl": false` (or `TLS_MODE=disable`), never a silent fallback to
/// plaintext. The whole login is bounded by the caller
/// (`database::DatabaseBackend::login`).
pub async fn connect(
    secret: &DatabaseSecret,
    node: &Node,
    role: CredentialRole,
    tls: &TlsSettings,
    connect_timeout: Duration,
) -> Result<NodeSession, CredentialFailure> {
    let failure = |kind: FailureKind, detail: String| CredentialFailure {
        role,
        target: format!("user {:?} at {node}", secret.username),
        kind,
        detail,
    };
    let password = secret.password.expose_secret();
    let info = RedisConnectionInfo::default()
        .set_username(&secret.username)
        .set_password(password)
        .set_skip_set_lib_name();
    let tcp = TcpStream::connect((node.host.as_str(), node.port))
        .await
        .map_err(|e| failure(io_kind(&e), format!("connecting: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let result = if tls.use_tls_for(secret, role) {
        let name = ServerName::try_from(node.host.clone()).map_err(|_| {
            failure(
                FailureKind::Tls,
                format!(
                    "{:?} is not a host name a certificate can be for",
                    node.host
                ),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(tls.shared_client_config());
        // A plaintext Redis reads a ClientHello as the start of a command
        // and waits for the rest: a handshake with no answer is a server
        // that does not speak TLS on this port, and is reported as such
        // before the login's own time runs out.
        let limit = connect_timeout.mul_f64(HANDSHAKE_SHARE);
        let stream = match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(failure(io_kind(&e), format!("TLS handshake: {e}"))),
            Err(_) => {
                return Err(failure(
                    FailureKind::Tls,
                    format!(
                    "TLS handshake: no answer within {:.1} s: the server does not seem to speak \
                         TLS on this port (Redis serves TLS on its `tls-port`)",
                    limit.as_secs_f64()
                ),
                ))
            }
        };
        authenticate(&info, stream).await
    } else {
        authenticate(&info, tcp).await
    };
    match result {
        Ok(conn) => Ok(NodeSession {
            node: node.clone(),
            conn,
        }),
        Err(error) => Err(failure(classify(&error), describe(&error, &[password]))),
    }
}

/// Authenticates over `stream` (`AUTH user password`); the connection's
/// reader runs in its own task.
async fn authenticate<S>(
    info: &RedisConnectionInfo,
    stream: S,
) -> Result<MultiplexedConnection, RedisError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (conn, driver) =
        MultiplexedConnection::new_with_config(info, stream, AsyncConnectionConfig::new()).await?;
    tokio::spawn(driver);
    Ok(conn)
}
