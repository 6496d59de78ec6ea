//! Alternating users on PostgreSQL: cloning the current user as the admin.

use crate::backend::set_password_sql;
use crate::connect::statement_error;
use postgres_protocol::escape::escape_identifier;
use rotation::BackendError;
use secrecy::SecretString;
use tokio_postgres::Client;

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
    tx.batch_execute(&set_password_sql(pending, password)?)
        .await
        .map_err(statement_error(format!(
            "setting the password of user {pending:?}"
        )))?;
    tx.commit()
        .await
        .map_err(statement_error("committing".to_owned()))?;
    Ok(())
}
