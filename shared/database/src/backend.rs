//! The rotation flows every password-protected service shares, over a small
//! [`Engine`] trait: which credential to log in with, in which order, and
//! what to do when it fails. An engine only knows how to log in, how a user
//! changes its own password and, when it can, how to clone a user.
//!
//! SQL databases are the first engines, but nothing here is SQL: a cache
//! (Redis ACL users), a directory (LDAP binds) or any server with a user
//! name and a password gets the secret format, TLS settings, the password
//! policy, timeouts, the `AWSPREVIOUS` recovery and the single-user flow by
//! implementing [`Engine::login`], [`Engine::set_own_password`] and
//! [`Engine::session_user`]. Cloning users (the alternating-users strategy)
//! is a capability ([`Engine::can_clone_users`]): an engine without it
//! refuses that strategy in createSecret, before anything changes.

use crate::alternating::{
    admin_credential, master_arn, other_username, NameLimit, MASTER_ARN_FIELD,
};
use crate::secret::{DatabaseSecret, SecretShape};
use crate::settings::{DatabaseSettings, Strategy};
use rotation::{
    deadline, Backend, BackendError, Check, CreateContext, CredentialFailure, CredentialRole,
    FailureKind, FinishContext, PreflightContext, SetContext, SetOutcome,
};
use secrecy::SecretString;
use std::future::Future;

/// One family of password-protected servers (PostgreSQL, MySQL/MariaDB, …):
/// how to log in and how users change. The flows around them live in
/// [`DatabaseBackend`].
pub trait Engine: Send + Sync {
    /// An open session.
    type Conn: Send;

    /// The family's secret shape (engines, default port and database).
    fn shape(&self) -> &'static SecretShape;

    /// Checks the fields only this engine reads (e.g. a list of nodes),
    /// when a value is parsed: createSecret refuses a bad one before
    /// anything changes. Errors name the field. The default: nothing to
    /// check.
    fn check(&self, _secret: &DatabaseSecret) -> Result<(), BackendError> {
        Ok(())
    }

    /// The longest user name a clone may have; `None` (the default): no
    /// limit the function knows of.
    fn name_limit(&self) -> Option<&NameLimit> {
        None
    }

    /// Whether [`Engine::clone_user`] is implemented, so that the
    /// alternating-users strategy works. `false` (the default): a secret
    /// that asks for that strategy is refused in createSecret, naming the
    /// setting, before anything changes.
    fn can_clone_users(&self) -> bool {
        false
    }

