//! MySQL and MariaDB statements, built as text: identifiers in backticks,
//! string literals escaped for the session's SQL mode, passwords for MariaDB
//! sent as their `mysql_native_password` hash. Pure functions, no I/O.

use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// What a literal cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// A NUL character, which no SQL mode lets a literal carry safely.
    #[error("contains a NUL character")]
    Nul,
}

/// A backtick-quoted identifier (backticks doubled). Safe in every SQL mode.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The account `user`@`host`, both quoted as identifiers.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", identifier(user), identifier(host))
}

/// A string literal of `text` for a session where backslash is an escape
/// character unless `no_backslash_escapes` (the `NO_BACKSLASH_ESCAPES` SQL
/// mode) is set.
pub fn literal(text: &str, no_backslash_escapes: bool) -> Result<Zeroizing<String>, LiteralError> {
    if text.contains('\0') {
        return Err(LiteralError::Nul);
    }
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 2));
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if !no_backslash_escapes => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// The stored form of a `mysql_native_password` password: `*` and the
/// upper-case hex of SHA1(SHA1(password)).
pub fn native_password_hash(password: &SecretString) -> Zeroizing<String> {
    let once = Zeroizing::new(Sha1::digest(password.expose_secret().as_bytes()).to_vec());
    let twice = Sha1::digest(&*once);
    let mut out = Zeroizing::new(String::with_capacity(41));
    out.push('*');
    for byte in twice {
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// The server family and version, from `SELECT VERSION()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// The text as the server gave it, e.g. `10.11.6-MariaDB-0+deb12u1`.
    pub text: String,
    /// Whether it is MariaDB.
    pub mariadb: bool,
    /// (major, minor, patch); zeros where unreadable.
    pub number: (u32, u32, u32),
}

impl ServerVersion {
    /// Reads a `VERSION()` string (MySQL, Aurora MySQL, MariaDB; MariaDB's
    /// old `5.5.5-` replication prefix is skipped).
    pub fn parse(text: &str) -> Self {
        let mariadb = text.to_ascii_lowercase().contains("mariadb");
        let core = text
            .strip_prefix("5.5.5-")
            .filter(|_| mariadb)
            .unwrap_or(text);
        let mut parts = core
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let number = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        Self {
            text: text.to_owned(),
            mariadb,
            number,
        }
    }

    /// Whether `ALTER USER … IDENTIFIED BY` exists (MySQL 5.7.6+); MariaDB
    /// gets hashes through `SET PASSWORD` instead.
    pub fn has_alter_user_password(&self) -> bool {
        !self.mariadb && self.number >= (5, 7, 6)
    }

    /// Whether dual passwords exist (`RETAIN CURRENT PASSWORD`, MySQL 8.0.14+).
    pub fn has_dual_passwords(&self) -> bool {
        !self.mariadb && self.number >= (8, 0, 14)
    }
}

/// How a statement names the user whose password it sets.
#[derive(Debug, Clone, Copy)]
pub enum Whose<'a> {
    /// The logged-in user itself.
    Own,
    /// Another account (the admin setting a clone's password).
    Account(&'a str, &'a str),
}

/// The statement that sets a password on `server`:
/// - MariaDB: `SET PASSWORD [FOR acct] = '*hash'` (the hash, never the text);
/// - MySQL 5.7.6+: `ALTER USER acct IDENTIFIED BY '…'` (MySQL rewrites it in
///   its logs), with `RETAIN CURRENT PASSWORD` when `retain` is asked for;
/// - older MySQL: `SET PASSWORD [FOR acct] = PASSWORD('…')`.
pub fn set_password(
    server: &ServerVersion,
    whose: Whose<'_>,
    password: &SecretString,
    no_backslash_escapes: bool,
    retain: bool,
) -> Result<Zeroizing<String>, LiteralError> {
    let target = match whose {
        Whose::Own => None,
        Whose::Account(user, host) => Some(account(user, host)),
    };
    let for_clause = target
        .as_ref()
        .map(|a| format!(" FOR {a}"))
        .unwrap_or_default();
    if server.mariadb {
        return Ok(Zeroizing::new(format!(
            "SET PASSWORD{for_clause} = '{}'",
            native_password_hash(password).as_str()
        )));
    }
    let text = literal(password.expose_secret(), no_backslash_escapes)?;
    if server.has_alter_user_password() {
        let who = target.unwrap_or_else(|| "CURRENT_USER()".to_owned());
        let retain = if retain {
            " RETAIN CURRENT PASSWORD"
        } else {
            ""
        };
        return Ok(Zeroizing::new(format!(
            "ALTER USER {who} IDENTIFIED BY {}{retain}",
            text.as_str()
        )));
    }
    Ok(Zeroizing::new(format!(
        "SET PASSWORD{for_clause} = PASSWORD({})",
        text.as_str()
    )))
}

/// `CREATE USER acct IDENTIFIED BY …` with `password` (hashed on MariaDB).
pub fn create_user(
    server: &ServerVersion,
    user: &str,
    host: &str,
    password: &SecretString,
    no_backslash_escapes: bool,
) -> Result<Zeroizing<String>, LiteralError> {
    let acct = account(user, host);
    if server.mariadb {
        return Ok(Zeroizing::new(format!(
            "CREATE USER {acct} IDENTIFIED BY PASSWORD '{}'",
            native_password_hash(password).as_str()
        )));
    }
    let text = literal(password.expose_secret(), no_backslash_escapes)?;
    Ok(Zeroizing::new(format!(
        "CREATE USER {acct} IDENTIFIED BY {}",
        text.as_str()
    )))
}

