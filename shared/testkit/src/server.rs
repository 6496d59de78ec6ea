//! What the conformance suite needs from a test server, so one suite runs
//! against every backend, database or not.

use crate::certs::TestCa;
use crate::emulator::Emulator;
use crate::mariadb::EphemeralMariaDb;
use crate::postgres::EphemeralPostgres;
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;

/// How a test server is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Whether the server offers TLS at all.
    pub tls: bool,
    /// The names its certificate is for.
    pub cert_names: Vec<String>,
}

impl Default for ServerOptions {
    /// TLS with a certificate for `localhost` and `127.0.0.1`.
    fn default() -> Self {
        Self {
            tls: true,
            cert_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
        }
    }
}

impl ServerOptions {
    /// A server without TLS.
    pub fn without_tls() -> Self {
        Self {
            tls: false,
            ..Self::default()
        }
    }

    /// A server whose certificate names only `localhost`: secrets (which
    /// name `127.0.0.1`) point at a host the certificate is not for.
    pub fn certificate_for_another_host() -> Self {
        Self {
            tls: true,
            cert_names: vec!["localhost".to_owned()],
        }
    }

    /// The name the test kit's own logins use: `127.0.0.1` when the
    /// certificate names it, else its first name.
    pub fn login_host(&self) -> String {
        if self.cert_names.iter().any(|n| n == "127.0.0.1") || !self.tls {
            "127.0.0.1".to_owned()
        } else {
            self.cert_names
                .first()
                .cloned()
                .unwrap_or_else(|| "127.0.0.1".to_owned())
        }
    }
}

/// The function a conformance suite runs against: its binary and the
/// defaults its scenarios check, taken from the function crate itself so
/// there is one source for each.
///
/// ```ignore
/// const FUNCTION: testkit::Function = testkit::Function {
///     binary: "rotate-postgres",
///     default_exclude: rotate_postgres::DEFAULT_EXCLUDE_CHARACTERS,
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The binary's name, e.g. `rotate-postgres`.
    pub binary: &'static str,
    /// The function's `EXCLUDE_CHARACTERS` default.
    pub default_exclude: &'static str,
}

impl AsRef<str> for Function {
    fn as_ref(&self) -> &str {
        self.binary
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.binary)
    }
}

/// What a restart of the server does to a password the function set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A change the server accepted survives a restart (a database commits it).
    Durable,
    /// A change survives a restart only when the function persists it (a
    /// Redis server without `ACL SAVE` forgets it). The fault scenarios
    /// restart the server and check that the function did; `how` says what
    /// it must do, for the failure message.
    PersistedByTheFunction {
        /// What the function must do, e.g. "run ACL SAVE after ACL SETUSER".
        how: &'static str,
    },
}

impl Durability {
    /// A hint for a failure after a restart.
    pub fn hint(self) -> String {
        match self {
            Durability::Durable => String::new(),
            Durability::PersistedByTheFunction { how } => format!(
                " (this server keeps a change across a restart only when the function persists it: {how})"
            ),
        }
    }
}

/// What the password a rotation replaced does afterwards, with the
/// function's default settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldPassword {
    /// Refused as soon as the rotation finished (single-user databases).
    Refused,
    /// Still accepted until the next rotation, then refused (a server with
    /// two passwords per user, keeping the old one for consumers that
    /// cached it).
    KeptUntilNextRotation,
}

/// Whether the server recorded a login of a user (for "the function never
/// logged in without verified TLS").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRecord {
    /// The user logged in (authentication succeeded) at least once.
    LoggedIn,
    /// It never did.
    Never,
    /// The server keeps no record of logins; the reason is printed where a
    /// check is skipped.
    NotRecorded(&'static str),
}

/// A secret value a function must refuse, for the scenarios that rotate
/// unusable values: the test's name for it, the value, and a part of the
/// error the rotation must fail with.
#[derive(Debug, Clone)]
pub struct BadSecret {
    /// A short name (also the secret's name).
    pub name: &'static str,
    /// The value stored as `AWSCURRENT`.
    pub value: Value,
    /// A part of the error `RotateSecret` must answer with.
    pub error: &'static str,
}

impl BadSecret {
    /// A case named `name`: `value` must fail with an error containing `error`.
    pub fn new(name: &'static str, value: Value, error: &'static str) -> Self {
        Self { name, value, error }
    }
}

/// `good` with `field` set to `value`.
pub fn with_field(good: &Value, field: &str, value: Value) -> Value {
    let mut v = good.clone();
    v[field] = value;
    v
}

/// `good` without `field`.
pub fn without_field(good: &Value, field: &str) -> Value {
    let mut v = good.clone();
    if let Some(object) = v.as_object_mut() {
        object.remove(field);
    }
    v
}

