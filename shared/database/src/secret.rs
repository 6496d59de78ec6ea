//! The secret format of AWS's database rotation functions, shared by every
//! database engine: `engine`, `host`, `port`, `username`, `password`,
//! `dbname`, `ssl`, `masterarn`, and any other field carried over unchanged.

use rotation::BackendError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;
use zeroize::Zeroize;

/// The longest `host`, `username` or `dbname` accepted, in bytes (DNS names
/// are at most 253, database names far less): anything longer is an error,
/// not something to send to a server.
pub const MAX_NAME_FIELD_BYTES: usize = 1024;
/// The longest `password` accepted, in bytes (the password policy's maximum).
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Refuses a NUL character (no server takes one in a name or a password) and
/// values over `max` bytes, naming the field and never quoting the value.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), BackendError> {
    if value.contains('\0') {
        return Err(BackendError::field(field, "contains a NUL character"));
    }
    if value.len() > max {
        return Err(BackendError::field(
            field,
            format!("is {} bytes long; at most {max} are accepted", value.len()),
        ));
    }
    Ok(())
}

/// What differs between engine families in the common secret shape.
#[derive(Debug, PartialEq, Eq)]
pub struct SecretShape {
    /// The family's name for messages, e.g. `PostgreSQL`.
    pub family: &'static str,
    /// Values of `engine` this family accepts (the field may be absent).
    pub engines: &'static [&'static str],
    /// `port` when the secret has none.
    pub default_port: u16,
    /// `dbname` when the secret has none (`None`: no database is selected).
    pub default_dbname: Option<&'static str>,
}

/// A database secret value: the fields AWS's functions read, and every other
/// field kept as it was. `Debug` shows no password and no unknown field.
pub struct DatabaseSecret {
    /// `host`.
    pub host: String,
    /// `port` (number or numeric string; default from the [`SecretShape`]).
    pub port: u16,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `dbname` (default from the [`SecretShape`]).
    pub dbname: Option<String>,
    /// `ssl`: `Some(true)`/`Some(false)` when the secret says, `None` when absent.
    pub ssl: Option<bool>,
    /// The engine family this secret was read for.
    pub shape: &'static SecretShape,
    /// Every field but `password`, exactly as stored, to write back unchanged.
    fields: Map<String, Value>,
}

impl fmt::Debug for DatabaseSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSecret")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("dbname", &self.dbname)
            .field("ssl", &self.ssl)
            .finish_non_exhaustive()
    }
}

