//! What the function writes into a directory instead of a plaintext
//! password: a salted hash in the RFC 2307 `{SCHEME}base64` form for
//! `userPassword` (admin mode), and Active Directory's `unicodePwd`
//! encoding.

use rotation::BackendError;
use zeroize::Zeroizing;

/// Environment variable: the scheme of the hashes the admin mode writes
/// ([`HashScheme`]).
pub const PASSWORD_HASH_VAR: &str = "LDAP_PASSWORD_HASH";

/// How long a salt is, in bytes (OpenLDAP's own `{SSHA}` uses 4; 389-DS 8).
pub const SALT_BYTES: usize = 8;

/// A salted hash scheme every directory that reads it verifies binds with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// `{SSHA}`: salted SHA-1. The default: OpenLDAP, 389-DS, ApacheDS
    /// and OpenDJ all verify it without a module. With the function's
    /// 32-character random passwords, SHA-1's speed is no weakness.
    Ssha,
    /// `{SSHA256}`: salted SHA-256 (389-DS; OpenLDAP with the `pw-sha2`
    /// module).
    Ssha256,
    /// `{SSHA512}`: salted SHA-512 (389-DS; OpenLDAP with `pw-sha2`).
    Ssha512,
}

impl HashScheme {
    /// Reads [`PASSWORD_HASH_VAR`]'s value: `ssha` (the default when
    /// unset or empty), `ssha256`, `ssha512`, with or without braces, in
    /// any case.
    pub fn parse(value: &str) -> Result<Self, BackendError> {
        let name = value
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .to_ascii_lowercase();
        match name.as_str() {
            "" | "ssha" => Ok(HashScheme::Ssha),
            "ssha256" => Ok(HashScheme::Ssha256),
            "ssha512" => Ok(HashScheme::Ssha512),
            _ => Err(BackendError::Config(format!(
                "{PASSWORD_HASH_VAR}={value:?} is not one of ssha, ssha256, ssha512"
            ))),
        }
    }

    /// The scheme's tag, e.g. `{SSHA}`.
    pub fn tag(self) -> &'static str {
        match self {
            HashScheme::Ssha => "{SSHA}",
            HashScheme::Ssha256 => "{SSHA256}",
            HashScheme::Ssha512 => "{SSHA512}",
        }
    }

    /// `{SCHEME}base64(digest(password ‖ salt) ‖ salt)` with a fresh
    /// random salt.
    pub fn hash(self, password: &str) -> Result<Zeroizing<String>, BackendError> {
        let mut salt = [0u8; SALT_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt).map_err(
            |_| BackendError::Internal("the system's random number generator failed".to_owned()),
        )?;
        Ok(self.hash_with_salt(password, &salt))
    }

    /// [`HashScheme::hash`] with a given salt (for tests and checks).
    pub fn hash_with_salt(self, password: &str, salt: &[u8]) -> Zeroizing<String> {
        // sha1 0.10 implements digest 0.10's trait and sha2 0.11 digest
        // 0.11's (the versions the database drivers already link), so one
        // generic function cannot take both.
        fn sha1_digest(password: &str, salt: &[u8]) -> Vec<u8> {
            use sha1::Digest;
            let mut hasher = sha1::Sha1::new();
            hasher.update(password.as_bytes());
            hasher.update(salt);
            hasher.finalize().to_vec()
        }
        fn sha2_digest<D: sha2::Digest>(password: &str, salt: &[u8]) -> Vec<u8> {
            let mut hasher = D::new();
            hasher.update(password.as_bytes());
            hasher.update(salt);
            hasher.finalize().to_vec()
        }
        let mut bytes = Zeroizing::new(match self {
            HashScheme::Ssha => sha1_digest(password, salt),
            HashScheme::Ssha256 => sha2_digest::<sha2::Sha256>(password, salt),
            HashScheme::Ssha512 => sha2_digest::<sha2::Sha512>(password, salt),
        });
        bytes.extend_from_slice(salt);
        let mut text = Zeroizing::new(String::from(self.tag()));
        base64::Engine::encode_string(
            &base64::engine::general_purpose::STANDARD,
            bytes.as_slice(),
            &mut text,
        );
        text
    }
}

/// Active Directory's `unicodePwd` value for `password`: the password in
/// double quotes, as UTF-16LE.
pub fn unicode_pwd(password: &str) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity((password.len() + 2) * 2));
    for unit in std::iter::once('"')
        .chain(password.chars())
        .chain(std::iter::once('"'))
        .collect::<String>()
        .encode_utf16()
    {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_hashes_match_what_openldap_computes() {
        // `slappasswd -h {SSHA} -s secret` with the salt "saltsalt" is
        // base64(SHA1("secret" ‖ "saltsalt") ‖ "saltsalt"); checked
        // against Python's hashlib.
        assert_eq!(
            HashScheme::Ssha
                .hash_with_salt("secret", b"saltsalt")
                .as_str(),
            "{SSHA}1G904nLkTkGWjKNnQuB/hpWXC/hzYWx0c2FsdA=="
        );
        let long = HashScheme::Ssha512.hash_with_salt("secret", b"saltsalt");
        assert!(long.starts_with("{SSHA512}"));
        // 64 bytes of digest and 8 of salt: 96 base64 characters.
        assert_eq!(long.len(), "{SSHA512}".len() + 96);
        let mid = HashScheme::Ssha256.hash_with_salt("secret", b"saltsalt");
        assert_eq!(mid.len(), "{SSHA256}".len() + 56);
    }

    #[test]
    fn every_hash_has_its_own_salt() {
        let a = HashScheme::Ssha.hash("same").unwrap();
        let b = HashScheme::Ssha.hash("same").unwrap();
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn schemes_parse_and_a_bad_one_names_the_variable() {
        assert_eq!(HashScheme::parse("").unwrap(), HashScheme::Ssha);
        assert_eq!(HashScheme::parse("{SSHA512}").unwrap(), HashScheme::Ssha512);
        assert_eq!(HashScheme::parse("ssha256").unwrap(), HashScheme::Ssha256);
        let err = HashScheme::parse("md5").unwrap_err().to_string();
        assert!(
            err.contains(PASSWORD_HASH_VAR) && err.contains("md5"),
            "{err}"
        );
    }

    #[test]
    fn unicode_pwd_is_the_quoted_password_in_utf16le() {
        // Microsoft's example: "newPassword" → 22 00 6E 00 … 22 00.
        let value = unicode_pwd("ab€");
        assert_eq!(
            value.as_slice(),
            &[0x22, 0x00, 0x61, 0x00, 0x62, 0x00, 0xAC, 0x20, 0x22, 0x00]
        );
    }
}
