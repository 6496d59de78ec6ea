//! An ephemeral Redis server for the conformance suite: started per test on
//! free loopback ports (a TLS port with a certificate from the test CA,
//! and a plaintext one), users in an ACL file, nothing else on disk;
//! stopped on drop.
//!
//! Users are made by the administrator `admin` with SHA-256 hashes, so no
//! test password is ever sent to the server.

use crate::certs::{client_config, ServerFiles, TestCa};
use crate::server::{Durability, LoginRecord, OldPassword, ServerOptions, TestServer};
use crate::tools::{free_port, random_token, spawn_listening, wait_for_login, Guard};
use redis::aio::MultiplexedConnection;
use redis::RedisConnectionInfo;
use rustls_pki_types::ServerName;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The administrator the server is made with (every command, every key).
pub const ADMIN: &str = "admin";

/// Where a user's changes are kept across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Users in an ACL file (`aclfile`): `ACL SAVE` keeps them.
    AclFile,
    /// Users in the config file (`user` lines): `CONFIG REWRITE` keeps them.
    ConfigFile,
    /// Neither: started from the command line only; changes live in memory.
    Memory,
}

/// A running Redis server.
pub struct EphemeralRedis {
    /// `127.0.0.1`.
    pub host: String,
    /// The port secrets name: TLS when the server has TLS, else plaintext.
    pub port: u16,
    /// The plaintext port.
    pub plain_port: u16,
    /// The CA certificate clients must trust.
    pub ca_file: PathBuf,
    /// The server's log.
    pub log: PathBuf,
    /// Whether the server offers TLS.
    pub tls_enabled: bool,
    /// The config file (`None` for a server started without one).
    pub config_file: Option<PathBuf>,
    /// The ACL file (`None` unless users are kept in one).
    pub acl_file: Option<PathBuf>,
    admin_password: String,
    login_host: String,
    ca_pem: String,
    guard: Guard,
    restart: Box<dyn Fn() -> Guard + Send + Sync>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for EphemeralRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralRedis")
            .field("port", &self.port)
            .field("plain_port", &self.plain_port)
            .field("tls_enabled", &self.tls_enabled)
            .finish_non_exhaustive()
    }
}

/// The ACL rule that adds `password` as its SHA-256 hash.
pub fn hash_rule(password: &str) -> String {
    let digest = Sha256::digest(password.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

fn program() -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let path = PathBuf::from(dir).join("redis-server");
        if path.exists() {
            return path;
        }
    }
    panic!(
        "redis-server not found: {}",
        crate::servers::install_hint("redis")
    );
}

impl EphemeralRedis {
    /// Makes and starts a server whose certificate `ca` signed, for
    /// `localhost` and `127.0.0.1`, with users in an ACL file.
    pub async fn start(ca: &TestCa) -> Self {
        Self::start_with(ca, &ServerOptions::default()).await
    }

    /// Makes and starts a server as `options` say, with users in an ACL file.
    pub async fn start_with(ca: &TestCa, options: &ServerOptions) -> Self {
        Self::start_storing(ca, options, Storage::AclFile).await
    }

    /// Makes and starts a server as `options` say, keeping users as
    /// `storage` says.
    pub async fn start_storing(ca: &TestCa, options: &ServerOptions, storage: Storage) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new()
            .prefix("rotation-redis-")
            .tempdir()
            .expect("a temporary directory");
        let ServerFiles {
            ca_file,
            cert_file,
            key_file,
        } = ca.write_server_files(dir.path(), &options.cert_names);
        let log = dir.path().join("redis.log");
        let admin_password = random_token();
        let admin_user = format!("user {ADMIN} on {} ~* &* +@all", hash_rule(&admin_password));
        let default_user = "user default off resetpass -@all";

