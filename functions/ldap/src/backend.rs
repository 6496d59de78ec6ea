//! The LDAP engine: a user's simple bind, and the three ways a password
//! changes. Self mode (the default): the user, bound with its current (or,
//! to recover, its previous) password, changes it with the Password Modify
//! extended operation (RFC 3062), so the server hashes it under its own
//! policy. Admin mode (the secret has `masterarn`): the admin replaces
//! `userPassword` with a salted hash computed here, never the plaintext.
//! Active Directory (`"directory": "active-directory"`): `unicodePwd`,
//! over TLS only.

use crate::connect::{bind, operation_error, result_error, Directory, Session, DIRECTORY_FIELD};
use crate::dn::{AuthzId, Dn};
use crate::hash::{unicode_pwd, HashScheme, PASSWORD_HASH_VAR};
use crate::policy;
use database::{DatabaseBackend, DatabaseSecret, DatabaseSettings, Engine, SecretShape};
use ldap3::exop::{PasswordModify, WhoAmI};
use ldap3::{Mod, Scope};
use rotation::{BackendError, CredentialFailure, CredentialRole, FailureKind};
use secrecy::ExposeSecret;
use std::collections::HashSet;

/// `EXCLUDE_CHARACTERS` when unset: the characters AWS's database
/// functions exclude, which also keeps passwords clear of LDIF and shell
/// quoting trouble.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";

/// The secret shape: engine `ldap`; port 636 (LDAPS) when the secret names
/// none (389 when it says `"ssl": false` or `"starttls": true`).
pub static SHAPE: SecretShape = SecretShape {
    family: "LDAP directories",
    engines: &["ldap"],
    default_port: crate::connect::LDAPS_PORT,
    default_dbname: None,
};

/// The rotation backend: the shared flows with [`LdapEngine`].
pub type LdapBackend = DatabaseBackend<LdapEngine>;

/// The backend configured from the environment. Fails on an unusable
/// setting, naming it.
pub fn backend_from_env() -> Result<LdapBackend, BackendError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = DatabaseSettings::from_lookup(DEFAULT_EXCLUDE_CHARACTERS, lookup)?;
    let engine = LdapEngine::from_lookup(lookup)?;
    Ok(DatabaseBackend::new(settings, engine))
}

/// LDAP directories.
#[derive(Debug)]
pub struct LdapEngine {
    /// The scheme of the `userPassword` hashes the admin mode writes
    /// ([`PASSWORD_HASH_VAR`]).
    pub hash: HashScheme,
}

impl Default for LdapEngine {
    fn default() -> Self {
        Self {
            hash: HashScheme::Ssha,
        }
    }
}

impl LdapEngine {
    /// The engine as the environment says ([`PASSWORD_HASH_VAR`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        let hash = match lookup(PASSWORD_HASH_VAR) {
            Some(value) => HashScheme::parse(&value)?,
            None => HashScheme::Ssha,
        };
        Ok(Self { hash })
    }
}

/// Active Directory changes passwords over an encrypted connection only:
/// refuse before sending anything otherwise.
fn require_encryption(session: &Session) -> Result<(), BackendError> {
    if session.encrypted() {
        return Ok(());
    }
    Err(BackendError::field(
        "ssl",
        "is false, but Active Directory changes a password (unicodePwd) only over TLS: \
         use LDAPS (port 636) or StartTLS",
    ))
}

/// The modification of `dn` as one request, with the Password Policy
/// control asked for so a refusal names its rule.
async fn modify_password(
    session: &mut Session,
    action: &str,
    dn: &str,
    mods: Vec<Mod<Vec<u8>>>,
) -> Result<(), BackendError> {
    let result = session
        .ldap
        .with_controls(policy::request_control())
        .modify(dn, mods)
        .await
        .map_err(|e| operation_error(action, session, &e))?;
    if result.rc != 0 {
        let mut failure = result_error(action, session, &result);
        if result.rc == 32 {
            if let BackendError::Operation { detail, .. } = &mut failure {
                detail.push_str("; no entry has this DN, and nothing was changed");
            }
        }
        return Err(failure);
    }
    Ok(())
}

