//! An ephemeral OpenLDAP server (`slapd`) for the conformance suite:
//! started per test on free loopback ports, one plain LDAP port (StartTLS,
//! or plaintext binds for secrets that say `"ssl": false`) and one LDAPS
//! port, with a certificate from the test CA; the MDB database, the
//! password-policy overlay (`ppolicy`, with a permissive default policy
//! that tests tighten) and `pw-sha2` (for `{SSHA512}` hashes); stopped on
//! drop.
//!
//! Users live under [`PEOPLE`]: a test names a user by a plain name, which
//! becomes `cn=<name, escaped>,ou=people,dc=example,dc=com`; secrets hold
//! that DN as their `username`. Admins under [`ADMINS`] may write every
//! user's `userPassword`. `slapd -d stats` logs every connection, TLS
//! handshake and bind, never a password.

use crate::certs::{client_config, ServerFiles, TestCa};
use crate::server::{
    server_hostile_secrets, with_field, BadSecret, LoginRecord, ServerOptions, TestServer,
};
use crate::tools::{free_port, random_token, spawn_listening, wait_for_login, Guard};
use ldap3::exop::{PasswordModify, WhoAmI};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=com";
/// Where users live.
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
/// Where admins live: each may write every user's `userPassword`.
pub const ADMINS: &str = "ou=admins,dc=example,dc=com";
/// The default password policy entry (the `ppolicy` overlay's
/// `ppolicy_default`).
pub const DEFAULT_POLICY: &str = "cn=default,ou=policies,dc=example,dc=com";
/// The server's root DN (the directory's own administrator).
pub const ROOT_DN: &str = "cn=root,dc=example,dc=com";

fn program() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/local/sbin", "/usr/bin"] {
        let path = PathBuf::from(dir).join("slapd");
        if path.exists() {
            return path;
        }
    }
    panic!("slapd not found: {}", crate::servers::install_hint("ldap"));
}

/// The DN of user `name`: `name` itself when it is already a DN under
/// [`PEOPLE`] (or [`ADMINS`]), else `cn=<name, escaped>,ou=people,…`.
pub fn dn_of(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(&format!(",{PEOPLE}")) || lower.ends_with(&format!(",{ADMINS}")) {
        name.to_owned()
    } else {
        format!("cn={},{PEOPLE}", ldap3::dn_escape(name))
    }
}

/// An attribute and its values, for an entry to add.
type Attribute = (&'static str, Vec<&'static str>);

/// A running `slapd`.
pub struct EphemeralLdap {
    /// `127.0.0.1`.
    pub host: String,
    /// The plain LDAP port (StartTLS when the server has TLS).
    pub port: u16,
    /// The LDAPS port (`None` on a server without TLS).
    pub ldaps_port: Option<u16>,
    /// The CA certificate clients must trust.
    pub ca_file: PathBuf,
    /// The server's log (`-d stats`).
    pub log: PathBuf,
    /// Whether the server offers TLS.
    pub tls_enabled: bool,
    root_password: String,
    login_host: String,
    ca_pem: String,
    guard: Guard,
    restart: Box<dyn Fn() -> Guard + Send + Sync>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for EphemeralLdap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralLdap")
            .field("port", &self.port)
            .field("ldaps_port", &self.ldaps_port)
            .field("tls_enabled", &self.tls_enabled)
            .finish_non_exhaustive()
    }
}

impl EphemeralLdap {
    /// Makes and starts a server whose certificate `ca` signed, for
    /// `localhost` and `127.0.0.1`.
    pub async fn start(ca: &TestCa) -> Self {
        Self::start_with(ca, &ServerOptions::default()).await
    }

    /// Makes and starts a server as `options` say.
    pub async fn start_with(ca: &TestCa, options: &ServerOptions) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new()
            .prefix("rotation-ldap-")
            .tempdir()
            .expect("a temporary directory");
        let ServerFiles {
            ca_file,
            cert_file,
            key_file,
        } = ca.write_server_files(dir.path(), &options.cert_names);
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("the data directory");
        let log = dir.path().join("slapd.log");
        let root_password = random_token();

        let tls = if options.tls {
            format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                ca_file.display(),
                cert_file.display(),
                key_file.display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload ppolicy\n\
             moduleload pw-sha2\n\
             pidfile {dir}/slapd.pid\n\
             {tls}\
             password-hash {{SSHA}}\n\
             database mdb\n\
             maxsize 16777216\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {root_password}\n\
             directory {data}\n\
             overlay ppolicy\n\
             ppolicy_default \"{DEFAULT_POLICY}\"\n\
             ppolicy_hash_cleartext\n\
             ppolicy_use_lockout\n\
             access to attrs=userPassword\n  by dn.children=\"{ADMINS}\" write\n  by self write\n  by anonymous auth\n  by * none\n\
             access to *\n  by * read\n",
            dir = dir.path().display(),
            data = data.display(),
        );
        let config_file = dir.path().join("slapd.conf");
        std::fs::write(&config_file, config).expect("slapd.conf");

