//! End to end: `RotateSecret` on the emulator drives the real `rotate-mysql`
//! binary, behind the local Lambda runtime, against a real MariaDB with
//! password authentication and TLS. The conformance suite, plus what only
//! MySQL/MariaDB has.

use testkit::conformance::password_of;
use testkit::mariadb::EphemeralMariaDb;
use testkit::MariaDbWorld;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-mysql",
    default_exclude: rotate_mysql::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, EphemeralMariaDb);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_receives_the_password_hash_never_the_password() {
    let world = MariaDbWorld::start(FUNCTION).await;
    let secret = world
        .user_with_secret("hash-only", "app", "hash-Only-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");
    let password = password_of(&world.value(&secret, "AWSCURRENT").await);
    let general_log = std::fs::read_to_string(&world.db.general_log).unwrap();
    assert!(
        general_log.contains("SET PASSWORD = '*"),
        "statement not in the general log?"
    );
    assert!(
        !general_log.contains(&password),
        "the new password reached the server's query log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_server_has_no_anonymous_or_passwordless_accounts() {
    let world = MariaDbWorld::start(FUNCTION).await;
    assert!(!world.db.can_login("", "").await, "anonymous login");
    assert!(
        !world.db.can_login("root", "").await,
        "passwordless root over TCP"
    );
    let rows = world
        .db
        .query("SELECT COUNT(*) FROM mysql.user WHERE User = ''")
        .await;
    assert_eq!(rows[0][0], "0", "anonymous accounts exist");
    world.db.create_user("someone", "someone-Password-1").await;
    assert!(!world.db.can_login("someone", "wrong-Password").await);
    assert!(world.db.can_login("someone", "someone-Password-1").await);
}
