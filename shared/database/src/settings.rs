//! The settings every database function reads from its environment.

use crate::tls::TlsSettings;
use password::PasswordPolicy;
use rotation::BackendError;
use std::time::Duration;

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
    /// The setting's canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }

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

/// How a database function makes passwords, connects and chooses a strategy.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// How new passwords are made.
    pub policy: PasswordPolicy,
    /// TLS settings.
    pub tls: TlsSettings,
    /// How long a login may take.
    pub connect_timeout: Duration,
    /// Single user, alternating users, or chosen per secret.
    pub strategy: Strategy,
}

impl DatabaseSettings {
    /// Settings from the environment: the password policy (AWS's variables,
    /// with the engine's `default_exclude` characters), `TLS_MODE`,
    /// `TLS_EXTRA_CA_FILE`, `CONNECT_TIMEOUT_SECONDS`, `ROTATION_STRATEGY`.
    /// Fails on an unusable setting, naming it.
    pub fn from_env(default_exclude: &str) -> Result<Self, BackendError> {
        Self::from_lookup(default_exclude, |name| std::env::var(name).ok())
    }

    /// As [`DatabaseSettings::from_env`], reading variables through `lookup`.
    pub fn from_lookup(
        default_exclude: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BackendError> {
        let policy = PasswordPolicy::from_lookup(&lookup, default_exclude)?;
        let tls = TlsSettings::from_lookup(&lookup)?;
        let connect_timeout = match lookup(CONNECT_TIMEOUT_VAR) {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some(raw) => parse_seconds(CONNECT_TIMEOUT_VAR, &raw)?,
        };
        let strategy = Strategy::parse(&lookup(STRATEGY_VAR).unwrap_or_default())?;
        Ok(Self {
            policy,
            tls,
            connect_timeout,
            strategy,
        })
    }
}

/// Reads a whole number of seconds above 0, naming `var` when it is not one.
pub fn parse_seconds(var: &str, raw: &str) -> Result<Duration, BackendError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            BackendError::Config(format!(
                "{var}={raw:?} is not a whole number of seconds above 0"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_and_bad_ones_are_named() {
        assert_eq!(Strategy::parse("").unwrap(), Strategy::Auto);
        assert_eq!(
            Strategy::parse("Alternating-Users").unwrap(),
            Strategy::AlternatingUsers
        );
        assert_eq!(Strategy::parse("single").unwrap(), Strategy::SingleUser);
        let err = Strategy::parse("both").unwrap_err().to_string();
        assert!(err.contains("ROTATION_STRATEGY"), "{err}");
    }

    #[test]
    fn timeouts_must_be_whole_positive_seconds() {
        assert_eq!(parse_seconds("X", " 7 ").unwrap(), Duration::from_secs(7));
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = parse_seconds("CONNECT_TIMEOUT_SECONDS", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("CONNECT_TIMEOUT_SECONDS"), "{err}");
        }
    }
}
