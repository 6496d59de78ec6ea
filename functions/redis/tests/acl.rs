//! End to end, what only Redis has: an admin named by `masterarn` setting
//! the passwords of a user that may not, the user's two passwords, every
//! node in `hosts` (one of them down), `DISCARD_OLD_PASSWORD`, and the ways
//! a server keeps its users (ACL file, config file, memory only).

use serde_json::{json, Value};
use testkit::faults::{stage, step};
use testkit::redis::{hash_rule, EphemeralRedis, Storage, ADMIN};
use testkit::server::ServerOptions;
use testkit::{RedisWorld, TestServer};

const FUNCTION: &str = "rotate-redis";
/// A user that may do everything but administer the server: no `ACL`
/// commands, so it may not change its own password.
const NOT_ADMIN: &[&str] = &["+@all", "-@admin", "-@dangerous"];

fn password_of(value: &Value) -> String {
    value["password"].as_str().expect("a password").to_owned()
}

async fn current_password(world: &RedisWorld, secret: &str) -> String {
    password_of(&world.value(secret, "AWSCURRENT").await)
}

async fn admin_secret(world: &RedisWorld) -> String {
    world
        .create_secret(
            "redis-admin",
            &world.db_secret(ADMIN, world.db.admin_password()),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_acl_rights_gets_the_servers_noperm_and_keeps_its_password() {
    let world = RedisWorld::start(FUNCTION).await;
    world
        .db
        .create_user_with("limited", "limited-Password-0", NOT_ADMIN)
        .await;
    let secret = world
        .create_secret("limited", &world.db_secret("limited", "limited-Password-0"))
        .await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("the user may not change its own password");
    for expected in [
        "NOPERM",
        "+acl|setuser",
        "masterarn",
        "limited",
        "permission",
    ] {
        assert!(error.contains(expected), "{expected:?} missing: {error}");
    }
    assert!(world.db.can_login("limited", "limited-Password-0").await);
    assert_eq!(world.db.password_count("limited").await, 1);
    assert_eq!(
        current_password(&world, &secret).await,
        "limited-Password-0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_named_by_masterarn_sets_exactly_two_passwords_as_hashes() {
    let world = RedisWorld::start(FUNCTION).await;
    world
        .db
        .create_user_with("app", "app-Password-0", NOT_ADMIN)
        .await;
    let admin = admin_secret(&world).await;
    let mut value = world.db_secret("app", "app-Password-0");
    value["masterarn"] = json!(admin);
    let secret = world.create_secret("app", &value).await;

    world.rotate(&secret).await.expect("rotation as the admin");
    let first = current_password(&world, &secret).await;
    assert_eq!(
        world.value(&secret, "AWSCURRENT").await["masterarn"],
        json!(admin)
    );
    assert!(world.db.can_login("app", &first).await, "the new password");
    assert!(
        world.db.can_login("app", "app-Password-0").await,
        "the old password keeps working until the next rotation"
    );
    assert_eq!(world.db.password_count("app").await, 2);
    // The server was sent hashes: its ACL file holds the hash, never the password.
    let acl = std::fs::read_to_string(world.db.acl_file.as_ref().expect("an ACL file"))
        .expect("the ACL file");
    assert!(acl.contains(&hash_rule(&first)), "the new hash was saved");
    assert!(!acl.contains(&first), "the ACL file holds the password");
    // The user's rights are what they were: still no admin commands.
    let mut as_app = world.db.try_login("app", &first).await.expect("login");
    let list: Result<redis::Value, _> =
        redis::cmd("ACL").arg("LIST").query_async(&mut as_app).await;
    assert!(list.is_err(), "the user gained ACL rights");

    world.rotate(&secret).await.expect("a second rotation");
    let second = current_password(&world, &secret).await;
    assert!(world.db.can_login("app", &second).await);
    assert!(
        world.db.can_login("app", &first).await,
        "the previous one stays"
    );
    assert!(
        !world.db.can_login("app", "app-Password-0").await,
        "the password two rotations old is gone"
    );
    assert_eq!(world.db.password_count("app").await, 2);
    assert!(world.db.admin_works().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_never_creates_a_user_that_is_missing() {
    let world = RedisWorld::start(FUNCTION).await;
    let admin = admin_secret(&world).await;
    let mut value = world.db_secret("ghost", "ghost-Password-0");
    value["masterarn"] = json!(admin);
    let secret = world.create_secret("ghost", &value).await;
    let error = world.rotate(&secret).await.expect_err("no such user");
    assert!(
        error.contains("no such user") && error.contains("ghost"),
        "{error}"
    );
    assert!(
        matches!(
            world.db.command(&["ACL", "GETUSER", "ghost"]).await,
            redis::Value::Nil
        ),
        "the user was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_in_hosts_changes_and_a_node_down_loses_nothing() {
    let world = RedisWorld::start(FUNCTION).await;
    let mut second = EphemeralRedis::start(&world.ca).await;
    world.db.create_user("app", "node-Password-0").await;
    second.create_user("app", "node-Password-0").await;
    let mut value = world.db_secret("app", "node-Password-0");
    value["hosts"] = json!([
        format!("127.0.0.1:{}", world.db.port),
        {"host": "127.0.0.1", "port": second.port},
    ]);
    let secret = world.create_secret("two-nodes", &value).await;

    world.rotate(&secret).await.expect("rotation on both nodes");
    let first = current_password(&world, &secret).await;
    assert_eq!(
        world.value(&secret, "AWSCURRENT").await["hosts"],
        value["hosts"]
    );
    for node in [&world.db, &second] {
        assert!(
            node.can_login("app", &first).await,
            "a node missed the change"
        );
    }

    // The second node stops before setSecret: the step fails naming it.
    let token = stage(&world, &secret).await;
    step(&world, &secret, &token, "createSecret")
        .await
        .expect("createSecret");
    second.stop();
    let error = step(&world, &secret, &token, "setSecret")
        .await
        .expect_err("setSecret with a node down");
    let down = format!("127.0.0.1:{}", second.port);
    assert!(
        error.message.contains(&down),
        "the node is not named: {error}"
    );
    assert!(error.message.contains("unreachable"), "{error}");
    assert!(
        world.db.can_login("app", &first).await,
        "the running node lost the current password"
    );
    // Back up: it kept what it had, and the re-run finishes the rotation.
    second.restart().await;
    assert!(second.can_login("app", &first).await);
    for name in ["setSecret", "testSecret", "finishSecret"] {
        step(&world, &secret, &token, name)
            .await
            .unwrap_or_else(|e| panic!("re-running {name}: {e}"));
    }
    let next = current_password(&world, &secret).await;
    assert!(next != first, "the rotation did not change the password");
    for node in [&world.db, &second] {
        assert!(node.can_login("app", &next).await);
        assert!(
            node.can_login("app", &first).await,
            "the old password is kept"
        );
    }
    // A node that lost the user fails the step, named.
    second.command(&["ACL", "DELUSER", "app"]).await;
    let token = stage(&world, &secret).await;
    step(&world, &secret, &token, "createSecret")
        .await
        .expect("createSecret");
    let error = step(&world, &secret, &token, "setSecret")
        .await
        .expect_err("a node without the user");
    assert!(error.message.contains(&down), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn discard_old_password_removes_it_once_awscurrent_moved() {
    let world = RedisWorld::start_with_env(FUNCTION, &[("DISCARD_OLD_PASSWORD", "true")]).await;
    let secret = world
        .user_with_secret("discard", "discard", "discard-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");
    let new = current_password(&world, &secret).await;
    assert!(world.db.can_login("discard", &new).await);
    assert!(!world.db.can_login("discard", "discard-Password-0").await);
    assert_eq!(world.db.password_count("discard").await, 1);
    let logs = world.all_logs();
    assert!(logs.contains("the old password was discarded"), "{logs}");
}

/// A server that keeps its users in its config file gets `CONFIG REWRITE`
/// and keeps the new password across a restart; one started from the
/// command line only keeps it in memory, and the step log says so.
#[tokio::test(flavor = "multi_thread")]
async fn config_file_and_memory_only_servers() {
    let mut world = RedisWorld::start(FUNCTION).await;
    world.db =
        EphemeralRedis::start_storing(&world.ca, &ServerOptions::default(), Storage::ConfigFile)
            .await;
    world.restart_function(&[]);
    let secret = world
        .user_with_secret("in-config", "app", "config-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");
    let new = current_password(&world, &secret).await;
    world.db.stop();
    world.db.restart().await;
    assert!(
        world.db.can_login("app", &new).await,
        "CONFIG REWRITE did not keep it"
    );
    let config = std::fs::read_to_string(world.db.config_file.as_ref().expect("a config file"))
        .expect("the config file");
    assert!(config.contains(&hash_rule(&new)) && !config.contains(&new));

    world.db =
        EphemeralRedis::start_storing(&world.ca, &ServerOptions::default(), Storage::Memory).await;
    world.restart_function(&[]);
    let secret = world
        .user_with_secret("in-memory", "app", "memory-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");
    assert!(
        world
            .db
            .can_login("app", &current_password(&world, &secret).await)
            .await
    );
    let logs = world.all_logs();
    assert!(logs.contains("lives only in its memory"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_hosts_list_is_refused_in_create_secret_and_changes_nothing() {
    let world = RedisWorld::start(FUNCTION).await;
    world.db.create_user("app", "hosts-Password-0").await;
    for (name, hosts, expected) in [
        ("not-a-list", json!("127.0.0.1"), "must be a list"),
        ("empty", json!([]), "empty list"),
        ("bad-port", json!(["127.0.0.1:0"]), "entry 0 has a port"),
        (
            "twice",
            json!(["127.0.0.1:7000", {"host": "127.0.0.1", "port": 7000}]),
            "a second time",
        ),
    ] {
        let mut value = world.db_secret("app", "hosts-Password-0");
        value["hosts"] = hosts;
        let secret = world.create_secret(name, &value).await;
        let error = world.rotate(&secret).await.expect_err(name);
        assert!(
            error.contains("hosts") && error.contains(expected),
            "{name}: {error}"
        );
        assert!(
            error.contains("createSecret"),
            "{name}: refused later than createSecret: {error}"
        );
        assert_eq!(world.value(&secret, "AWSCURRENT").await, value, "{name}");
        // The service labelled a new version AWSPENDING; the function
        // stored no value in it.
        let stages = world.stages(&secret).await;
        for (version, labels) in &stages {
            if labels.iter().any(|l| l == "AWSPENDING") {
                assert_eq!(
                    world.raw_value(&secret, Some(version), None).await,
                    None,
                    "{name}: a pending value was stored"
                );
            }
        }
    }
    assert!(world.db.can_login("app", "hosts-Password-0").await);
    assert_eq!(world.db.password_count("app").await, 1);
}
