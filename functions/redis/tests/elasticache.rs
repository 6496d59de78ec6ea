//! End to end, ElastiCache RBAC users: `RotateSecret` on the emulator drives
//! `rotate-redis`, which changes the user through the ElastiCache API
//! (`DescribeUsers`, `ModifyUser`: the launcher adds the latter to moto, with
//! the user `modifying` for a while after each change).

use aws_sdk_elasticache::Client;
use serde_json::{json, Value};
use testkit::faults::{stage, step};
use testkit::redis::ADMIN;
use testkit::{RedisWorld, TestServer};

const FUNCTION: &str = "rotate-redis";
const ARN_PREFIX: &str = "arn:aws:elasticache:us-east-1:123456789012:user:";
/// Look at the user's status every second (AWS's default is 10).
const FAST: (&str, &str) = ("WAITING_RETRY_INTERVAL_IN_SECONDS", "1");

async fn create_user(client: &Client, id: &str, name: &str, password: &str) {
    client
        .create_user()
        .user_id(id)
        .user_name(name)
        .engine("redis")
        .passwords(password)
        .access_string("on ~* +@all")
        .send()
        .await
        .expect("CreateUser");
}

fn secret_for(id: &str, name: &str, password: &str) -> Value {
    json!({
        "user_arn": format!("{ARN_PREFIX}{id}"),
        "username": name,
        "password": password,
        "team": {"kept": true},
    })
}

/// The user's passwords in the emulator, once it is `active` again (after
/// finishSecret's `ModifyUser` it may still be `modifying` for a look).
/// Failure messages show statuses, never a password.
async fn passwords(world: &RedisWorld, id: &str) -> Vec<String> {
    let mut users = world.emulator.elasticache_users().await;
    for _ in 0..3 {
        if users[id]["status"] == "active" {
            break;
        }
        // The emulator's DescribeUsers moves a modified user on.
        let _ = world
            .emulator
            .elasticache_client()
            .describe_users()
            .user_id(id)
            .send()
            .await;
        users = world.emulator.elasticache_users().await;
    }
    assert_eq!(users[id]["status"], "active", "user {id} is not active");
    users[id]["passwords"]
        .as_array()
        .expect("passwords")
        .iter()
        .map(|p| p.as_str().expect("a string").to_owned())
        .collect()
}

/// Asserts that user `id` has exactly `expected` (in that order); the
/// message says how they differ without showing a generated password.
async fn assert_passwords(world: &RedisWorld, id: &str, expected: &[&str], what: &str) {
    let found = passwords(world, id).await;
    let same = found.len() == expected.len() && found.iter().zip(expected).all(|(a, b)| a == b);
    assert!(
        same,
        "{what}: user {id} has {} password(s), not the {} expected ones",
        found.len(),
        expected.len()
    );
}

