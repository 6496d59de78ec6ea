//! The Redis and Valkey engine: ACL users with two passwords during a
//! rotation, set as SHA-256 hashes, on every node the secret lists, and
//! saved so a restart keeps them.

use crate::connect::{command_error, connect, NodeSession};
use crate::nodes::{nodes, Node, HOSTS_FIELD};
use database::{DatabaseBackend, DatabaseSecret, DatabaseSettings, Engine, SecretShape};
use redis::Value as Reply;
use rotation::{BackendError, CredentialFailure, CredentialRole, FailureKind};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use zeroize::Zeroizing;

/// `EXCLUDE_CHARACTERS` when unset, as in AWS's ElastiCache function.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";
/// Environment variable: `true` removes the old password right after
/// finishSecret moved `AWSCURRENT`; by default it keeps working until the
/// next rotation, for consumers that still hold it.
pub const DISCARD_OLD_PASSWORD_VAR: &str = "DISCARD_OLD_PASSWORD";

/// The Redis secret shape: engines `redis` and `valkey`, port 6379, no
/// database.
pub static SHAPE: SecretShape = SecretShape {
    family: "Redis and Valkey",
    engines: &["redis", "valkey"],
    default_port: 6379,
    default_dbname: None,
};

/// The rotation backend: the shared flows with [`RedisEngine`].
pub type RedisBackend = DatabaseBackend<RedisEngine>;

/// Sessions with every node of a secret, logged in as the same user.
pub type Sessions = Vec<NodeSession>;

/// Redis and Valkey ACL users.
#[derive(Debug, Default)]
pub struct RedisEngine {
    /// [`DISCARD_OLD_PASSWORD_VAR`].
    pub discard_old_password: bool,
}

impl RedisEngine {
    /// The engine as the environment says ([`DISCARD_OLD_PASSWORD_VAR`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            discard_old_password: lookup(DISCARD_OLD_PASSWORD_VAR)
                .is_some_and(|v| password::parse_bool(&v)),
        }
    }
}

/// The ACL rule that adds `password` as a SHA-256 hash: `#` and 64
/// lowercase hex digits. The server stores the same; the plaintext never
/// leaves the function.
pub fn password_hash_rule(password: &SecretString) -> Zeroizing<String> {
    let digest = Sha256::digest(password.expose_secret().as_bytes());
    let mut rule = Zeroizing::new(String::with_capacity(65));
    rule.push('#');
    for byte in digest {
        let _ = write!(rule, "{byte:02x}");
    }
    rule
}

/// Sets `username`'s passwords on one node to exactly `rules` (hash rules),
/// keeping every other rule of the user. `self_change` says whether the
/// session is the user's own, for the message when it may not.
async fn set_passwords(
    session: &mut NodeSession,
    username: &str,
    rules: &[&str],
    self_change: bool,
) -> Result<(), BackendError> {
    let mut command = redis::cmd("ACL");
    command.arg("SETUSER").arg(username).arg("resetpass");
    for rule in rules {
        command.arg(*rule);
    }
    let result: Result<Reply, _> = command.query_async(&mut session.conn).await;
    match result {
        Ok(_) => Ok(()),
        Err(error) => {
            let mut failure = command_error(
                &format!("setting the passwords of user {username:?}"),
                &session.node,
                &error,
                rules,
            );
            if self_change {
                if let BackendError::Operation {
                    kind: FailureKind::Permission,
                    detail,
                    ..
                } = &mut failure
                {
                    detail.push_str(
                        "; the user may not change its own password: grant it +acl|setuser, \
                         or give the secret a `masterarn` naming an admin secret",
                    );
                }
            }
            Err(failure)
        }
    }
}

/// What keeps a change across a restart of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persisted {
    /// `ACL SAVE` wrote the server's ACL file.
    AclFile,
    /// `CONFIG REWRITE` wrote the users into the server's config file.
    ConfigFile,
    /// The server has neither: the change lives only in memory.
    MemoryOnly,
}

