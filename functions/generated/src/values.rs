//! Making a field's value, and checking a stored value against its entry.
//! Everything random comes from the caller's CSPRNG (the operating
//! system's in the function, a seeded one in property tests).

use crate::description::{Encoding, KeyAlgorithm, Kind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use pkcs8::PrivateKeyInfo;
use rand::CryptoRng;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING, ED25519,
};
use secrecy::ExposeSecret;
use spki::der::asn1::{AnyRef, BitStringRef, OctetStringRef};
use spki::der::{pem, Encode as _, EncodePem as _};
use spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};
use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData};
use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::{LineEnding, PrivateKey, PublicKey};
use zeroize::{Zeroize, Zeroizing};

/// A generated value: one string, or a key pair's two halves.
pub enum Generated {
    /// The field's new value.
    One(Zeroizing<String>),
    /// A key pair: the private half for the field, the public half for its
    /// public-key field.
    KeyPair {
        /// The private key (OpenSSH format).
        private: Zeroizing<String>,
        /// The public key (`authorized_keys` format).
        public: String,
    },
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Generated([redacted])")
    }
}

/// Why a value could not be made, or does not match its entry. Never holds
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn mismatch(reason: impl Into<String>) -> ValueError {
    ValueError(reason.into())
}

/// Makes a new value of `kind` from `rng`.
pub fn generate<R: CryptoRng + ?Sized>(kind: &Kind, rng: &mut R) -> Result<Generated, ValueError> {
    match kind {
        Kind::Password { policy, prefix } => {
            let random = policy
                .generate_with(rng)
                .map_err(|e| mismatch(format!("its password policy cannot work: {e}")))?;
            Ok(Generated::One(Zeroizing::new(format!(
                "{prefix}{}",
                random.expose_secret()
            ))))
        }
        Kind::Bytes {
            length,
            encoding,
            prefix,
        } => {
            let mut bytes = Zeroizing::new(vec![0u8; *length]);
            rng.fill_bytes(&mut bytes);
            let encoded = Zeroizing::new(encode(&bytes, *encoding));
            Ok(Generated::One(Zeroizing::new(format!(
                "{prefix}{}",
                *encoded
            ))))
        }
        Kind::Uuid => {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
            bytes.zeroize();
            Ok(Generated::One(Zeroizing::new(
                uuid.hyphenated().to_string(),
            )))
        }
        Kind::PemKeyPair { algorithm, .. } => pem_key_pair(*algorithm, rng),
        Kind::SshEd25519 { comment, .. } => {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut());
            let public = public_half(&seed)?;
            let keypair = Ed25519Keypair {
                public: Ed25519PublicKey(public),
                private: Ed25519PrivateKey::from_bytes(&seed),
            };
            let private = PrivateKey::new(KeypairData::Ed25519(keypair), comment.as_str())
                .map_err(|e| mismatch(format!("could not encode the key pair: {e}")))?;
            let private_text = private
                .to_openssh(LineEnding::LF)
                .map_err(|e| mismatch(format!("could not encode the private key: {e}")))?;
            let public_text = private
                .public_key()
                .to_openssh()
                .map_err(|e| mismatch(format!("could not encode the public key: {e}")))?;
            Ok(Generated::KeyPair {
                private: Zeroizing::new(private_text.to_string()),
                public: public_text,
            })
        }
    }
}

/// The Ed25519 public key of a 32-byte seed (RFC 8032), by ring.
fn public_half(seed: &[u8; 32]) -> Result<[u8; 32], ValueError> {
    let pair = Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|_| mismatch("the private key's seed is not a valid Ed25519 key"))?;
    pair.public_key()
        .as_ref()
        .try_into()
        .map_err(|_| mismatch("the Ed25519 public key is not 32 bytes"))
}

