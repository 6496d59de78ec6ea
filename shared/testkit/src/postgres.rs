//! An ephemeral PostgreSQL server: scram-sha-256 password authentication, TLS
//! from the test CA, loopback only, `log_statement = all`.

use crate::certs::TestCa;
use crate::server::ServerOptions;
use crate::tools::{
    free_port, random_token, read_tail, wait_for_login, wait_for_port, Guard, SETUP_HINT,
};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The superuser the server is made with.
pub const SUPERUSER: &str = "postgres";

/// A running server, stopped and deleted on drop.
pub struct EphemeralPostgres {
    /// `127.0.0.1`.
    pub host: String,
    /// Its TCP port.
    pub port: u16,
    /// The server's log (stderr), which holds every statement.
    pub log: PathBuf,
    /// The CA certificate clients must trust.
    pub ca_file: PathBuf,
    superuser_password: String,
    tls: Arc<rustls::ClientConfig>,
    /// The name the test kit's own logins use (one its certificate names).
    login_host: String,
    /// Whether the server offers TLS.
    pub tls_enabled: bool,
    guard: Guard,
    restart: Box<dyn Fn() -> Guard + Send + Sync>,
    _dir: tempfile::TempDir,
}

/// The directory with `initdb` and `postgres`: `$PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/*/bin`, else from `pg_config --bindir`.
pub fn pg_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, postgres) not found: {}",
        crate::servers::install_hint("postgres")
    );
}

/// The uid/gid to run the server as: the `postgres` user when we are root
/// (PostgreSQL refuses to run as root), else ourselves.
fn server_identity() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!("running as root needs the `postgres` system user to start PostgreSQL: {SETUP_HINT}")
        });
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

fn chown(path: &Path, identity: Option<(u32, u32)>) {
    if let Some((uid, gid)) = identity {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown for the server user");
    }
}

fn command(program: PathBuf, identity: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = identity {
        cmd.uid(uid).gid(gid);
    }
    cmd.env_remove("PGDATA");
    cmd
}

impl EphemeralPostgres {
    /// Makes and starts a server whose certificate `ca` signed, for
    /// `localhost` and `127.0.0.1`.
    pub async fn start(ca: &TestCa) -> Self {
        Self::start_with(ca, &ServerOptions::default()).await
    }

    /// Makes and starts a server as `options` say (TLS on or off, the names
    /// in its certificate).
    pub async fn start_with(ca: &TestCa, options: &ServerOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rotation-pg-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the server directory");
        let identity = server_identity();
        let bindir = pg_bindir();
        let data = dir.path().join("data");
        let tls_dir = dir.path().join("tls");
        std::fs::create_dir(&tls_dir).expect("tls dir");
        chown(&tls_dir, identity);
        chown(dir.path(), identity);

        let ca_file = ca.write_ca(dir.path());
        let names: Vec<&str> = options.cert_names.iter().map(String::as_str).collect();
        let server = ca.server_cert(&names);
        let cert_file = tls_dir.join("server.crt");
        let key_file = tls_dir.join("server.key");
        std::fs::write(&cert_file, &server.cert_pem).expect("server.crt");
        std::fs::write(&key_file, &server.key_pem).expect("server.key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod server.key");
        chown(&cert_file, identity);
        chown(&key_file, identity);

        let superuser_password = random_token();
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &superuser_password).expect("pwfile");
        chown(&pwfile, identity);