/// Makes one node keep its users across a restart: `ACL SAVE` when it uses
/// an ACL file, else `CONFIG REWRITE` when it has a config file, else a
/// warning that the change lives only in memory.
pub async fn persist(session: &mut NodeSession) -> Result<Persisted, BackendError> {
    let saved: Result<Reply, _> = redis::cmd("ACL")
        .arg("SAVE")
        .query_async(&mut session.conn)
        .await;
    let error = match saved {
        Ok(_) => return Ok(Persisted::AclFile),
        Err(error) => error,
    };
    if !error.to_string().contains("ACL file") {
        return Err(saving_error(session, "ACL SAVE", &error));
    }
    let rewritten: Result<Reply, _> = redis::cmd("CONFIG")
        .arg("REWRITE")
        .query_async(&mut session.conn)
        .await;
    match rewritten {
        Ok(_) => Ok(Persisted::ConfigFile),
        Err(error) if error.to_string().contains("without a config file") => {
            tracing::warn!(
                node = %session.node,
                "the server has no ACL file and no config file: the new password lives only in \
                 its memory, and a restart would bring back the users it started with"
            );
            Ok(Persisted::MemoryOnly)
        }
        Err(error) => Err(saving_error(session, "CONFIG REWRITE", &error)),
    }
}

fn saving_error(session: &NodeSession, command: &str, error: &redis::RedisError) -> BackendError {
    let mut failure = command_error(
        &format!("saving the users with {command} (the passwords were changed in memory)"),
        &session.node,
        error,
        &[],
    );
    if let BackendError::Operation { detail, .. } = &mut failure {
        detail
            .push_str("; until it is saved, a restart of this node brings back the old passwords");
    }
    failure
}

/// Sets exactly `rules` on every node, then saves every node. All nodes
/// are changed before any is saved, so a node that is down fails the step
/// with the others already accepting both passwords (nothing is lost: the
/// re-run sets the same).
async fn set_everywhere(
    sessions: &mut Sessions,
    username: &str,
    rules: &[&str],
    self_change: bool,
) -> Result<(), BackendError> {
    for session in sessions.iter_mut() {
        set_passwords(session, username, rules, self_change).await?;
    }
    for session in sessions.iter_mut() {
        let how = persist(session).await?;
        tracing::debug!(node = %session.node, persisted = ?how, "users saved");
    }
    Ok(())
}

/// Makes `pending.username`'s passwords exactly the current and the pending
/// one, on every node, saved (see [`set_everywhere`]).
async fn set_current_and_pending(
    sessions: &mut Sessions,
    current: &DatabaseSecret,
    pending: &DatabaseSecret,
    self_change: bool,
) -> Result<(), BackendError> {
    let rules = [
        password_hash_rule(&current.password),
        password_hash_rule(&pending.password),
    ];
    let rules: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
    set_everywhere(sessions, &pending.username, &rules, self_change).await
}

/// Runs `command` on every node and returns the replies.
async fn on_every_node(
    sessions: &mut Sessions,
    action: &str,
    command: &redis::Cmd,
) -> Result<Vec<(Node, Reply)>, BackendError> {
    let mut replies = Vec::with_capacity(sessions.len());
    for session in sessions.iter_mut() {
        let reply: Reply = command
            .query_async(&mut session.conn)
            .await
            .map_err(|e| command_error(action, &session.node, &e, &[]))?;
        replies.push((session.node.clone(), reply));
    }
    Ok(replies)
}

