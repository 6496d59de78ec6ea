//! The MySQL/MariaDB engine: the statements each server version supports,
//! cloning a user's grants and TLS requirement, dual passwords.

use crate::connect::{connect, statement_error};
use crate::grants;
use crate::sql::{self, ServerVersion, TlsRequirement, Whose};
use database::alternating::{NameLimit, NameUnit};
use database::{
    DatabaseBackend, DatabaseSecret, DatabaseSettings, Engine, Need, PrivilegeCheck, SecretShape,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use rotation::{BackendError, CredentialFailure, CredentialRole};
use secrecy::ExposeSecret;

/// `EXCLUDE_CHARACTERS` when unset, as in AWS's MySQL functions.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";
/// Environment variable: the longest clone user name, in characters.
pub const USERNAME_LIMIT_VAR: &str = "USERNAME_CHARACTER_LIMIT";
/// [`USERNAME_LIMIT_VAR`] when unset, as in AWS's MySQL functions (MySQL 5.6's limit).
pub const DEFAULT_USERNAME_LIMIT: usize = 16;
/// Environment variable: single-user rotation keeps the old password valid
/// (`RETAIN CURRENT PASSWORD`, MySQL 8.0.14+) until finishSecret.
pub const DUAL_PASSWORD_VAR: &str = "DUAL_PASSWORD";

/// The MySQL secret shape: engines `mysql`, `mariadb`, `aurora-mysql`,
/// port 3306, no database selected by default.
pub static SHAPE: SecretShape = SecretShape {
    family: "MySQL",
    engines: &["mysql", "mariadb", "aurora-mysql"],
    default_port: 3306,
    default_dbname: None,
};

/// The MySQL rotation backend: the shared flows with [`MySqlEngine`].
pub type MySqlBackend = DatabaseBackend<MySqlEngine>;

/// The backend configured from the environment. Fails on an unusable
/// setting, naming it.
pub fn backend_from_env() -> Result<MySqlBackend, BackendError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = DatabaseSettings::from_lookup(DEFAULT_EXCLUDE_CHARACTERS, lookup)?;
    let engine = MySqlEngine::from_lookup(lookup)?;
    Ok(DatabaseBackend::new(settings, engine))
}

/// MySQL and MariaDB: mysql_async over rustls.
#[derive(Debug)]
pub struct MySqlEngine {
    name_limit: NameLimit,
    /// Single-user rotation keeps the old password valid until finishSecret.
    pub dual_password: bool,
}

impl MySqlEngine {
    /// The engine with `USERNAME_CHARACTER_LIMIT` and `DUAL_PASSWORD` read
    /// through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        let max = match lookup(USERNAME_LIMIT_VAR) {
            None => DEFAULT_USERNAME_LIMIT,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > crate::CLONE_SUFFIX_LEN)
                .ok_or_else(|| {
                    BackendError::Config(format!(
                        "{USERNAME_LIMIT_VAR}={raw:?} is not a whole number above {}",
                        crate::CLONE_SUFFIX_LEN
                    ))
                })?,
        };
        let dual_password = lookup(DUAL_PASSWORD_VAR).is_some_and(|v| password::parse_bool(&v));
        Ok(Self::new(max, dual_password))
    }

    /// The engine with a clone-name limit of `max_username` characters.
    pub fn new(max_username: usize, dual_password: bool) -> Self {
        Self {
            name_limit: NameLimit {
                max: max_username,
                unit: NameUnit::Characters,
                source: USERNAME_LIMIT_VAR.to_owned(),
            },
            dual_password,
        }
    }
}

/// What a session needs to know to build statements.
struct Session {
    version: ServerVersion,
    no_backslash_escapes: bool,
    /// CURRENT_USER(): the account the session authenticated as.
    user: String,
    host: String,
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::Bytes(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Value::NULL) | None => String::new(),
        Some(other) => other.as_sql(true),
    }
}

async fn session(conn: &mut Conn) -> Result<Session, BackendError> {
    let row: Option<Row> = conn
        .query_first("SELECT VERSION(), @@SESSION.sql_mode, CURRENT_USER()")
        .await
        .map_err(statement_error(
            "reading the server version".to_owned(),
            &[],
        ))?;
    let row = row.ok_or_else(|| BackendError::operation("reading the server version", "no row"))?;
    let account = text(row.as_ref(2));
    let (user, host) = account
        .rsplit_once('@')
        .map(|(u, h)| (u.to_owned(), h.to_owned()))
        .unwrap_or((account.clone(), "%".to_owned()));
    Ok(Session {
        version: ServerVersion::parse(&text(row.as_ref(0))),
        no_backslash_escapes: text(row.as_ref(1))
            .to_ascii_uppercase()
            .contains("NO_BACKSLASH_ESCAPES"),
        user,
        host,
    })
}