        let initdb_log = dir.path().join("initdb.log");
        let out = command(bindir.join("initdb"), identity)
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "running initdb from {}: {e}. {SETUP_HINT}",
                    bindir.display()
                )
            });
        std::fs::write(&initdb_log, [out.stdout, out.stderr].concat()).ok();
        assert!(
            out.status.success(),
            "initdb failed ({}):\n{}",
            out.status,
            read_tail(&initdb_log)
        );
        let _ = std::fs::remove_file(&pwfile);

        let port = free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{sock}'\n\
             ssl = {ssl}\n\
             ssl_cert_file = '{cert}'\n\
             ssl_key_file = '{key}'\n\
             password_encryption = 'scram-sha-256'\n\
             fsync = off\n\
             full_page_writes = off\n\
             max_connections = 60\n\
             shared_buffers = 16MB\n\
             log_statement = 'all'\n\
             log_connections = on\n",
            sock = dir.path().display(),
            ssl = if options.tls { "on" } else { "off" },
            cert = cert_file.display(),
            key = key_file.display(),
        );
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("writing postgresql.conf");
        let hba = if options.tls {
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 scram-sha-256\n"
        } else {
            "local all all trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n"
        };
        std::fs::write(data.join("pg_hba.conf"), hba).expect("writing pg_hba.conf");

        let log = dir.path().join("postgres.log");
        let restart = {
            let (log, data, program) = (log.clone(), data.clone(), bindir.join("postgres"));
            move || {
                let log_file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("postgres.log");
                let child = command(program.clone(), identity)
                    .arg("-D")
                    .arg(&data)
                    .stdout(log_file.try_clone().expect("log handle"))
                    .stderr(log_file)
                    .spawn()
                    .unwrap_or_else(|e| panic!("starting postgres: {e}. {SETUP_HINT}"));
                let mut guard = Guard::new("postgres", child);
                // SIGQUIT: immediate shutdown; the data is thrown away anyway.
                guard.stop_signal = nix::sys::signal::Signal::SIGQUIT;
                wait_for_port(
                    port,
                    "postgres",
                    &mut guard.child,
                    &log,
                    Duration::from_secs(30),
                );
                guard
            }
        };
        let guard = restart();

        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca_file).expect("ca.pem") {
            roots.add(cert.expect("CA PEM")).expect("adding the CA");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();

        let server = Self {
            host: "127.0.0.1".to_owned(),
            port,
            log,
            ca_file,
            superuser_password,
            tls: Arc::new(tls),
            tls_enabled: options.tls,
            login_host: options.login_host(),
            guard,
            restart: Box::new(restart),
            _dir: dir,
        };
        server.wait_for_logins().await;
        server
    }

    /// Waits until the superuser logs in (the port opens first).
    async fn wait_for_logins(&self) {
        wait_for_login("postgres never accepted the superuser", &self.log, || {
            self.try_login(SUPERUSER, &self.superuser_password, "postgres")
        })
        .await;
    }

    /// Starts the server again (same data, port and settings) after
    /// [`EphemeralPostgres::stop`], and waits until it takes logins.
    pub async fn restart(&mut self) {
        self.guard.stop();
        self.guard = (self.restart)();
        self.wait_for_logins().await;
    }

    /// Logs in over verified TLS (plaintext when the server has no TLS);
    /// the error text is the driver's.
    pub async fn try_login(
        &self,
        user: &str,
        password: &str,
        dbname: &str,
    ) -> Result<Client, String> {
        let mut config = Config::new();
        config
            .host(&self.login_host)
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(5));
        let shown = |e: tokio_postgres::Error| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        let client = if self.tls_enabled {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, connection) = config
                .connect(MakeRustlsConnect::new((*self.tls).clone()))
                .await
                .map_err(shown)?;
            tokio::spawn(connection);
            client
        } else {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) =
                config.connect(tokio_postgres::NoTls).await.map_err(shown)?;
            tokio::spawn(connection);
            client
        };
        Ok(client)
    }

    /// Whether `user` logs in with `password` (over TLS) and can run a query.
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        match self.try_login(user, password, "postgres").await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    /// A superuser session.
    pub async fn admin(&self) -> Client {
        self.try_login(SUPERUSER, &self.superuser_password, "postgres")
            .await
            .expect("superuser login")
    }

    /// Runs `<statement> <role> <options> PASSWORD <verifier>` as the
    /// superuser: the password goes as a SCRAM verifier, so the server log
    /// never holds it.
    async fn role_password(&self, statement: &str, options: &str, name: &str, password: &str) {
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let sql = format!(
            "{statement} {} {options} PASSWORD {}",
            escape_identifier(name),
            escape_literal(&verifier)
        );
        self.admin()
            .await
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| match e.as_db_error() {
                Some(db) => panic!("{statement}: {}", db.message()),
                None => panic!("{statement}: {e}"),
            });
    }

    /// Creates a login role with `password`.
    pub async fn create_user(&self, name: &str, password: &str) {
        self.role_password("CREATE ROLE", "LOGIN", name, password)
            .await;
    }

    /// Sets a role's password behind the function's back.
    pub async fn set_password(&self, name: &str, password: &str) {
        self.role_password("ALTER ROLE", "", name, password).await;
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        self.guard.stop();
    }
}
