//! Binding to a directory: the transport a secret asks for (LDAPS, StartTLS
//! or, only when the secret or `TLS_MODE` says so, plaintext), TLS with the
//! shared rustls settings (verified by default), a simple bind with the
//! user's DN, and errors that say which credential failed and why without
//! quoting a secret.

use database::{DatabaseSecret, DatabaseSettings};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult};
use rotation::{redact, BackendError, CredentialFailure, CredentialRole, FailureKind};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::policy::{describe_refusal, result_name};

/// The secret field choosing StartTLS (`true`) or LDAPS (`false`) when TLS
/// is used; by default LDAPS on ports 636 and 3269, StartTLS on any other.
pub const STARTTLS_FIELD: &str = "starttls";
/// The secret field naming the kind of directory ([`Directory`]).
pub const DIRECTORY_FIELD: &str = "directory";
/// The LDAPS port.
pub const LDAPS_PORT: u16 = 636;
/// The plain LDAP port (StartTLS, or plaintext).
pub const LDAP_PORT: u16 = 389;
/// Active Directory's global catalog over TLS.
pub const GLOBAL_CATALOG_TLS_PORT: u16 = 3269;

/// How the function talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
    /// Plain LDAP upgraded with the StartTLS extended operation before the
    /// bind; a server that refuses it is an error, never a plaintext bind.
    StartTls,
    /// Plaintext: only when the secret says `"ssl": false` (or
    /// `TLS_MODE=disable`), with a warning.
    Plain,
}

/// The kind of directory, which says how passwords change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directory {
    /// An RFC directory (OpenLDAP, 389-DS, …): the Password Modify extended
    /// operation for the user, a salted `userPassword` hash for an admin.
    Standard,
    /// Active Directory: `unicodePwd`, over TLS only.
    ActiveDirectory,
}

impl Directory {
    /// The secret's [`DIRECTORY_FIELD`]: absent, `ldap`, `openldap` or
    /// `389ds` for a standard directory; `active-directory` (or `ad`).
    pub fn of(secret: &DatabaseSecret) -> Result<Self, BackendError> {
        match secret.field(DIRECTORY_FIELD) {
            None | Some(Value::Null) => Ok(Directory::Standard),
            Some(Value::String(name)) => match name.trim().to_ascii_lowercase().as_str() {
                "ldap" | "standard" | "openldap" | "389ds" | "389-ds" => Ok(Directory::Standard),
                "active-directory" | "activedirectory" | "ad" => Ok(Directory::ActiveDirectory),
                _ => Err(BackendError::field(
                    DIRECTORY_FIELD,
                    format!(
                        "is {name:?}; it must be one of ldap, openldap, 389ds, active-directory"
                    ),
                )),
            },
            Some(_) => Err(BackendError::field(
                DIRECTORY_FIELD,
                "must be a string: ldap, openldap, 389ds or active-directory",
            )),
        }
    }
}

/// Where and how to reach the server for one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host, as the secret names it (the certificate must name it).
    pub host: String,
    /// The port: the secret's, else 636 for LDAPS and 389 otherwise.
    pub port: u16,
    /// The transport.
    pub transport: Transport,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.transport {
            Transport::Ldaps => "ldaps",
            Transport::StartTls => "ldap+starttls",
            Transport::Plain => "ldap",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// The secret's [`STARTTLS_FIELD`], if it says.
pub fn starttls_field(secret: &DatabaseSecret) -> Result<Option<bool>, BackendError> {
    match secret.field(STARTTLS_FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(BackendError::field(STARTTLS_FIELD, "must be true or false")),
    }
}

impl Endpoint {
    /// The endpoint of `secret`, with TLS or not as the settings decided.
    pub fn of(secret: &DatabaseSecret, tls: bool) -> Result<Self, BackendError> {
        let explicit_port = secret
            .field("port")
            .is_some_and(|p| !p.is_null())
            .then_some(secret.port);
        let starttls = starttls_field(secret)?;
        let (transport, default_port) = if !tls {
            (Transport::Plain, LDAP_PORT)
        } else {
            let implicit_tls_port = |p: u16| p == LDAPS_PORT || p == GLOBAL_CATALOG_TLS_PORT;
            match (starttls, explicit_port) {
                (Some(true), _) => (Transport::StartTls, LDAP_PORT),
                (Some(false), _) | (None, None) => (Transport::Ldaps, LDAPS_PORT),
                (None, Some(port)) if implicit_tls_port(port) => (Transport::Ldaps, LDAPS_PORT),
                (None, Some(_)) => (Transport::StartTls, LDAP_PORT),
            }
        };
        Ok(Self {
            host: secret.host.clone(),
            port: explicit_port.unwrap_or(default_port),
            transport,
        })
    }

    /// The URL ldap3 connects to (`ldaps://` or `ldap://`), checking that
    /// the host is a host name or an IP address.
    fn url(&self) -> Result<url::Url, String> {
        let scheme = if self.transport == Transport::Ldaps {
            "ldaps"
        } else {
            "ldap"
        };
        let mut url = url::Url::parse(&format!("{scheme}://localhost"))
            .map_err(|e| format!("building the server's URL: {e}"))?;
        let valid_host = !self.host.is_empty()
            && self.host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
            });
        if !valid_host {
            return Err(format!(
                "{:?} is not a host name or an IP address",
                self.host
            ));
        }
        url.set_host(Some(&self.host))
            .map_err(|e| format!("{:?} is not a host name or an IP address: {e}", self.host))?;
        url.set_port(Some(self.port))
            .map_err(|()| "the server's URL takes no port".to_owned())?;
        Ok(url)
    }
}

