//! The conformance suite: end-to-end tests every function passes, written
//! once over [`TestServer`] (any password-protected server: a database, a
//! cache, a directory). A function's test file instantiates
//! them all with [`conformance_tests!`](crate::conformance_tests); each
//! starts its own world (server, emulator, runtime), so they run in parallel.
//!
//! Each test panics with a message that names what broke.

use crate::server::{BadSecret, Function, LoginRecord, OldPassword, TestServer};
use crate::world::World;
use serde_json::{json, Value};

/// Every application of the function deploys and rotates (see
/// [`crate::deploy`]).
pub use crate::deploy::each_application_deploys_and_rotates;

const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Asserts that `user` has not logged in to the server (the function must
/// not have fallen back to an unverified connection), then that it does log
/// in with `password` and that the server recorded it, so the first check
/// could have seen a login. A server that records no logins says why, and
/// only the second half runs.
pub async fn assert_never_logged_in<D: TestServer>(world: &World<D>, user: &str, password: &str) {
    match world.db.logged_in(user) {
        LoginRecord::Never => {}
        LoginRecord::LoggedIn => {
            panic!("{user} logged in: the function connected without verified TLS")
        }
        LoginRecord::NotRecorded(reason) => {
            println!("not checked that {user} never logged in: {reason}");
        }
    }
    assert!(
        world.db.can_login(user, password).await,
        "{user} cannot log in"
    );
    if let LoginRecord::Never = world.db.logged_in(user) {
        panic!("the server's login record changed: the check above proves nothing");
    }
}

/// Asserts what a replaced password does right after its rotation
/// ([`TestServer::OLD_PASSWORD`]).
pub(crate) async fn assert_replaced<D: TestServer>(
    world: &World<D>,
    user: &str,
    old: &str,
    context: &str,
) {
    let works = world.db.can_login(user, old).await;
    match D::OLD_PASSWORD {
        OldPassword::Refused => assert!(!works, "{context}: the old password still logs in"),
        OldPassword::KeptUntilNextRotation => assert!(
            works,
            "{context}: the old password must keep working until the next rotation"
        ),
    }
}

/// The `password` field of a secret value.
pub fn password_of(value: &Value) -> String {
    value["password"].as_str().expect("a password").to_owned()
}

/// Asserts the labels a finished rotation leaves: AWSCURRENT on `current`,
/// AWSPREVIOUS on `previous`, no AWSPENDING anywhere.
async fn assert_rotated<D: TestServer>(
    world: &World<D>,
    secret: &str,
    current: &str,
    previous: &str,
) {
    let stages = world.stages(secret).await;
    assert_eq!(
        stages.get(current),
        Some(&vec!["AWSCURRENT".to_owned()]),
        "{stages:?}"
    );
    assert_eq!(
        stages.get(previous),
        Some(&vec!["AWSPREVIOUS".to_owned()]),
        "{stages:?}"
    );
    assert!(
        !stages.values().flatten().any(|s| s == "AWSPENDING"),
        "AWSPENDING left behind: {stages:?}"
    );
}

/// A rotation through `RotateSecret` replaces the password (default length
/// and excluded characters), carries every other field over, moves the
/// labels, passes the `RotationToken` on, and never shows the server the
/// password.
pub async fn rotation_replaces_the_password_and_moves_the_labels<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let old_password = "initial-Password-1";
    world.db.create_user("app", old_password).await;
    let mut value = world.db_secret("app", old_password);
    value["port"] = json!(world.db.port().to_string()); // a string port is accepted
    value["note"] = json!({"kept": ["as", "is"]});
    let secret = world.create_secret("app-db", &value).await;
    let old_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();

    world.rotate(&secret).await.expect("rotation succeeds");

    let new_value = world.value(&secret, "AWSCURRENT").await;
    let new_password = world.db.password_in(&new_value);
    assert_ne!(new_password, old_password);
    world.db.assert_new_password(&new_password, function);
    for (field, expected) in [
        ("note", json!({"kept": ["as", "is"]})),
        ("port", json!(world.db.port().to_string())),
        (
            "username",
            world.db_secret("app", old_password)["username"].clone(),
        ),
        (
            "engine",
            world.db_secret("app", old_password)["engine"].clone(),
        ),
    ] {
        assert_eq!(new_value[field], expected, "field {field} not carried over");
    }
    assert!(
        world.db.can_login("app", &new_password).await,
        "new password must log in"
    );
    assert_replaced(&world, "app", old_password, "after the rotation").await;

    let new_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    assert_ne!(new_version, old_version);
    assert_rotated(&world, &secret, &new_version, &old_version).await;
    assert_eq!(
        world
            .db
            .password_in(&world.value(&secret, "AWSPREVIOUS").await),
        old_password
    );

    // The service's RotationToken reached PutSecretValue.
    let calls = world.emulator.calls().await;
    let puts = calls["put_rotation_tokens"].as_array().unwrap();
    assert!(!puts.is_empty(), "{calls}");
    assert!(
        puts.iter()
            .all(|p| p["given"] == json!(true) && p["issued_by_rotation"] == json!(true)),
        "RotationToken not passed on: {calls}"
    );

    // The server's statement log never saw the password.
    let server_log = world.db.log_text();
    assert!(
        !server_log.contains(&new_password),
        "the new password reached the server log"
    );
}