/// Parses a stored value as a JSON object. A syntax error gives the
/// position, never the text (which holds a secret).
pub fn parse_json_object(raw: &SecretString) -> Result<Map<String, Value>, BackendError> {
    serde_json::from_str(raw.expose_secret()).map_err(|e| {
        BackendError::InvalidJson(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// The JSON to store: `fields` (which hold no password) with `password`
/// (none: no `password` field). The temporary copy of the password is
/// zeroed.
pub fn json_with_password(
    fields: &Map<String, Value>,
    password: Option<&SecretString>,
) -> Result<SecretString, BackendError> {
    let mut fields = fields.clone();
    if let Some(password) = password {
        fields.insert(
            "password".to_owned(),
            Value::String(password.expose_secret().to_owned()),
        );
    }
    let json = serde_json::to_string(&fields)
        .map_err(|e| BackendError::Internal(format!("cannot serialise the secret: {e}")));
    if let Some(Value::String(mut copy)) = fields.remove("password") {
        copy.zeroize();
    }
    json.map(SecretString::from)
}

/// The non-empty string field `name` of `fields`; the error names the field
/// and says what it is instead (never its value).
pub fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, BackendError> {
    match fields.get(name) {
        None | Some(Value::Null) => Err(BackendError::field(name, "is missing")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(BackendError::field(name, "is empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(BackendError::field(
            name,
            format!("must be a string, not {}", json_type(other)),
        )),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads `port`: a number or a string of digits, 1 to 65535.
fn parse_port(value: Option<&Value>, default: u16) -> Result<u16, BackendError> {
    let invalid = |what: String| BackendError::field("port", what);
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(format!("must be a port number from 1 to 65535, not {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(format!("must be a port number from 1 to 65535, not {s:?}"))),
        Some(other) => Err(invalid(format!(
            "must be a number or a string of digits, not {}",
            json_type(other)
        ))),
    }
}

/// Reads `ssl` as AWS's functions do: a boolean, or the strings `true`/`false`
/// in any case.
fn parse_ssl(value: Option<&Value>) -> Result<Option<bool>, BackendError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(BackendError::field(
                "ssl",
                format!("must be true or false, not {s:?}"),
            )),
        },
        Some(other) => Err(BackendError::field(
            "ssl",
            format!("must be true or false, not {}", json_type(other)),
        )),
    }
}

impl DatabaseSecret {
    /// Parses and validates a stored value. Errors name the field; they quote
    /// values only of fields that are not secret.
    pub fn parse(raw: &SecretString, shape: &'static SecretShape) -> Result<Self, BackendError> {
        Self::parse_with(raw, shape, true)
    }

    /// Parses an admin (master) secret: as [`DatabaseSecret::parse`], but
    /// `host` may be missing (an RDS-managed master secret holds only
    /// `username` and `password`); it is then empty and [`DatabaseSecret::has_host`]
    /// is false.
    pub fn parse_admin(
        raw: &SecretString,
        shape: &'static SecretShape,
    ) -> Result<Self, BackendError> {
        Self::parse_with(raw, shape, false)
    }

    fn parse_with(
        raw: &SecretString,
        shape: &'static SecretShape,
        require_host: bool,
    ) -> Result<Self, BackendError> {
        let mut fields = parse_json_object(raw)?;
        let password = match fields.remove("password") {
            None | Some(Value::Null) => return Err(BackendError::field("password", "is missing")),
            Some(Value::String(s)) => SecretString::from(s),
            Some(other) => {
                let kind = json_type(&other);
                drop(other);
                return Err(BackendError::field(
                    "password",
                    format!("must be a string, not {kind}"),
                ));
            }
        };
        if let Some(engine) = fields.get("engine") {
            match engine {
                Value::String(e) if shape.engines.contains(&e.as_str()) => {}
                Value::String(e) => {
                    return Err(BackendError::field(
                        "engine",
                        format!(
                            "is {e:?}; this function rotates {}",
                            shape.engines.join(", ")
                        ),
                    ))
                }
                other => {
                    return Err(BackendError::field(
                        "engine",
                        format!("must be a string, not {}", json_type(other)),
                    ))
                }
            }
        }
        let host = match fields.get("host") {
            None | Some(Value::Null) if !require_host => String::new(),
            _ => required_string(&fields, "host")?,
        };
        let username = required_string(&fields, "username")?;
        let port = parse_port(fields.get("port"), shape.default_port)?;
        let dbname = match fields.get("dbname") {
            None | Some(Value::Null) => shape.default_dbname.map(str::to_owned),
            Some(_) => Some(required_string(&fields, "dbname")?),
        };
        let ssl = parse_ssl(fields.get("ssl"))?;
        check_text("password", password.expose_secret(), MAX_PASSWORD_BYTES)?;
        check_text("host", &host, MAX_NAME_FIELD_BYTES)?;
        check_text("username", &username, MAX_NAME_FIELD_BYTES)?;
        if let Some(dbname) = &dbname {
            check_text("dbname", dbname, MAX_NAME_FIELD_BYTES)?;
        }
        Ok(Self {
            host,
            port,
            username,
            password,
            dbname,
            ssl,
            shape,
            fields,
        })
    }

    /// Whether the secret names a host.
    pub fn has_host(&self) -> bool {
        !self.host.is_empty()
    }

    /// Whether the secret has an `engine` field.
    pub fn engine(&self) -> Option<&str> {
        self.fields.get("engine").and_then(Value::as_str)
    }

    /// A string field other than the password (e.g. `masterarn`), if present.
    pub fn text_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// Any field other than the password, as stored (e.g. a list of nodes).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|_| name != "password")
    }

    /// The same secret with `name` set to `value` (not the password, which
    /// [`DatabaseSecret::with_password`] sets), for a credential that must
    /// reach the same servers as another (an admin's, given the child's
    /// node list).
    pub fn with_field(&self, name: &str, value: Value) -> Self {
        let mut next = self.with_password(self.password.clone());
        if name != "password" {
            next.fields.insert(name.to_owned(), value);
        }
        next
    }

    /// The same secret with another user name and password; every other
    /// field unchanged.
    pub fn with_user(&self, username: &str, password: SecretString) -> Self {
        let mut next = self.with_password(password);
        next.username = username.to_owned();
        next.fields
            .insert("username".to_owned(), Value::String(username.to_owned()));
        next
    }

    /// The same credential aimed at another server or database (used for the
    /// admin login: the child's `dbname`, the resolved RDS endpoint).
    pub fn aimed_at(&self, host: &str, port: u16, dbname: Option<&str>) -> Self {
        let mut next = self.with_password(self.password.clone());
        next.host = host.to_owned();
        next.port = port;
        next.dbname = dbname.map(str::to_owned);
        next
    }

    /// The same secret with another password; every other field unchanged.
    pub fn with_password(&self, password: SecretString) -> Self {
        Self {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            password,
            dbname: self.dbname.clone(),
            ssl: self.ssl,
            shape: self.shape,
            fields: self.fields.clone(),
        }
    }

    /// The JSON to store: the original fields with this password.
    pub fn to_json(&self) -> Result<SecretString, BackendError> {
        json_with_password(&self.fields, Some(&self.password))
    }

    /// `user "name" at host:port/dbname` (without `/dbname` when none), for
    /// messages.
    pub fn target(&self) -> String {
        let mut target = format!("user {:?} at {}:{}", self.username, self.host, self.port);
        if let Some(dbname) = &self.dbname {
            target.push('/');
            target.push_str(dbname);
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use serde_json::json;

    const POSTGRES: SecretShape = SecretShape {
        family: "PostgreSQL",
        engines: &["postgres", "aurora-postgresql"],
        default_port: 5432,
        default_dbname: Some("postgres"),
    };
    const MYSQL: SecretShape = SecretShape {
        family: "MySQL",
        engines: &["mysql", "mariadb", "aurora-mysql"],
        default_port: 3306,
        default_dbname: None,
    };

    fn parse(value: Value) -> Result<DatabaseSecret, BackendError> {
        DatabaseSecret::parse(&SecretString::from(value.to_string()), &POSTGRES)
    }

    fn base() -> Value {
        json!({"engine": "postgres", "host": "db", "username": "app", "password": "hunter2-secret"})
    }

    #[test]
    fn defaults_port_and_dbname() {
        let s = parse(base()).unwrap();
        assert_eq!(
            (s.port, s.dbname.as_deref(), s.ssl),
            (5432, Some("postgres"), None)
        );
        let mut v = base();
        v["engine"] = json!("mariadb");
        let s = DatabaseSecret::parse(&SecretString::from(v.to_string()), &MYSQL).unwrap();
        assert_eq!((s.port, s.dbname.as_deref()), (3306, None));
        assert_eq!(s.target(), "user \"app\" at db:3306");
    }

    #[test]
    fn port_may_be_a_string_and_ssl_a_string() {
        let mut v = base();
        v["port"] = json!("6543");
        v["ssl"] = json!("TRUE");
        v["engine"] = json!("aurora-postgresql");
        let s = parse(v).unwrap();
        assert_eq!((s.port, s.ssl), (6543, Some(true)));
    }

    #[test]
    fn bad_fields_are_named_and_the_password_never_quoted() {
        let cases = [
            ("host", Value::Null, "`host` is missing"),
            ("username", json!(""), "`username` is empty"),
            ("port", json!("abc"), "`port` must be a port number"),
            ("port", json!(70000), "`port` must be a port number"),
            ("port", json!(true), "`port` must be a number"),
            ("engine", json!("mysql"), "`engine` is \"mysql\""),
            ("ssl", json!("maybe"), "`ssl` must be true or false"),
            ("password", json!(12345), "`password` must be a string"),
        ];
        for (field, value, expected) in cases {
            let mut v = base();
            if value.is_null() {
                v.as_object_mut().unwrap().remove(field);
            } else {
                v[field] = value;
            }
            let err = parse(v).unwrap_err().to_string();
            assert!(err.contains(expected), "{field}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn nul_characters_and_oversized_fields_are_refused_by_name() {
        for (field, value, expected) in [
            ("username", json!("app\u{0}x"), "`username` contains a NUL"),
            (
                "password",
                json!("hunter2\u{0}secret"),
                "`password` contains a NUL",
            ),
            ("host", json!("db\u{0}.example"), "`host` contains a NUL"),
            (
                "dbname",
                json!("a".repeat(5000)),
                "`dbname` is 5000 bytes long",
            ),
            (
                "username",
                json!("u".repeat(1025)),
                "`username` is 1025 bytes long",
            ),
            (
                "password",
                json!("p".repeat(4097)),
                "`password` is 4097 bytes long",
            ),
        ] {
            let mut v = base();
            v[field] = value;
            let err = parse(v).unwrap_err().to_string();
            assert!(err.contains(expected), "{field}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        /// Any text at all: an error or a secret, never a panic, and an
        /// error never quotes the password.
        #[test]
        fn arbitrary_text_never_panics_or_leaks(text in ".{0,300}") {
            let raw = SecretString::from(text.clone());
            if let Err(e) = DatabaseSecret::parse(&raw, &POSTGRES) {
                let shown = e.to_string();
                // Only a real password field could leak; check it is not quoted.
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) {
                    if let Some(Value::String(p)) = map.get("password") {
                        if p.len() >= 8 {
                            proptest::prop_assert!(!shown.contains(p.as_str()), "{}", shown);
                        }
                    }
                }
            }
        }

        /// Secret-shaped JSON with hostile values in every field: an error
        /// that names a field, or a secret that round-trips; the password
        /// never appears in an error or in `Debug`.
        #[test]
        fn hostile_fields_never_panic_or_leak(
            host in proptest::option::of(".{0,40}"),
            username in proptest::option::of(".{0,40}"),
            dbname in proptest::option::of(".{0,40}"),
            port in proptest::option::of(proptest::prop_oneof![
                proptest::num::i64::ANY.prop_map(|n| json!(n)),
                ".{0,8}".prop_map(|s| json!(s)),
                proptest::bool::ANY.prop_map(|b| json!(b)),
            ]),
            ssl in proptest::option::of(".{0,6}"),
            engine in proptest::option::of(".{0,20}"),
            nul_in_password in proptest::bool::ANY,
        ) {
            use proptest::prop_assert;
            let password = if nul_in_password { "Pw-Secret-\u{0}-1234" } else { "Pw-Secret-1234" };
            let mut v = json!({"password": password});
            for (name, value) in [("host", host), ("username", username), ("dbname", dbname), ("ssl", ssl), ("engine", engine)] {
                if let Some(value) = value {
                    v[name] = json!(value);
                }
            }
            if let Some(port) = port {
                v["port"] = port;
            }
            match DatabaseSecret::parse(&SecretString::from(v.to_string()), &POSTGRES) {
                Ok(secret) => {
                    let shown = format!("{secret:?}");
                    prop_assert!(!shown.contains("Pw-Secret"), "{}", shown);
                    let back = secret.to_json().unwrap();
                    let again = DatabaseSecret::parse(&back, &POSTGRES).unwrap();
                    proptest::prop_assert_eq!(again.username, secret.username);
                }
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(shown.contains("field `") || shown.contains("JSON"), "{}", shown);
                    prop_assert!(!shown.contains("Pw-Secret"), "{}", shown);
                }
            }
        }
    }

    #[test]
    fn invalid_json_gives_a_position_not_the_text() {
        let err = DatabaseSecret::parse(
            &SecretString::from("{\"password\": \"hunter2-secret".to_owned()),
            &POSTGRES,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a valid JSON"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = DatabaseSecret::parse(
            &SecretString::from("[\"hunter2-secret\"]".to_owned()),
            &POSTGRES,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn unknown_fields_are_carried_over_and_debug_is_redacted() {
        let mut v = base();
        v["masterarn"] = json!("arn:aws:secretsmanager:x");
        v["port"] = json!("5432");
        v["extra"] = json!({"nested": [1, 2]});
        let s = parse(v).unwrap();
        let next = s.with_password(SecretString::from("new-pass".to_owned()));
        let out: Value = serde_json::from_str(next.to_json().unwrap().expose_secret()).unwrap();
        assert_eq!(out["masterarn"], json!("arn:aws:secretsmanager:x"));
        assert_eq!(out["port"], json!("5432"));
        assert_eq!(out["extra"], json!({"nested": [1, 2]}));
        assert_eq!(out["password"], json!("new-pass"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
