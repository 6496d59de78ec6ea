//! Secrets Manager rotation for MySQL and MariaDB (`mysql`, `mariadb`,
//! `aurora-mysql`).
//!
//! Single-user rotation: the user changes its own password with the
//! statement its server supports (MariaDB: `SET PASSWORD` with the
//! `mysql_native_password` hash, so the plaintext never reaches the server;
//! MySQL 5.7.6+: `ALTER USER CURRENT_USER() IDENTIFIED BY`, optionally
//! `RETAIN CURRENT PASSWORD`; older MySQL: `SET PASSWORD = PASSWORD(…)`).
//! Alternating users (a secret with `masterarn`): the admin credential makes
//! the other user of the pair `name`/`name_clone` hold exactly the current
//! user's grants and TLS requirement, then sets its password. TLS with a
//! verified certificate is the default and never silently falls back to
//! plaintext. The secret format, TLS settings and rotation flows are the
//! `database` crate's.

pub mod backend;
pub mod connect;
pub mod grants;
pub mod sql;

pub use backend::{backend_from_env, MySqlBackend, MySqlEngine, DEFAULT_EXCLUDE_CHARACTERS};

/// The length of the clone suffix `_clone`: a clone-name limit must exceed it.
pub const CLONE_SUFFIX_LEN: usize = database::CLONE_SUFFIX.len();