/// Five rotations in a row: each password new and working, the one before
/// refused (or, on a server that keeps the old password until the next
/// rotation, still working and the one before it refused), the labels
/// right every time.
pub async fn five_rotations_in_a_row<D: TestServer>(function: &Function) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("five", "five_user", "start-Password-0")
        .await;
    let mut previous_password = "start-Password-0".to_owned();
    let mut older_password: Option<String> = None;
    let mut previous_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    let mut seen = vec![previous_password.clone()];
    for round in 1..=5 {
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        let password = world
            .db
            .password_in(&world.value(&secret, "AWSCURRENT").await);
        assert!(!seen.contains(&password), "round {round} reused a password");
        assert!(
            world.db.can_login("five_user", &password).await,
            "round {round}: new"
        );
        assert_replaced(
            &world,
            "five_user",
            &previous_password,
            &format!("round {round}"),
        )
        .await;
        if let Some(older) = &older_password {
            assert!(
                !world.db.can_login("five_user", older).await,
                "round {round}: the password of two rotations ago still works"
            );
        }
        older_password = Some(previous_password.clone());
        let version = world.version_with(&secret, "AWSCURRENT").await.unwrap();
        assert_rotated(&world, &secret, &version, &previous_version).await;
        seen.push(password.clone());
        previous_password = password;
        previous_version = version;
    }
}

/// Every step delivered twice (as the service and Lambda may) ends in the
/// same state as once; createSecret keeps the first pending value.
pub async fn each_step_run_twice_gives_the_same_end_state<D: TestServer>(function: &Function) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("twice", "twice_user", "twice-Password-0")
        .await;
    let old_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();

    // Let RotateSecret only stage AWSPENDING; run the steps by hand.
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(&secret).await.expect("staging");
    let token = world
        .version_with(&secret, "AWSPENDING")
        .await
        .expect("a pending version");
    assert_ne!(token, old_version);

    let mut pending_after_create = None;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        for attempt in 1..=2 {
            let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": step});
            world
                .lambda
                .invoke(&event)
                .await
                .unwrap_or_else(|e| panic!("{step} attempt {attempt}: {e}"));
            if step == "createSecret" {
                let pending = world
                    .raw_value(&secret, Some(&token), None)
                    .await
                    .expect("pending value");
                match &pending_after_create {
                    None => pending_after_create = Some(pending),
                    Some(first) => assert_eq!(
                        first, &pending,
                        "createSecret changed the pending value on re-run"
                    ),
                }
            }
        }
    }
    let pending: Value = serde_json::from_str(&pending_after_create.unwrap()).unwrap();
    let new_password = world.db.password_in(&pending);
    assert_rotated(&world, &secret, &token, &old_version).await;
    assert_eq!(
        world
            .db
            .password_in(&world.value(&secret, "AWSCURRENT").await),
        new_password
    );
    assert!(world.db.can_login("twice_user", &new_password).await);
    assert_replaced(&world, "twice_user", "twice-Password-0", "after the steps").await;

    // A finishSecret killed between its two calls leaves AWSPENDING on the
    // current version; running it again clears it.
    world
        .sm
        .update_secret_version_stage()
        .secret_id(&secret)
        .version_stage("AWSPENDING")
        .move_to_version_id(&token)
        .send()
        .await
        .unwrap();
    let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": "finishSecret"});
    world
        .lambda
        .invoke(&event)
        .await
        .expect("finishSecret re-run");
    assert_rotated(&world, &secret, &token, &old_version).await;
}

