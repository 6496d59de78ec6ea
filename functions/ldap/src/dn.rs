//! Distinguished names (RFC 4514): the secret's `username` is one, and a
//! server's WhoAmI answer names one. Two spellings of the same entry
//! (`CN=App, OU=People,DC=example,DC=com` and
//! `cn=app,ou=people,dc=example,dc=com`) must compare equal, and a
//! `username` that is no DN at all must be refused before anything is sent.

use std::fmt;

/// Why a string is not a distinguished name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnError(String);

/// One attribute of a relative distinguished name: `type=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type, lowercase (`cn`, `ou`, `dc`, or an OID).
    pub kind: String,
    /// The value, unescaped.
    pub value: String,
}

/// A parsed distinguished name: its RDNs, most specific first, each a set
/// of attributes (usually one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn {
    rdns: Vec<Vec<Attribute>>,
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, attribute) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(
                    f,
                    "{}={}",
                    attribute.kind,
                    ldap3::dn_escape(attribute.value.as_str())
                )?;
            }
        }
        Ok(())
    }
}

/// A few attribute types by OID, as servers may spell them.
fn canonical_type(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let lower = lower.strip_prefix("oid.").unwrap_or(&lower).to_owned();
    match lower.as_str() {
        "2.5.4.3" => "cn".to_owned(),
        "2.5.4.11" => "ou".to_owned(),
        "2.5.4.10" => "o".to_owned(),
        "0.9.2342.19200300.100.1.25" => "dc".to_owned(),
        "0.9.2342.19200300.100.1.1" => "uid".to_owned(),
        _ => lower,
    }
}

/// The value as matching rules compare it (caseIgnoreMatch, which `cn`,
/// `ou`, `dc`, `uid` and `o` use): case folded, leading and trailing
/// spaces dropped, runs of spaces as one.
fn folded(value: &str) -> String {
    value
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Dn {
    /// Parses an RFC 4514 string. The empty string (the root DSE) is
    /// refused: no user binds as it.
    pub fn parse(text: &str) -> Result<Self, DnError> {
        let fail = |what: &str| Err(DnError(what.to_owned()));
        if text.trim().is_empty() {
            return fail("is empty");
        }
        let bytes = text.as_bytes();
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut i = 0;
        loop {
            // attributeType "="
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i] != b'=' {
                let c = bytes[i];
                if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
                    if c == b',' || c == b'+' || c == b';' {
                        return fail("has an RDN without `=` (each part must be type=value)");
                    }
                    return fail("has an attribute type with a character other than letters, digits, `-` and `.`");
                }
                i += 1;
            }
            if i == bytes.len() {
                return fail("has an RDN without `=` (each part must be type=value)");
            }
            let kind = text[start..i].trim_end();
            if kind.is_empty() {
                return fail("has an RDN without an attribute type");
            }
            i += 1; // '='
                    // attributeValue, up to an unescaped ',' '+' or the end.
            let mut value: Vec<u8> = Vec::new();
            let mut trailing_escaped_space = false;
            if i < bytes.len() && bytes[i] == b'#' {
                // A hex-encoded BER value: kept as written.
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'+' {
                    value.push(bytes[i]);
                    i += 1;
                }
            } else {
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'+' {
                    let c = bytes[i];
                    match c {
                        b'\\' => {
                            let Some(&next) = bytes.get(i + 1) else {
                                return fail("ends with a lone `\\`");
                            };
                            if next.is_ascii_hexdigit() {
                                let pair = bytes
                                    .get(i + 1..i + 3)
                                    .and_then(|p| std::str::from_utf8(p).ok())
                                    .and_then(|p| u8::from_str_radix(p, 16).ok());
                                let Some(byte) = pair else {
                                    return fail("has a `\\` followed by one hex digit");
                                };
                                value.push(byte);
                                i += 3;
                            } else {
                                value.push(next);
                                i += 2;
                            }
                            trailing_escaped_space = value.last() == Some(&b' ');
                            continue;
                        }
                        b'"' | b';' | b'<' | b'>' => {
                            return fail(
                                "has an unescaped `\"`, `;`, `<` or `>` (escape it with `\\`)",
                            )
                        }
                        _ => {
                            value.push(c);
                            trailing_escaped_space = false;
                        }
                    }
                    i += 1;
                }
            }
            if !trailing_escaped_space {
                while value.last() == Some(&b' ') {
                    value.pop();
                }
            }
            let Ok(value) = String::from_utf8(value) else {
                return fail("has a value that is not UTF-8");
            };
            if value.is_empty() {
                return fail("has an RDN with an empty value");
            }
            rdn.push(Attribute {
                kind: canonical_type(kind),
                value,
            });
            match bytes.get(i) {
                None => {
                    rdns.push(rdn);
                    break;
                }
                Some(b'+') => {}
                Some(_) => rdns.push(std::mem::take(&mut rdn)),
            }
            i += 1;
        }
        Ok(Self { rdns })
    }

    /// Whether `self` and `other` name the same entry, as a directory
    /// compares them: attribute types by name or OID, values without case
    /// and extra spaces, the attributes of one RDN in any order.
    pub fn same_entry(&self, other: &Dn) -> bool {
        let key = |rdn: &[Attribute]| {
            let mut attributes: Vec<(String, String)> = rdn
                .iter()
                .map(|a| (a.kind.clone(), folded(&a.value)))
                .collect();
            attributes.sort();
            attributes
        };
        self.rdns.len() == other.rdns.len()
            && self
                .rdns
                .iter()
                .zip(&other.rdns)
                .all(|(a, b)| key(a) == key(b))
    }

    /// The first RDN's first value (`app` of `cn=app,ou=people,…`).
    pub fn leaf_value(&self) -> Option<&str> {
        self.rdns
            .first()
            .and_then(|rdn| rdn.first())
            .map(|a| a.value.as_str())
    }

    /// How many RDNs the name has.
    pub fn depth(&self) -> usize {
        self.rdns.len()
    }
}

