//! SCRAM-SHA-256 verifiers (RFC 5802 and RFC 7677) in the form PostgreSQL
//! stores them: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
//!
//! postgres-protocol computes the same (`password::scram_sha_256`), but its
//! PBKDF2 keys a new HMAC on every one of the 4096 iterations, hashing four
//! SHA-256 blocks per iteration where two suffice; the `pbkdf2` crate keeps
//! the keyed state. This is most of the CPU a rotation spends on the
//! verifier. A test checks that both give the same verifier for the same
//! salt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use rotation::BackendError;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// PBKDF2 iterations, PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// Salt length in bytes, PostgreSQL's default.
pub const SALT_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The verifier of `password` with a fresh random salt from the operating
/// system's CSPRNG.
pub fn verifier(password: &str) -> Result<Zeroizing<String>, BackendError> {
    let mut salt = [0u8; SALT_LEN];
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut salt);
    verifier_with_salt(password, &salt)
}

fn hmac(key: &[u8], message: &[u8]) -> Result<Zeroizing<Vec<u8>>, BackendError> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .map_err(|e| BackendError::Internal(format!("HMAC key: {e}")))?;
    mac.update(message);
    Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
}

/// The verifier of `password` with `salt`. The password is normalised with
/// SASLprep first, as PostgreSQL and its clients do (kept as it is when it
/// cannot be, as they also do).
pub fn verifier_with_salt(password: &str, salt: &[u8]) -> Result<Zeroizing<String>, BackendError> {
    let prepared: Zeroizing<Vec<u8>> = Zeroizing::new(match stringprep::saslprep(password) {
        Ok(normalised) => normalised.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    });
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2::<HmacSha256>(&prepared, salt, ITERATIONS, &mut *salted)
        .map_err(|e| BackendError::Internal(format!("PBKDF2: {e}")))?;
    let client_key = hmac(&*salted, b"Client Key")?;
    let stored_key = Sha256::digest(&*client_key);
    let server_key = hmac(&*salted, b"Server Key")?;
    Ok(Zeroizing::new(format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(&*server_key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The salt of a verifier in PostgreSQL's form.
    fn salt_of(verifier: &str) -> Vec<u8> {
        let salt = verifier
            .split('$')
            .nth(1)
            .and_then(|s| s.split(':').nth(1))
            .expect("a salt");
        STANDARD.decode(salt).expect("base64")
    }

    #[test]
    fn the_same_verifier_as_postgres_protocol_for_the_same_salt() {
        for password in [
            "pass-Word-1",
            "ünïcödé ☃",
            "a",
            "sp ace\u{00A0}nbsp",
            "x".repeat(200).as_str(),
        ] {
            let theirs = postgres_protocol::password::scram_sha_256(password.as_bytes());
            let ours = verifier_with_salt(password, &salt_of(&theirs)).unwrap();
            assert_eq!(*ours, theirs, "{password:?}");
        }
    }

    #[test]
    fn every_verifier_has_its_own_salt() {
        let a = verifier("same-Password-1").unwrap();
        let b = verifier("same-Password-1").unwrap();
        assert_ne!(*a, *b);
        assert_eq!(salt_of(&a).len(), SALT_LEN);
        assert!(a.starts_with("SCRAM-SHA-256$4096:"), "{}", *a);
    }
}