/// setSecret logs in with `AWSPREVIOUS` when the database still holds it
/// (a rotation that stopped half-way) and finishes the rotation.
pub async fn set_secret_recovers_when_the_database_holds_the_previous_password<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("recover", "recover_user", "recover-Password-0")
        .await;
    world.rotate(&secret).await.expect("first rotation");
    let current = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    // A half-finished rotation left the database on the AWSPREVIOUS password.
    world
        .db
        .set_password("recover_user", "recover-Password-0")
        .await;
    assert!(!world.db.can_login("recover_user", &current).await);

    world
        .rotate(&secret)
        .await
        .expect("rotation recovers through AWSPREVIOUS");
    let newest = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    assert!(world.db.can_login("recover_user", &newest).await);
    assert!(
        !world
            .db
            .can_login("recover_user", "recover-Password-0")
            .await
    );
    assert!(world.lambda.function_log_text().contains("AWSPREVIOUS"));
}

/// Unusable secret values fail with an error naming the secret and the
/// field; labels and database stay as they were.
pub async fn bad_secrets_fail_clearly_and_change_nothing<D: TestServer>(function: &Function) {
    let world = World::<D>::start(function).await;
    let password = "bad-Secret-Password-9";
    world.db.create_user("victim", password).await;
    let good = world.db_secret("victim", password);
    for BadSecret {
        name,
        value,
        error: expected,
    } in world.db.bad_secrets(&good, password)
    {
        let secret = world.create_secret(name, &value).await;
        let before = world.stages(&secret).await;
        let original = world.raw_value(&secret, None, Some("AWSCURRENT")).await;

        let error = world.rotate(&secret).await.expect_err(name);
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            error.contains(&secret),
            "{name}: the error must name the secret: {error}"
        );
        assert!(
            error.contains("AWSCURRENT"),
            "{name}: the error must name the stage: {error}"
        );
        assert!(
            !error.contains(password),
            "{name}: the error leaks the password"
        );

        // AWSCURRENT still on the same version with the same value; the
        // version the service staged got no value.
        let after = world.stages(&secret).await;
        for (version, stages) in &before {
            assert_eq!(
                after.get(version),
                Some(stages),
                "{name}: labels moved: {after:?}"
            );
        }
        assert_eq!(
            world.raw_value(&secret, None, Some("AWSCURRENT")).await,
            original,
            "{name}"
        );
        if let Some(pending) = after
            .iter()
            .find(|(_, s)| s.contains(&"AWSPENDING".to_owned()))
        {
            assert_eq!(
                world.raw_value(&secret, Some(pending.0), None).await,
                None,
                "{name}: a pending value was stored"
            );
        }
        assert!(
            world.db.can_login("victim", password).await,
            "{name}: the database changed"
        );
    }
    assert!(
        crate::leaked(&world.all_logs(), &[password]).is_empty(),
        "password in logs"
    );
}

