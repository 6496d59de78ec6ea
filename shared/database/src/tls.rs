//! TLS settings: verified by default, plaintext only when asked for.
//!
//! What a function trusts, in this order (each can be switched off):
//! 1. the public roots of the Mozilla root programme (`webpki-roots`),
//!    `TLS_PUBLIC_ROOTS` (default `true`);
//! 2. the Amazon RDS certificate authorities, built into the binary from
//!    `rds-ca/global-bundle.pem`, `TLS_RDS_ROOTS` (default `true`);
//! 3. the CAs in the PEM file `TLS_EXTRA_CA_FILE`, if set.
//!
//! A certificate is accepted when its chain ends in any of them and it names
//! the host the secret names.

use crate::secret::DatabaseSecret;
use rotation::{BackendError, CredentialRole, FailureKind};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable choosing the TLS mode (see [`TlsMode`]).
pub const TLS_MODE_VAR: &str = "TLS_MODE";
/// Environment variable naming a PEM file of extra CA certificates to trust.
pub const EXTRA_CA_VAR: &str = "TLS_EXTRA_CA_FILE";
/// Environment variable: whether to trust the public (Mozilla) roots.
pub const PUBLIC_ROOTS_VAR: &str = "TLS_PUBLIC_ROOTS";
/// Environment variable: whether to trust the built-in Amazon RDS CAs.
pub const RDS_ROOTS_VAR: &str = "TLS_RDS_ROOTS";

/// The Amazon RDS CA bundle (`global-bundle.pem`), built into the binary.
/// Where it comes from and how to refresh it: `shared/database/rds-ca/README.md`.
pub const RDS_CA_BUNDLE: &str = include_str!("../rds-ca/global-bundle.pem");

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
    /// The mode's name, as [`TlsMode::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Auto => "auto",
            TlsMode::VerifyFull => "verify-full",
            TlsMode::Disable => "disable",
        }
    }

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

/// Which certificate authorities a function trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustSources {
    /// The Mozilla root programme's public roots.
    pub public_roots: bool,
    /// The built-in Amazon RDS CAs ([`RDS_CA_BUNDLE`]).
    pub rds_roots: bool,
    /// A PEM file of more CAs.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for TrustSources {
    /// Public roots and RDS CAs, no extra file.
    fn default() -> Self {
        Self {
            public_roots: true,
            rds_roots: true,
            extra_ca_file: None,
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
    /// Whether the public roots are trusted.
    pub public_roots: bool,
    /// Whether the built-in RDS CAs are trusted.
    pub rds_roots: bool,
    /// The extra CA file's certificates (DER), read once at start.
    extra_der: Arc<Vec<CertificateDer<'static>>>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("public_roots", &self.public_roots)
            .field("rds_roots", &self.rds_roots)
            .field("extra_ca_file", &self.extra_ca_file)
            .finish_non_exhaustive()
    }
}

/// The certificates of the PEM text `pem` (from `source`, for messages).
/// A source without any certificate is an error naming it.
pub fn parse_pem_certificates(
    pem: &[u8],
    source: &str,
) -> Result<Vec<CertificateDer<'static>>, BackendError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BackendError::Config(format!("{source}: bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(BackendError::Config(format!(
            "{source}: no certificate found"
        )));
    }
    Ok(certs)
}

/// Adds `certs` (from `source`, for messages) to `roots`; returns how many.
/// Expired CAs are kept (a verifier never chains to them); a certificate that
/// cannot be a trust anchor is an error naming `source`.
fn add_der_roots(
    roots: &mut RootCertStore,
    certs: &[CertificateDer<'static>],
    source: &str,
) -> Result<usize, BackendError> {
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|e| BackendError::Config(format!("{source}: unusable certificate: {e}")))?;
    }
    Ok(certs.len())
}

/// The built-in RDS CAs, parsed from [`RDS_CA_BUNDLE`] once per process.
pub fn rds_certificates() -> Result<&'static [CertificateDer<'static>], BackendError> {
    static PARSED: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    if let Some(certs) = PARSED.get() {
        return Ok(certs);
    }
    let certs = parse_pem_certificates(RDS_CA_BUNDLE.as_bytes(), "the built-in RDS CA bundle")?;
    Ok(PARSED.get_or_init(|| certs))
}

fn read_extra_ca(path: &Path) -> Result<Vec<u8>, BackendError> {
    std::fs::read(path).map_err(|e| {
        BackendError::Config(format!(
            "{EXTRA_CA_VAR}: cannot read {}: {e}",
            path.display()
        ))
    })
}

fn flag(lookup: &impl Fn(&str) -> Option<String>, var: &str) -> bool {
    lookup(var)
        .filter(|v| !v.trim().is_empty())
        .is_none_or(|v| password::parse_bool(&v))
}

