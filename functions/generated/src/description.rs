//! What to generate: the secret's `rotation` object, one entry per field.
//!
//! ```json
//! "rotation": {
//!   "api_token":   {"type": "password", "length": 40, "exclude_punctuation": true},
//!   "signing_key": {"type": "bytes", "length": 32, "encoding": "base64"},
//!   "client_id":   "uuid",
//!   "deploy_key":  {"type": "ssh-ed25519", "comment": "deploy@ci"}
//! }
//! ```
//!
//! An entry is a type name, or an object with `type` and that type's
//! options. Anything else (an unknown type or option, a length out of
//! range, two entries writing one field) is refused with an error naming
//! the field, before anything is generated.

use password::PasswordPolicy;
use rotation::BackendError;
use serde_json::{Map, Value};

/// The field of a secret that describes what to generate.
pub const ROTATION_FIELD: &str = "rotation";
/// The longest random byte string (`bytes`) generated: 4096 bytes.
pub const MAX_BYTES: usize = 4096;
/// A `bytes` field's length when its entry gives none: 32 bytes (256 bits).
pub const DEFAULT_BYTES: usize = 32;
/// The longest `prefix` accepted.
pub const MAX_PREFIX: usize = 64;
/// The longest SSH key comment accepted.
pub const MAX_COMMENT: usize = 256;
/// Below this many bits of randomness a generated value is logged as weak
/// (NIST SP 800-131A's minimum security strength).
pub const WEAK_BITS: f64 = 112.0;
/// The types, by the names entries use.
pub const TYPES: &[&str] = &[
    "password",
    "bytes",
    "uuid",
    "ssh-ed25519",
    "ed25519",
    "ecdsa-p256",
];

/// How random bytes are written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lower-case hexadecimal (`hex`).
    Hex,
    /// Standard base64 with padding, RFC 4648 section 4 (`base64`).
    Base64,
    /// URL-safe base64 without padding, RFC 4648 section 5 (`base64url`),
    /// as JWTs and URLs use it.
    Base64Url,
}

impl Encoding {
    /// Every encoding, by the name entries use.
    pub const ALL: [(&'static str, Encoding); 3] = [
        ("hex", Encoding::Hex),
        ("base64", Encoding::Base64),
        ("base64url", Encoding::Base64Url),
    ];
}

/// The algorithm of a PEM key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032), for EdDSA JWTs (`ed25519`).
    Ed25519,
    /// ECDSA on NIST P-256, for ES256 JWTs (`ecdsa-p256`).
    EcdsaP256,
}