/// Every user name the server accepts that needs quoting or escaping
/// ([`TestServer::AWKWARD_USERNAMES`]: quotes, spaces, Unicode, statement
/// separators) rotates: names are quoted by the server's rules.
pub async fn a_username_with_quotes_spaces_and_unicode_rotates<D: TestServer>(function: &Function) {
    assert!(
        !D::AWKWARD_USERNAMES.is_empty(),
        "{}: AWKWARD_USERNAMES is empty: list the names the server accepts that need quoting",
        D::ENGINE
    );
    let world = World::<D>::start(function).await;
    for (i, user) in D::AWKWARD_USERNAMES.iter().enumerate() {
        let secret = world
            .user_with_secret(&format!("weird-name-{i}"), user, "weird-Password-0")
            .await;
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotating user {user:?}: {e}"));
        let password = world
            .db
            .password_in(&world.value(&secret, "AWSCURRENT").await);
        assert!(world.db.can_login(user, &password).await, "{user:?}");
        assert_replaced(&world, user, "weird-Password-0", user).await;
    }
    assert!(world.db.admin_works().await, "administrator intact");
}

/// AWS's password policy variables shape the new password.
pub async fn password_policy_environment_variables_take_effect<D: TestServer>(function: &Function) {
    let world = World::<D>::start_with_env(
        function,
        &[
            ("PASSWORD_LENGTH", "20"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_UPPERCASE", "YES"),
            ("EXCLUDE_CHARACTERS", "abcdef"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "1"),
        ],
    )
    .await;
    let secret = world
        .user_with_secret("policy", "policy_user", "policy-Password-0")
        .await;
    for _ in 0..3 {
        world.rotate(&secret).await.expect("rotation");
        let password = world
            .db
            .password_in(&world.value(&secret, "AWSCURRENT").await);
        assert_eq!(password.len(), 20, "PASSWORD_LENGTH");
        assert!(
            !password.chars().any(|c| PUNCTUATION.contains(c)),
            "EXCLUDE_PUNCTUATION: {}",
            password.len()
        );
        assert!(
            !password.chars().any(|c| c.is_ascii_uppercase()),
            "EXCLUDE_UPPERCASE"
        );
        assert!(
            !password.chars().any(|c| "abcdef".contains(c)),
            "EXCLUDE_CHARACTERS"
        );
        assert!(
            password.chars().any(|c| c.is_ascii_digit()),
            "REQUIRE_EACH_INCLUDED_TYPE: digit"
        );
        assert!(
            password.chars().any(|c| c.is_ascii_lowercase()),
            "REQUIRE_EACH_INCLUDED_TYPE: lower"
        );
        assert!(world.db.can_login("policy_user", &password).await);
    }
}

/// Errors name the credential that failed and why: authentication,
/// unreachable, TLS; only `"ssl": false` opts into plaintext, with a warning.
pub async fn failures_say_which_credential_failed_and_why<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    // Wrong password in the secret: authentication, current and previous named.
    world
        .db
        .create_user("mismatch", "the-Real-Password-1")
        .await;
    let secret = world
        .create_secret(
            "mismatch",
            &world.db_secret("mismatch", "not-the-Password-2"),
        )
        .await;
    let error = world.rotate(&secret).await.expect_err("wrong password");
    assert!(error.contains("setSecret"), "{error}");
    assert!(error.contains("current credential"), "{error}");
    assert!(error.contains("authentication failed"), "{error}");
    assert!(world.db.can_login("mismatch", "the-Real-Password-1").await);

    // Nothing listens: unreachable.
    world.db.create_user("nowhere", "nowhere-Password-1").await;
    let mut value = world.db_secret("nowhere", "nowhere-Password-1");
    value["port"] = json!(crate::tools::free_port());
    let secret = world.create_secret("nowhere", &value).await;
    let error = world.rotate(&secret).await.expect_err("unreachable");
    assert!(error.contains("server unreachable"), "{error}");

    // The function does not trust the test CA: TLS failure, no plaintext fallback.
    world.restart_function(&[("TLS_EXTRA_CA_FILE", "")]);
    let secret = world
        .user_with_secret("untrusted", "untrusted", "untrusted-Password-1")
        .await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("untrusted certificate");
    assert!(error.contains("TLS failure"), "{error}");
    assert!(error.contains("current credential"), "{error}");
    // The function never fell back to plaintext: the user never logged in.
    assert_never_logged_in(&world, "untrusted", "untrusted-Password-1").await;

    // Only "ssl": false opts into plaintext, with a warning in the log.
    let mut value = world.db_secret("untrusted", "untrusted-Password-1");
    value["ssl"] = json!("false");
    value["port"] = json!(world.db.plaintext_port());
    let secret = world.create_secret("plaintext", &value).await;
    world
        .rotate(&secret)
        .await
        .expect("plaintext rotation when the secret asks for it");
    assert!(world.lambda.function_log_text().contains("WITHOUT TLS"));
}