/// The SubjectPublicKeyInfo algorithm of a key: Ed25519 (RFC 8410), or
/// id-ecPublicKey on prime256v1 (RFC 5480).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A new key pair as PEM: `PRIVATE KEY` (PKCS#8 v1, RFC 5208/8410, which
/// every library reads; ring's own Ed25519 document is v2, which Python's
/// `cryptography` refuses) and `PUBLIC KEY`. An Ed25519 seed comes from
/// `rng`; a P-256 key from ring's generator, which draws from the operating
/// system's CSPRNG itself.
fn pem_key_pair<R: CryptoRng + ?Sized>(
    algorithm: KeyAlgorithm,
    rng: &mut R,
) -> Result<Generated, ValueError> {
    let pkcs8: Zeroizing<Vec<u8>> = match algorithm {
        KeyAlgorithm::Ed25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut());
            // RFC 8410: the private key is an OCTET STRING holding the seed.
            let inner = Zeroizing::new(
                OctetStringRef::new(seed.as_ref())
                    .and_then(|octets| octets.to_der())
                    .map_err(|e| mismatch(format!("could not encode the private key: {e}")))?,
            );
            let info = PrivateKeyInfo::new(algorithm_identifier(algorithm), &inner);
            Zeroizing::new(
                info.to_der()
                    .map_err(|e| mismatch(format!("could not encode the private key: {e}")))?,
            )
        }
        KeyAlgorithm::EcdsaP256 => Zeroizing::new(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| mismatch("the operating system's random source failed"))?
                .as_ref()
                .to_vec(),
        ),
    };
    let public = public_of_pkcs8(algorithm, &pkcs8)?;
    let private = pem::encode_string("PRIVATE KEY", pem::LineEnding::LF, &pkcs8)
        .map_err(|e| mismatch(format!("could not write the private key as PEM: {e}")))?;
    Ok(Generated::KeyPair {
        private: Zeroizing::new(private),
        public: spki_pem(algorithm, &public)?,
    })
}

/// The public key (raw: 32 bytes, or the 65-byte uncompressed point) of a
/// PKCS#8 document, which ring checks in full.
fn public_of_pkcs8(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<Vec<u8>, ValueError> {
    let refused = |_| mismatch("the private key is not a valid PKCS#8 key of its type");
    Ok(match algorithm {
        KeyAlgorithm::Ed25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(refused)?
            .public_key()
            .as_ref()
            .to_vec(),
        KeyAlgorithm::EcdsaP256 => {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &SystemRandom::new())
                .map_err(refused)?
                .public_key()
                .as_ref()
                .to_vec()
        }
    })
}

/// A raw public key as SubjectPublicKeyInfo PEM.
fn spki_pem(algorithm: KeyAlgorithm, public: &[u8]) -> Result<String, ValueError> {
    let info = SubjectPublicKeyInfoRef {
        algorithm: algorithm_identifier(algorithm),
        subject_public_key: BitStringRef::from_bytes(public)
            .map_err(|e| mismatch(format!("could not encode the public key: {e}")))?,
    };
    info.to_pem(pem::LineEnding::LF)
        .map_err(|e| mismatch(format!("could not write the public key as PEM: {e}")))
}

fn algorithm_identifier(algorithm: KeyAlgorithm) -> AlgorithmIdentifierRef<'static> {
    match algorithm {
        KeyAlgorithm::Ed25519 => AlgorithmIdentifierRef {
            oid: ED25519_OID,
            parameters: None,
        },
        KeyAlgorithm::EcdsaP256 => AlgorithmIdentifierRef {
            oid: EC_PUBLIC_KEY_OID,
            parameters: Some(AnyRef::from(&P256_OID)),
        },
    }
}

