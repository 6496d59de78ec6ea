//! The test kit: the local world the tests and the demo run in (DESIGN §5).
//!
//! * [`postgres::EphemeralPostgres`]: `initdb` + `postgres` on a free port,
//!   scram-sha-256, TLS from a CA made at start ([`certs::TestCa`]).
//! * [`mariadb::EphemeralMariaDb`]: `mariadb-install-db` + `mariadbd`,
//!   password authentication only, TLS from the same kind of CA.
//! * [`emulator::Emulator`]: moto server through the project's launcher, which
//!   forwards rotation invocations to the function's Invoke endpoint.
//! * [`lambda::LocalLambda`]: `cargo lambda watch --only-lambda-apis` with the
//!   real function binary behind it.
//! * [`world::World`]: all three, for one test.
//!
//! A missing part is a failure that says how to get it, never a skip.

pub mod certs;
pub mod conformance;
pub mod database;
pub mod emulator;
pub mod faults;
pub mod lambda;
pub mod mariadb;
pub mod postgres;
pub mod tools;
pub mod world;

pub use database::TestDatabase;
pub use world::{MariaDbWorld, PostgresWorld, World};

/// Every password-looking string of `secrets` that appears in `text`, for
/// leak checks (empty when nothing leaked).
pub fn leaked<'a>(text: &str, secrets: &[&'a str]) -> Vec<&'a str> {
    secrets
        .iter()
        .copied()
        .filter(|s| !s.is_empty() && text.contains(*s))
        .collect()
}