    /// Logs in with `secret` as `role`, TLS as `settings` say.
    fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        settings: &DatabaseSettings,
    ) -> impl Future<Output = Result<Self::Conn, CredentialFailure>> + Send;

    /// Single user: the logged-in user (`pending.username`, logged in with
    /// its current or previous password) changes its own password to
    /// `pending.password`. `current` is the `AWSCURRENT` value, for an
    /// engine that keeps it valid beside the new one.
    fn set_own_password(
        &self,
        conn: &mut Self::Conn,
        current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether an admin changes the user's password: when true, a secret
    /// with `masterarn` rotates its own user (single user), the admin
    /// named there setting the password with
    /// [`Engine::set_password_as_admin`] (a Redis user rarely may change
    /// its own password). When false (the default), `masterarn` selects
    /// alternating users, as in AWS's database functions.
    fn admin_changes_passwords(&self) -> bool {
        false
    }

    /// The admin credential aimed at every server `child` lives on
    /// (called with the admin secret, already checked to be for the
    /// child's host). The default: as given. An engine whose secret lists
    /// several nodes gives the admin the same list.
    fn admin_for(&self, admin: DatabaseSecret, _child: &DatabaseSecret) -> DatabaseSecret {
        admin
    }

    /// Single user, as the admin (only when
    /// [`Engine::admin_changes_passwords`]): sets `pending.username`'s
    /// password to `pending.password` (keeping `current.password` valid
    /// too when the engine does). Must be safe to run again. The default
    /// refuses.
    fn set_password_as_admin(
        &self,
        _admin: &mut Self::Conn,
        _current: &DatabaseSecret,
        _pending: &DatabaseSecret,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async {
            Err(BackendError::Internal(
                "this engine does not change passwords as an admin".to_owned(),
            ))
        }
    }

    /// Alternating users, as the admin: makes `pending.username` a user with
    /// `pending.password` and the same rights as `current.username`,
    /// creating it when missing. `current_conn` is a session of the current
    /// user. Must be safe to run again. Only called when
    /// [`Engine::can_clone_users`] says so; the default refuses.
    fn clone_user(
        &self,
        _admin: &mut Self::Conn,
        _current_conn: &mut Self::Conn,
        _current: &DatabaseSecret,
        _pending: &DatabaseSecret,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async {
            Err(BackendError::Config(
                "this function cannot clone users: use the single-user strategy".to_owned(),
            ))
        }
    }

    /// The user name the session is logged in as (testSecret's real query).
    fn session_user(
        &self,
        conn: &mut Self::Conn,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;

    /// Preflight: whether the logged-in session `conn` holds what `need`
    /// asks of it (e.g. CREATEROLE for PostgreSQL's alternating users,
    /// CREATE USER and GRANT OPTION for MySQL's). Read-only. The default:
    /// [`PrivilegeCheck::NotChecked`].
    fn check_privileges(
        &self,
        _conn: &mut Self::Conn,
        _need: Need,
    ) -> impl Future<Output = Result<PrivilegeCheck, BackendError>> + Send {
        async { Ok(PrivilegeCheck::NotChecked) }
    }

    /// Whether single-user rotation keeps the old password valid beside the
    /// new one until finishSecret (MySQL's dual passwords, a Redis user's
    /// two passwords). Such an engine's
    /// setSecret probes the pending credential before anything else, since
    /// setting the new password a second time would drop the old one.
    fn retains_old_password(&self) -> bool {
        false
    }

    /// Whether [`Engine::after_finish`] does anything (so the driver reads
    /// the new value only then).
    fn has_finish_work(&self) -> bool {
        false
    }

    /// After finishSecret moved `AWSCURRENT` to `current`, single-user
    /// rotation only: any clean-up (e.g. MySQL's `DISCARD OLD PASSWORD`, or
    /// removing the old password of a Redis user). `conn` is a session of
    /// whoever changes the password: the admin's when
    /// [`Engine::admin_changes_passwords`] and the secret has `masterarn`,
    /// else the user's, logged in with `current`. `previous` is the value
    /// that was `AWSCURRENT` before, when it could be read. The contract is
    /// [`rotation::Backend::after_finish`]'s: a failure is logged, not
    /// returned, and the next setSecret must not depend on it having run.
    fn after_finish(
        &self,
        _conn: &mut Self::Conn,
        _current: &DatabaseSecret,
        _previous: Option<&DatabaseSecret>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }
}

/// What a rotation will ask of a session's privileges (preflight's
/// [`Engine::check_privileges`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Single user: the user changes its own password.
    OwnPassword,
    /// Single user on an engine where an admin sets passwords: the admin
    /// sets another user's password.
    SetPasswordAsAdmin,
    /// Alternating users: the admin creates the other user of the pair and
    /// gives it the current user's rights.
    CloneUsers,
}

impl Need {
    /// What the need is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Need::OwnPassword => "the user changes its own password",
            Need::SetPasswordAsAdmin => "the admin sets the user's password",
            Need::CloneUsers => "the admin creates the other user and copies the rights",
        }
    }
}

/// The answer of [`Engine::check_privileges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeCheck {
    /// Held; what was found.
    Held(String),
    /// Missing; what is missing and how to grant it.
    Missing(String),
    /// This engine does not check.
    NotChecked,
}

/// A [`rotation::Backend`] for any SQL [`Engine`]: single user or
/// alternating users, chosen per secret by [`Strategy`].
#[derive(Debug)]
pub struct DatabaseBackend<E> {
    /// Password policy, TLS, timeouts and strategy.
    pub settings: DatabaseSettings,
    /// The engine.
    pub engine: E,
    rds: tokio::sync::OnceCell<aws_sdk_rds::Client>,
}