fn literal_error(field: &str) -> impl Fn(sql::LiteralError) -> BackendError + '_ {
    move |e| BackendError::field(field, format!("cannot be sent to the server: it {e}"))
}

async fn show_grants(
    admin: &mut Conn,
    user: &str,
    host: &str,
) -> Result<Vec<String>, BackendError> {
    let rows: Vec<Row> = admin
        .query(format!("SHOW GRANTS FOR {}", sql::account(user, host)))
        .await
        .map_err(statement_error(
            format!("listing the grants of {user:?}"),
            &[],
        ))?;
    Ok(rows.iter().map(|row| text(row.as_ref(0))).collect())
}

async fn tls_requirement(
    admin: &mut Conn,
    user: &str,
    host: &str,
) -> Result<TlsRequirement, BackendError> {
    let row: Option<Row> = admin
        .exec_first(
            "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject FROM mysql.user \
             WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .map_err(statement_error(
            format!("reading the TLS requirement of {user:?}"),
            &[],
        ))?;
    Ok(row
        .map(|row| TlsRequirement {
            ssl_type: text(row.as_ref(0)),
            cipher: text(row.as_ref(1)),
            issuer: text(row.as_ref(2)),
            subject: text(row.as_ref(3)),
        })
        .unwrap_or_default())
}

impl Engine for MySqlEngine {
    type Conn = Conn;

