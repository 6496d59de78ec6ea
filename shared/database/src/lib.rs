//! What every SQL database rotation function shares: the secret format of
//! AWS's database functions ([`DatabaseSecret`]), TLS settings
//! ([`TlsSettings`]), the environment settings ([`DatabaseSettings`]),
//! alternating users' pair names and admin credential (including RDS-managed
//! master secrets), and the single-user and alternating-users flows
//! ([`DatabaseBackend`]) over a small [`Engine`] trait.

pub mod alternating;
pub mod backend;
pub mod rds;
pub mod secret;
pub mod settings;
pub mod tls;

pub use alternating::{NameLimit, NameUnit, CLONE_SUFFIX, MASTER_ARN_FIELD};
pub use backend::{DatabaseBackend, Engine, Need, PrivilegeCheck};
pub use secret::{DatabaseSecret, SecretShape};
pub use settings::{DatabaseSettings, Strategy};
pub use tls::{TlsMode, TlsSettings};
