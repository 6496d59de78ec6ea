//! Secrets Manager rotation for PostgreSQL (`postgres`, `aurora-postgresql`).
//!
//! Single-user rotation: the user changes its own password. Alternating users
//! (a secret with `masterarn`): the admin credential sets the password of the
//! other user of the pair `name`/`name_clone`, cloning the current user when
//! the other is missing. The new password
//! reaches the server only as a SCRAM-SHA-256 verifier computed here, so no
//! server log or statistics view can hold it. TLS with a verified certificate
//! is the default and never silently falls back to plaintext. The secret
//! format, TLS settings and rotation flows are the `database` crate's.

pub mod backend;
pub mod clone;
pub mod connect;
pub mod scram;

pub use backend::{backend_from_env, PostgresBackend, PostgresEngine, DEFAULT_EXCLUDE_CHARACTERS};