    fn shape(&self) -> &'static SecretShape {
        &SHAPE
    }

    fn name_limit(&self) -> Option<&NameLimit> {
        Some(&self.name_limit)
    }

    fn can_clone_users(&self) -> bool {
        true
    }

    async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        settings: &DatabaseSettings,
    ) -> Result<Conn, CredentialFailure> {
        connect(secret, role, &settings.tls).await
    }

    async fn set_own_password(
        &self,
        conn: &mut Conn,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        let session = session(conn).await?;
        if self.dual_password && !session.version.has_dual_passwords() {
            return Err(BackendError::Config(format!(
                "{DUAL_PASSWORD_VAR} is on, but the server ({}) has no dual passwords \
                 (MySQL 8.0.14 or later); nothing was changed",
                session.version.text
            )));
        }
        let statement = sql::set_password(
            &session.version,
            Whose::Own,
            &pending.password,
            session.no_backslash_escapes,
            self.dual_password,
        )
        .map_err(literal_error("password"))?;
        let hash = sql::native_password_hash(&pending.password);
        let secrets = [pending.password.expose_secret(), hash.as_str()];
        conn.query_drop(statement.as_str())
            .await
            .map_err(statement_error(
                format!("setting the password of user {:?}", pending.username),
                &secrets,
            ))
    }

    async fn clone_user(
        &self,
        admin: &mut Conn,
        current_conn: &mut Conn,
        current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        // The clone gets the host pattern of the account the current user
        // actually logs in as.
        let model = session(current_conn).await?;
        let admin_session = session(admin).await?;
        let nbe = admin_session.no_backslash_escapes;
        let version = &admin_session.version;
        let host = model.host.as_str();
        let (user, clone) = (model.user.as_str(), pending.username.as_str());
        let clone_account = sql::account(clone, host);

        let exists: Option<Row> = admin
            .exec_first(
                "SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?",
                (clone, host),
            )
            .await
            .map_err(statement_error(format!("looking up user {clone:?}"), &[]))?;
        if exists.is_none() {
            // Made with a throw-away password: the pending one is set last,
            // so the clone cannot log in before its grants are complete.
            let throwaway = password::PasswordPolicy::default().generate()?;
            let statement = sql::create_user(version, clone, host, &throwaway, nbe)
                .map_err(literal_error("password"))?;
            admin
                .query_drop(statement.as_str())
                .await
                .map_err(statement_error(
                    format!("creating user {clone:?}"),
                    &[throwaway.expose_secret()],
                ))?;
        }

        let read = |lines: Vec<String>, who: &str| {
            grants::parse(&lines, who, host).map_err(|e| {
                BackendError::operation(format!("reading the grants of {who:?}"), e.to_string())
            })
        };
        let wanted = read(show_grants(admin, user, host).await?, user)?;
        let held = read(show_grants(admin, clone, host).await?, clone)?;
        for statement in grants::plan(&wanted, &held, &clone_account) {
            // Statements hold privileges and names only, never a secret.
            admin.query_drop(&statement).await.map_err(statement_error(
                format!("making {clone:?} hold the grants of {user:?} ({statement})"),
                &[],
            ))?;
        }

        let requirement = tls_requirement(admin, user, host).await?;
        let clause = requirement
            .clause(nbe)
            .map_err(literal_error("x509 requirement"))?;
        admin
            .query_drop(format!("ALTER USER {clone_account} {clause}"))
            .await
            .map_err(statement_error(
                format!("copying the TLS requirement of {user:?} to {clone:?}"),
                &[],
            ))?;

        let statement = sql::set_password(
            version,
            Whose::Account(clone, host),
            &pending.password,
            nbe,
            false,
        )
        .map_err(literal_error("password"))?;
        let hash = sql::native_password_hash(&pending.password);
        let secrets = [pending.password.expose_secret(), hash.as_str()];
        admin
            .query_drop(statement.as_str())
            .await
            .map_err(statement_error(
                format!("setting the password of user {clone:?}"),
                &secrets,
            ))?;
        if current.username != model.user {
            tracing::warn!(
                secret_user = %current.username,
                session_user = %model.user,
                "the current credential logs in as another account; its grants were copied"
            );
        }
        Ok(())
    }

    async fn check_privileges(
        &self,
        conn: &mut Conn,
        need: Need,
    ) -> Result<PrivilegeCheck, BackendError> {
        let session = session(conn).await?;
        let wanted: &[&str] = match need {
            Need::CloneUsers => &["CREATE USER"],
            Need::OwnPassword if self.dual_password => {
                if !session.version.has_dual_passwords() {
                    return Ok(PrivilegeCheck::Missing(format!(
                        "{DUAL_PASSWORD_VAR} is on, but the server ({}) has no dual passwords \
                         (MySQL 8.0.14 or later)",
                        session.version.text
                    )));
                }
                // Retaining one's own current password needs this dynamic
                // privilege (MySQL's ALTER USER documentation).
                &["APPLICATION_PASSWORD_ADMIN"]
            }
            Need::OwnPassword | Need::SetPasswordAsAdmin => {
                return Ok(PrivilegeCheck::Held(
                    "a user may always change its own password".to_owned(),
                ))
            }
        };
        let grantee = format!(
            "'{}'@'{}'",
            session.user.replace('\'', "''"),
            session.host.replace('\'', "''")
        );
        let rows: Vec<(String, String)> = conn
            .exec(
                "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES \
                 WHERE GRANTEE = ?",
                (grantee.as_str(),),
            )
            .await
            .map_err(statement_error(
                "reading the session's privileges".to_owned(),
                &[],
            ))?;
        let held = |privilege: &str| rows.iter().any(|(p, _)| p.eq_ignore_ascii_case(privilege));
        let mut missing: Vec<String> = wanted
            .iter()
            .filter(|p| !held(p))
            .map(|p| (*p).to_owned())
            .collect();
        // Cloning gives the other user the current user's grants: the admin
        // needs GRANT OPTION.
        if need == Need::CloneUsers && !rows.iter().any(|(_, grantable)| grantable == "YES") {
            missing.push("GRANT OPTION".to_owned());
        }
        if missing.is_empty() {
            Ok(PrivilegeCheck::Held(format!(
                "{grantee} holds {}{}",
                wanted.join(", "),
                if need == Need::CloneUsers {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            )))
        } else {
            Ok(PrivilegeCheck::Missing(format!(
                "{grantee} lacks {} (GRANT {} ON *.* TO {grantee}{})",
                missing.join(" and "),
                wanted.join(", "),
                if need == Need::CloneUsers {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            )))
        }
    }

    async fn session_user(&self, conn: &mut Conn) -> Result<String, BackendError> {
        Ok(session(conn).await?.user)
    }

    fn retains_old_password(&self) -> bool {
        self.dual_password
    }

    fn has_finish_work(&self) -> bool {
        self.dual_password
    }

    async fn after_finish(
        &self,
        conn: &mut Conn,
        current: &DatabaseSecret,
        _previous: Option<&DatabaseSecret>,
    ) -> Result<(), BackendError> {
        conn.query_drop("ALTER USER CURRENT_USER() DISCARD OLD PASSWORD")
            .await
            .map_err(statement_error(
                format!("discarding the old password of {:?}", current.username),
                &[],
            ))?;
        tracing::info!(user = %current.username, "the old password was discarded");
        Ok(())
    }
}
