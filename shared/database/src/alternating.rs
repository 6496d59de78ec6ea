//! Alternating users, the engine-independent part: the pair `name` /
//! `name_clone`, the `masterarn` field, and the admin credential it names.

use crate::rds;
use crate::secret::DatabaseSecret;
use rotation::{BackendError, SecretsManager, AWSCURRENT};

/// The suffix of the second user of a pair, as AWS's functions use it.
pub const CLONE_SUFFIX: &str = "_clone";
/// The secret field naming the admin secret.
pub const MASTER_ARN_FIELD: &str = "masterarn";

/// How an engine measures the length of a user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameUnit {
    /// Bytes of UTF-8 (PostgreSQL's NAMEDATALEN).
    Bytes,
    /// Characters (MySQL and MariaDB).
    Characters,
}

/// The longest user name an engine (or its configuration) allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameLimit {
    /// The maximum length.
    pub max: usize,
    /// What the maximum counts.
    pub unit: NameUnit,
    /// Where the limit comes from, for messages (e.g. `PostgreSQL's limit`
    /// or `USERNAME_CHARACTER_LIMIT`).
    pub source: String,
}

impl NameLimit {
    /// The length of `name` in this limit's unit.
    pub fn length(&self, name: &str) -> usize {
        match self.unit {
            NameUnit::Bytes => name.len(),
            NameUnit::Characters => name.chars().count(),
        }
    }

    fn unit_name(&self) -> &'static str {
        match self.unit {
            NameUnit::Bytes => "bytes",
            NameUnit::Characters => "characters",
        }
    }
}

/// The other user of the pair: `name` → `name_clone`, `name_clone` → `name`.
/// A clone name over `limit` is refused: the server would refuse or cut it,
/// and the pair would no longer match. (The way back, `name_clone` → `name`,
/// is always shorter and never refused.) `None`: no limit is known.
pub fn other_username(username: &str, limit: Option<&NameLimit>) -> Result<String, BackendError> {
    if let Some(base) = username.strip_suffix(CLONE_SUFFIX) {
        if !base.is_empty() {
            return Ok(base.to_owned());
        }
    }
    let other = format!("{username}{CLONE_SUFFIX}");
    let Some(limit) = limit else {
        return Ok(other);
    };
    let length = limit.length(&other);
    if length > limit.max {
        return Err(BackendError::field(
            "username",
            format!(
                "{username:?} would alternate with {other:?}, which is {length} {unit}: over {} of {} {unit}",
                limit.source,
                limit.max,
                unit = limit.unit_name(),
            ),
        ));
    }
    Ok(other)
}

/// The `masterarn` of a secret, required for alternating users.
pub fn master_arn(secret: &DatabaseSecret) -> Result<&str, BackendError> {
    match secret.text_field(MASTER_ARN_FIELD) {
        Some(arn) if !arn.trim().is_empty() => Ok(arn),
        _ => Err(BackendError::field(
            MASTER_ARN_FIELD,
            "is missing: alternating-users rotation needs the ARN of the admin secret",
        )),
    }
}

/// Reads the admin secret named by `child`'s `masterarn` and aims it at the
/// child's database: its `dbname` is the child's, its host is its own (or,
/// for an RDS-managed master secret, the RDS writer endpoint), and that host
/// must be the child's (or, for RDS, one of the same database's endpoints).
pub async fn admin_credential(
    child: &DatabaseSecret,
    secrets: &SecretsManager,
    rds_client: impl std::future::Future<Output = aws_sdk_rds::Client>,
) -> Result<DatabaseSecret, BackendError> {
    let arn = master_arn(child)?;
    let admin_error = |reason: String| BackendError::AdminSecret {
        secret: arn.to_owned(),
        reason,
    };
    let value = secrets
        .get_value(arn, None, AWSCURRENT)
        .await
        .map_err(|e| {
            if e.out_of_time {
                BackendError::SecretsManager(e)
            } else {
                admin_error(format!("cannot be read: {}", e.message))
            }
        })?
        .ok_or_else(|| admin_error("has no AWSCURRENT value".to_owned()))?;
    let admin = DatabaseSecret::parse_admin(&value.value, child.shape)
        .map_err(|e| admin_error(e.to_string()))?;
    let (host, port, accepted) = if admin.has_host() {
        (admin.host.clone(), admin.port, vec![admin.host.clone()])
    } else {
        let meta = secrets
            .describe(arn)
            .await
            .map_err(|e| admin_error(format!("cannot be described: {}", e.message)))?;
        let client = rds_client.await;
        let lookup = rds::resolve(&client, &meta.tags, child.shape.default_port);
        let found = rotation::deadline::within_operation(
            "looking up the admin secret's database with the RDS API",
            lookup,
        )
        .await?;
        match found {
            Some(endpoint) => (endpoint.host, endpoint.port, endpoint.accepted_hosts),
            None => {
                return Err(admin_error(format!(
                    "has no `host` and is not an RDS-managed secret (no tag {} or {})",
                    rds::INSTANCE_TAG,
                    rds::CLUSTER_TAG
                )))
            }
        }
    };
    if !accepted.iter().any(|h| h.eq_ignore_ascii_case(&child.host)) {
        return Err(admin_error(format!(
            "is for host {host:?}, but the secret being rotated is for host {:?}; \
             refusing to use an admin credential of another server",
            child.host
        )));
    }
    Ok(admin.aimed_at(&host, port, child.dbname.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres() -> NameLimit {
        NameLimit {
            max: 63,
            unit: NameUnit::Bytes,
            source: "PostgreSQL's limit".to_owned(),
        }
    }

    #[test]
    fn names_alternate_and_long_ones_are_refused() {
        let limit = postgres();
        assert_eq!(other_username("app", Some(&limit)).unwrap(), "app_clone");
        assert_eq!(other_username("app_clone", Some(&limit)).unwrap(), "app");
        assert_eq!(
            other_username("_clone", Some(&limit)).unwrap(),
            "_clone_clone"
        );
        let at_limit = "a".repeat(63 - CLONE_SUFFIX.len());
        assert_eq!(other_username(&at_limit, Some(&limit)).unwrap().len(), 63);
        let over = "a".repeat(63 - CLONE_SUFFIX.len() + 1);
        let err = other_username(&over, Some(&limit)).unwrap_err().to_string();
        assert!(
            err.contains("PostgreSQL's limit of 63 bytes") && err.contains("username"),
            "{err}"
        );
        // Bytes, not characters.
        let unicode = "é".repeat(29); // 58 bytes + 6 = 64
        assert!(other_username(&unicode, Some(&limit)).is_err());
    }

    #[test]
    fn character_limits_count_characters() {
        let limit = NameLimit {
            max: 16,
            unit: NameUnit::Characters,
            source: "USERNAME_CHARACTER_LIMIT".to_owned(),
        };
        // 10 characters (20 bytes) + 6 = 16 characters: allowed.
        assert_eq!(
            other_username(&"é".repeat(10), Some(&limit)).unwrap(),
            format!("{}_clone", "é".repeat(10))
        );
        let err = other_username(&"é".repeat(11), Some(&limit))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("USERNAME_CHARACTER_LIMIT of 16 characters"),
            "{err}"
        );
        // Going back from the clone is never refused.
        let long_clone = format!("{}_clone", "x".repeat(40));
        assert_eq!(
            other_username(&long_clone, Some(&limit)).unwrap(),
            "x".repeat(40)
        );
    }
}