        let port = free_port();
        let ldaps_port = options.tls.then(free_port);
        let mut urls = format!("ldap://127.0.0.1:{port}/");
        if let Some(ldaps) = ldaps_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{ldaps}/"));
        }
        let restart = {
            let (config_file, log) = (config_file.clone(), log.clone());
            move || {
                let mut command = Command::new(program());
                // -d stats: stay in the foreground, log connections,
                // TLS, binds and results to stderr (the log file).
                command
                    .arg("-f")
                    .arg(&config_file)
                    .arg("-h")
                    .arg(&urls)
                    .arg("-d")
                    .arg("stats");
                let mut guard = spawn_listening(command, "slapd", &log, port);
                if let Some(ldaps) = ldaps_port {
                    crate::tools::wait_for_port(
                        ldaps,
                        "slapd (LDAPS)",
                        &mut guard.child,
                        &log,
                        Duration::from_secs(60),
                    );
                }
                guard
            }
        };
        let guard = restart();
        let server = Self {
            host: "127.0.0.1".to_owned(),
            port,
            ldaps_port,
            ca_file,
            log,
            tls_enabled: options.tls,
            root_password,
            login_host: options.login_host(),
            ca_pem: ca.cert_pem.clone(),
            guard,
            restart: Box::new(restart),
            _dir: dir,
        };
        server.wait_for_logins().await;
        server.create_tree().await;
        server
    }

    async fn wait_for_logins(&self) {
        wait_for_login("slapd never accepted its root DN", &self.log, || {
            self.try_bind(ROOT_DN, &self.root_password)
        })
        .await;
    }

    /// The suffix, `ou=people`, `ou=admins`, `ou=policies` and the default
    /// policy: users may change their own password, no quality checks.
    async fn create_tree(&self) {
        let entries: Vec<(String, Vec<Attribute>)> = vec![
            (
                SUFFIX.to_owned(),
                vec![
                    ("objectClass", vec!["dcObject", "organization"]),
                    ("o", vec!["example"]),
                    ("dc", vec!["example"]),
                ],
            ),
            (
                PEOPLE.to_owned(),
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["people"]),
                ],
            ),
            (
                ADMINS.to_owned(),
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["admins"]),
                ],
            ),
            (
                format!("ou=policies,{SUFFIX}"),
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["policies"]),
                ],
            ),
            (
                DEFAULT_POLICY.to_owned(),
                vec![
                    ("objectClass", vec!["device", "pwdPolicy"]),
                    ("cn", vec!["default"]),
                    ("pwdAttribute", vec!["userPassword"]),
                    ("pwdAllowUserChange", vec!["TRUE"]),
                ],
            ),
        ];
        let mut ldap = self.root().await;
        for (dn, attributes) in entries {
            let attributes: Vec<(&str, HashSet<&str>)> = attributes
                .into_iter()
                .map(|(name, values)| (name, values.into_iter().collect()))
                .collect();
            ldap.add(&dn, attributes)
                .await
                .and_then(|r| r.success())
                .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
        }
    }

    /// Starts the server again (same data, ports and settings) after
    /// [`EphemeralLdap::stop`].
    pub async fn restart(&mut self) {
        self.guard.stop();
        self.guard = (self.restart)();
        self.wait_for_logins().await;
    }

    /// Connects over LDAPS with the test CA trusted (plain LDAP on a
    /// server without TLS).
    async fn connect(&self) -> Result<Ldap, String> {
        let (url, settings) = match self.ldaps_port {
            Some(port) => {
                let config = client_config(&self.ca_pem)?;
                (
                    format!("ldaps://{}:{port}", self.login_host),
                    LdapConnSettings::new().set_config(config),
                )
            }
            None => (
                format!("ldap://127.0.0.1:{}", self.port),
                LdapConnSettings::new(),
            ),
        };
        let settings = settings.set_conn_timeout(Duration::from_secs(10));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &url)
            .await
            .map_err(|e| e.to_string())?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Binds as `dn` with `password` and asks WhoAmI; the error text is the
    /// driver's or the server's.
    pub async fn try_bind(&self, dn: &str, password: &str) -> Result<Ldap, String> {
        let attempt = async {
            let mut ldap = self.connect().await?;
            ldap.simple_bind(dn, password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| e.to_string())?;
            let ldap3::result::ExopResult(exop, result) =
                ldap.extended(WhoAmI).await.map_err(|e| e.to_string())?;
            result.success().map_err(|e| e.to_string())?;
            match exop.val {
                Some(who) if !who.is_empty() => Ok(ldap),
                _ => Err("WhoAmI answered anonymous".to_owned()),
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(result) => result,
            Err(_) => Err("no answer within 10 s".to_owned()),
        }
    }

    /// A session of the root DN.
    pub async fn root(&self) -> Ldap {
        self.try_bind(ROOT_DN, &self.root_password)
            .await
            .expect("root DN bind")
    }

    /// Adds user `name` (see [`dn_of`]) with `password`, which the server
    /// hashes (`ppolicy_hash_cleartext`).
    pub async fn create_user(&self, name: &str, password: &str) {
        let dn = dn_of(name);
        let cn = if dn == name {
            // Already a DN: its first value, unescaped.
            let leaf = name.split_once(',').map_or(name, |(rdn, _)| rdn);
            let value = leaf.split_once('=').map_or(leaf, |(_, v)| v);
            ldap3::ldap_unescape(value)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| value.to_owned())
        } else {
            name.to_owned()
        };
        self.add_person(&dn, &cn, password).await
    }

    /// Adds an admin `cn=<name>,ou=admins,…`, who may write every user's
    /// `userPassword`; returns its DN.
    pub async fn create_password_admin(&self, name: &str, password: &str) -> String {
        let dn = format!("cn={},{ADMINS}", ldap3::dn_escape(name));
        self.add_person(&dn, name, password).await;
        dn
    }

    /// Adds an `inetOrgPerson` named `cn` at `dn`.
    async fn add_person(&self, dn: &str, cn: &str, password: &str) {
        let attributes = vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("cn", HashSet::from([cn])),
            ("sn", HashSet::from(["user"])),
            ("userPassword", HashSet::from([password])),
        ];
        self.root()
            .await
            .add(dn, attributes)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
    }

    /// Sets `name`'s password as the root DN (Password Modify), behind the
    /// function's back.
    pub async fn set_password(&self, name: &str, password: &str) {
        let dn = dn_of(name);
        self.root()
            .await
            .extended(PasswordModify {
                user_id: Some(&dn),
                old_pass: None,
                new_pass: Some(password),
            })
            .await
            .and_then(|r| r.1.success())
            .unwrap_or_else(|e| panic!("setting the password of {dn}: {e}"));
    }

    /// Replaces attributes of the default password policy, e.g.
    /// `[("pwdMinAge", "3600")]`.
    pub async fn set_policy(&self, changes: &[(&str, &str)]) {
        let mods = changes
            .iter()
            .map(|(name, value)| Mod::Replace(*name, HashSet::from([*value])))
            .collect();
        self.root()
            .await
            .modify(DEFAULT_POLICY, mods)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("changing the password policy: {e}"));
    }

    /// The stored `userPassword` values of `name` (hashes), read as the
    /// root DN; none when there is no such entry.
    pub async fn stored_passwords(&self, name: &str) -> Vec<String> {
        let dn = dn_of(name);
        let search = self
            .root()
            .await
            .search(
                &dn,
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["userPassword"],
            )
            .await
            .unwrap_or_else(|e| panic!("reading {dn}: {e}"));
        if search.1.rc == 32 {
            // No such entry.
            return Vec::new();
        }
        let (entries, _) = search
            .success()
            .unwrap_or_else(|e| panic!("reading {dn}: {e}"));
        entries
            .into_iter()
            .flat_map(|e| {
                let entry = ldap3::SearchEntry::construct(e);
                let text = entry.attrs.get("userPassword").cloned().unwrap_or_default();
                let binary: Vec<String> = entry
                    .bin_attrs
                    .get("userPassword")
                    .map(|values| {
                        values
                            .iter()
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                text.into_iter().chain(binary)
            })
            .collect()
    }

    /// Whether `user` (a name or a DN) binds with `password` over verified
    /// TLS and WhoAmI names it.
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        self.try_bind(&dn_of(user), password).await.is_ok()
    }

    /// The root DN's password (for an admin secret of the directory's
    /// own administrator).
    pub fn root_password(&self) -> &str {
        &self.root_password
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        self.guard.stop();
    }
}