/// A bound session.
pub struct Session {
    /// The connection (its I/O runs in its own task).
    pub ldap: Ldap,
    /// The DN bound as, as the secret writes it.
    pub dn: String,
    /// The password bound with (the current or the previous one), which
    /// the Password Modify operation gives as the old password.
    pub password: SecretString,
    /// The kind of directory.
    pub directory: Directory,
    /// Where, and how.
    pub endpoint: Endpoint,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("dn", &self.dn)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the session is encrypted (LDAPS or StartTLS).
    pub fn encrypted(&self) -> bool {
        self.endpoint.transport != Transport::Plain
    }
}

/// The kind of a driver error.
pub fn error_kind(error: &LdapError) -> FailureKind {
    match error {
        LdapError::Rustls { .. } | LdapError::DNSName { .. } => FailureKind::Tls,
        LdapError::Io { source } => {
            database::tls::transport_failure_kind(source).unwrap_or(FailureKind::Unreachable)
        }
        LdapError::Timeout { .. } => FailureKind::Timeout,
        LdapError::LdapResult { result } => result_kind(result.rc),
        _ => FailureKind::Other,
    }
}

/// The kind of a result code.
pub fn result_kind(rc: u32) -> FailureKind {
    match rc {
        49 | 48 | 34 => FailureKind::Authentication,
        50 => FailureKind::Permission,
        8 | 13 => FailureKind::Tls,
        51 | 52 => FailureKind::Unreachable,
        3 => FailureKind::Timeout,
        _ => FailureKind::Other,
    }
}

/// A driver error in words, with `secrets` removed.
pub fn describe_error(error: &LdapError, secrets: &[&str]) -> String {
    let text = match error {
        LdapError::LdapResult { result } => describe_refusal(result),
        other => other.to_string(),
    };
    redact(text, secrets)
}

/// A failed operation as a [`BackendError::Operation`] naming `action`.
pub fn operation_error(action: &str, session: &Session, error: &LdapError) -> BackendError {
    BackendError::Operation {
        action: format!("{action} at {}", session.endpoint),
        kind: error_kind(error),
        detail: describe_error(error, &[session.password.expose_secret()]),
    }
}

/// A result that is no success as a [`BackendError::Operation`].
pub fn result_error(action: &str, session: &Session, result: &LdapResult) -> BackendError {
    BackendError::Operation {
        action: format!("{action} at {}", session.endpoint),
        kind: result_kind(result.rc),
        detail: redact(
            describe_refusal(result),
            &[session.password.expose_secret()],
        ),
    }
}