        let plain_port = free_port();
        let tls_port = if options.tls { free_port() } else { plain_port };
        let mut settings: Vec<(String, String)> = vec![
            ("port".into(), plain_port.to_string()),
            ("bind".into(), "127.0.0.1".into()),
            ("dir".into(), dir.path().display().to_string()),
            ("logfile".into(), log.display().to_string()),
            ("save".into(), "\"\"".into()),
            ("appendonly".into(), "no".into()),
            ("daemonize".into(), "no".into()),
            ("protected-mode".into(), "no".into()),
        ];
        if options.tls {
            settings.extend([
                ("tls-port".into(), tls_port.to_string()),
                ("tls-cert-file".into(), cert_file.display().to_string()),
                ("tls-key-file".into(), key_file.display().to_string()),
                ("tls-ca-cert-file".into(), ca_file.display().to_string()),
                ("tls-auth-clients".into(), "no".into()),
            ]);
        }
        let mut config_file = None;
        let mut acl_file = None;
        let args: Vec<String> = match storage {
            Storage::AclFile | Storage::ConfigFile => {
                let mut text = String::new();
                for (name, value) in &settings {
                    text.push_str(&format!("{name} {value}\n"));
                }
                if storage == Storage::AclFile {
                    let acl = dir.path().join("users.acl");
                    std::fs::write(&acl, format!("{admin_user}\n{default_user}\n"))
                        .expect("users.acl");
                    text.push_str(&format!("aclfile {}\n", acl.display()));
                    acl_file = Some(acl);
                } else {
                    text.push_str(&format!("{admin_user}\n{default_user}\n"));
                }
                let path = dir.path().join("redis.conf");
                std::fs::write(&path, text).expect("redis.conf");
                config_file = Some(path.clone());
                vec![path.display().to_string()]
            }
            Storage::Memory => {
                let mut args = Vec::new();
                for (name, value) in &settings {
                    args.push(format!("--{name}"));
                    args.push(if value == "\"\"" {
                        String::new()
                    } else {
                        value.clone()
                    });
                }
                // Users given on the command line live in memory only (each
                // word of a `user` line is its own argument).
                for line in [admin_user.as_str(), default_user] {
                    args.push("--user".into());
                    args.extend(line.split(' ').skip(1).map(str::to_owned));
                }
                args
            }
        };
        let restart = {
            let (args, log) = (args.clone(), log.clone());
            move || {
                let mut command = Command::new(program());
                command.args(&args);
                spawn_listening(command, "redis-server", &log, tls_port)
            }
        };
        let guard = restart();
        let server = Self {
            host: "127.0.0.1".to_owned(),
            port: tls_port,
            plain_port,
            ca_file,
            log,
            tls_enabled: options.tls,
            config_file,
            acl_file,
            admin_password,
            login_host: options.login_host(),
            ca_pem: ca.cert_pem.clone(),
            guard,
            restart: Box::new(restart),
            _dir: dir,
        };
        server.wait_for_logins().await;
        server
    }

    /// Starts the server again (same files, ports and settings) after
    /// [`EphemeralRedis::stop`].
    pub async fn restart(&mut self) {
        self.guard.stop();
        self.guard = (self.restart)();
        self.wait_for_logins().await;
    }

    async fn wait_for_logins(&self) {
        wait_for_login(
            "redis-server never accepted the administrator",
            &self.log,
            || self.try_login(ADMIN, &self.admin_password),
        )
        .await;
    }

    /// Logs in as `user` over verified TLS (plaintext when the server has
    /// no TLS); the error text is the driver's.
    pub async fn try_login(
        &self,
        user: &str,
        password: &str,
    ) -> Result<MultiplexedConnection, String> {
        let attempt = async {
            let info = RedisConnectionInfo::default()
                .set_username(user)
                .set_password(password)
                .set_skip_set_lib_name();
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .map_err(|e| e.to_string())?;
            let conn = if self.tls_enabled {
                let config = client_config(&self.ca_pem)?;
                let name =
                    ServerName::try_from(self.login_host.clone()).map_err(|e| e.to_string())?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| e.to_string())?;
                let (conn, driver) = MultiplexedConnection::new_with_config(
                    &info,
                    stream,
                    redis::AsyncConnectionConfig::new(),
                )
                .await
                .map_err(|e| e.to_string())?;
                tokio::spawn(driver);
                conn
            } else {
                let (conn, driver) = MultiplexedConnection::new_with_config(
                    &info,
                    tcp,
                    redis::AsyncConnectionConfig::new(),
                )
                .await
                .map_err(|e| e.to_string())?;
                tokio::spawn(driver);
                conn
            };
            Ok::<_, String>(conn)
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(result) => result,
            Err(_) => Err("no answer within 10 s".to_owned()),
        }
    }

    /// An administrator session.
    pub async fn admin(&self) -> MultiplexedConnection {
        self.try_login(ADMIN, &self.admin_password)
            .await
            .expect("administrator login")
    }

    /// The administrator's password (for an admin secret).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// Runs a command as the administrator, panicking with the server's
    /// message.
    pub async fn command(&self, args: &[&str]) -> redis::Value {
        let mut conn = self.admin().await;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("running {} as {ADMIN}: {e}", args[0]))
    }

    /// Saves the users the way this server keeps them (`ACL SAVE` or
    /// `CONFIG REWRITE`; nothing for a server in memory).
    pub async fn save_users(&self) {
        if self.acl_file.is_some() {
            self.command(&["ACL", "SAVE"]).await;
        } else if self.config_file.is_some() {
            self.command(&["CONFIG", "REWRITE"]).await;
        }
    }

    /// Creates `name` with `password` (sent as its hash), allowed every
    /// command (`+acl|setuser` included, so it may change its own
    /// password) and every key, and saves.
    pub async fn create_user(&self, name: &str, password: &str) {
        self.create_user_with(name, password, &["+@all"]).await
    }

    /// Creates `name` with `password` and the command rules `rules` (e.g.
    /// `+@all`, `-@admin`), every key, and saves.
    pub async fn create_user_with(&self, name: &str, password: &str, rules: &[&str]) {
        let hash = hash_rule(password);
        let mut args = vec![
            "ACL",
            "SETUSER",
            name,
            "reset",
            "on",
            hash.as_str(),
            "~*",
            "&*",
        ];
        args.extend_from_slice(rules);
        self.command(&args).await;
        self.save_users().await;
    }

    /// Sets `name`'s only password behind the function's back, and saves.
    pub async fn set_password(&self, name: &str, password: &str) {
        let hash = hash_rule(password);
        self.command(&["ACL", "SETUSER", name, "resetpass", hash.as_str()])
            .await;
        self.save_users().await;
    }

    /// How many passwords `name` has.
    pub async fn password_count(&self, name: &str) -> usize {
        match self.command(&["ACL", "GETUSER", name]).await {
            redis::Value::Array(items) | redis::Value::Set(items) => {
                let mut iter = items.into_iter();
                while let Some(key) = iter.next() {
                    let value = iter.next();
                    if matches!(&key, redis::Value::BulkString(k) if k.as_slice() == b"passwords") {
                        if let Some(redis::Value::Array(list)) = value {
                            return list.len();
                        }
                    }
                }
                panic!("ACL GETUSER {name}: no passwords field")
            }
            redis::Value::Map(pairs) => pairs
                .into_iter()
                .find(|(k, _)| matches!(k, redis::Value::BulkString(k) if k.as_slice() == b"passwords"))
                .map(|(_, v)| match v {
                    redis::Value::Array(list) | redis::Value::Set(list) => list.len(),
                    _ => 0,
                })
                .unwrap_or_else(|| panic!("ACL GETUSER {name}: no passwords field")),
            other => panic!("ACL GETUSER {name}: {other:?}"),
        }
    }

    /// Whether `user` logs in with `password` and `PING` answers.
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        match self.try_login(user, password).await {
            Ok(mut conn) => redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Stops the server now (SIGTERM: redis-server saves nothing itself,
    /// `save ""`).
    pub fn stop(&mut self) {
        self.guard.stop();
    }
}

impl TestServer for EphemeralRedis {
    const ENGINE: &'static str = "redis";
    const FOREIGN_ENGINE: &'static str = "postgres";
    /// Redis refuses spaces and NUL in user names; everything else is a
    /// name, sent as one argument.
    const AWKWARD_USERNAMES: &'static [&'static str] =
        &["o'brien\"ünïcødé\"u\\ser;DEL-x", "~*&*+@all>x#y"];
    const DURABILITY: Durability = Durability::PersistedByTheFunction {
        how: "run ACL SAVE (or CONFIG REWRITE) after ACL SETUSER",
    };
    const OLD_PASSWORD: OldPassword = OldPassword::KeptUntilNextRotation;

    async fn start(ca: &TestCa, options: &ServerOptions) -> Self {
        EphemeralRedis::start_with(ca, options).await
    }
    async fn restart(&mut self) {
        EphemeralRedis::restart(self).await
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn plaintext_port(&self) -> u16 {
        self.plain_port
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
        })
    }
    async fn create_user(&self, name: &str, password: &str) {
        EphemeralRedis::create_user(self, name, password).await
    }
    async fn set_password(&self, name: &str, password: &str) {
        EphemeralRedis::set_password(self, name, password).await
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        EphemeralRedis::can_login(self, user, password).await
    }
    async fn admin_works(&self) -> bool {
        self.can_login(ADMIN, &self.admin_password).await
    }
    fn logged_in(&self, _user: &str) -> LoginRecord {
        LoginRecord::NotRecorded(
            "Redis logs no successful logins; TLS and plaintext are separate ports, so a client \
             cannot fall back to plaintext on the port a secret names",
        )
    }
    fn stop(&mut self) {
        EphemeralRedis::stop(self)
    }
}