/// The unusable values of a server that holds the credential (a database,
/// a cache): fields missing, of the wrong kind, of another engine.
pub fn server_bad_secrets(good: &Value, password: &str, foreign_engine: &str) -> Vec<BadSecret> {
    vec![
        BadSecret::new(
            "invalid-json",
            Value::String(format!("{{\"password\": \"{password}\", oops")),
            "not a valid JSON object",
        ),
        BadSecret::new(
            "no-host",
            without_field(good, "host"),
            "field `host` is missing",
        ),
        BadSecret::new(
            "no-username",
            without_field(good, "username"),
            "field `username` is missing",
        ),
        BadSecret::new(
            "no-password",
            without_field(good, "password"),
            "field `password` is missing",
        ),
        BadSecret::new(
            "wrong-engine",
            with_field(good, "engine", json!(foreign_engine)),
            "field `engine` is",
        ),
        BadSecret::new(
            "port-not-a-number",
            with_field(good, "port", json!("five four three two")),
            "field `port` must be a port number",
        ),
    ]
}

/// The hostile values of a server that holds the credential: NULs, huge
/// fields, injections, a password of the wrong JSON type, no object at all.
pub fn server_hostile_secrets(good: &Value, password: &str) -> Vec<BadSecret> {
    vec![
        BadSecret::new(
            "nul-username",
            with_field(good, "username", json!("victim\u{0}")),
            "field `username` contains a NUL",
        ),
        BadSecret::new(
            "nul-password",
            with_field(good, "password", json!("hostile-\u{0}-Password")),
            "field `password` contains a NUL",
        ),
        BadSecret::new(
            "nul-host",
            with_field(good, "host", json!("127.0.0.1\u{0}evil")),
            "field `host` contains a NUL",
        ),
        BadSecret::new(
            "huge-username",
            with_field(good, "username", json!("v".repeat(100_000))),
            "field `username` is 100000 bytes",
        ),
        BadSecret::new(
            "huge-host",
            with_field(good, "host", json!("h".repeat(5000))),
            "field `host` is 5000 bytes",
        ),
        BadSecret::new(
            "injection-port",
            with_field(good, "port", json!("5432; DROP TABLE x")),
            "field `port`",
        ),
        BadSecret::new(
            "injection-username",
            with_field(good, "username", json!("victim'; DROP USER victim; --")),
            "authentication failed",
        ),
        BadSecret::new(
            "object-password",
            with_field(good, "password", json!({"nested": password})),
            "field `password` must be a string",
        ),
        BadSecret::new(
            "not-an-object",
            json!([password]),
            "not a valid JSON object",
        ),
    ]
}