impl TlsSettings {
    /// Settings from `TLS_MODE`, `TLS_PUBLIC_ROOTS`, `TLS_RDS_ROOTS` and
    /// `TLS_EXTRA_CA_FILE`.
    pub fn from_env() -> Result<Self, BackendError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`TlsSettings::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        let mode = TlsMode::parse(&lookup(TLS_MODE_VAR).unwrap_or_default())?;
        let trust = TrustSources {
            public_roots: flag(&lookup, PUBLIC_ROOTS_VAR),
            rds_roots: flag(&lookup, RDS_ROOTS_VAR),
            extra_ca_file: lookup(EXTRA_CA_VAR)
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from),
        };
        Self::with_trust(mode, trust)
    }

    /// Settings trusting the public roots, the RDS CAs and the certificates
    /// in `extra_ca_file`.
    pub fn new(mode: TlsMode, extra_ca_file: Option<PathBuf>) -> Result<Self, BackendError> {
        Self::with_trust(
            mode,
            TrustSources {
                extra_ca_file,
                ..TrustSources::default()
            },
        )
    }

    /// Settings trusting what `trust` says. Trusting nothing at all is an
    /// error (unless TLS is off), naming the variables.
    pub fn with_trust(mode: TlsMode, trust: TrustSources) -> Result<Self, BackendError> {
        let mut roots = RootCertStore::empty();
        if trust.public_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if trust.rds_roots {
            add_der_roots(
                &mut roots,
                rds_certificates()?,
                "the built-in RDS CA bundle",
            )?;
        }
        let extra_der = match &trust.extra_ca_file {
            None => Vec::new(),
            Some(path) => {
                let pem = read_extra_ca(path)?;
                let source = format!("{EXTRA_CA_VAR} {}", path.display());
                let certs = parse_pem_certificates(&pem, &source)?;
                add_der_roots(&mut roots, &certs, &source)?;
                certs
            }
        };
        if roots.is_empty() && mode != TlsMode::Disable {
            return Err(BackendError::Config(format!(
                "TLS trusts no certificate authority: {PUBLIC_ROOTS_VAR} and {RDS_ROOTS_VAR} \
                 are false and {EXTRA_CA_VAR} is not set"
            )));
        }
        // Drivers that build their own rustls configuration (mysql_async) use
        // the process default; make it ring, as ours, whatever else is linked.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BackendError::Internal(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            mode,
            extra_ca_file: trust.extra_ca_file,
            public_roots: trust.public_roots,
            rds_roots: trust.rds_roots,
            extra_der: Arc::new(extra_der),
            config: Arc::new(config),
        })
    }

    /// The CA certificates (DER) trusted besides the public roots (the RDS
    /// CAs and the extra file, as enabled), parsed once at start, for
    /// drivers that take certificates rather than a rustls configuration
    /// (and would otherwise parse PEM again on every connection). Trust the
    /// public roots too exactly when [`TlsSettings::public_roots`] is set.
    pub fn extra_root_certificates(&self) -> Vec<Cow<'static, [u8]>> {
        let mut certs: Vec<Cow<'static, [u8]>> = Vec::new();
        if self.rds_roots {
            if let Ok(rds) = rds_certificates() {
                certs.extend(rds.iter().map(|c| Cow::Borrowed(c.as_ref())));
            }
        }
        certs.extend(
            self.extra_der
                .iter()
                .map(|c| Cow::Owned(c.as_ref().to_vec())),
        );
        certs
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

    /// The same configuration, shared (for connectors that take an `Arc`,
    /// so no login copies it).
    pub fn shared_client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }
}

/// The kind of a connection failure, from the first cause in `error`'s
/// chain that says: a rustls error (also inside an I/O error) is TLS; an
/// I/O error that timed out is a timeout, any other I/O error an
/// unreachable server. `None` when no cause is either (the driver's own
/// words must decide).
pub fn transport_failure_kind(error: &(dyn std::error::Error + 'static)) -> Option<FailureKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return Some(FailureKind::Tls);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return Some(FailureKind::Tls);
            }
            return Some(match io.kind() {
                std::io::ErrorKind::TimedOut => FailureKind::Timeout,
                _ => FailureKind::Unreachable,
            });
        }
        source = cause.source();
    }
    None
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

    #[test]
    fn the_rds_bundle_is_built_in_and_holds_the_g1_roots() {
        let mut roots = RootCertStore::empty();
        let count = add_der_roots(&mut roots, rds_certificates().unwrap(), "rds").unwrap();
        assert_eq!(count, 121, "certificates in rds-ca/global-bundle.pem");
        for family in [
            "Root CA RSA2048 G1",
            "Root CA RSA4096 G1",
            "Root CA ECC384 G1",
        ] {
            let regions = roots
                .roots
                .iter()
                .filter(|anchor| {
                    anchor
                        .subject
                        .as_ref()
                        .windows(family.len())
                        .any(|w| w == family.as_bytes())
                })
                .count();
            assert!(regions >= 30, "{family}: only {regions} regions");
        }
        // Trusted by default, beside the public roots.
        let settings = TlsSettings::new(TlsMode::Auto, None).unwrap();
        assert!(settings.public_roots && settings.rds_roots);
        assert_eq!(settings.extra_root_certificates().len(), 121);
    }

    #[test]
    fn trust_sources_are_switched_by_their_variables() {
        let lookup = |pairs: Vec<(&'static str, &'static str)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let rds_only = TlsSettings::from_lookup(lookup(vec![(PUBLIC_ROOTS_VAR, "false")])).unwrap();
        assert!(!rds_only.public_roots && rds_only.rds_roots);
        let public_only = TlsSettings::from_lookup(lookup(vec![(RDS_ROOTS_VAR, "no")])).unwrap();
        assert!(public_only.public_roots && !public_only.rds_roots);
        assert!(public_only.extra_root_certificates().is_empty());
        let err = TlsSettings::from_lookup(lookup(vec![
            (PUBLIC_ROOTS_VAR, "false"),
            (RDS_ROOTS_VAR, "false"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("trusts no certificate authority") && err.contains(EXTRA_CA_VAR),
            "{err}"
        );
        // With TLS off, trusting nothing is allowed.
        TlsSettings::from_lookup(lookup(vec![
            (PUBLIC_ROOTS_VAR, "false"),
            (RDS_ROOTS_VAR, "false"),
            (TLS_MODE_VAR, "disable"),
        ]))
        .unwrap();
    }
}
