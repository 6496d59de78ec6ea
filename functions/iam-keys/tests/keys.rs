//! What only IAM access keys have, end to end: the real `rotate-iam-keys`
//! binary behind the local Lambda runtime, `RotateSecret` on the Secrets
//! Manager emulator, IAM and STS on a second moto server that checks every
//! request's signature and the caller's permissions.
//!
//! IAM allows two keys per user, so createSecret has to make room: the
//! cases of the two-key rule, a function killed between CreateAccessKey and
//! PutSecretValue, twenty rotations in a row, a wrong secret key refused by
//! testSecret, and what finishSecret does to the old key.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::faults::{assert_settled, crash_in_step, stage, step};
use testkit::iam_keys::KeyPair;
use testkit::{IamKeysWorld, TestServer};

const FUNCTION: &str = "rotate-iam-keys";

/// The key pair a stored value holds.
fn key_in(value: &Value) -> KeyPair {
    KeyPair {
        id: value["AccessKeyId"]
            .as_str()
            .expect("AccessKeyId")
            .to_owned(),
        secret: value["SecretAccessKey"]
            .as_str()
            .expect("SecretAccessKey")
            .to_owned(),
    }
}

/// The user's key ids.
async fn key_ids(world: &IamKeysWorld, user: &str) -> Vec<String> {
    world
        .db
        .keys(user)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// A user with one key and a secret holding it; returns the secret's ARN.
async fn user_with_key(world: &IamKeysWorld, user: &str) -> String {
    world
        .user_with_secret(user, user, &format!("{user}-initial-key"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_key_then_an_inactive_key_make_room_for_the_new_one() {
    let world = IamKeysWorld::start(FUNCTION).await;

    // After one rotation (OLD_KEY_ACTION=keep), the user has the AWSPREVIOUS
    // key and the AWSCURRENT one: the next rotation removes the first.
    let secret = user_with_key(&world, "two-keys").await;
    let k0 = key_in(&world.value(&secret, "AWSCURRENT").await);
    world.rotate(&secret).await.expect("first rotation");
    let k1 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        key_ids(&world, "two-keys").await,
        [k0.id.clone(), k1.id.clone()]
    );
    assert!(
        world.db.key_works("two-keys", &k0).await,
        "kept until the next rotation"
    );
    world.rotate(&secret).await.expect("second rotation");
    let k2 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        key_ids(&world, "two-keys").await,
        [k1.id.clone(), k2.id.clone()]
    );
    assert!(
        !world.db.key_works("two-keys", &k0).await,
        "AWSPREVIOUS's key removed"
    );
    assert!(world.db.key_works("two-keys", &k1).await);
    assert!(world.db.key_works("two-keys", &k2).await);
    let log = world.lambda.function_log_text();
    assert!(log.contains("removing the AWSPREVIOUS key"), "{log}");

    // An inactive key the secret does not know is removed too.
    let secret = user_with_key(&world, "inactive").await;
    let k0 = key_in(&world.value(&secret, "AWSCURRENT").await);
    let spare = world.db.create_key("inactive").await;
    world.db.set_active("inactive", &spare.id, false).await;
    world.rotate(&secret).await.expect("rotation");
    let k1 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        key_ids(&world, "inactive").await,
        [k0.id.clone(), k1.id.clone()]
    );
    let log = world.lambda.function_log_text();
    assert!(log.contains("removing an inactive key"), "{log}");
    assert!(log.contains(&spare.id), "the removed key is named: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_key_the_secret_does_not_know_is_never_removed() {
    let world = IamKeysWorld::start(FUNCTION).await;
    let secret = user_with_key(&world, "shared-user").await;
    let current = key_in(&world.value(&secret, "AWSCURRENT").await);
    let stages_before = world.stages(&secret).await;
    // Someone made a second key by hand, before the rotation (in an earlier
    // second: IAM's creation times are whole seconds, and a key made in the
    // second a rotation begins is taken for that rotation's own).
    let theirs = world.db.create_key("shared-user").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let error = world.rotate(&secret).await.expect_err("refused");
    assert!(error.contains(&theirs.id), "names the key: {error}");
    assert!(error.contains("none may be removed"), "{error}");
    assert!(error.contains("Nothing was changed"), "{error}");
    for secret_key in [&current.secret, &theirs.secret] {
        assert!(
            !error.contains(secret_key.as_str()),
            "a secret key in the error"
        );
        assert!(
            testkit::leaked(&world.all_logs(), &[secret_key.as_str()]).is_empty(),
            "a secret key in the logs"
        );
    }
    // Both keys are there and work; AWSCURRENT did not move.
    assert_eq!(
        world.db.keys("shared-user").await,
        [(current.id.clone(), true), (theirs.id.clone(), true)]
    );
    assert!(world.db.key_works("shared-user", &current).await);
    assert!(world.db.key_works("shared-user", &theirs).await);
    let current_version = stages_before
        .iter()
        .find(|(_, s)| s.iter().any(|s| s == "AWSCURRENT"))
        .map(|(v, _)| v.clone());
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await,
        current_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_killed_after_create_access_key_leaves_an_orphan_the_retry_removes() {
    let mut world = IamKeysWorld::start(FUNCTION).await;
    let secret = user_with_key(&world, "killed").await;
    world.rotate(&secret).await.expect("a first rotation");
    let k1 = key_in(&world.value(&secret, "AWSCURRENT").await);

    // The service starts the next rotation; createSecret removes AWSPREVIOUS's
    // key, creates the new one and is killed before PutSecretValue. A short
    // timeout: a key this rotation made is removed only once it is older
    // than any attempt can live (the timeout, and 2 s).
    world.lambda.set_timeout(8.0).await;
    let token = stage(&world, &secret).await;
    crash_in_step(
        &mut world,
        &secret,
        &token,
        "createSecret",
        "after-create-key",
        &[],
    )
    .await;
    let keys = key_ids(&world, "killed").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let orphan = keys
        .iter()
        .find(|id| **id != k1.id)
        .expect("the orphan")
        .clone();
    assert!(
        world.raw_value(&secret, Some(&token), None).await.is_none(),
        "nothing stored"
    );

    // Retried at once, createSecret waits for the attempt that made the
    // orphan to store it, and gives up, removing nothing, when its own time
    // runs out before the orphan is old enough.
    world.restart_function(&[]);
    let error = step(&world, &secret, &token, "createSecret")
        .await
        .expect_err("too early")
        .to_string();
    assert!(
        error.contains(&orphan) && error.contains("rotate again later"),
        "{error}"
    );
    assert!(key_ids(&world, "killed").await.contains(&orphan));
    // The service retries createSecret later: the orphan (made after this
    // rotation began, known to no version, older than any attempt lives) is
    // removed, a new key made.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        step(&world, &secret, &token, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_settled(&world, &secret).await;
    let k2 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        key_ids(&world, "killed").await,
        [k1.id.clone(), k2.id.clone()]
    );
    assert!(!key_ids(&world, "killed").await.contains(&orphan));
    let log = world.lambda.function_log_text();
    assert!(
        log.contains("a key an earlier attempt of this rotation created"),
        "{log}"
    );
    world.rotate(&secret).await.expect("a later rotation");
    assert_settled(&world, &secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_rotations_leave_at_most_two_keys_and_no_secret_key_in_any_log() {
    let world = IamKeysWorld::start_with_env(FUNCTION, &[("RUST_LOG", "trace")]).await;
    let secret = user_with_key(&world, "twenty").await;
    let mut secrets = vec![key_in(&world.value(&secret, "AWSCURRENT").await).secret];
    for round in 1..=20 {
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let current = key_in(&world.value(&secret, "AWSCURRENT").await);
        assert!(
            world.db.key_works("twenty", &current).await,
            "round {round}"
        );
        let keys = world.db.keys("twenty").await;
        assert!(keys.len() <= 2, "round {round}: {keys:?}");
        assert!(
            !secrets.contains(&current.secret),
            "round {round}: a key reused"
        );
        secrets.push(current.secret);
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let found = testkit::leaked(&world.all_logs(), &refs);
    assert!(
        found.is_empty(),
        "{} of {} secret keys appear in the logs",
        found.len(),
        refs.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_secret_refuses_a_wrong_secret_key_another_users_key_and_a_key_iam_does_not_know() {
    let world = IamKeysWorld::start_with_env(FUNCTION, &[("NEW_KEY_WAIT_SECONDS", "2")]).await;
    let secret = user_with_key(&world, "tested").await;
    let real = key_in(&world.value(&secret, "AWSCURRENT").await);
    world
        .db
        .create_user("someone-else", "someone-else-key")
        .await;
    let theirs = key_in(&world.db_secret("someone-else", "someone-else-key"));

    let cases = [
        (
            "wrong-secret",
            KeyPair {
                id: real.id.clone(),
                secret: "wRongSecretAccessKey0000000000000000000".into(),
            },
            "SignatureDoesNotMatch",
        ),
        ("their-key", theirs.clone(), "not IAM user \"tested\""),
        (
            "unknown-key",
            KeyPair {
                id: "AKIAIAMDOESNOTKNOW00".into(),
                secret: "unKnownSecretAccessKey000000000000000000".into(),
            },
            "of retries",
        ),
    ];
    for (name, key, expected) in cases {
        let token = stage(&world, &secret).await;
        let value =
            json!({"UserName": "tested", "AccessKeyId": key.id, "SecretAccessKey": key.secret});
        world
            .sm
            .put_secret_value()
            .secret_id(&secret)
            .client_request_token(&token)
            .secret_string(value.to_string())
            .version_stages("AWSPENDING")
            .send()
            .await
            .expect("PutSecretValue");
        let started = Instant::now();
        let error = step(&world, &secret, &token, "testSecret")
            .await
            .expect_err(name)
            .to_string();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(error.contains("pending credential"), "{name}: {error}");
        assert!(
            !error.contains(&key.secret),
            "{name}: the secret key in the error"
        );
        if name == "unknown-key" {
            // Retried as a key IAM has not propagated yet, for NEW_KEY_WAIT_SECONDS.
            assert!(started.elapsed() >= Duration::from_millis(1500), "{name}");
        }
        // Nothing moved: the real key is still AWSCURRENT and works.
        assert_eq!(key_in(&world.value(&secret, "AWSCURRENT").await), real);
        assert!(world.db.key_works("tested", &real).await);
        // Clear the pending label for the next case, as an operator would.
        world
            .sm
            .update_secret_version_stage()
            .secret_id(&secret)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&token)
            .send()
            .await
            .expect("clearing AWSPENDING");
    }
    assert!(
        world.rotate(&secret).await.is_ok(),
        "a real rotation still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_key_action_deactivates_or_deletes_the_old_key() {
    let mut world =
        IamKeysWorld::start_with_env(FUNCTION, &[("OLD_KEY_ACTION", "deactivate")]).await;
    let secret = user_with_key(&world, "deactivated").await;
    let k0 = key_in(&world.value(&secret, "AWSCURRENT").await);
    world.rotate(&secret).await.expect("rotation");
    let k1 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        world.db.keys("deactivated").await,
        [(k0.id.clone(), false), (k1.id.clone(), true)]
    );
    assert!(!world.db.key_works("deactivated", &k0).await);
    // The next rotation removes the inactive old key.
    world.rotate(&secret).await.expect("second rotation");
    let k2 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(
        world.db.keys("deactivated").await,
        [(k1.id.clone(), false), (k2.id.clone(), true)]
    );

    world.restart_function(&[("OLD_KEY_ACTION", "delete")]);
    let secret = user_with_key(&world, "deleted").await;
    world.rotate(&secret).await.expect("rotation");
    let k1 = key_in(&world.value(&secret, "AWSCURRENT").await);
    assert_eq!(world.db.keys("deleted").await, [(k1.id.clone(), true)]);
    assert!(world.db.key_works("deleted", &k1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_file_naming_and_other_fields_are_kept() {
    let world = IamKeysWorld::start(FUNCTION).await;
    world.db.create_user("cli-style", "cli-style-key").await;
    let key = key_in(&world.db_secret("cli-style", "cli-style-key"));
    let value = json!({
        "UserName": "cli-style",
        "aws_access_key_id": key.id,
        "aws_secret_access_key": key.secret,
        "region": "eu-west-1",
    });
    let secret = world.create_secret("cli-style", &value).await;
    world.rotate(&secret).await.expect("rotation");
    let new = world.value(&secret, "AWSCURRENT").await;
    let fields: Vec<&str> = new
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "UserName",
            "aws_access_key_id",
            "aws_secret_access_key",
            "region"
        ]
    );
    let new_key = KeyPair {
        id: new["aws_access_key_id"].as_str().expect("id").to_owned(),
        secret: new["aws_secret_access_key"]
            .as_str()
            .expect("secret")
            .to_owned(),
    };
    assert_ne!(new_key, key);
    assert!(world.db.key_works("cli-style", &new_key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_needs_only_the_four_access_key_actions() {
    // The function's IAM user has exactly the template role's actions
    // (testkit::iam_keys::FUNCTION_ACTIONS) and moto checks them: every
    // test above ran with them. One more action is refused.
    let world = IamKeysWorld::start(FUNCTION).await;
    let function = &world.db.function_key;
    let iam = testkit::local_client!(aws_sdk_iam, &world.db.url, &function.id, &function.secret);
    let refused = iam.create_user().user_name("escalated").send().await;
    assert!(
        refused.is_err(),
        "CreateUser must be refused to the function's user"
    );
    assert!(iam
        .list_access_keys()
        .user_name("rotation-function")
        .send()
        .await
        .is_ok());
}