/// An ephemeral server of one backend family that the conformance suite
/// rotates credentials on: a database, a cache, a directory. Each method is
/// a question any password-protected server can answer; what a server
/// cannot do is declared (with a reason) rather than stubbed.
pub trait TestServer: Sized + Send + Sync + 'static {
    /// The `engine` field of this family's secrets.
    const ENGINE: &'static str;
    /// An `engine` of another family (refused by this family's function).
    const FOREIGN_ENGINE: &'static str;
    /// User names this server accepts that a function must quote or escape
    /// (quotes, spaces, Unicode, statement separators, …): each is rotated
    /// by `a_username_with_quotes_spaces_and_unicode_rotates`.
    const AWKWARD_USERNAMES: &'static [&'static str];
    /// What a restart does to a password the function set.
    const DURABILITY: Durability = Durability::Durable;
    /// What a replaced password does after a rotation, with the function's
    /// default settings.
    const OLD_PASSWORD: OldPassword = OldPassword::Refused;
    /// Whether a server holds the credential so that it can be changed
    /// behind the function's back ([`TestServer::set_password`]); false for
    /// a secret that only its consumers read from Secrets Manager
    /// (generated secrets), where that server is a stand-in for the
    /// consumers, and for a credential the server makes itself and nobody
    /// can choose (IAM access keys).
    const HOLDS_THE_CREDENTIAL: bool = true;

    /// Makes and starts a server as `options` say; `ca` signs its certificate.
    fn start(ca: &TestCa, options: &ServerOptions) -> impl Future<Output = Self> + Send;
    /// Starts a stopped server again (same data, port and settings).
    fn restart(&mut self) -> impl Future<Output = ()> + Send;
    /// Its host (`127.0.0.1`).
    fn host(&self) -> &str;
    /// The port secrets name (TLS, or plaintext on a server without TLS).
    fn port(&self) -> u16;
    /// The port that takes plaintext connections, for secrets that say
    /// `"ssl": false` (the same as [`TestServer::port`] for a server that
    /// negotiates TLS on one port, as PostgreSQL and MySQL do).
    fn plaintext_port(&self) -> u16 {
        self.port()
    }
    /// The CA certificate file clients must trust.
    fn ca_file(&self) -> &Path;
    /// The server's log files (statement logs included).
    fn log_files(&self) -> Vec<&Path>;
    /// A secret value for `username`/`password` on this server.
    fn secret(&self, username: &str, password: &str) -> Value;
    /// The credential a secret value holds, as the other methods take it
    /// (`can_login`, `secret`). The default: its `password` field.
    fn password_in(&self, value: &Value) -> String {
        crate::conformance::password_of(value)
    }
    /// The user a secret value names. The default: its `username` field
    /// (empty when there is none).
    fn user_in(&self, value: &Value) -> String {
        value["username"].as_str().unwrap_or_default().to_owned()
    }
    /// Checks a credential the function made with its default settings.
    /// The default: a password of `PASSWORD_LENGTH`'s default (32
    /// characters) without the function's default `EXCLUDE_CHARACTERS`.
    fn assert_new_password(&self, new: &str, function: &crate::Function) {
        assert_eq!(new.chars().count(), 32, "default PASSWORD_LENGTH");
        assert!(
            !new.chars().any(|c| function.default_exclude.contains(c)),
            "default EXCLUDE_CHARACTERS of {function} not honoured"
        );
    }
    /// Creates a login user.
    fn create_user(&self, name: &str, password: &str) -> impl Future<Output = ()> + Send;
    /// Sets a user's password behind the function's back.
    fn set_password(&self, name: &str, password: &str) -> impl Future<Output = ()> + Send;
    /// Whether `user` logs in with `password` over verified TLS and runs a
    /// command that needs a session.
    fn can_login(&self, user: &str, password: &str) -> impl Future<Output = bool> + Send;
    /// Creates an admin that may clone users, for the alternating-users
    /// strategy (PostgreSQL: `CREATEROLE`; MySQL/MariaDB: every privilege
    /// `WITH GRANT OPTION`, as an RDS master user); false when the server
    /// has no such strategy (the default).
    fn create_admin(&self, _name: &str, _password: &str) -> impl Future<Output = bool> + Send {
        async { false }
    }
    /// Whether the server's own administrator still logs in.
    fn admin_works(&self) -> impl Future<Output = bool> + Send;
    /// Whether `user` has logged in so far (a failed attempt is no login).
    fn logged_in(&self, user: &str) -> LoginRecord;
    /// Environment the function needs on top of the world's (e.g. the
    /// endpoints and credentials of another AWS service this backend
    /// calls); these entries replace the world's own. The default: none.
    fn function_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Called once the world's Secrets Manager emulator runs, for a server
    /// that answers from the secrets themselves (the consumers of generated
    /// secrets). The default does nothing.
    fn attach_emulator(&mut self, _emulator: &Emulator) {}
    /// Unusable values that createSecret (or the first step that reads them)
    /// refuses; `good` is [`TestServer::secret`] for a user whose password
    /// is `password`. The default: [`server_bad_secrets`].
    fn bad_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        server_bad_secrets(good, password, Self::FOREIGN_ENGINE)
    }
    /// Hostile values (NULs, huge fields, injections) that must fail
    /// clearly; `good` as in [`TestServer::bad_secrets`]. The default:
    /// [`server_hostile_secrets`].
    fn hostile_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        server_hostile_secrets(good, password)
    }
    /// A value holding `password` that this family's function refuses in
    /// createSecret. The default: a JSON object cut short.
    fn broken_secret(&self, _user: &str, password: &str) -> Value {
        Value::String(format!("{{\"password\": \"{password}\", oops"))
    }
    /// A value (for `user`/`password`) whose rotation succeeds with a
    /// warning logged inside a step, and a part of that warning. The
    /// default: `"ssl": false` on the plaintext port, warned as "WITHOUT TLS".
    fn warning_secret(&self, user: &str, password: &str) -> (Value, &'static str) {
        let mut value = self.secret(user, password);
        value["ssl"] = json!(false);
        value["port"] = json!(self.plaintext_port());
        (value, "WITHOUT TLS")
    }
    /// `Some(reason)` when the conformance scenario `scenario` (its
    /// function name) does not apply to this backend; the reason is printed
    /// and the scenario does not run. The default: every scenario applies.
    fn not_applicable(_scenario: &str) -> Option<&'static str> {
        None
    }
    /// The server's logs so far.
    fn log_text(&self) -> String {
        self.log_files()
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// Stops the server now.
    fn stop(&mut self);
}