/// An account's TLS requirement, as `mysql.user` stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsRequirement {
    /// `ssl_type`: empty, `ANY`, `X509` or `SPECIFIED`.
    pub ssl_type: String,
    /// `ssl_cipher`.
    pub cipher: String,
    /// `x509_issuer`.
    pub issuer: String,
    /// `x509_subject`.
    pub subject: String,
}

impl TlsRequirement {
    /// The `REQUIRE …` clause that gives an account this requirement.
    pub fn clause(&self, no_backslash_escapes: bool) -> Result<String, LiteralError> {
        Ok(match self.ssl_type.to_ascii_uppercase().as_str() {
            "ANY" => "REQUIRE SSL".to_owned(),
            "X509" => "REQUIRE X509".to_owned(),
            "SPECIFIED" => {
                let mut parts = Vec::new();
                for (word, value) in [
                    ("ISSUER", &self.issuer),
                    ("SUBJECT", &self.subject),
                    ("CIPHER", &self.cipher),
                ] {
                    if !value.is_empty() {
                        parts.push(format!(
                            "{word} {}",
                            literal(value, no_backslash_escapes)?.as_str()
                        ));
                    }
                }
                if parts.is_empty() {
                    "REQUIRE SSL".to_owned()
                } else {
                    format!("REQUIRE {}", parts.join(" AND "))
                }
            }
            _ => "REQUIRE NONE".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn identifiers_and_literals_cannot_be_escaped_from() {
        assert_eq!(identifier("a`b"), "`a``b`");
        assert_eq!(account("o'x`y", "%"), "`o'x``y`@`%`");
        assert_eq!(
            literal("it's a \\ test", false).unwrap().as_str(),
            "'it''s a \\\\ test'"
        );
        assert_eq!(
            literal("it's a \\ test", true).unwrap().as_str(),
            "'it''s a \\ test'"
        );
        assert_eq!(literal("x\0y", false).unwrap_err(), LiteralError::Nul);
    }

    #[test]
    fn native_hash_matches_the_server() {
        // SELECT PASSWORD('password') on MySQL 5.7 / MariaDB.
        assert_eq!(
            native_password_hash(&secret("password")).as_str(),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }

    #[test]
    fn versions_are_read_for_every_family() {
        let maria = ServerVersion::parse("10.11.6-MariaDB-0+deb12u1");
        assert!(maria.mariadb && maria.number == (10, 11, 6));
        let old_maria = ServerVersion::parse("5.5.5-10.4.31-MariaDB");
        assert_eq!(old_maria.number, (10, 4, 31));
        let aurora = ServerVersion::parse("8.0.mysql_aurora.3.05.2");
        assert_eq!((aurora.mariadb, aurora.number.0), (false, 8));
        assert!(ServerVersion::parse("8.0.36").has_dual_passwords());
        assert!(!ServerVersion::parse("8.0.13").has_dual_passwords());
        assert!(!maria.has_dual_passwords());
        assert!(ServerVersion::parse("5.7.44-log").has_alter_user_password());
        assert!(!ServerVersion::parse("5.6.51").has_alter_user_password());
    }

    #[test]
    fn each_server_gets_the_statement_it_supports() {
        let pw = secret("n3w'pass\\word");
        let maria = ServerVersion::parse("10.11.6-MariaDB");
        let own = set_password(&maria, Whose::Own, &pw, false, false).unwrap();
        assert!(own.starts_with("SET PASSWORD = '*"), "{}", own.as_str());
        assert!(!own.contains("pass"), "MariaDB gets the hash only");
        let other = set_password(&maria, Whose::Account("a`pp", "%"), &pw, false, false).unwrap();
        assert!(
            other.starts_with("SET PASSWORD FOR `a``pp`@`%` = '*"),
            "{}",
            other.as_str()
        );

        let mysql8 = ServerVersion::parse("8.0.36");
        assert_eq!(
            set_password(&mysql8, Whose::Own, &pw, false, true)
                .unwrap()
                .as_str(),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'n3w''pass\\\\word' RETAIN CURRENT PASSWORD"
        );
        assert_eq!(
            set_password(&mysql8, Whose::Account("app", "10.%"), &pw, true, false)
                .unwrap()
                .as_str(),
            "ALTER USER `app`@`10.%` IDENTIFIED BY 'n3w''pass\\word'"
        );
        let mysql56 = ServerVersion::parse("5.6.51-log");
        assert_eq!(
            set_password(&mysql56, Whose::Own, &pw, false, false)
                .unwrap()
                .as_str(),
            "SET PASSWORD = PASSWORD('n3w''pass\\\\word')"
        );
        assert!(create_user(&maria, "x", "%", &pw, false)
            .unwrap()
            .starts_with("CREATE USER `x`@`%` IDENTIFIED BY PASSWORD '*"));
    }

    #[test]
    fn tls_requirements_become_require_clauses() {
        let req = |t: &str, issuer: &str, cipher: &str| TlsRequirement {
            ssl_type: t.to_owned(),
            issuer: issuer.to_owned(),
            cipher: cipher.to_owned(),
            subject: String::new(),
        };
        assert_eq!(req("", "", "").clause(false).unwrap(), "REQUIRE NONE");
        assert_eq!(req("ANY", "", "").clause(false).unwrap(), "REQUIRE SSL");
        assert_eq!(req("X509", "", "").clause(false).unwrap(), "REQUIRE X509");
        assert_eq!(
            req("SPECIFIED", "/CN=O'Neil CA", "AES256-SHA")
                .clause(false)
                .unwrap(),
            "REQUIRE ISSUER '/CN=O''Neil CA' AND CIPHER 'AES256-SHA'"
        );
    }
}