impl<E: Engine> DatabaseBackend<E> {
    /// A backend for `engine` with `settings`.
    pub fn new(settings: DatabaseSettings, engine: E) -> Self {
        Self {
            settings,
            engine,
            rds: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether `secret` rotates with alternating users.
    pub fn alternates(&self, secret: &DatabaseSecret) -> bool {
        match self.settings.strategy {
            Strategy::SingleUser => false,
            Strategy::AlternatingUsers => true,
            Strategy::Auto => {
                secret.text_field(MASTER_ARN_FIELD).is_some()
                    && !self.engine.admin_changes_passwords()
            }
        }
    }

    /// Whether `secret`'s own user rotates with the admin named by
    /// `masterarn` setting the password (single user, on an engine where
    /// [`Engine::admin_changes_passwords`]).
    pub fn admin_sets_password(&self, secret: &DatabaseSecret) -> bool {
        self.engine.admin_changes_passwords()
            && !self.alternates(secret)
            && secret.text_field(MASTER_ARN_FIELD).is_some()
    }

    /// Logs in as the admin `child`'s `masterarn` names, on every server
    /// the child lives on.
    async fn admin_login(
        &self,
        child: &DatabaseSecret,
        secrets: &rotation::SecretsManager,
    ) -> Result<E::Conn, BackendError> {
        let admin = admin_credential(child, secrets, self.rds_client()).await?;
        let admin = self.engine.admin_for(admin, child);
        self.login(&admin, CredentialRole::Admin)
            .await
            .map_err(BackendError::credential)
    }

    /// The RDS client, made on first use (only RDS-managed admin secrets need it).
    async fn rds_client(&self) -> aws_sdk_rds::Client {
        self.rds
            .get_or_init(|| async { aws_sdk_rds::Client::new(&rotation::aws::sdk_config().await) })
            .await
            .clone()
    }

    /// Logs in with `secret` as `role`. The whole login (TCP connect, TLS
    /// handshake, authentication) gets `CONNECT_TIMEOUT_SECONDS`, and never
    /// more than the invocation has left: one rule for every engine.
    pub async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
    ) -> Result<E::Conn, CredentialFailure> {
        let attempt = self.engine.login(secret, role, &self.settings);
        match deadline::within(Some(self.settings.connect_timeout), attempt).await {
            Ok(result) => result,
            Err(out_of_time) => Err(CredentialFailure {
                role,
                target: secret.target(),
                kind: FailureKind::Timeout,
                detail: format!("logging in: {out_of_time}"),
            }),
        }
    }

    /// Whether the pending credential already logs in. A failure other than
    /// authentication (unreachable, TLS) is kept in `failures`: it says
    /// something the other credentials' failures may not.
    async fn probe_pending(
        &self,
        pending: &DatabaseSecret,
        failures: &mut Vec<CredentialFailure>,
    ) -> bool {
        match self.login(pending, CredentialRole::Pending).await {
            Ok(_) => true,
            Err(failure) => {
                tracing::debug!(error = %failure, "pending credential does not log in yet");
                if failure.kind != FailureKind::Authentication {
                    failures.push(failure);
                }
                false
            }
        }
    }

    async fn set_single_user(
        &self,
        ctx: &SetContext<'_, DatabaseSecret>,
    ) -> Result<SetOutcome, BackendError> {
        let pending = ctx.pending;
        if pending.username != ctx.current.username {
            return Err(BackendError::field(
                "username",
                format!(
                    "of the pending value ({:?}) differs from the current one ({:?}); \
                     single-user rotation only changes a user's own password",
                    pending.username, ctx.current.username
                ),
            ));
        }
        if self.admin_sets_password(ctx.current) {
            // Nothing to probe first: the admin sets exactly the password
            // set the rotation needs, so a second run changes nothing.
            let mut admin = self.admin_login(ctx.current, ctx.secrets).await?;
            deadline::within_operation(
                "setting the password as the admin",
                self.engine
                    .set_password_as_admin(&mut admin, ctx.current, pending),
            )
            .await?;
            return Ok(SetOutcome::Changed);
        }
        let mut failures = Vec::new();
        // An engine that keeps the old password valid beside the new one
        // must not set the new one twice (the second time would drop the
        // old one): it probes the pending credential first.
        if self.engine.retains_old_password() && self.probe_pending(pending, &mut failures).await {
            return Ok(SetOutcome::AlreadySet);
        }
        // Otherwise the current credential first: on the normal path it works,
        // and setting the password again is harmless, so the pending one is
        // tried (one login, one SCRAM derivation) only when it does not.
        let conn = match self.login(ctx.current, CredentialRole::Current).await {
            Ok(conn) => Some(conn),
            Err(failure) => {
                failures.push(failure);
                if !self.engine.retains_old_password()
                    && self.probe_pending(pending, &mut failures).await
                {
                    return Ok(SetOutcome::AlreadySet);
                }
                match ctx.previous().await {
                    None => None,
                    Some(previous) => match self.login(previous, CredentialRole::Previous).await {
                        Ok(conn) => {
                            tracing::warn!(
                                "logged in with the AWSPREVIOUS value: recovering from a rotation that stopped half-way"
                            );
                            Some(conn)
                        }
                        Err(failure) => {
                            failures.push(failure);
                            None
                        }
                    },
                }
            }
        };
        let Some(mut conn) = conn else {
            return Err(BackendError::Credentials(failures));
        };
        deadline::within_operation(
            "setting the password",
            self.engine
                .set_own_password(&mut conn, ctx.current, pending),
        )
        .await?;
        Ok(SetOutcome::Changed)
    }

    /// Preflight: TLS, logging in with `AWSCURRENT` and a real query, the
    /// strategy, the admin secret and login when the strategy uses one, and
    /// the privileges the strategy needs. Changes nothing.
    async fn preflight_checks(
        &self,
        current: &DatabaseSecret,
        secrets: &rotation::SecretsManager,
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        checks.push(if self.settings.tls.use_tls(current.ssl) {
            Check::pass(
                "TLS",
                format!(
                    "TLS to {}, certificate and host name verified (TLS_MODE={})",
                    current.target(),
                    self.settings.tls.mode.as_str()
                ),
            )
        } else {
            Check::warn(
                "TLS",
                format!(
                    "plaintext to {}: the secret says \"ssl\": false or TLS_MODE=disable",
                    current.target()
                ),
            )
        });
        let login = "log in with AWSCURRENT";
        let mut current_conn = match self.login(current, CredentialRole::Current).await {
            Ok(conn) => conn,
            Err(failure) => {
                checks.push(Check::fail(login, &BackendError::credential(failure)));
                return checks;
            }
        };
        checks.push(
            match deadline::within_operation(
                "running a test query",
                self.engine.session_user(&mut current_conn),
            )
            .await
            {
                Ok(user) => Check::pass(login, format!("logged in as {user:?} and ran a query")),
                Err(error) => Check::fail(login, &error),
            },
        );
        let alternates = self.alternates(current);
        let strategy = "strategy";
        let need = if alternates {
            let chosen = match (self.engine.can_clone_users(), master_arn(current)) {
                (false, _) => Err(BackendError::Config(
                    "alternating users, but this function cannot clone users: set ROTATION_STRATEGY=single-user"
                        .to_owned(),
                )),
                (true, Err(error)) => Err(error),
                (true, Ok(_)) => other_username(&current.username, self.engine.name_limit())
                    .map(|other| format!("alternating users: the next user is {other:?}")),
            };
            let failed = chosen.is_err();
            checks.push(Check::from_result(strategy, chosen));
            if failed {
                return checks;
            }
            Need::CloneUsers
        } else if self.admin_sets_password(current) {
            checks.push(Check::pass(
                strategy,
                "single user, the admin named by masterarn sets the password",
            ));
            Need::SetPasswordAsAdmin
        } else {
            checks.push(Check::pass(
                strategy,
                "single user: the user changes its own password",
            ));
            Need::OwnPassword
        };
        let mut conn = if need == Need::OwnPassword {
            current_conn
        } else {
            let admin = match admin_credential(current, secrets, self.rds_client()).await {
                Ok(admin) => admin,
                Err(error) => {
                    checks.push(Check::fail("admin secret (masterarn)", &error));
                    return checks;
                }
            };
            checks.push(Check::pass(
                "admin secret (masterarn)",
                format!("user {:?} on {}", admin.username, admin.target()),
            ));
            let admin = self.engine.admin_for(admin, current);
            match self.login(&admin, CredentialRole::Admin).await {
                Ok(conn) => {
                    checks.push(Check::pass("log in as the admin", "logged in"));
                    conn
                }
                Err(failure) => {
                    checks.push(Check::fail(
                        "log in as the admin",
                        &BackendError::credential(failure),
                    ));
                    return checks;
                }
            }
        };
        let name = format!("privileges: {}", need.describe());
        checks.push(
            match deadline::within_operation(
                "checking privileges",
                self.engine.check_privileges(&mut conn, need),
            )
            .await
            {
                Ok(PrivilegeCheck::Held(found)) => Check::pass(name, found),
                Ok(PrivilegeCheck::Missing(missing)) => Check::fail(
                    name,
                    &BackendError::Operation {
                        action: "checking privileges".to_owned(),
                        kind: FailureKind::Permission,
                        detail: missing,
                    },
                ),
                Ok(PrivilegeCheck::NotChecked) => {
                    Check::skip(name, "this function does not check privileges")
                }
                Err(error) => Check::fail(name, &error),
            },
        );
        checks
    }

    async fn set_alternating(
        &self,
        ctx: &SetContext<'_, DatabaseSecret>,
    ) -> Result<SetOutcome, BackendError> {
        let (pending, current) = (ctx.pending, ctx.current);
        if pending.username == current.username {
            return Err(BackendError::field(
                "username",
                format!(
                    "of the pending value is the current user {:?}: alternating-users rotation sets the other user of the pair",
                    current.username
                ),
            ));
        }
        if self.login(pending, CredentialRole::Pending).await.is_ok() {
            return Ok(SetOutcome::AlreadySet);
        }
        // The current user is the model of the clone: it must work.
        let mut current_conn = self
            .login(current, CredentialRole::Current)
            .await
            .map_err(BackendError::credential)?;
        let mut admin_conn = self.admin_login(current, ctx.secrets).await?;
        deadline::within_operation(
            "making the other user of the pair",
            self.engine
                .clone_user(&mut admin_conn, &mut current_conn, current, pending),
        )
        .await?;
        Ok(SetOutcome::Changed)
    }
}

impl<E: Engine> Backend for DatabaseBackend<E> {
    type Secret = DatabaseSecret;

