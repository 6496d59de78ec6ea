//! What the conformance suite needs from a test database server, so one
//! suite runs against every engine.

use crate::certs::TestCa;
use crate::mariadb::EphemeralMariaDb;
use crate::postgres::EphemeralPostgres;
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;

/// An ephemeral database server of one engine family.
pub trait TestDatabase: Sized + Send + Sync + 'static {
    /// The `engine` field of this family's secrets.
    const ENGINE: &'static str;
    /// An `engine` of another family (refused by this family's function).
    const FOREIGN_ENGINE: &'static str;
    /// The function's `EXCLUDE_CHARACTERS` default for this family.
    const DEFAULT_EXCLUDE: &'static str;

    /// Makes and starts a server whose certificate `ca` signed.
    fn start(ca: &TestCa) -> impl Future<Output = Self> + Send;
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

    async fn start(ca: &TestCa) -> Self {
        EphemeralPostgres::start(ca).await
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

    async fn start(ca: &TestCa) -> Self {
        EphemeralMariaDb::start(ca).await
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
