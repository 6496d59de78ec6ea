//! Secrets Manager rotation for IAM users' access key pairs: for systems
//! that cannot assume a role (third-party services, on-premises jobs, CI
//! outside AWS) and so hold a long-lived key.
//!
//! The secret ([`secret::IamKeySecret`]) names the user and holds one key
//! pair. A rotation creates the user's second key, checks it with STS,
//! moves `AWSCURRENT` to it and then, as `OLD_KEY_ACTION` says, keeps,
//! deactivates or deletes the old one ([`backend`]). Consumers read
//! `AWSCURRENT` and tolerate `AWSPREVIOUS` during the overlap.

pub mod backend;
pub mod secret;

pub use backend::{
    backend_from_env, choose_removable, ConfigError, IamKeysBackend, OldKeyAction, Settings,
    NEW_KEY_WAIT_VAR, OLD_KEY_ACTION_VAR,
};
pub use secret::{IamKeySecret, Naming};

/// No password is generated here (IAM makes the secret key); kept for the
/// test kit's function description, which every function gives.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "";