fn text_of(reply: &Reply) -> Option<String> {
    match reply {
        Reply::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Reply::SimpleString(text) => Some(text.clone()),
        Reply::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

impl Engine for RedisEngine {
    type Conn = Sessions;

    fn shape(&self) -> &'static SecretShape {
        &SHAPE
    }

    fn check(&self, secret: &DatabaseSecret) -> Result<(), BackendError> {
        nodes(secret).map(|_| ())
    }

    /// Logs in to every node of `secret` (its `hosts`, or its `host`), TLS
    /// as `settings.tls` says. The first node that refuses fails the login,
    /// naming the node.
    async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        settings: &DatabaseSettings,
    ) -> Result<Sessions, CredentialFailure> {
        let nodes = nodes(secret).map_err(|e| CredentialFailure {
            role,
            target: secret.target(),
            kind: FailureKind::Other,
            detail: e.to_string(),
        })?;
        // Every node at once: the login's time (CONNECT_TIMEOUT_SECONDS) is
        // for all of them together.
        let attempts = nodes
            .iter()
            .map(|node| connect(secret, node, role, &settings.tls, settings.connect_timeout));
        futures::future::join_all(attempts)
            .await
            .into_iter()
            .collect()
    }

    /// The user, logged in on every node, makes its passwords exactly the
    /// current and the pending one (it needs `+acl|setuser`), then every
    /// node saves its users.
    async fn set_own_password(
        &self,
        sessions: &mut Sessions,
        current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        set_current_and_pending(sessions, current, pending, true).await
    }

    fn admin_changes_passwords(&self) -> bool {
        true
    }

    /// The admin logs in to every node the user lives on.
    fn admin_for(&self, admin: DatabaseSecret, child: &DatabaseSecret) -> DatabaseSecret {
        match child.field(HOSTS_FIELD) {
            Some(hosts) => admin.with_field(HOSTS_FIELD, hosts.clone()),
            None => admin,
        }
    }

    /// As the admin: checks that the user exists on every node (changing
    /// nothing when one lacks it: `ACL SETUSER` would create it), then sets
    /// its passwords to exactly the current and the pending one, and saves.
    async fn set_password_as_admin(
        &self,
        admin: &mut Sessions,
        current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        let mut lookup = redis::cmd("ACL");
        lookup.arg("GETUSER").arg(&pending.username);
        let action = format!("looking up user {:?}", pending.username);
        for (node, reply) in on_every_node(admin, &action, &lookup).await? {
            if matches!(reply, Reply::Nil) {
                return Err(BackendError::Operation {
                    action: format!("{action} on {node}"),
                    kind: FailureKind::Other,
                    detail: "no such user on this node; nothing was changed on any node \
                             (create the user there first)"
                        .to_owned(),
                });
            }
        }
        set_current_and_pending(admin, current, pending, false).await
    }

    /// `ACL WHOAMI` and `PING` on every node; every node must name the same
    /// user.
    async fn session_user(&self, sessions: &mut Sessions) -> Result<String, BackendError> {
        let whoami = redis::cmd("ACL").arg("WHOAMI").clone();
        let mut user: Option<String> = None;
        for (node, reply) in on_every_node(sessions, "running ACL WHOAMI", &whoami).await? {
            let name = text_of(&reply).ok_or_else(|| BackendError::Operation {
                action: format!("running ACL WHOAMI on {node}"),
                kind: FailureKind::Other,
                detail: format!("unexpected reply {reply:?}"),
            })?;
            match &user {
                Some(first) if *first != name => {
                    return Err(BackendError::Operation {
                        action: format!("running ACL WHOAMI on {node}"),
                        kind: FailureKind::Other,
                        detail: format!("logged in as {name:?} here, as {first:?} elsewhere"),
                    })
                }
                _ => user = Some(name),
            }
        }
        on_every_node(sessions, "running PING", &redis::cmd("PING")).await?;
        user.ok_or_else(|| BackendError::Internal("a secret with no node".to_owned()))
    }

    fn has_finish_work(&self) -> bool {
        self.discard_old_password
    }

    /// With [`DISCARD_OLD_PASSWORD_VAR`]: the user keeps only the current
    /// password, on every node, saved.
    async fn after_finish(
        &self,
        sessions: &mut Sessions,
        current: &DatabaseSecret,
        _previous: Option<&DatabaseSecret>,
    ) -> Result<(), BackendError> {
        let rule = password_hash_rule(&current.password);
        set_everywhere(sessions, &current.username, &[rule.as_str()], false).await?;
        tracing::info!(user = %current.username, "the old password was discarded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_rules_are_sha256_in_lowercase_hex() {
        // SHA-256("password"), as `ACL SETUSER u #…` expects it.
        assert_eq!(
            password_hash_rule(&SecretString::from("password")).as_str(),
            "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
    }

    #[test]
    fn discard_old_password_is_read_as_every_boolean_setting() {
        let engine = |v: &'static str| RedisEngine::from_lookup(move |_| Some(v.to_owned()));
        assert!(engine("TRUE").discard_old_password);
        assert!(engine("yes").discard_old_password);
        assert!(!engine("false").discard_old_password);
        assert!(!RedisEngine::from_lookup(|_| None).discard_old_password);
    }
}
