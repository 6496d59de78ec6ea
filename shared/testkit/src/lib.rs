//! The test kit: the local world the tests and the demo run in (DESIGN §5).
//!
//! * [`server::TestServer`]: what the conformance suite asks of a backend's
//!   server (create a user, check a login, restart, declare what does not
//!   apply); [`servers`] lists the kit's servers by name and what each
//!   needs installed; [`functions`] discovers the function crates.
//! * [`postgres::EphemeralPostgres`]: `initdb` + `postgres` on a free port,
//!   scram-sha-256, TLS from a CA made at start ([`certs::TestCa`]).
//! * [`mariadb::EphemeralMariaDb`]: `mariadb-install-db` + `mariadbd`,
//!   password authentication only, TLS from the same kind of CA.
//! * [`redis::EphemeralRedis`]: `redis-server` with a TLS port and a
//!   plaintext one, users in an ACL file (or the config file, or memory).
//! * [`emulator::Emulator`]: moto server through the project's launcher, which
//!   forwards rotation invocations to the function's Invoke endpoint.
//! * [`lambda::LocalLambda`]: `cargo lambda watch --only-lambda-apis` with the
//!   real function binary behind it, reaching the runtime API through
//!   `launcher/runtime_proxy.py`, which gives each invocation a real
//!   deadline (cargo lambda sends the constant `600000`) and records when the
//!   function answered.
//! * [`world::World`]: all three, for one test.
//!
//! A missing part is a failure that says how to get it, never a skip.
//!
//! Where the local world differs from AWS, and why, is listed in the
//! launcher's own documentation (`launcher/moto_launcher.py`): the steps run
//! synchronously inside `RotateSecret` and a failing step fails the call
//! (the service runs them asynchronously and retries); overlapping
//! `RotateSecret` calls are not refused early; Lambda's timeout is recorded
//! by the runtime proxy, not enforced. The scenarios in [`semantics`] check
//! the service's documented behaviour that the functions depend on.

pub mod applications;
pub mod certs;
pub mod conformance;
pub mod deploy;
pub mod downtime;
pub mod emf;
pub mod emulator;
pub mod faults;
pub mod functions;
pub mod generated;
pub mod iam_keys;
pub mod lambda;
pub mod ldap;
pub mod mariadb;
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod semantics;
pub mod server;
pub mod servers;
pub mod template;
pub mod tools;
pub mod world;

pub use server::{Durability, Function, LoginRecord, OldPassword, TestServer};
pub use world::{
    GeneratedWorld, IamKeysWorld, LdapWorld, MariaDbWorld, PostgresWorld, RedisWorld, World,
};

/// Every password-looking string of `secrets` that appears in `text`, for
/// leak checks (empty when nothing leaked).
/// One pass over `text` for all of them (Aho-Corasick), so hundreds of
/// passwords can be looked for in hundreds of megabytes of trace logs.
pub fn leaked<'a>(text: &str, secrets: &[&'a str]) -> Vec<&'a str> {
    let patterns: Vec<&'a str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    let Ok(searcher) = aho_corasick::AhoCorasick::new(&patterns) else {
        // Only an absurd pattern set fails to build; fall back to plain search.
        return patterns.into_iter().filter(|s| text.contains(*s)).collect();
    };
    let mut found = vec![false; patterns.len()];
    for hit in searcher.find_overlapping_iter(text) {
        found[hit.pattern().as_usize()] = true;
    }
    patterns
        .into_iter()
        .zip(found)
        .filter_map(|(p, hit)| hit.then_some(p))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_leaked_secret_is_found_once() {
        let text = "log line: abc-Secret-1 then xyzSecret-2xyz and abc-Secret-1 again";
        let found = super::leaked(text, &["abc-Secret-1", "Secret-2", "not-there", ""]);
        assert_eq!(found, vec!["abc-Secret-1", "Secret-2"]);
        // Overlapping secrets are both reported.
        assert_eq!(
            super::leaked("aaSecretbb", &["aaSecret", "Secretbb"]).len(),
            2
        );
    }
}