/// What one field gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A password under a policy (the function's policy variables, with the
    /// entry's options on top), after an optional fixed prefix.
    Password {
        /// The policy of the random part.
        policy: PasswordPolicy,
        /// Text put before the random part (e.g. `sk_live_`).
        prefix: String,
    },
    /// Random bytes from the CSPRNG, encoded as text, after an optional prefix.
    Bytes {
        /// How many bytes.
        length: usize,
        /// How they are written.
        encoding: Encoding,
        /// Text put before the encoded bytes.
        prefix: String,
    },
    /// A random (version 4) UUID, hyphenated lower case.
    Uuid,
    /// A key pair for signing (JWTs, webhooks): the private key as PKCS#8
    /// PEM (`PRIVATE KEY`) in the field, the public key as
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`) in `public_key_field`.
    PemKeyPair {
        /// Ed25519 (EdDSA) or ECDSA on P-256 (ES256).
        algorithm: KeyAlgorithm,
        /// Where the public key goes (default `<field>_public`).
        public_key_field: String,
    },
    /// An Ed25519 key pair: the private key in OpenSSH format in the field,
    /// the public key in `authorized_keys` format in `public_key_field`.
    SshEd25519 {
        /// Where the public key goes (default `<field>_public`).
        public_key_field: String,
        /// The key's comment (in both halves).
        comment: String,
    },
}

impl Kind {
    /// How many bits of randomness a value carries (a password's is
    /// estimated as its length times log2 of its alphabet, a little high
    /// when each type is required).
    pub fn entropy_bits(&self) -> f64 {
        match self {
            Kind::Password { policy, .. } => {
                policy.length as f64 * (policy.alphabet().len().max(1) as f64).log2()
            }
            Kind::Bytes { length, .. } => *length as f64 * 8.0,
            Kind::Uuid => 122.0,
            Kind::SshEd25519 { .. } => 256.0,
            Kind::PemKeyPair { .. } => 256.0,
        }
    }

    /// The type's name, as entries write it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Password { .. } => "password",
            Kind::Bytes { .. } => "bytes",
            Kind::Uuid => "uuid",
            Kind::SshEd25519 { .. } => "ssh-ed25519",
            Kind::PemKeyPair {
                algorithm: KeyAlgorithm::Ed25519,
                ..
            } => "ed25519",
            Kind::PemKeyPair {
                algorithm: KeyAlgorithm::EcdsaP256,
                ..
            } => "ecdsa-p256",
        }
    }

    /// The field a key pair's public half goes in.
    pub fn public_key_field(&self) -> Option<&str> {
        match self {
            Kind::SshEd25519 {
                public_key_field, ..
            }
            | Kind::PemKeyPair {
                public_key_field, ..
            } => Some(public_key_field),
            _ => None,
        }
    }
}

/// One entry of the description: a field and what it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// The secret's field the value goes in.
    pub field: String,
    /// What is generated.
    pub kind: Kind,
}

impl FieldSpec {
    /// Every field this entry writes (a key pair writes two).
    pub fn fields(&self) -> Vec<&str> {
        let mut fields = vec![self.field.as_str()];
        fields.extend(self.kind.public_key_field());
        fields
    }
}

fn invalid(field: String, reason: impl Into<String>) -> BackendError {
    BackendError::field(field, reason)
}

/// Reads the `rotation` object. `defaults` is the function's password
/// policy (its environment variables), which `password` entries refine.
pub fn parse(rotation: &Value, defaults: &PasswordPolicy) -> Result<Vec<FieldSpec>, BackendError> {
    let entries = rotation.as_object().ok_or_else(|| {
        invalid(
            ROTATION_FIELD.to_owned(),
            "must be an object naming each field to generate, e.g. {\"api_key\": \"password\"}",
        )
    })?;
    if entries.is_empty() {
        return Err(invalid(
            ROTATION_FIELD.to_owned(),
            "names no field: nothing would change",
        ));
    }
    let mut specs = Vec::with_capacity(entries.len());
    for (field, entry) in entries {
        specs.push(parse_entry(field, entry, defaults)?);
    }
    // Every field written once, and never the description itself.
    let mut written: Vec<(&str, &str)> = Vec::new();
    for spec in &specs {
        for field in spec.fields() {
            let path = format!("{ROTATION_FIELD}.{}", spec.field);
            if field == ROTATION_FIELD {
                return Err(invalid(
                    path,
                    "would overwrite the `rotation` description itself",
                ));
            }
            if field.is_empty() {
                return Err(invalid(path, "names an empty field"));
            }
            if let Some((_, other)) = written.iter().find(|(f, _)| *f == field) {
                return Err(invalid(
                    path,
                    format!("writes field `{field}`, which `{ROTATION_FIELD}.{other}` writes too"),
                ));
            }
            written.push((field, spec.field.as_str()));
        }
    }
    Ok(specs)
}

/// The options each type takes.
fn options_of(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "password" => &[
            "length",
            "exclude_characters",
            "exclude_numbers",
            "exclude_punctuation",
            "exclude_uppercase",
            "exclude_lowercase",
            "include_space",
            "require_each_included_type",
            "prefix",
        ],
        "bytes" => &["length", "encoding", "prefix"],
        "ssh-ed25519" => &["public_key_field", "comment"],
        "ed25519" | "ecdsa-p256" => &["public_key_field"],
        _ => &[],
    }
}

fn parse_entry(
    field: &str,
    entry: &Value,
    defaults: &PasswordPolicy,
) -> Result<FieldSpec, BackendError> {
    let path = format!("{ROTATION_FIELD}.{field}");
    let empty = Map::new();
    let (type_name, options) = match entry {
        Value::String(name) => (name.as_str(), &empty),
        Value::Object(options) => match options.get("type") {
            Some(Value::String(name)) => (name.as_str(), options),
            Some(_) => return Err(invalid(format!("{path}.type"), "must be a string")),
            None => {
                return Err(invalid(
                    format!("{path}.type"),
                    format!("is missing (one of {})", TYPES.join(", ")),
                ))
            }
        },
        _ => {
            return Err(invalid(
                path,
                format!(
                    "must be a type name or an object with a `type` (one of {})",
                    TYPES.join(", ")
                ),
            ))
        }
    };
    if !TYPES.contains(&type_name) {
        return Err(invalid(
            if entry.is_object() {
                format!("{path}.type")
            } else {
                path
            },
            format!(
                "is {type_name:?}, not a known type (one of {})",
                TYPES.join(", ")
            ),
        ));
    }
    let allowed = options_of(type_name);
    for key in options.keys().filter(|k| *k != "type") {
        if !allowed.contains(&key.as_str()) {
            let known = if allowed.is_empty() {
                "it takes none".to_owned()
            } else {
                format!("options: {}", allowed.join(", "))
            };
            return Err(invalid(
                format!("{path}.{key}"),
                format!("is not an option of type {type_name} ({known})"),
            ));
        }
    }
    let opts = Options {
        path: &path,
        options,
    };
    let kind = match type_name {
        "password" => {
            let mut policy = defaults.clone();
            if let Some(length) = opts.length(1, password::MAX_LENGTH)? {
                policy.length = length;
            }
            if let Some(exclude) = opts.string("exclude_characters", usize::MAX)? {
                policy.exclude_characters = exclude;
            }
            for (name, flag) in [
                ("exclude_numbers", &mut policy.exclude_numbers),
                ("exclude_punctuation", &mut policy.exclude_punctuation),
                ("exclude_uppercase", &mut policy.exclude_uppercase),
                ("exclude_lowercase", &mut policy.exclude_lowercase),
                ("include_space", &mut policy.include_space),
                (
                    "require_each_included_type",
                    &mut policy.require_each_included_type,
                ),
            ] {
                if let Some(value) = opts.boolean(name)? {
                    *flag = value;
                }
            }
            policy.validate().map_err(|e| {
                invalid(
                    path.clone(),
                    format!("its password policy cannot work: {e}"),
                )
            })?;
            Kind::Password {
                policy,
                prefix: opts.string("prefix", MAX_PREFIX)?.unwrap_or_default(),
            }
        }
        "bytes" => {
            let encoding = match opts.string("encoding", 32)? {
                None => Encoding::Base64,
                Some(name) => Encoding::ALL
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, e)| *e)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Encoding::ALL.iter().map(|(n, _)| *n).collect();
                        invalid(
                            format!("{path}.encoding"),
                            format!("is {name:?}, not one of {}", names.join(", ")),
                        )
                    })?,
            };
            Kind::Bytes {
                length: opts.length(1, MAX_BYTES)?.unwrap_or(DEFAULT_BYTES),
                encoding,
                prefix: opts.string("prefix", MAX_PREFIX)?.unwrap_or_default(),
            }
        }
        "uuid" => Kind::Uuid,
        "ed25519" | "ecdsa-p256" => Kind::PemKeyPair {
            algorithm: if type_name == "ed25519" {
                KeyAlgorithm::Ed25519
            } else {
                KeyAlgorithm::EcdsaP256
            },
            public_key_field: opts
                .string("public_key_field", 256)?
                .unwrap_or_else(|| format!("{field}_public")),
        },
        _ => Kind::SshEd25519 {
            public_key_field: opts
                .string("public_key_field", 256)?
                .unwrap_or_else(|| format!("{field}_public")),
            comment: opts.string("comment", MAX_COMMENT)?.unwrap_or_default(),
        },
    };
    Ok(FieldSpec {
        field: field.to_owned(),
        kind,
    })
}

/// An entry's options, read with errors that name the option.
struct Options<'a> {
    path: &'a str,
    options: &'a Map<String, Value>,
}

impl Options<'_> {
    fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn length(&self, min: usize, max: usize) -> Result<Option<usize>, BackendError> {
        let Some(value) = self.options.get("length") else {
            return Ok(None);
        };
        match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(
                self.name("length"),
                format!("must be a whole number from {min} to {max}, not {value}"),
            )),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, BackendError> {
        match self.options.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(invalid(
                self.name(key),
                format!("must be true or false, not {other}"),
            )),
        }
    }

    fn string(&self, key: &str, max: usize) -> Result<Option<String>, BackendError> {
        match self.options.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.contains('\0') => {
                Err(invalid(self.name(key), "contains a NUL character"))
            }
            Some(Value::String(s)) if s.len() > max => Err(invalid(
                self.name(key),
                format!("is {} bytes, over the limit of {max}", s.len()),
            )),
            Some(Value::String(s)) if key == "comment" && s.contains(['\n', '\r']) => {
                Err(invalid(self.name(key), "must be one line"))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(self.name(key), "must be a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(rotation: Value) -> String {
        parse(&rotation, &PasswordPolicy::default())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_type_name_alone_takes_the_defaults() {
        let defaults = PasswordPolicy {
            length: 20,
            ..PasswordPolicy::default()
        };
        let specs = parse(
            &json!({"a": "password", "b": "bytes", "c": "uuid", "d": "ssh-ed25519", "e": "ecdsa-p256"}),
            &defaults,
        )
        .unwrap();
        assert_eq!(
            specs[0].kind,
            Kind::Password {
                policy: defaults,
                prefix: String::new()
            }
        );
        assert_eq!(
            specs[1].kind,
            Kind::Bytes {
                length: DEFAULT_BYTES,
                encoding: Encoding::Base64,
                prefix: String::new()
            }
        );
        assert_eq!(specs[2].kind, Kind::Uuid);
        assert_eq!(
            specs[3].kind,
            Kind::SshEd25519 {
                public_key_field: "d_public".into(),
                comment: String::new()
            }
        );
        assert_eq!(specs[3].fields(), vec!["d", "d_public"]);
        assert_eq!(
            specs[4].kind,
            Kind::PemKeyPair {
                algorithm: KeyAlgorithm::EcdsaP256,
                public_key_field: "e_public".into()
            }
        );
    }

    #[test]
    fn options_refine_the_function_policy() {
        let specs = parse(
            &json!({"token": {"type": "password", "length": 12, "exclude_punctuation": true, "prefix": "tk_"}}),
            &PasswordPolicy::default(),
        )
        .unwrap();
        let Kind::Password { policy, prefix } = &specs[0].kind else {
            panic!("a password")
        };
        assert_eq!(policy.length, 12);
        assert!(policy.exclude_punctuation);
        assert!(!policy.exclude_numbers);
        assert_eq!(prefix, "tk_");
    }

    #[test]
    fn every_mistake_is_refused_naming_the_field() {
        for (rotation, expected) in [
            (json!("password"), "field `rotation` must be an object"),
            (json!({}), "field `rotation` names no field"),
            (json!({"k": "rsa"}), "field `rotation.k` is \"rsa\", not a known type"),
            (json!({"k": {"type": "rsa"}}), "field `rotation.k.type` is \"rsa\""),
            (json!({"k": {"length": 3}}), "field `rotation.k.type` is missing"),
            (json!({"k": 7}), "field `rotation.k` must be a type name"),
            (json!({"k": {"type": "bytes", "length": 0}}), "field `rotation.k.length` must be a whole number from 1 to 4096"),
            (json!({"k": {"type": "bytes", "length": 4097}}), "from 1 to 4096"),
            (json!({"k": {"type": "bytes", "length": "32"}}), "field `rotation.k.length`"),
            (json!({"k": {"type": "bytes", "length": 1.5}}), "field `rotation.k.length`"),
            (json!({"k": {"type": "password", "length": 0}}), "field `rotation.k.length`"),
            (json!({"k": {"type": "bytes", "lenght": 16}}), "field `rotation.k.lenght` is not an option of type bytes (options: length, encoding, prefix)"),
            (json!({"k": {"type": "uuid", "length": 16}}), "it takes none"),
            (json!({"k": {"type": "bytes", "encoding": "base32"}}), "field `rotation.k.encoding` is \"base32\", not one of hex, base64, base64url"),
            (json!({"k": {"type": "password", "exclude_numbers": "yes"}}), "field `rotation.k.exclude_numbers` must be true or false"),
            (json!({"k": {"type": "password", "exclude_lowercase": true, "exclude_uppercase": true, "exclude_numbers": true, "exclude_punctuation": true}}), "field `rotation.k` its password policy cannot work"),
            (json!({"rotation": "password"}), "field `rotation.rotation` would overwrite"),
            (json!({"k": {"type": "ssh-ed25519", "public_key_field": "rotation"}}), "would overwrite"),
            (json!({"k": "uuid", "j": {"type": "ssh-ed25519", "public_key_field": "k"}}), "writes field `k`, which `rotation.j` writes too"),
            (json!({"k": {"type": "ssh-ed25519", "public_key_field": "k"}}), "writes field `k`"),
            (json!({"k": {"type": "ssh-ed25519", "comment": "a\nb"}}), "must be one line"),
            (json!({"k": {"type": "bytes", "prefix": "x".repeat(65)}}), "over the limit of 64"),
            (json!({"k": {"type": "bytes", "prefix": "a\u{0}"}}), "contains a NUL"),
        ] {
            let message = error(rotation.clone());
            assert!(message.contains(expected), "{rotation}: {message}");
        }
    }
}