/// The reason `table` (scenario, reason) gives for `scenario`, for a
/// [`TestServer::not_applicable`] written as a table.
pub fn reason_in(table: &[(&str, &'static str)], scenario: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(name, _)| *name == scenario)
        .map(|(_, reason)| *reason)
}

/// Whether `scenario` applies to `D`; prints the reason when it does not.
pub fn applies<D: TestServer>(scenario: &str) -> bool {
    match D::not_applicable(scenario) {
        None => true,
        Some(reason) => {
            println!("{scenario}: not applicable to {}: {reason}", D::ENGINE);
            false
        }
    }
}

/// The awkward user names SQL servers accept: quotes of every kind, a
/// backslash, Unicode, spaces and a statement separator.
pub const SQL_AWKWARD_USERNAMES: &[&str] = &["o'brien `the` \"ünïcødé\" u\\ser; DROP USER x; --"];

/// Whether `log` shows a login of `user`, given the line the server writes
/// for one.
fn recorded(log: &str, marker: &str) -> LoginRecord {
    if log.contains(marker) {
        LoginRecord::LoggedIn
    } else {
        LoginRecord::Never
    }
}

impl TestServer for EphemeralPostgres {
    const ENGINE: &'static str = "postgres";
    const FOREIGN_ENGINE: &'static str = "mysql";
    const AWKWARD_USERNAMES: &'static [&'static str] = SQL_AWKWARD_USERNAMES;

    async fn start(ca: &TestCa, options: &ServerOptions) -> Self {
        EphemeralPostgres::start_with(ca, options).await
    }
    async fn restart(&mut self) {
        EphemeralPostgres::restart(self).await
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ca_file(&self) -> &Path {
        &self.ca_file
    }
    fn log_files(&self) -> Vec<&Path> {
        vec![&self.log]
    }
    fn secret(&self, username: &str, password: &str) -> Value {
        json!({
            "engine": Self::ENGINE,
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
            "dbname": "postgres",
        })
    }
    async fn create_user(&self, name: &str, password: &str) {
        EphemeralPostgres::create_user(self, name, password).await
    }
    async fn set_password(&self, name: &str, password: &str) {
        EphemeralPostgres::set_password(self, name, password).await
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        EphemeralPostgres::can_login(self, user, password).await
    }
    async fn create_admin(&self, name: &str, password: &str) -> bool {
        EphemeralPostgres::create_user(self, name, password).await;
        self.admin()
            .await
            .batch_execute(&format!(
                "ALTER ROLE {} CREATEROLE",
                postgres_protocol::escape::escape_identifier(name)
            ))
            .await
            .expect("ALTER ROLE … CREATEROLE");
        true
    }
    async fn admin_works(&self) -> bool {
        self.admin().await.simple_query("SELECT 1").await.is_ok()
    }
    fn logged_in(&self, user: &str) -> LoginRecord {
        recorded(
            &self.log_text(),
            &format!("connection authorized: user={user}"),
        )
    }
    fn stop(&mut self) {
        EphemeralPostgres::stop(self)
    }
}

impl TestServer for EphemeralMariaDb {
    const ENGINE: &'static str = "mariadb";
    const FOREIGN_ENGINE: &'static str = "postgres";
    const AWKWARD_USERNAMES: &'static [&'static str] = SQL_AWKWARD_USERNAMES;

    async fn start(ca: &TestCa, options: &ServerOptions) -> Self {
        EphemeralMariaDb::start_with(ca, options).await
    }
    async fn restart(&mut self) {
        EphemeralMariaDb::restart(self).await
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ca_file(&self) -> &Path {
        &self.ca_file
    }
    fn log_files(&self) -> Vec<&Path> {
        vec![&self.log, &self.general_log]
    }
    fn secret(&self, username: &str, password: &str) -> Value {
        json!({
            "engine": Self::ENGINE,
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
        })
    }
    async fn create_user(&self, name: &str, password: &str) {
        EphemeralMariaDb::create_user(self, name, password).await
    }
    async fn set_password(&self, name: &str, password: &str) {
        EphemeralMariaDb::set_password(self, name, password).await
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        EphemeralMariaDb::can_login(self, user, password).await
    }
    async fn create_admin(&self, name: &str, password: &str) -> bool {
        EphemeralMariaDb::create_user(self, name, password).await;
        self.execute(&format!(
            "GRANT ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION",
            crate::mariadb::account(name)
        ))
        .await;
        true
    }
    async fn admin_works(&self) -> bool {
        !self.query("SELECT 1").await.is_empty()
    }
    fn logged_in(&self, user: &str) -> LoginRecord {
        // The general log's line for a login that got past authentication.
        recorded(&self.log_text(), &format!("Connect\t{user}@127.0.0.1 on"))
    }
    fn stop(&mut self) {
        EphemeralMariaDb::stop(self)
    }
}
