//! What the conformance suite needs from a test database server, so one
//! suite runs against every engine.

use crate::certs::TestCa;
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

/// An ephemeral database server of one engine family.
pub trait TestDatabase: Sized + Send + Sync + 'static {
    /// The `engine` field of this family's secrets.
    const ENGINE: &'static str;
    /// An `engine` of another family (refused by this family's function).
    const FOREIGN_ENGINE: &'static str;
    /// The function's `EXCLUDE_CHARACTERS` default for this family.
    const DEFAULT_EXCLUDE: &'static str;

    /// Makes and starts a server as `options` say; `ca` signs its certificate.
    fn start(ca: &TestCa, options: &ServerOptions) -> impl Future<Output = Self> + Send;
    /// Starts a stopped server again (same data, port and settings).
    fn restart(&mut self) -> impl Future<Output = ()> + Send;
    /// Its host (`127.0.0.1`).
    fn host(&self) -> &str;
    /// Its port.
    fn port(&self) -> u16;
    /// The CA certificate file clients must trust.
    fn ca_file(&self) -> &Path;
    /// The server's log files (statement logs included).
    fn log_files(&self) -> Vec<&Path>;
    /// A secret value for `username`/`password` on this server.
    fn secret(&self, username: &str, password: &str) -> Value;
    /// Creates a login user.
    fn create_user(&self, name: &str, password: &str) -> impl Future<Output = ()> + Send;
    /// Sets a user's password behind the function's back.
    fn set_password(&self, name: &str, password: &str) -> impl Future<Output = ()> + Send;
    /// Whether `user` logs in with `password` over verified TLS and runs a query.
    fn can_login(&self, user: &str, password: &str) -> impl Future<Output = bool> + Send;
    /// Whether the server's own administrator still logs in.
    fn admin_works(&self) -> impl Future<Output = bool> + Send;
    /// A line the server logs when `user` has logged in (not on a failed
    /// attempt).
    fn login_log_marker(user: &str) -> String;
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

impl TestDatabase for EphemeralPostgres {
    const ENGINE: &'static str = "postgres";
    const FOREIGN_ENGINE: &'static str = "mysql";
    const DEFAULT_EXCLUDE: &'static str = ":/@\"'\\";

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
    async fn admin_works(&self) -> bool {
        self.admin().await.simple_query("SELECT 1").await.is_ok()
    }
    fn login_log_marker(user: &str) -> String {
        format!("connection authorized: user={user}")
    }
    fn stop(&mut self) {
        EphemeralPostgres::stop(self)
    }
}

impl TestDatabase for EphemeralMariaDb {
    const ENGINE: &'static str = "mariadb";
    const FOREIGN_ENGINE: &'static str = "postgres";
    const DEFAULT_EXCLUDE: &'static str = "/@\"'\\";

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
    async fn admin_works(&self) -> bool {
        !self.query("SELECT 1").await.is_empty()
    }
    fn login_log_marker(user: &str) -> String {
        // The general log's line for a login that got past authentication.
        format!("Connect\t{user}@127.0.0.1 on")
    }
    fn stop(&mut self) {
        EphemeralMariaDb::stop(self)
    }
}