    fn parse(&self, raw: &SecretString) -> Result<DatabaseSecret, BackendError> {
        let secret = DatabaseSecret::parse(raw, self.engine.shape())?;
        self.engine.check(&secret)?;
        Ok(secret)
    }

    fn serialize(&self, secret: &DatabaseSecret) -> Result<SecretString, BackendError> {
        secret.to_json()
    }

    async fn create_pending(
        &self,
        current: &DatabaseSecret,
        _ctx: &CreateContext<'_>,
    ) -> Result<DatabaseSecret, BackendError> {
        let password = self.settings.policy.generate()?;
        if self.alternates(current) {
            if !self.engine.can_clone_users() {
                return Err(BackendError::Config(format!(
                    "the alternating-users strategy needs a function that can clone users, and this one cannot \
                     (ROTATION_STRATEGY is {}{}): set ROTATION_STRATEGY=single-user",
                    self.settings.strategy.as_str(),
                    if current.text_field(MASTER_ARN_FIELD).is_some() {
                        format!(" and the secret has a `{MASTER_ARN_FIELD}` field")
                    } else {
                        String::new()
                    }
                )));
            }
            master_arn(current)?;
            let other = other_username(&current.username, self.engine.name_limit())?;
            Ok(current.with_user(&other, password))
        } else {
            Ok(current.with_password(password))
        }
    }