impl Engine for LdapEngine {
    type Conn = Session;

    fn shape(&self) -> &'static SecretShape {
        &SHAPE
    }

    /// `username` must be a DN; `directory` and `starttls` must be
    /// understood: refused in createSecret, before anything changes.
    fn check(&self, secret: &DatabaseSecret) -> Result<(), BackendError> {
        Dn::parse(&secret.username).map_err(|reason| {
            BackendError::field(
                "username",
                format!(
                    "is not a distinguished name (RFC 4514): it {reason}; an LDAP secret's \
                     username is the DN the user binds as, e.g. cn=app,ou=people,dc=example,dc=com"
                ),
            )
        })?;
        Directory::of(secret)?;
        crate::connect::starttls_field(secret)?;
        Ok(())
    }

    async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        settings: &DatabaseSettings,
    ) -> Result<Session, CredentialFailure> {
        bind(secret, role, settings).await
    }

    /// Standard: the Password Modify extended operation with the bound
    /// password as the old one (servers with `pwdSafeModify` ask for it).
    /// Active Directory: delete the old `unicodePwd` and add the new one
    /// in one modification, over TLS.
    async fn set_own_password(
        &self,
        session: &mut Session,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        match session.directory {
            Directory::Standard => {
                let action = "changing the password with the Password Modify extended operation";
                let old = session.password.clone();
                let request = PasswordModify {
                    user_id: None,
                    old_pass: Some(old.expose_secret()),
                    new_pass: Some(pending.password.expose_secret()),
                };
                let result = session
                    .ldap
                    .with_controls(policy::request_control())
                    .extended(request)
                    .await;
                let secrets = [old.expose_secret(), pending.password.expose_secret()];
                match result {
                    Err(e) => {
                        let mut failure = operation_error(action, session, &e);
                        if let BackendError::Operation { detail, .. } = &mut failure {
                            *detail = rotation::redact(std::mem::take(detail), &secrets);
                        }
                        Err(failure)
                    }
                    Ok(ldap3::result::ExopResult(_, result)) if result.rc != 0 => {
                        let mut failure = result_error(action, session, &result);
                        if result.rc == 50 {
                            if let BackendError::Operation { detail, .. } = &mut failure {
                                detail.push_str(
                                    "; the directory's access rules do not let the user write \
                                     its own userPassword: allow `by self write`, or give the \
                                     secret a `masterarn` naming an admin secret",
                                );
                            }
                        }
                        Err(failure)
                    }
                    Ok(_) => Ok(()),
                }
            }
            Directory::ActiveDirectory => {
                require_encryption(session)?;
                let old = unicode_pwd(session.password.expose_secret());
                let new = unicode_pwd(pending.password.expose_secret());
                let dn = session.dn.clone();
                let mods = vec![
                    Mod::Delete(
                        b"unicodePwd".to_vec(),
                        HashSet::from([old.as_slice().to_vec()]),
                    ),
                    Mod::Add(
                        b"unicodePwd".to_vec(),
                        HashSet::from([new.as_slice().to_vec()]),
                    ),
                ];
                modify_password(session, "changing unicodePwd", &dn, mods).await
            }
        }
    }

    /// A directory's service accounts rarely may change their own
    /// password: `masterarn` names an admin that sets it (single user).
    fn admin_changes_passwords(&self) -> bool {
        true
    }

    /// The admin binds to the same server the same way: the child's port,
    /// `starttls` and `directory` when the admin secret does not say.
    fn admin_for(&self, admin: DatabaseSecret, child: &DatabaseSecret) -> DatabaseSecret {
        let mut admin = admin;
        if admin.field("port").is_none() {
            if let Some(port) = child.field("port") {
                let host = admin.host.clone();
                admin = admin
                    .aimed_at(&host, child.port, None)
                    .with_field("port", port.clone());
            }
        }
        for field in [crate::connect::STARTTLS_FIELD, DIRECTORY_FIELD] {
            if admin.field(field).is_none() {
                if let Some(value) = child.field(field) {
                    admin = admin.with_field(field, value.clone());
                }
            }
        }
        admin
    }

    /// Standard: replaces `userPassword` with a salted hash
    /// ([`LdapEngine::hash`]); Active Directory: replaces `unicodePwd`,
    /// over TLS. Either way the entry must exist (a modification never
    /// creates one), and a second run sets the same password.
    async fn set_password_as_admin(
        &self,
        admin: &mut Session,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        let password = pending.password.expose_secret();
        match Directory::of(pending)? {
            Directory::Standard => {
                let hash = self.hash.hash(password)?;
                let mods = vec![Mod::Replace(
                    b"userPassword".to_vec(),
                    HashSet::from([hash.as_bytes().to_vec()]),
                )];
                let action = format!(
                    "replacing the userPassword of {:?} with a {} hash",
                    pending.username,
                    self.hash.tag()
                );
                modify_password(admin, &action, &pending.username, mods).await
            }
            Directory::ActiveDirectory => {
                require_encryption(admin)?;
                let new = unicode_pwd(password);
                let mods = vec![Mod::Replace(
                    b"unicodePwd".to_vec(),
                    HashSet::from([new.as_slice().to_vec()]),
                )];
                let action = format!("resetting the unicodePwd of {:?}", pending.username);
                modify_password(admin, &action, &pending.username, mods).await
            }
        }
    }

    /// WhoAmI (RFC 4532). A `dn:` answer naming the bound entry (in any
    /// spelling) gives the secret's DN; Active Directory's `u:DOMAIN\name`
    /// is checked against the entry's own `sAMAccountName`, read as the
    /// user. Anything else is returned as answered, so testSecret reports
    /// the mismatch.
    async fn session_user(&self, session: &mut Session) -> Result<String, BackendError> {
        let action = "asking the server who the session is (WhoAmI)";
        let ldap3::result::ExopResult(exop, result) = session
            .ldap
            .extended(WhoAmI)
            .await
            .map_err(|e| operation_error(action, session, &e))?;
        if result.rc != 0 {
            return Err(result_error(action, session, &result));
        }
        let answer = exop
            .val
            .as_deref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let expected = Dn::parse(&session.dn).map_err(|reason| {
            BackendError::field(
                "username",
                format!("is not a distinguished name: it {reason}"),
            )
        })?;
        match AuthzId::parse(&answer) {
            AuthzId::Dn(dn) if dn.same_entry(&expected) => Ok(session.dn.clone()),
            AuthzId::Dn(dn) => Ok(dn.to_string()),
            AuthzId::User(user) => {
                let name = user.rsplit('\\').next().unwrap_or(&user).to_owned();
                let dn = session.dn.clone();
                let reading = "reading the entry's sAMAccountName";
                let entries = session
                    .ldap
                    .search(&dn, Scope::Base, "(objectClass=*)", vec!["sAMAccountName"])
                    .await
                    .and_then(|search| search.success())
                    .map_err(|e| operation_error(reading, session, &e))?
                    .0;
                let own = entries
                    .into_iter()
                    .next()
                    .map(ldap3::SearchEntry::construct)
                    .and_then(|entry| {
                        entry
                            .attrs
                            .get("sAMAccountName")
                            .and_then(|v| v.first().cloned())
                    });
                match own {
                    Some(own) if own.eq_ignore_ascii_case(&name) => Ok(session.dn.clone()),
                    _ => Ok(format!("u:{user}")),
                }
            }
            AuthzId::Other(other) if other.is_empty() => Err(BackendError::Operation {
                action: format!("{action} at {}", session.endpoint),
                kind: FailureKind::Authentication,
                detail: "the server says the session is anonymous: the bind did not authenticate"
                    .to_owned(),
            }),
            AuthzId::Other(other) => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_scheme_is_read_from_the_environment() {
        let engine = LdapEngine::from_lookup(|_| Some("ssha512".to_owned())).unwrap();
        assert_eq!(engine.hash, HashScheme::Ssha512);
        assert_eq!(
            LdapEngine::from_lookup(|_| None).unwrap().hash,
            HashScheme::Ssha
        );
        let err = LdapEngine::from_lookup(|_| Some("crypt".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(PASSWORD_HASH_VAR), "{err}");
    }
}
