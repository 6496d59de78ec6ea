//! End to end: `RotateSecret` on the emulator drives the real `rotate-postgres`
//! binary, behind the local Lambda runtime, against a real PostgreSQL with
//! scram-sha-256 and TLS. The conformance suite, plus what only PostgreSQL has.

use testkit::conformance::password_of;
use testkit::postgres::EphemeralPostgres;
use testkit::PostgresWorld;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-postgres",
    default_exclude: rotate_postgres::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, EphemeralPostgres);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_receives_a_scram_verifier_never_the_password() {
    let world = PostgresWorld::start(FUNCTION).await;
    let secret = world
        .user_with_secret("verifier", "app", "verifier-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");
    let password = password_of(&world.value(&secret, "AWSCURRENT").await);
    let server_log = world.db.log_text();
    assert!(
        server_log.contains("ALTER ROLE \"app\" WITH PASSWORD 'SCRAM-SHA-256$"),
        "statement not logged?"
    );
    assert!(
        !server_log.contains(&password),
        "the new password reached the server log"
    );
}