/// The private PEM is a valid PKCS#8 key of the algorithm, the public PEM a
/// SubjectPublicKeyInfo of the same key, and a signature by one verifies
/// with the other.
fn check_pem_key_pair(
    algorithm: KeyAlgorithm,
    private: &str,
    public: Option<&str>,
) -> Result<(), ValueError> {
    let (label, pkcs8) =
        pem::decode_vec(private.as_bytes()).map_err(|_| mismatch("it is not a PEM private key"))?;
    let pkcs8 = Zeroizing::new(pkcs8);
    if label != "PRIVATE KEY" {
        return Err(mismatch(format!(
            "its PEM label is {label:?}, not \"PRIVATE KEY\" (PKCS#8)"
        )));
    }
    let key = public_of_pkcs8(algorithm, &pkcs8)?;
    let public = public.ok_or_else(|| mismatch("its public key field is missing"))?;
    let (label, der) =
        pem::decode_vec(public.as_bytes()).map_err(|_| mismatch("its public key is not PEM"))?;
    if label != "PUBLIC KEY" {
        return Err(mismatch(format!(
            "its public key's PEM label is {label:?}, not \"PUBLIC KEY\""
        )));
    }
    let info = SubjectPublicKeyInfoRef::try_from(der.as_slice())
        .map_err(|_| mismatch("its public key is not a SubjectPublicKeyInfo"))?;
    if info.algorithm != algorithm_identifier(algorithm) {
        return Err(mismatch("its public key is of another algorithm"));
    }
    if info.subject_public_key.as_bytes() != Some(key.as_slice()) {
        return Err(mismatch("the public key is not the private key's"));
    }
    let message = b"rotate-generated key pair check";
    let (signature, verification): (Vec<u8>, &dyn ring::signature::VerificationAlgorithm) =
        match algorithm {
            KeyAlgorithm::Ed25519 => (
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                    .map_err(|_| mismatch("the private key cannot sign"))?
                    .sign(message)
                    .as_ref()
                    .to_vec(),
                &ED25519,
            ),
            KeyAlgorithm::EcdsaP256 => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
                    .map_err(|_| mismatch("the private key cannot sign"))?;
                (
                    pair.sign(&rng, message)
                        .map_err(|_| mismatch("the private key cannot sign"))?
                        .as_ref()
                        .to_vec(),
                    &ECDSA_P256_SHA256_ASN1,
                )
            }
        };
    UnparsedPublicKey::new(verification, &key)
        .verify(message, &signature)
        .map_err(|_| mismatch("a signature by the private key does not verify with the public key"))
}

/// Writes `bytes` in `encoding`.
pub fn encode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => STANDARD.encode(bytes),
        Encoding::Base64Url => URL_SAFE_NO_PAD.encode(bytes),
    }
}

/// Reads `text` in `encoding`; `None` when it is not valid in it.
pub fn decode(text: &str, encoding: Encoding) -> Option<Zeroizing<Vec<u8>>> {
    let decoded = match encoding {
        // Only the lower case this function writes.
        Encoding::Hex if text.chars().any(|c| c.is_ascii_uppercase()) => return None,
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => STANDARD.decode(text).ok(),
        Encoding::Base64Url => URL_SAFE_NO_PAD.decode(text).ok(),
    };
    decoded.map(Zeroizing::new)
}

/// Checks a stored value against its entry. For a key pair, `public` is the
/// value of its public-key field.
pub fn check(kind: &Kind, value: &str, public: Option<&str>) -> Result<(), ValueError> {
    match kind {
        Kind::Password { policy, prefix } => {
            let random = value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| mismatch("it does not start with its prefix"))?;
            policy.check(random).map_err(|e| mismatch(e.to_string()))
        }
        Kind::Bytes {
            length,
            encoding,
            prefix,
        } => {
            let encoded = value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| mismatch("it does not start with its prefix"))?;
            let bytes = decode(encoded, *encoding)
                .ok_or_else(|| mismatch(format!("it is not valid {}", encoding_name(*encoding))))?;
            if bytes.len() != *length {
                return Err(mismatch(format!(
                    "it holds {} bytes where the description asks for {length}",
                    bytes.len()
                )));
            }
            Ok(())
        }
        Kind::Uuid => {
            let uuid = uuid::Uuid::try_parse(value).map_err(|_| mismatch("it is not a UUID"))?;
            if uuid.get_version_num() != 4 || uuid.get_variant() != uuid::Variant::RFC4122 {
                return Err(mismatch("it is not a random (version 4) UUID"));
            }
            if uuid.hyphenated().to_string() != value {
                return Err(mismatch("it is not written in hyphenated lower case"));
            }
            Ok(())
        }
        Kind::SshEd25519 { .. } => check_key_pair(value, public),
        Kind::PemKeyPair { algorithm, .. } => check_pem_key_pair(*algorithm, value, public),
    }
}

fn encoding_name(encoding: Encoding) -> &'static str {
    Encoding::ALL
        .iter()
        .find(|(_, e)| *e == encoding)
        .map_or("text", |(name, _)| name)
}

