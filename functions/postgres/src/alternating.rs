//! Alternating-users rotation: two users, `name` and `name_clone`; the admin
//! credential (the secret named by `masterarn`) sets the password of the one
//! not in use, creating it as a clone of the current one when missing.

use crate::backend::set_password_sql;
use crate::connect::statement_error;
use crate::rds;
use crate::secret::PostgresSecret;
use postgres_protocol::escape::escape_identifier;
use rotation::{BackendError, SecretsManager, AWSCURRENT};
use secrecy::SecretString;
use tokio_postgres::Client;

/// The suffix of the second user of a pair, as AWS's functions use it.
pub const CLONE_SUFFIX: &str = "_clone";
/// PostgreSQL's limit on identifiers, in bytes (NAMEDATALEN - 1).
pub const MAX_NAME_BYTES: usize = 63;
/// The secret field naming the admin secret.
pub const MASTER_ARN_FIELD: &str = "masterarn";

/// The other user of the pair: `name` → `name_clone`, `name_clone` → `name`.
/// Names over PostgreSQL's 63-byte limit are refused (the server would cut
/// them, and the pair would no longer match).
pub fn other_username(username: &str) -> Result<String, BackendError> {
    let other = match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{username}{CLONE_SUFFIX}"),
    };
    if other.len() > MAX_NAME_BYTES {
        return Err(BackendError::field(
            "username",
            format!(
                "{username:?} would alternate with {other:?}, which is {} bytes: over PostgreSQL's {MAX_NAME_BYTES}-byte limit for names",
                other.len()
            ),
        ));
    }
    Ok(other)
}

/// The `masterarn` of a secret, required for alternating users.
pub fn master_arn(secret: &PostgresSecret) -> Result<&str, BackendError> {
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
    child: &PostgresSecret,
    secrets: &SecretsManager,
    rds_client: impl std::future::Future<Output = aws_sdk_rds::Client>,
) -> Result<PostgresSecret, BackendError> {
    let arn = master_arn(child)?;
    let admin_error = |reason: String| BackendError::AdminSecret {
        secret: arn.to_owned(),
        reason,
    };
    let value = secrets
        .get_value(arn, None, AWSCURRENT)
        .await
        .map_err(|e| admin_error(format!("cannot be read: {}", e.message)))?
        .ok_or_else(|| admin_error("has no AWSCURRENT value".to_owned()))?;
    let admin =
        PostgresSecret::parse_admin(&value.value).map_err(|e| admin_error(e.to_string()))?;
    let (host, port, accepted) = if admin.has_host() {
        (admin.host.clone(), admin.port, vec![admin.host.clone()])
    } else {
        let meta = secrets
            .describe(arn)
            .await
            .map_err(|e| admin_error(format!("cannot be described: {}", e.message)))?;
        let client = rds_client.await;
        match rds::resolve(&client, &meta.tags).await? {
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
    Ok(admin.aimed_at(&host, port, &child.dbname))
}

const MEMBERSHIPS: &str = "SELECT r.rolname::text FROM pg_auth_members m \
     JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
     WHERE u.rolname = $1";

/// The roles `user` is a direct member of.
async fn memberships(
    tx: &tokio_postgres::Transaction<'_>,
    user: &str,
) -> Result<Vec<String>, BackendError> {
    Ok(tx
        .query(MEMBERSHIPS, &[&user])
        .await
        .map_err(statement_error(format!("listing the roles of {user:?}")))?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// As the admin: makes `pending` a login user with `password`, a member of
/// `current` (when created) and of every role `current` belongs to. Safe to
/// run again: nothing is created or granted twice.
pub async fn clone_user(
    admin: &mut Client,
    current: &str,
    pending: &str,
    password: &SecretString,
) -> Result<(), BackendError> {
    let tx = admin
        .transaction()
        .await
        .map_err(statement_error("starting a transaction".to_owned()))?;
    let exists = tx
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&pending])
        .await
        .map_err(statement_error(format!("looking up user {pending:?}")))?
        .is_some();
    let pending_ident = escape_identifier(pending);
    if !exists {
        tx.batch_execute(&format!("CREATE ROLE {pending_ident} WITH LOGIN"))
            .await
            .map_err(statement_error(format!("creating user {pending:?}")))?;
        tx.batch_execute(&format!(
            "GRANT {} TO {pending_ident}",
            escape_identifier(current)
        ))
        .await
        .map_err(statement_error(format!(
            "granting {current:?} to {pending:?}"
        )))?;
    } else {
        tx.batch_execute(&format!("ALTER ROLE {pending_ident} WITH LOGIN"))
            .await
            .map_err(statement_error(format!("enabling login for {pending:?}")))?;
    }
    let wanted = memberships(&tx, current).await?;
    let held = memberships(&tx, pending).await?;
    for role in wanted {
        // Skip the pair itself (the original user is a member-of target of its
        // clone, never the other way round) and what is already held.
        if role == pending || role == current || held.contains(&role) {
            continue;
        }
        tx.batch_execute(&format!(
            "GRANT {} TO {pending_ident}",
            escape_identifier(&role)
        ))
        .await
        .map_err(statement_error(format!("granting {role:?} to {pending:?}")))?;
    }
    tx.batch_execute(&set_password_sql(pending, password))
        .await
        .map_err(statement_error(format!(
            "setting the password of user {pending:?}"
        )))?;
    tx.commit()
        .await
        .map_err(statement_error("committing".to_owned()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_alternate_and_long_ones_are_refused() {
        assert_eq!(other_username("app").unwrap(), "app_clone");
        assert_eq!(other_username("app_clone").unwrap(), "app");
        assert_eq!(other_username("_clone").unwrap(), "_clone_clone");
        let at_limit = "a".repeat(MAX_NAME_BYTES - CLONE_SUFFIX.len());
        assert_eq!(other_username(&at_limit).unwrap().len(), MAX_NAME_BYTES);
        let over = "a".repeat(MAX_NAME_BYTES - CLONE_SUFFIX.len() + 1);
        let err = other_username(&over).unwrap_err().to_string();
        assert!(
            err.contains("63-byte limit") && err.contains("username"),
            "{err}"
        );
        // Bytes, not characters.
        let unicode = "é".repeat(29); // 58 bytes + 6 = 64
        assert!(other_username(&unicode).is_err());
    }
}
