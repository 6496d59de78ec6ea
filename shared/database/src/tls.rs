//! TLS settings: verified by default, plaintext only when asked for.

use crate::secret::DatabaseSecret;
use rotation::{BackendError, CredentialRole};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::PathBuf;
use std::sync::Arc;

/// Environment variable choosing the TLS mode (see [`TlsMode`]).
pub const TLS_MODE_VAR: &str = "TLS_MODE";
/// Environment variable naming a PEM file of extra CA certificates to trust
/// (e.g. the RDS CA bundle shipped in the deployment package).
pub const EXTRA_CA_VAR: &str = "TLS_EXTRA_CA_FILE";

/// How the function decides between TLS and plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `auto` (default): TLS with a verified certificate and host name, unless
    /// the secret says `"ssl": false`.
    Auto,
    /// `verify-full`: always TLS, even when a secret says `"ssl": false`.
    VerifyFull,
    /// `disable`: plaintext unless the secret says `"ssl": true`.
    Disable,
}

impl TlsMode {
    /// Reads a mode name.
    pub fn parse(value: &str) -> Result<Self, BackendError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(TlsMode::Auto),
            "verify-full" | "require" => Ok(TlsMode::VerifyFull),
            "disable" => Ok(TlsMode::Disable),
            other => Err(BackendError::Config(format!(
                "{TLS_MODE_VAR}={other:?} is not one of auto, verify-full, disable"
            ))),
        }
    }
}

/// The function's TLS configuration.
#[derive(Clone)]
pub struct TlsSettings {
    /// The mode.
    pub mode: TlsMode,
    /// The extra CA file, if any.
    pub extra_ca_file: Option<PathBuf>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("extra_ca_file", &self.extra_ca_file)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Settings from `TLS_MODE` and `TLS_EXTRA_CA_FILE`.
    pub fn from_env() -> Result<Self, BackendError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`TlsSettings::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        let mode = TlsMode::parse(&lookup(TLS_MODE_VAR).unwrap_or_default())?;
        let extra = lookup(EXTRA_CA_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from);
        Self::new(mode, extra)
    }

    /// Settings trusting the Mozilla root programme (webpki-roots) plus the
    /// certificates in `extra_ca_file`.
    pub fn new(mode: TlsMode, extra_ca_file: Option<PathBuf>) -> Result<Self, BackendError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &extra_ca_file {
            let shown = path.display();
            let mut added = 0;
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                BackendError::Config(format!("{EXTRA_CA_VAR}: cannot read {shown}: {e}"))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    BackendError::Config(format!("{EXTRA_CA_VAR}: bad PEM in {shown}: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    BackendError::Config(format!(
                        "{EXTRA_CA_VAR}: unusable certificate in {shown}: {e}"
                    ))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(BackendError::Config(format!(
                    "{EXTRA_CA_VAR}: no certificate found in {shown}"
                )));
            }
        }
        // Drivers that build their own rustls configuration (mysql_async) use
        // the process default; make it ring, as ours, whatever else is linked.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BackendError::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            mode,
            extra_ca_file,
            config: Arc::new(config),
        })
    }

    /// Whether to use TLS for a secret whose `ssl` field is `ssl`.
    pub fn use_tls(&self, ssl: Option<bool>) -> bool {
        match (self.mode, ssl) {
            (TlsMode::VerifyFull, _) => true,
            (TlsMode::Auto, Some(false)) => false,
            (TlsMode::Auto, _) => true,
            (TlsMode::Disable, Some(true)) => true,
            (TlsMode::Disable, _) => false,
        }
    }

    /// Whether to log in to `secret`'s server with TLS; when not, logs the
    /// plaintext connection as a warning naming the server and `role`.
    pub fn use_tls_for(&self, secret: &DatabaseSecret, role: CredentialRole) -> bool {
        let tls = self.use_tls(secret.ssl);
        if !tls {
            tracing::warn!(
                host = %secret.host,
                port = secret.port,
                credential = %role,
                "connecting WITHOUT TLS: the secret says \"ssl\": false or TLS_MODE=disable"
            );
        }
        tls
    }

    /// The rustls client configuration (certificate and host name verified).
    pub fn client_config(&self) -> &ClientConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_unless_explicitly_turned_off() {
        let auto = TlsSettings::new(TlsMode::Auto, None).unwrap();
        assert!(auto.use_tls(None));
        assert!(auto.use_tls(Some(true)));
        assert!(!auto.use_tls(Some(false)));
        let strict = TlsSettings::new(TlsMode::VerifyFull, None).unwrap();
        assert!(strict.use_tls(Some(false)));
        let off = TlsSettings::new(TlsMode::Disable, None).unwrap();
        assert!(!off.use_tls(None));
        assert!(off.use_tls(Some(true)));
    }

    #[test]
    fn modes_parse_and_bad_ones_are_named() {
        assert_eq!(TlsMode::parse("").unwrap(), TlsMode::Auto);
        assert_eq!(TlsMode::parse("Verify-Full").unwrap(), TlsMode::VerifyFull);
        let err = TlsMode::parse("maybe").unwrap_err().to_string();
        assert!(err.contains("TLS_MODE"), "{err}");
    }

    #[test]
    fn missing_or_empty_ca_file_is_a_clear_error() {
        let err = TlsSettings::new(TlsMode::Auto, Some("/nonexistent/ca.pem".into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TLS_EXTRA_CA_FILE") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = TlsSettings::new(TlsMode::Auto, Some(empty.clone()))
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&empty);
        assert!(err.contains("no certificate"), "{err}");
    }
}
