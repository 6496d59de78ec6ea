//! Secrets Manager rotation for PostgreSQL (`postgres`, `aurora-postgresql`).
//!
//! Single-user rotation: the user changes its own password. Alternating users
//! (a secret with `masterarn`): the admin credential sets the password of the
//! other user of the pair `name`/`name_clone`, cloning the current user when
//! the other is missing. The new password
//! reaches the server only as a SCRAM-SHA-256 verifier computed here, so no
//! server log or statistics view can hold it. TLS with a verified certificate
//! is the default and never silently falls back to plaintext.

pub mod alternating;
pub mod backend;
pub mod connect;
pub mod rds;
pub mod secret;
pub mod tls;

pub use backend::{PostgresBackend, Strategy, DEFAULT_EXCLUDE_CHARACTERS};
pub use secret::PostgresSecret;
pub use tls::{TlsMode, TlsSettings};
