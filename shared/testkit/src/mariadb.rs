//! An ephemeral MariaDB server: password authentication only (no anonymous
//! users, no passwordless root), TLS from the test CA, loopback only, the
//! general query log on.

use crate::certs::TestCa;
use crate::server::ServerOptions;
use crate::tools::{
    free_port, random_token, read_tail, spawn_listening, wait_for_login, Guard, SETUP_HINT,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use sha1::{Digest, Sha1};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The administrator the server is made with (all privileges, grant option).
pub const ADMIN: &str = "admin";

/// A running server, stopped and deleted on drop.
pub struct EphemeralMariaDb {
    /// `127.0.0.1`.
    pub host: String,
    /// Its TCP port.
    pub port: u16,
    /// The server's error log.
    pub log: PathBuf,
    /// The general query log: every statement the server received.
    pub general_log: PathBuf,
    /// The CA certificate clients must trust.
    pub ca_file: PathBuf,
    admin_password: String,
    /// Whether the server offers TLS.
    pub tls_enabled: bool,
    login_host: String,
    guard: Guard,
    restart: Box<dyn Fn() -> Guard + Send + Sync>,
    _dir: tempfile::TempDir,
}

/// A MySQL string literal of `text` (quotes doubled; backslashes doubled, as
/// the server's default SQL mode wants).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A backtick-quoted identifier.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The account `name`@`%`.
pub fn account(name: &str) -> String {
    format!("{}@`%`", identifier(name))
}

/// The stored form of a `mysql_native_password` password: `*` and the hex of
/// SHA1(SHA1(password)). Sent instead of the password, so the query log never
/// holds a test password.
pub fn native_hash(password: &str) -> String {
    let twice = Sha1::digest(Sha1::digest(password.as_bytes()));
    let hex: String = twice.iter().map(|b| format!("{b:02X}")).collect();
    format!("*{hex}")
}

fn program(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = PathBuf::from(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "MariaDB's {name} not found: {}",
        crate::servers::install_hint("mariadb")
    );
}

/// Options `mariadb-install-db` and `mariadbd` share.
const INNODB_OPTIONS: &[&str] = &["--innodb-log-file-size=8M", "--innodb-use-native-aio=0"];

/// A freshly initialised data directory, made once per MariaDB build and
/// user and then copied for every server (fast, and no concurrent
/// bootstraps): `~/.cache/rotation-functions/mariadb/<build>-<user>`.
fn template_datadir(run_as: &str) -> PathBuf {
    let mariadbd = program("mariadbd");
    let build = std::fs::metadata(&mariadbd)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    let cache = std::env::var_os("ROTATION_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(home).join(".cache/rotation-functions"))
        .join("mariadb");
    let template = cache.join(format!("{build}-{run_as}"));
    if template.join("mysql").is_dir() {
        return template;
    }
    std::fs::create_dir_all(&cache).expect("creating the MariaDB template cache");
    let work = cache.join(format!("tmp-{}", random_token()));
    let log = cache.join(format!("install-{}.log", random_token()));
    let mut last_error = String::new();
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(&work);
        let out = Command::new(program("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", work.display()))
            .arg(format!("--user={run_as}"))
            .args([
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .args(INNODB_OPTIONS)
            .output()
            .unwrap_or_else(|e| panic!("running mariadb-install-db: {e}. {SETUP_HINT}"));
        if out.status.success() {
            // Another test may have won the race; either copy is good.
            if std::fs::rename(&work, &template).is_err() {
                let _ = std::fs::remove_dir_all(&work);
            }
            let _ = std::fs::remove_file(&log);
            return template;
        }
        std::fs::write(&log, [out.stdout, out.stderr].concat()).ok();
        last_error = read_tail(&log);
    }
    panic!("mariadb-install-db failed three times:\n{last_error}");
}

impl EphemeralMariaDb {
    /// Makes and starts a server whose certificate `ca` signed, for
    /// `localhost` and `127.0.0.1`.
    pub async fn start(ca: &TestCa) -> Self {
        Self::start_with(ca, &ServerOptions::default()).await
    }

    /// Makes and starts a server as `options` say (TLS on or off, the names
    /// in its certificate).
    pub async fn start_with(ca: &TestCa, options: &ServerOptions) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new()
            .prefix("rotation-mariadb-")
            .tempdir()
            .expect("a temporary directory");
        let data = dir.path().join("data");
        let ca_file = ca.write_ca(dir.path());
        let names: Vec<&str> = options.cert_names.iter().map(String::as_str).collect();
        let server = ca.server_cert(&names);
        let cert_file = dir.path().join("server.crt");
        let key_file = dir.path().join("server.key");
        std::fs::write(&cert_file, &server.cert_pem).expect("server.crt");
        std::fs::write(&key_file, &server.key_pem).expect("server.key");
        let is_root = nix::unistd::geteuid().is_root();
        let run_as = if is_root {
            "root".to_owned()
        } else {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| "nobody".to_owned())
        };

        let template = template_datadir(&run_as);
        let out = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .output()
            .expect("running cp");
        assert!(
            out.status.success(),
            "copying the MariaDB data directory {}: {}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        );

        // Run once at start, before any client: the administrator, and no
        // anonymous or passwordless accounts.
        let admin_password = random_token();
        let init = dir.path().join("init.sql");
        std::fs::write(
            &init,
            format!(
                "DELETE FROM mysql.global_priv WHERE User = '';\n\
                 FLUSH PRIVILEGES;\n\
                 CREATE USER {admin} IDENTIFIED BY PASSWORD '{hash}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO {admin} WITH GRANT OPTION;\n",
                admin = account(ADMIN),
                hash = native_hash(&admin_password),
            ),
        )
        .expect("init.sql");

        let port = free_port();
        let log = dir.path().join("mariadb.log");
        let general_log = dir.path().join("general.log");
        let mut args: Vec<String> = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            format!("--user={run_as}"),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--socket={}", dir.path().join("mysqld.sock").display()),
            format!("--pid-file={}", dir.path().join("mysqld.pid").display()),
            format!("--log-error={}", log.display()),
            "--general-log=1".to_owned(),
            format!("--general-log-file={}", general_log.display()),
        ];
        if options.tls {
            args.push(format!("--ssl-ca={}", ca_file.display()));
            args.push(format!("--ssl-cert={}", cert_file.display()));
            args.push(format!("--ssl-key={}", key_file.display()));
        }
        args.extend(INNODB_OPTIONS.iter().map(|s| s.to_string()));
        args.extend(
            [
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-log-bin",
                "--max-connections=250",
                "--performance-schema=off",
            ]
            .map(str::to_owned),
        );
        let restart = {
            let (args, log) = (args.clone(), log.clone());
            move || {
                let mut command = Command::new(program("mariadbd"));
                command.args(&args);
                spawn_listening(command, "mariadbd", &log, port)
            }
        };
        let mut command = Command::new(program("mariadbd"));
        command
            .args(&args)
            .arg(format!("--init-file={}", init.display()));
        let guard = spawn_listening(command, "mariadbd", &log, port);
        let server = Self {
            host: "127.0.0.1".to_owned(),
            port,
            log,
            general_log,
            ca_file,
            admin_password,
            tls_enabled: options.tls,
            login_host: options.login_host(),
            guard,
            restart: Box::new(restart),
            _dir: dir,
        };
        server.wait_for_logins().await;
        server
    }

    /// Starts the server again (same data, port and settings) after
    /// [`EphemeralMariaDb::stop`], and waits until it takes logins.
    pub async fn restart(&mut self) {
        self.guard.stop();
        self.guard = (self.restart)();
        self.wait_for_logins().await;
    }

    /// Waits until the administrator logs in.
    async fn wait_for_logins(&self) {
        let conn = wait_for_login(
            "mariadbd never accepted the administrator",
            &self.log,
            || self.try_login(ADMIN, &self.admin_password),
        )
        .await;
        let _ = conn.disconnect().await;
    }

    /// Logs in over verified TLS (plaintext when the server has no TLS);
    /// the error text is the driver's.
    pub async fn try_login(&self, user: &str, password: &str) -> Result<Conn, String> {
        let mut opts = OptsBuilder::default()
            .ip_or_hostname(self.login_host.clone())
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false);
        if self.tls_enabled {
            opts = opts.ssl_opts(
                SslOpts::default()
                    .with_root_certs(vec![self.ca_file.clone().into()])
                    .with_disable_built_in_roots(true),
            );
        }
        match tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("no answer within 10 s".to_owned()),
        }
    }

    /// Whether `user` logs in with `password` (over TLS) and can run a query.
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        match self.try_login(user, password).await {
            Ok(mut conn) => {
                let ok = conn.query_drop("SELECT 1").await.is_ok();
                let _ = conn.disconnect().await;
                ok
            }
            Err(_) => false,
        }
    }

    /// An administrator session.
    pub async fn admin(&self) -> Conn {
        self.try_login(ADMIN, &self.admin_password)
            .await
            .expect("administrator login")
    }

    /// Runs `sql` as the administrator, panicking with the server's message.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.admin().await;
        conn.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("running a statement as {ADMIN}: {e}"));
        let _ = conn.disconnect().await;
    }

    /// Rows of `sql` as the administrator, each column as text.
    pub async fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let mut conn = self.admin().await;
        let rows: Vec<mysql_async::Row> = conn
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("querying as {ADMIN}: {e}"));
        let _ = conn.disconnect().await;
        rows.into_iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match row.as_ref(i) {
                        Some(mysql_async::Value::Bytes(b)) => {
                            String::from_utf8_lossy(b).into_owned()
                        }
                        Some(mysql_async::Value::NULL) | None => String::new(),
                        Some(other) => other.as_sql(false),
                    })
                    .collect()
            })
            .collect()
    }

    /// Creates the user `name`@`%` with `password` (sent as its hash).
    pub async fn create_user(&self, name: &str, password: &str) {
        self.execute(&format!(
            "CREATE USER {} IDENTIFIED BY PASSWORD '{}'",
            account(name),
            native_hash(password)
        ))
        .await;
    }

    /// Sets a user's password behind the function's back.
    pub async fn set_password(&self, name: &str, password: &str) {
        self.execute(&format!(
            "SET PASSWORD FOR {} = '{}'",
            account(name),
            native_hash(password)
        ))
        .await;
    }

    /// The error log and the general query log so far.
    pub fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(&self.general_log).unwrap_or_default());
        text
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        self.guard.stop();
    }
}