/// The pre-checks refuse an unknown token, a token not `AWSPENDING` and a
/// secret with rotation turned off, before any change.
pub async fn pre_checks_refuse_wrong_tokens_and_disabled_rotation<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("checks", "checks_user", "checks-Password-0")
        .await;
    let current = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    let invoke = |token: String, step: &'static str| {
        let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": step});
        let lambda = &world.lambda;
        async move { lambda.invoke(&event).await }
    };
    let unknown = invoke(uuid::Uuid::new_v4().to_string(), "createSecret")
        .await
        .unwrap_err();
    assert_eq!(unknown.error_type, "UnknownVersion", "{unknown}");
    assert!(unknown.message.contains(&secret), "{unknown}");
    // The current version: nothing to do, success.
    invoke(current.clone(), "setSecret")
        .await
        .expect("already current");

    // A version that is neither current nor pending.
    world.rotate(&secret).await.expect("rotation");
    let error = invoke(current.clone(), "testSecret").await.unwrap_err();
    assert_eq!(error.error_type, "NotPending", "{error}");

    let bad_event = world
        .lambda
        .invoke(&json!({"SecretId": secret, "Step": "createSecret"}))
        .await
        .unwrap_err();
    assert_eq!(bad_event.error_type, "InvalidEvent", "{bad_event}");

    world
        .sm
        .cancel_rotate_secret()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    let new_current = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    let disabled = invoke(new_current, "createSecret").await.unwrap_err();
    assert_eq!(disabled.error_type, "RotationDisabled", "{disabled}");
    assert!(disabled.message.contains(&secret), "{disabled}");
}

/// No password appears in any log at trace level.
pub async fn no_password_appears_in_any_log<D: TestServer>(function: &Function) {
    let world = World::<D>::start_with_env(function, &[("RUST_LOG", "debug")]).await;
    let first = "leak-Check-Password-0";
    let secret = world.user_with_secret("leaks", "leak_user", first).await;
    let mut passwords = vec![first.to_owned()];
    for _ in 0..3 {
        world.rotate(&secret).await.expect("rotation");
        passwords.push(
            world
                .db
                .password_in(&world.value(&secret, "AWSCURRENT").await),
        );
    }
    // A secret the function refuses, holding a password.
    let refused = "refused-Secret-Password-3";
    passwords.push(refused.to_owned());
    let broken = world
        .create_secret(
            "leaks-refused",
            &world.db.broken_secret("leak_user", refused),
        )
        .await;
    let mut errors = vec![world.rotate(&broken).await.expect_err("a broken secret")];
    // A failing rotation too: the server no longer accepts the stored password.
    if D::HOLDS_THE_CREDENTIAL {
        world
            .db
            .set_password("leak_user", "changed-Behind-Its-Back-1")
            .await;
        passwords.push("changed-Behind-Its-Back-1".to_owned());
        errors.push(world.rotate(&secret).await.expect_err("rotation must fail"));
        let pending = world.version_with(&secret, "AWSPENDING").await.unwrap();
        if let Some(raw) = world.raw_value(&secret, Some(&pending), None).await {
            let value: Value = serde_json::from_str(&raw).unwrap();
            passwords.push(world.db.password_in(&value));
        }
    }
    let error = errors.join("\n");
    let logs = world.all_logs();
    assert!(
        logs.contains("rotation step"),
        "the function logged nothing?"
    );
    let refs: Vec<&str> = passwords.iter().map(String::as_str).collect();
    let found = crate::leaked(&format!("{logs}\n{error}"), &refs);
    assert!(
        found.is_empty(),
        "{} password(s) found in logs or errors",
        found.len()
    );
}

