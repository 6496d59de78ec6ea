//! Secrets Manager rotation for LDAP directory users (engine `ldap`):
//! OpenLDAP, 389-DS and other RFC directories, and Active Directory over
//! LDAPS or StartTLS.
//!
//! The secret format, TLS settings, password policy, timeouts,
//! `AWSPREVIOUS` recovery and the single-user flow are the `database`
//! crate's; this crate says how to bind ([`connect`]), how a password
//! changes ([`backend::LdapEngine`]), what a DN is ([`dn`]), what is
//! written instead of a plaintext password ([`hash`]) and how a password
//! policy's refusal reads ([`policy`]).

pub mod backend;
pub mod connect;
pub mod dn;
pub mod hash;
pub mod policy;

pub use backend::{backend_from_env, LdapBackend, LdapEngine, DEFAULT_EXCLUDE_CHARACTERS};
pub use hash::{HashScheme, PASSWORD_HASH_VAR};