fn password_of(value: &Value) -> String {
    value["password"].as_str().expect("a password").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_gets_the_new_and_the_current_password_after_waiting_for_active() {
    // At trace level, so that the leak check below sees every line the
    // function and the SDK can write (ModifyUser's body holds both passwords).
    let world = RedisWorld::start_with_env(FUNCTION, &[FAST, ("RUST_LOG", "trace")]).await;
    let client = world.emulator.elasticache_client();
    create_user(&client, "app-user", "app", "initial-Password-0123").await;
    let secret = world
        .create_secret(
            "cache-user",
            &secret_for("app-user", "app", "initial-Password-0123"),
        )
        .await;

    world.rotate(&secret).await.expect("rotation");
    let current = world.value(&secret, "AWSCURRENT").await;
    let first = password_of(&current);
    assert_eq!(
        first.chars().count(),
        20,
        "AWS's default PASSWORD_LENGTH for ElastiCache"
    );
    assert_eq!(current["team"], json!({"kept": true}));
    assert_eq!(current["user_arn"], json!(format!("{ARN_PREFIX}app-user")));
    assert_passwords(
        &world,
        "app-user",
        &[&first, "initial-Password-0123"],
        "first rotation",
    )
    .await;
    let log = world.lambda.function_log_text();
    assert!(
        log.contains("waiting for the user to be active"),
        "the function did not wait: {log}"
    );

    world.rotate(&secret).await.expect("a second rotation");
    let second = password_of(&world.value(&secret, "AWSCURRENT").await);
    assert_passwords(&world, "app-user", &[&second, &first], "second rotation").await;

    let logs = world.all_logs();
    assert!(
        logs.contains("ModifyUser"),
        "the trace log does not show the calls"
    );
    let leaked = testkit::leaked(&logs, &[&first, &second, "initial-Password-0123"]);
    assert!(
        leaked.is_empty(),
        "{} password(s) in the logs",
        leaked.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_endpoint_test_secret_logs_in_with_the_pending_password() {
    let world = RedisWorld::start_with_env(FUNCTION, &[FAST]).await;
    let client = world.emulator.elasticache_client();
    create_user(
        &client,
        "endpoint-user",
        "cacheapp",
        "endpoint-Password-0123",
    )
    .await;
    // The local Redis stands in for the cache's endpoint.
    world
        .db
        .create_user("cacheapp", "endpoint-Password-0123")
        .await;
    let mut value = secret_for("endpoint-user", "cacheapp", "endpoint-Password-0123");
    value["host"] = json!(world.db.host());
    value["port"] = json!(world.db.port());
    let secret = world.create_secret("with-endpoint", &value).await;

    let token = stage(&world, &secret).await;
    for name in ["createSecret", "setSecret"] {
        step(&world, &secret, &token, name).await.expect(name);
    }
    // ElastiCache has the new password, the endpoint not yet: testSecret fails.
    let error = step(&world, &secret, &token, "testSecret")
        .await
        .expect_err("the endpoint does not take the pending password yet");
    assert!(error.message.contains("pending credential"), "{error}");
    assert!(error.message.contains("authentication"), "{error}");
    // What ElastiCache does on its own: the endpoint takes both passwords.
    let pending = password_of(
        &serde_json::from_str(
            &world
                .raw_value(&secret, Some(&token), None)
                .await
                .expect("pending"),
        )
        .expect("JSON"),
    );
    let both = passwords(&world, "endpoint-user").await;
    assert!(
        both[0] == pending,
        "ModifyUser did not put the pending password first"
    );
    let rules: Vec<String> = both.iter().map(|p| testkit::redis::hash_rule(p)).collect();
    let mut args = vec!["ACL", "SETUSER", "cacheapp", "resetpass"];
    args.extend(rules.iter().map(String::as_str));
    world.db.command(&args).await;
    for name in ["testSecret", "finishSecret"] {
        step(&world, &secret, &token, name).await.expect(name);
    }
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    assert!(world.db.can_login("cacheapp", &pending).await);
    assert!(world.db.can_login(ADMIN, world.db.admin_password()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_secrets_and_settings_fail_in_create_secret_and_change_nothing() {
    let mut world = RedisWorld::start_with_env(FUNCTION, &[FAST]).await;
    let client = world.emulator.elasticache_client();
    create_user(&client, "real-user", "real", "real-Password-012345").await;

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing-user",
            secret_for("ghost-user", "ghost", "ghost-Password-012345"),
            "UserNotFound",
        ),
        (
            "wrong-name",
            secret_for("real-user", "someone-else", "real-Password-012345"),
            "is named \"real\"",
        ),
        (
            "not-a-user-arn",
            json!({"user_arn": "arn:aws:elasticache:us-east-1:1:usergroup:g", "username": "real"}),
            "user_arn",
        ),
    ];
    for (name, value, expected) in cases {
        let secret = world.create_secret(name, &value).await;
        let error = world.rotate(&secret).await.expect_err(name);
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            !error.contains("real-Password"),
            "{name}: a password in the error"
        );
        assert_eq!(world.value(&secret, "AWSCURRENT").await, value, "{name}");
    }
    assert_passwords(
        &world,
        "real-user",
        &["real-Password-012345"],
        "after the refusals",
    )
    .await;

    // Settings ElastiCache would refuse, or a user the function may not touch.
    for (env, expected) in [
        (("PASSWORD_LENGTH", "12"), "PASSWORD_LENGTH=12"),
        (("USER_NAME", "other"), "USER_NAME"),
    ] {
        world.restart_function(&[FAST, env]);
        let secret = world
            .create_secret(
                &format!("env-{}", env.0),
                &secret_for("real-user", "real", "real-Password-012345"),
            )
            .await;
        let error = world.rotate(&secret).await.expect_err(env.0);
        assert!(error.contains(expected), "{error}");
        assert_passwords(
            &world,
            "real-user",
            &["real-Password-012345"],
            "after the refusals",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_that_stays_modifying_fails_set_secret_naming_the_wait_and_loses_nothing() {
    let world = RedisWorld::start_with_env(
        FUNCTION,
        &[FAST, ("MAX_WAITING_TIME_FOR_ACTIVE_IN_SECONDS", "2")],
    )
    .await;
    let client = world.emulator.elasticache_client();
    create_user(&client, "slow-user", "slow", "slow-Password-0123456").await;
    let secret = world
        .create_secret(
            "slow",
            &secret_for("slow-user", "slow", "slow-Password-0123456"),
        )
        .await;
    world.emulator.set_modifying_describes(1000).await;
    let error = world.rotate(&secret).await.expect_err("never active again");
    assert!(
        error.contains("MAX_WAITING_TIME_FOR_ACTIVE_IN_SECONDS"),
        "{error}"
    );
    assert!(
        error.contains("slow-user") && error.contains("modifying"),
        "{error}"
    );
    let users = world.emulator.elasticache_users().await;
    let kept: Vec<&str> = users["slow-user"]["passwords"]
        .as_array()
        .expect("passwords")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        kept.contains(&"slow-Password-0123456"),
        "the current password was lost"
    );
    assert_eq!(
        password_of(&world.value(&secret, "AWSCURRENT").await),
        "slow-Password-0123456"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn discard_old_password_leaves_only_the_new_one() {
    let world =
        RedisWorld::start_with_env(FUNCTION, &[FAST, ("DISCARD_OLD_PASSWORD", "true")]).await;
    let client = world.emulator.elasticache_client();
    create_user(&client, "discard-user", "discard", "discard-Password-0123").await;
    let secret = world
        .create_secret(
            "discard",
            &secret_for("discard-user", "discard", "discard-Password-0123"),
        )
        .await;
    world.rotate(&secret).await.expect("rotation");
    let new = password_of(&world.value(&secret, "AWSCURRENT").await);
    assert_passwords(&world, "discard-user", &[&new], "after finishSecret").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_rotation_without_a_password_sets_only_the_new_one() {
    let world = RedisWorld::start_with_env(FUNCTION, &[FAST]).await;
    let client = world.emulator.elasticache_client();
    create_user(&client, "fresh-user", "fresh", "fresh-Password-012345").await;
    let mut value = secret_for("fresh-user", "fresh", "unused");
    value.as_object_mut().expect("an object").remove("password");
    let secret = world.create_secret("fresh", &value).await;
    world.rotate(&secret).await.expect("rotation");
    let new = password_of(&world.value(&secret, "AWSCURRENT").await);
    assert_passwords(&world, "fresh-user", &[&new], "first rotation").await;
}