/// Binds as `secret`'s user (its DN) with its password, as `role`: TLS as
/// `settings.tls` says, never a silent fallback to plaintext. The whole
/// login is bounded by the caller (`database::DatabaseBackend::login`).
pub async fn bind(
    secret: &DatabaseSecret,
    role: CredentialRole,
    settings: &DatabaseSettings,
) -> Result<Session, CredentialFailure> {
    let tls = settings.tls.use_tls_for(secret, role);
    let mut failure_target = format!(
        "user {:?} at {}:{}",
        secret.username, secret.host, secret.port
    );
    let failure = |target: &str, kind: FailureKind, detail: String| CredentialFailure {
        role,
        target: target.to_owned(),
        kind,
        detail,
    };
    let endpoint = Endpoint::of(secret, tls)
        .map_err(|e| failure(&failure_target, FailureKind::Other, e.to_string()))?;
    failure_target = format!("user {:?} at {endpoint}", secret.username);
    let directory = Directory::of(secret)
        .map_err(|e| failure(&failure_target, FailureKind::Other, e.to_string()))?;
    let password = secret.password.expose_secret();
    if password.is_empty() {
        // RFC 4513 §5.1.2: a simple bind with a DN and no password is an
        // unauthenticated bind, which many servers accept as anonymous.
        return Err(failure(
            &failure_target,
            FailureKind::Authentication,
            "the password is empty: that would be an unauthenticated bind (RFC 4513 §5.1.2), \
             which is never attempted"
                .to_owned(),
        ));
    }
    let url = endpoint
        .url()
        .map_err(|e| failure(&failure_target, FailureKind::Other, e))?;
    let mut options = LdapConnSettings::new().set_conn_timeout(settings.connect_timeout);
    if endpoint.transport != Transport::Plain {
        options = options
            .set_config(settings.tls.shared_client_config())
            .set_starttls(endpoint.transport == Transport::StartTls);
    }
    let (conn, mut ldap) = LdapConnAsync::from_url_with_settings(options, &url)
        .await
        .map_err(|e| {
            let (kind, detail) = match (&e, endpoint.transport) {
                (LdapError::LdapResult { result }, Transport::StartTls) => (
                    FailureKind::Tls,
                    format!(
                        "the server refused StartTLS ({}: {}); the function never binds in \
                         plaintext instead (use port 636 for LDAPS, or \"ssl\": false to allow \
                         plaintext)",
                        result_name(result.rc),
                        result.text.trim()
                    ),
                ),
                _ => (
                    error_kind(&e),
                    format!("connecting: {}", describe_error(&e, &[password])),
                ),
            };
            failure(&failure_target, kind, detail)
        })?;
    ldap3::drive!(conn);
    let result = ldap
        .simple_bind(&secret.username, password)
        .await
        .map_err(|e| {
            failure(
                &failure_target,
                error_kind(&e),
                format!("binding: {}", describe_error(&e, &[password])),
            )
        })?;
    if result.rc != 0 {
        let mut detail = redact(describe_refusal(&result), &[password]);
        if result.rc == 34 {
            detail.push_str("; `username` must be the user's distinguished name");
        }
        return Err(failure(&failure_target, result_kind(result.rc), detail));
    }
    Ok(Session {
        ldap,
        dn: secret.username.clone(),
        password: secret.password.clone(),
        directory,
        endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use database::SecretShape;
    use serde_json::json;

    static SHAPE: SecretShape = SecretShape {
        family: "LDAP",
        engines: &["ldap"],
        default_port: LDAPS_PORT,
        default_dbname: None,
    };

    fn secret(extra: Value) -> DatabaseSecret {
        let mut value =
            json!({"host": "ldap.example.com", "username": "cn=a,dc=x", "password": "p"});
        if let (Some(object), Value::Object(more)) = (value.as_object_mut(), extra) {
            object.extend(more);
        }
        DatabaseSecret::parse(&SecretString::from(value.to_string()), &SHAPE).unwrap()
    }

    #[test]
    fn the_transport_follows_the_port_and_the_starttls_field() {
        let cases = [
            (json!({}), true, Transport::Ldaps, 636),
            (json!({"port": 636}), true, Transport::Ldaps, 636),
            (json!({"port": "3269"}), true, Transport::Ldaps, 3269),
            (json!({"port": 389}), true, Transport::StartTls, 389),
            (json!({"port": 10389}), true, Transport::StartTls, 10389),
            (json!({"starttls": true}), true, Transport::StartTls, 389),
            (
                json!({"port": 10636, "starttls": false}),
                true,
                Transport::Ldaps,
                10636,
            ),
            (json!({}), false, Transport::Plain, 389),
            (json!({"port": 10389}), false, Transport::Plain, 10389),
        ];
        for (extra, tls, transport, port) in cases {
            let endpoint = Endpoint::of(&secret(extra.clone()), tls).unwrap();
            assert_eq!(
                (endpoint.transport, endpoint.port),
                (transport, port),
                "{extra}"
            );
        }
        let err = Endpoint::of(&secret(json!({"starttls": "perhaps"})), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `starttls`"), "{err}");
    }

    #[test]
    fn urls_take_host_names_and_addresses_only() {
        let endpoint = |host: &str| Endpoint {
            host: host.to_owned(),
            port: 636,
            transport: Transport::Ldaps,
        };
        assert_eq!(
            endpoint("ldap.example.com").url().unwrap().as_str(),
            "ldaps://ldap.example.com:636"
        );
        assert!(endpoint("127.0.0.1").url().is_ok());
        assert!(endpoint("[::1]").url().is_ok());
        for bad in ["evil/path", "a b", "user@host", "x?y"] {
            let err = endpoint(bad).url().unwrap_err();
            assert!(err.contains("not a host name"), "{bad}: {err}");
        }
    }

    #[test]
    fn directories_are_named_by_their_field() {
        assert_eq!(
            Directory::of(&secret(json!({}))).unwrap(),
            Directory::Standard
        );
        assert_eq!(
            Directory::of(&secret(json!({"directory": "Active-Directory"}))).unwrap(),
            Directory::ActiveDirectory
        );
        let err = Directory::of(&secret(json!({"directory": "novell"})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `directory`") && err.contains("novell"),
            "{err}"
        );
    }

    #[test]
    fn result_codes_map_to_failure_kinds() {
        assert_eq!(result_kind(49), FailureKind::Authentication);
        assert_eq!(result_kind(50), FailureKind::Permission);
        assert_eq!(result_kind(13), FailureKind::Tls);
        assert_eq!(result_kind(19), FailureKind::Other);
    }
}