/// The private half parses (OpenSSH, Ed25519, unencrypted), the public half
/// parses, both are the same key, and a signature by the private half
/// verifies with the public one.
fn check_key_pair(private: &str, public: Option<&str>) -> Result<(), ValueError> {
    let private = PrivateKey::from_openssh(private)
        .map_err(|_| mismatch("it is not an OpenSSH private key"))?;
    if private.is_encrypted() {
        return Err(mismatch("the private key is encrypted"));
    }
    let KeypairData::Ed25519(pair) = private.key_data() else {
        return Err(mismatch("the private key is not an Ed25519 key"));
    };
    let seed = Zeroizing::new(pair.private.to_bytes());
    if public_half(&seed)? != pair.public.0 {
        return Err(mismatch(
            "the private key's public part is not the key of its seed",
        ));
    }
    let public = public.ok_or_else(|| mismatch("its public key field is missing"))?;
    let public = PublicKey::from_openssh(public)
        .map_err(|_| mismatch("its public key is not in OpenSSH authorized_keys format"))?;
    let KeyData::Ed25519(public) = public.key_data() else {
        return Err(mismatch("its public key is not an Ed25519 key"));
    };
    if public.0 != pair.public.0 {
        return Err(mismatch("the public key is not the private key's"));
    }
    let signer = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
        .map_err(|_| mismatch("the private key's seed is not a valid Ed25519 key"))?;
    let message = b"rotate-generated key pair check";
    UnparsedPublicKey::new(&ED25519, public.0)
        .verify(message, signer.sign(message).as_ref())
        .map_err(|_| mismatch("a signature by the private key does not verify with the public key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use password::PasswordPolicy;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    fn one(generated: Generated) -> String {
        match generated {
            Generated::One(value) => value.to_string(),
            Generated::KeyPair { .. } => panic!("one value expected"),
        }
    }

    fn encodings() -> impl Strategy<Value = Encoding> {
        prop_oneof![
            Just(Encoding::Hex),
            Just(Encoding::Base64),
            Just(Encoding::Base64Url)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every password has its prefix and passes its own check.
        #[test]
        fn passwords_match_their_entry(seed: u64, length in 4usize..200, prefix in "[a-z_]{0,8}", exclude_punctuation: bool) {
            let kind = Kind::Password {
                policy: PasswordPolicy { length, exclude_punctuation, ..PasswordPolicy::default() },
                prefix: prefix.clone(),
            };
            let value = one(generate(&kind, &mut rng(seed)).unwrap());
            prop_assert!(value.starts_with(&prefix));
            prop_assert_eq!(value.chars().count(), prefix.len() + length);
            prop_assert_eq!(check(&kind, &value, None), Ok(()));
        }

        /// Random bytes decode back to their length, and one byte more or
        /// less is refused.
        #[test]
        fn bytes_match_their_entry(seed: u64, length in 1usize..512, encoding in encodings(), prefix in "[a-z_]{0,8}") {
            let kind = Kind::Bytes { length, encoding, prefix: prefix.clone() };
            let value = one(generate(&kind, &mut rng(seed)).unwrap());
            prop_assert_eq!(check(&kind, &value, None), Ok(()));
            let encoded = value.strip_prefix(prefix.as_str()).unwrap();
            prop_assert_eq!(decode(encoded, encoding).unwrap().len(), length);
            if encoding == Encoding::Base64Url {
                prop_assert!(!encoded.contains(['+', '/', '=']));
            }
            let longer = Kind::Bytes { length: length + 1, encoding, prefix };
            prop_assert!(check(&longer, &value, None).is_err());
        }

        /// UUIDs are version 4, RFC 4122 variant, hyphenated lower case.
        #[test]
        fn uuids_are_version_4(seed: u64) {
            let value = one(generate(&Kind::Uuid, &mut rng(seed)).unwrap());
            prop_assert_eq!(check(&Kind::Uuid, &value, None), Ok(()));
            let uuid = uuid::Uuid::parse_str(&value).unwrap();
            prop_assert_eq!(uuid.get_version_num(), 4);
        }

        /// Key pairs: both halves parse, match, and carry the comment.
        #[test]
        fn key_pairs_halves_match(seed: u64, comment in "[a-z@.]{0,20}") {
            let kind = Kind::SshEd25519 { public_key_field: "k_public".into(), comment: comment.clone() };
            let Generated::KeyPair { private, public } = generate(&kind, &mut rng(seed)).unwrap() else {
                panic!("a key pair");
            };
            prop_assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
            prop_assert!(public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"));
            let parsed = PublicKey::from_openssh(&public).unwrap();
            prop_assert_eq!(parsed.comment(), comment.as_str());
            prop_assert_eq!(check(&kind, &private, Some(&public)), Ok(()));
            // Another pair's public half is refused.
            let Generated::KeyPair { public: other, .. } = generate(&kind, &mut rng(seed.wrapping_add(1))).unwrap() else {
                panic!("a key pair");
            };
            prop_assert!(check(&kind, &private, Some(&other)).is_err());
        }

        /// PEM key pairs: PKCS#8 and SubjectPublicKeyInfo of one key; another
        /// pair's public half is refused.
        #[test]
        fn pem_key_pairs_halves_match(ed25519: bool, seed: u64) {
            let algorithm = if ed25519 { KeyAlgorithm::Ed25519 } else { KeyAlgorithm::EcdsaP256 };
            let kind = Kind::PemKeyPair { algorithm, public_key_field: "k_public".into() };
            let pair = |kind: &Kind, seed: u64| match generate(kind, &mut rng(seed)).unwrap() {
                Generated::KeyPair { private, public } => (private, public),
                Generated::One(_) => panic!("a key pair"),
            };
            let (private, public) = pair(&kind, seed);
            prop_assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            prop_assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
            prop_assert_eq!(check(&kind, &private, Some(&public)), Ok(()));
            let (_, other) = pair(&kind, seed.wrapping_add(1));
            prop_assert!(check(&kind, &private, Some(&other)).is_err());
            // The other algorithm's check refuses it.
            let swapped = Kind::PemKeyPair {
                algorithm: if ed25519 { KeyAlgorithm::EcdsaP256 } else { KeyAlgorithm::Ed25519 },
                public_key_field: "k_public".into(),
            };
            prop_assert!(check(&swapped, &private, Some(&public)).is_err());
        }

        /// Two draws never repeat (256 bits of randomness and more).
        #[test]
        fn draws_differ(seed: u64) {
            let kind = Kind::Bytes { length: 32, encoding: Encoding::Hex, prefix: String::new() };
            let mut rng = rng(seed);
            let first = one(generate(&kind, &mut rng).unwrap());
            let second = one(generate(&kind, &mut rng).unwrap());
            prop_assert_ne!(first, second);
        }
    }

    #[test]
    fn mismatches_say_what_is_wrong_without_the_value() {
        let bytes = Kind::Bytes {
            length: 4,
            encoding: Encoding::Hex,
            prefix: "k_".into(),
        };
        for (value, expected) in [
            ("x_deadbeef", "prefix"),
            ("k_DEADBEEF", "not valid hex"),
            ("k_deadbe", "holds 3 bytes where the description asks for 4"),
            ("k_zz", "not valid hex"),
        ] {
            let message = check(&bytes, value, None).unwrap_err().to_string();
            assert!(message.contains(expected), "{value}: {message}");
            assert!(!message.contains(value), "{message}");
        }
        let v1 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        assert!(check(&Kind::Uuid, v1, None)
            .unwrap_err()
            .0
            .contains("version 4"));
        assert!(check(&Kind::Uuid, "not-a-uuid", None).is_err());
        let upper = "F47AC10B-58CC-4372-A567-0E02B2C3D479";
        assert!(check(&Kind::Uuid, upper, None)
            .unwrap_err()
            .0
            .contains("lower case"));
        let pair = Kind::SshEd25519 {
            public_key_field: "p".into(),
            comment: String::new(),
        };
        assert!(
            check(&pair, "-----BEGIN OPENSSH PRIVATE KEY-----\nnope", None)
                .unwrap_err()
                .0
                .contains("not an OpenSSH private key")
        );
    }

    #[test]
    fn a_generated_value_never_shows_in_debug() {
        let kind = Kind::Bytes {
            length: 16,
            encoding: Encoding::Hex,
            prefix: String::new(),
        };
        let generated = generate(&kind, &mut rng(7)).unwrap();
        let Generated::One(value) = &generated else {
            panic!("one value")
        };
        assert!(!format!("{generated:?}").contains(value.as_str()));
    }
}
