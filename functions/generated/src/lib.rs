//! Secrets Manager rotation for secrets that only need a fresh random
//! value, which every consumer reads from Secrets Manager: API keys, HMAC
//! and webhook signing keys, internal tokens, SSH deploy key pairs.
//!
//! One function serves many secrets: what to generate is described in the
//! secret itself ([`description`]), so a new kind of secret needs no new
//! function. A plain-string secret (the format of AWS's rotation template)
//! is rotated as one password under the password policy variables.
//!
//! - createSecret generates every described field ([`values::generate`]),
//!   keeping every other field;
//! - setSecret has nothing to set;
//! - testSecret checks the pending value against its description
//!   ([`values::check`]: it parses, its lengths, a key pair's halves match);
//! - finishSecret moves the labels. Consumers accept `AWSCURRENT` and
//!   `AWSPREVIOUS` during the overlap.

pub mod backend;
pub mod description;
pub mod secret;
pub mod values;

pub use backend::{backend_from_env, GeneratedBackend, DEFAULT_EXCLUDE_CHARACTERS};
pub use description::{Encoding, FieldSpec, Kind, ROTATION_FIELD, TYPES};
pub use secret::GeneratedSecret;