/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` works as well as
/// `SECRETS_MANAGER_ENDPOINT`.
pub async fn the_sdk_endpoint_variable_works_too<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    let url = world.emulator.url.clone();
    world.restart_function(&[
        ("SECRETS_MANAGER_ENDPOINT", ""),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &url),
    ]);
    let secret = world
        .user_with_secret("sdk-endpoint", "sdk_user", "sdk-Password-0")
        .await;
    world
        .rotate(&secret)
        .await
        .expect("rotation through AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let password = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    assert!(world.db.can_login("sdk_user", &password).await);
}

/// Operator events (`rotation-ctl preflight` and `recover`'s probe) on a
/// rotated secret: preflight fails no check, the probe finds `AWSCURRENT`
/// accepted; neither stores a value, moves a label or answers with a
/// password; `OPERATOR_EVENTS=off` refuses both, naming the setting.
pub async fn operator_events_change_nothing_and_hold_no_secret<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    let old_password = "operator-Password-1";
    world.db.create_user("app", old_password).await;
    let secret = world
        .create_secret("app-db", &world.db_secret("app", old_password))
        .await;
    world.rotate(&secret).await.expect("rotation succeeds");
    let new_password = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    let stages = world.stages(&secret).await;
    world.emulator.reset_calls().await;

    let preflight = json!({"Action": "preflight", "SecretId": secret});
    let report = world
        .lambda
        .invoke(&preflight)
        .await
        .unwrap_or_else(|e| panic!("preflight: {e}"));
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    assert!(
        checks.len() >= 4,
        "the driver's checks and the backend's: {report}"
    );
    assert!(
        checks.iter().all(|c| c["outcome"] != "fail"),
        "a rotation would succeed, so no check may fail: {report}"
    );
    let probe = world
        .lambda
        .invoke(&json!({"Action": "probe", "SecretId": secret}))
        .await
        .unwrap_or_else(|e| panic!("probe: {e}"));
    let versions = probe["versions"].as_array().cloned().unwrap_or_default();
    let current = versions
        .iter()
        .find(|v| {
            v["stages"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("AWSCURRENT")))
        })
        .unwrap_or_else(|| panic!("no AWSCURRENT in the probe: {probe}"));
    assert_eq!(current["verdict"], "accepted", "{probe}");
    assert_eq!(versions.len(), 2, "AWSCURRENT and AWSPREVIOUS: {probe}");

    for answer in [&report, &probe] {
        let text = answer.to_string();
        for password in [old_password, new_password.as_str()] {
            assert!(
                !text.contains(password),
                "an operator answer holds a password"
            );
        }
    }
    let calls = world.emulator.calls().await;
    for write in ["PutSecretValue", "UpdateSecretVersionStage", "RotateSecret"] {
        assert!(
            calls["calls"].get(write).is_none(),
            "operator events must change nothing, but made {write}: {calls}"
        );
    }
    assert_eq!(world.stages(&secret).await, stages, "the labels moved");
    assert!(world.db.can_login("app", &new_password).await);

    world.restart_function(&[("OPERATOR_EVENTS", "off")]);
    let refused = world
        .lambda
        .invoke(&preflight)
        .await
        .expect_err("OPERATOR_EVENTS=off refuses operator events");
    assert_eq!(refused.error_type, "OperatorEventsDisabled", "{refused}");
    assert!(refused.message.contains("OPERATOR_EVENTS"), "{refused}");
}

/// Instantiates the whole conformance suite (this module,
/// [`semantics`](crate::semantics) and [`faults`](crate::faults)) as
/// `#[tokio::test]`s for a [`Function`] and a [`TestServer`] type. A
/// scenario the server declares not applicable
/// ([`TestServer::not_applicable`]) prints its reason and does not run.
///
/// ```ignore
/// const FUNCTION: testkit::Function = testkit::Function {
///     binary: "rotate-postgres",
///     default_exclude: rotate_postgres::DEFAULT_EXCLUDE_CHARACTERS,
/// };
/// testkit::conformance_tests!(FUNCTION, testkit::postgres::EphemeralPostgres);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($function:expr, $database:ty) => {
        $crate::conformance_tests!(@each $function, $database;
            rotation_replaces_the_password_and_moves_the_labels,
            five_rotations_in_a_row,
            each_step_run_twice_gives_the_same_end_state,
            set_secret_recovers_when_the_database_holds_the_previous_password,
            bad_secrets_fail_clearly_and_change_nothing,
            a_username_with_quotes_spaces_and_unicode_rotates,
            password_policy_environment_variables_take_effect,
            failures_say_which_credential_failed_and_why,
            pre_checks_refuse_wrong_tokens_and_disabled_rotation,
            no_password_appears_in_any_log,
            the_sdk_endpoint_variable_works_too,
            operator_events_change_nothing_and_hold_no_secret,
            each_application_deploys_and_rotates,
        );
        $crate::conformance_tests!(@semantics $function, $database;
            rotation_token_is_passed_on_and_never_logged,
            finish_is_done_when_the_service_already_moved_the_labels,
            rotate_immediately_false_only_tests_the_configuration,
            a_callers_client_request_token_names_the_new_version,
            a_step_out_of_time_says_so_before_the_deadline,
            trusted_authorities_follow_the_settings,
            every_log_line_names_the_invocation,
            every_step_writes_one_valid_metric_record,
        );
        $crate::conformance_tests!(@faults $function, $database;
            database_stops_during_set_secret,
            database_stops_during_test_secret,
            function_killed_after_the_database_accepted_the_password,
            secrets_manager_errors_are_retried,
            stale_pending_is_recovered_by_the_documented_procedure,
            a_server_without_tls_is_refused,
            a_certificate_for_another_host_is_refused,
            hostile_fields_fail_clearly_and_change_nothing,
            two_rotations_at_once_cannot_corrupt_a_secret,
            many_secrets_rotate_concurrently,
        );
    };
    (@each $function:expr, $database:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if $crate::server::applies::<$database>(stringify!($name)) {
                    $crate::conformance::$name::<$database>(&$function).await;
                }
            }
        )*
    };
    (@semantics $function:expr, $database:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if $crate::server::applies::<$database>(stringify!($name)) {
                    $crate::semantics::$name::<$database>(&$function).await;
                }
            }
        )*
    };
    (@faults $function:expr, $database:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if $crate::server::applies::<$database>(stringify!($name)) {
                    $crate::faults::$name::<$database>(&$function)
                        .await
                        .assert_no_leak();
                }
            }
        )*
        /// Every fault scenario again, one after the other, with all their
        /// logs, errors and panic output scanned for every password they
        /// used or made.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_scenario_at_trace_level_leaks_nothing() {
            let mut all = $crate::faults::Evidence::default();
            $(
                if $crate::server::applies::<$database>(stringify!($name)) {
                    all.absorb($crate::faults::$name::<$database>(&$function).await);
                }
            )*
            $crate::faults::assert_the_trace_run_leaks_nothing(&all);
        }
    };
}
