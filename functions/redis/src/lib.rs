//! Secrets Manager rotation for Redis and Valkey ACL users (engines `redis`
//! and `valkey`).
//!
//! The secret format, TLS settings, password policy, timeouts, the admin
//! secret (`masterarn`) and the single-user flow are the `database`
//! crate's; this crate says how to log in to every node
//! ([`connect`], [`nodes`]) and how a user's passwords change
//! ([`backend::RedisEngine`]): exactly the current and the pending one, as
//! SHA-256 hashes, on every node, saved with `ACL SAVE` (or `CONFIG
//! REWRITE`).

pub mod backend;
pub mod connect;
pub mod nodes;

pub use backend::{
    backend_from_env, RedisBackend, RedisEngine, DEFAULT_EXCLUDE_CHARACTERS,
    DISCARD_OLD_PASSWORD_VAR,
};