/// Whether slapd's `stats` log shows a successful bind as `dn`: a
/// `BIND dn="…"` line and, on the same connection and operation, a
/// `RESULT tag=97 err=0`.
pub fn bind_succeeded(log: &str, dn: &str) -> bool {
    let wanted = format!("bind dn=\"{}\"", dn.to_ascii_lowercase());
    let binds: Vec<String> = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains(&wanted))
        .filter_map(|l| {
            let at = l.find("conn=")?;
            let rest = &l[at..];
            let end = rest.find(" BIND ")?;
            Some(rest[..end].to_owned())
        })
        .collect();
    binds.iter().any(|conn_op| {
        log.lines()
            .any(|l| l.contains(&format!("{conn_op} RESULT tag=97 err=0 ")))
    })
}

impl TestServer for EphemeralLdap {
    const ENGINE: &'static str = "ldap";
    const FOREIGN_ENGINE: &'static str = "postgres";
    /// Names whose DN needs every RFC 4514 escape: quotes, a backslash,
    /// Unicode, `,` `;` `+` `<` `>` `=`, a leading `#`.
    const AWKWARD_USERNAMES: &'static [&'static str] = &[
        "o'brien \"ünïcødé\" u\\ser; DROP USER x, y+z <w>",
        "#leading hash=and equals",
    ];

    async fn start(ca: &TestCa, options: &ServerOptions) -> Self {
        EphemeralLdap::start_with(ca, options).await
    }
    async fn restart(&mut self) {
        EphemeralLdap::restart(self).await
    }
    fn host(&self) -> &str {
        &self.host
    }
    /// The plain LDAP port: secrets on it use StartTLS.
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
            "username": dn_of(username),
            "password": password,
        })
    }
    async fn create_user(&self, name: &str, password: &str) {
        EphemeralLdap::create_user(self, name, password).await
    }
    async fn set_password(&self, name: &str, password: &str) {
        EphemeralLdap::set_password(self, name, password).await
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        EphemeralLdap::can_login(self, user, password).await
    }
    async fn admin_works(&self) -> bool {
        self.try_bind(ROOT_DN, &self.root_password).await.is_ok()
    }
    fn logged_in(&self, user: &str) -> LoginRecord {
        if bind_succeeded(&self.log_text(), &dn_of(user)) {
            LoginRecord::LoggedIn
        } else {
            LoginRecord::Never
        }
    }
    /// The shared hostile values, but a user name that is no DN is refused
    /// as such before any bind; and LDAP's own: a DN that injects another
    /// RDN, a filter, an unknown directory kind.
    fn hostile_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        let mut cases: Vec<BadSecret> = server_hostile_secrets(good, password)
            .into_iter()
            .map(|mut case| {
                if case.name == "injection-username" {
                    case.error = "field `username` is not a distinguished name";
                }
                case
            })
            .collect();
        cases.extend([
            BadSecret::new(
                "filter-username",
                with_field(good, "username", json!("*)(objectClass=*")),
                "field `username` is not a distinguished name",
            ),
            BadSecret::new(
                "unescaped-quote-dn",
                with_field(
                    good,
                    "username",
                    json!("cn=a\"b,ou=people,dc=example,dc=com"),
                ),
                "field `username` is not a distinguished name",
            ),
            BadSecret::new(
                "url-host",
                with_field(good, "host", json!("127.0.0.1/??sub?(uid=*)")),
                "not a host name or an IP address",
            ),
        ]);
        cases
    }
    /// The shared unusable values, and LDAP's: a plain user name, an
    /// unknown directory kind, a `starttls` that is no boolean.
    fn bad_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        let mut cases = crate::server::server_bad_secrets(good, password, Self::FOREIGN_ENGINE);
        cases.extend([
            BadSecret::new(
                "plain-username",
                with_field(good, "username", json!("app")),
                "field `username` is not a distinguished name (RFC 4514)",
            ),
            BadSecret::new(
                "unknown-directory",
                with_field(good, "directory", json!("novell")),
                "field `directory` is \"novell\"",
            ),
            BadSecret::new(
                "starttls-not-a-boolean",
                with_field(good, "starttls", json!(3)),
                "field `starttls` must be true or false",
            ),
        ]);
        cases
    }
    fn stop(&mut self) {
        EphemeralLdap::stop(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_under_people() {
        assert_eq!(dn_of("app"), format!("cn=app,{PEOPLE}"));
        assert_eq!(dn_of("a,b"), format!("cn=a\\2cb,{PEOPLE}"));
        let dn = format!("cn=x,{PEOPLE}");
        assert_eq!(dn_of(&dn), dn);
    }

    #[test]
    fn a_bind_counts_only_with_its_success() {
        let log =
            "6b0 0x7 conn=1001 op=0 BIND dn=\"cn=app,ou=people,dc=example,dc=com\" method=128\n\
                   6b0 0x7 conn=1001 op=0 RESULT tag=97 err=49 qtime=0.1 etime=0.2 text=\n";
        assert!(!bind_succeeded(log, &dn_of("app")));
        let ok = format!(
            "{log}6b1 0x7 conn=1002 op=0 BIND dn=\"cn=App,ou=people,dc=example,dc=com\" method=128\n\
             6b1 0x7 conn=1002 op=0 RESULT tag=97 err=0 qtime=0.1 etime=0.2 text=\n"
        );
        assert!(bind_succeeded(&ok, &dn_of("app")));
    }
}