    async fn set_pending(
        &self,
        ctx: &SetContext<'_, DatabaseSecret>,
    ) -> Result<SetOutcome, BackendError> {
        if self.alternates(ctx.current) {
            self.set_alternating(ctx).await
        } else {
            self.set_single_user(ctx).await
        }
    }

    async fn test_pending(&self, pending: &DatabaseSecret) -> Result<(), BackendError> {
        self.accepts(pending, CredentialRole::Pending).await
    }

    async fn accepts(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
    ) -> Result<(), BackendError> {
        let mut conn = self
            .login(secret, role)
            .await
            .map_err(BackendError::credential)?;
        let user =
            deadline::within_operation("running a test query", self.engine.session_user(&mut conn))
                .await?;
        if user != secret.username {
            return Err(BackendError::operation(
                "running a test query",
                format!("logged in as {user:?}, expected {:?}", secret.username),
            ));
        }
        Ok(())
    }

    async fn preflight(&self, current: &DatabaseSecret, ctx: &PreflightContext<'_>) -> Vec<Check> {
        self.preflight_checks(current, ctx.secrets).await
    }

    fn has_finish_work(&self) -> bool {
        self.engine.has_finish_work()
    }

    async fn after_finish(
        &self,
        current: &DatabaseSecret,
        previous: Option<&DatabaseSecret>,
        ctx: &FinishContext<'_>,
    ) -> Result<(), BackendError> {
        if self.alternates(current) {
            return Ok(());
        }
        let mut conn = if self.admin_sets_password(current) {
            self.admin_login(current, ctx.secrets).await?
        } else {
            self.login(current, CredentialRole::Current)
                .await
                .map_err(BackendError::credential)?
        };
        deadline::within_operation(
            "the clean-up after finishSecret",
            self.engine.after_finish(&mut conn, current, previous),
        )
        .await
    }
}