/// The identity a WhoAmI answer (RFC 4532) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzId {
    /// `dn:…`: a distinguished name (OpenLDAP, 389-DS).
    Dn(Dn),
    /// `u:…`: a user name in the server's own form (Active Directory:
    /// `u:DOMAIN\name`).
    User(String),
    /// Anything else, as answered (an empty answer: anonymous).
    Other(String),
}

impl AuthzId {
    /// Reads a WhoAmI answer.
    pub fn parse(answer: &str) -> Self {
        if let Some(dn) = answer.strip_prefix("dn:") {
            if let Ok(dn) = Dn::parse(dn) {
                return AuthzId::Dn(dn);
            }
        }
        if let Some(user) = answer.strip_prefix("u:") {
            return AuthzId::User(user.to_owned());
        }
        AuthzId::Other(answer.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_entry_compare_equal() {
        let a = Dn::parse("CN=App  Server, OU=People,DC=example,DC=com").unwrap();
        let b = Dn::parse("cn=app server,ou=people,dc=example,dc=com").unwrap();
        let c = Dn::parse("2.5.4.3=APP SERVER,ou=People,dc=EXAMPLE,dc=com").unwrap();
        assert!(a.same_entry(&b) && b.same_entry(&c));
        let other = Dn::parse("cn=app,ou=people,dc=example,dc=com").unwrap();
        assert!(!a.same_entry(&other));
        let shorter = Dn::parse("cn=app server,ou=people,dc=example").unwrap();
        assert!(!a.same_entry(&shorter));
    }

    #[test]
    fn escapes_are_read_and_written_back() {
        let name = "o'brien `the` \"ünïcødé\" u\\ser; DROP USER x, y+z <a> #1 ";
        let escaped = format!("cn={},ou=people,dc=example,dc=com", ldap3::dn_escape(name));
        let dn = Dn::parse(&escaped).unwrap();
        assert_eq!(dn.leaf_value(), Some(name));
        assert_eq!(dn.depth(), 4);
        assert_eq!(Dn::parse(&dn.to_string()).unwrap(), dn);
        // Hex escapes, as OpenLDAP writes them (`\2C` is a comma).
        let hex = Dn::parse("cn=a\\2Cb\\c3\\bc,dc=x").unwrap();
        assert_eq!(hex.leaf_value(), Some("a,bü"));
    }

    #[test]
    fn multi_valued_rdns_compare_in_any_order() {
        let a = Dn::parse("cn=a+uid=b,dc=x").unwrap();
        let b = Dn::parse("UID=B+CN=A,dc=x").unwrap();
        assert!(a.same_entry(&b));
    }

    #[test]
    fn what_is_no_dn_is_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("app", "without `=`"),
            ("victim'; DROP USER victim; --", "attribute type"),
            ("cn=a,,dc=x", "without `=`"),
            ("=a,dc=x", "without an attribute type"),
            ("cn=,dc=x", "empty value"),
            ("cn=a\"b,dc=x", "unescaped"),
            ("cn=a\\", "lone"),
            ("cn=a\\4,dc=x", "one hex digit"),
            ("c n=a", "attribute type"),
        ] {
            let err = Dn::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn whoami_answers_are_told_apart() {
        assert!(matches!(
            AuthzId::parse("dn:cn=app,dc=example,dc=com"),
            AuthzId::Dn(_)
        ));
        assert_eq!(
            AuthzId::parse("u:CORP\\svc-app"),
            AuthzId::User("CORP\\svc-app".to_owned())
        );
        assert_eq!(AuthzId::parse(""), AuthzId::Other(String::new()));
    }
}
