//! Secrets Manager rotation for Redis and Valkey users: ACL users on
//! servers the team runs (engines `redis` and `valkey`), and ElastiCache
//! RBAC users through the ElastiCache API. One function serves both;
//! [`function::RedisFunction`] tells them apart by the secret (`user_arn`).
//!
//! ACL users: the secret format, TLS settings, password policy, timeouts,
//! the admin secret (`masterarn`) and the single-user flow are the
//! `database` crate's; this crate says how to log in to every node
//! ([`connect`], [`nodes`]) and how a user's passwords change
//! ([`backend::RedisEngine`]): exactly the current and the pending one, as
//! SHA-256 hashes, on every node, saved with `ACL SAVE` (or `CONFIG
//! REWRITE`).

pub mod backend;
pub mod connect;
pub mod elasticache;
pub mod function;
pub mod nodes;

pub use backend::{
    RedisBackend, RedisEngine, DEFAULT_EXCLUDE_CHARACTERS, DISCARD_OLD_PASSWORD_VAR,
};
pub use function::{backend_from_env, RedisFunction, RedisSecret};
