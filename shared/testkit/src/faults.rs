//! The fault, hostile-input, transport and concurrency part of the
//! conformance suite: whatever goes wrong, a stored credential keeps logging
//! in, the labels stay consistent, a later rotation succeeds, and no password
//! reaches a log or an error.
//!
//! Each scenario runs with the function logging at `trace` and returns what
//! it saw ([`Evidence`]: every password it used, every error it got). Each
//! has its own test; the suite's `every_scenario_at_trace_level_leaks_nothing`
//! runs them all again (one list of scenarios, in
//! [`conformance_tests!`](crate::conformance_tests)) and scans all of it for
//! every password ([`assert_the_trace_run_leaks_nothing`]).

use crate::conformance::assert_never_logged_in;
use crate::server::{BadSecret, Function, OldPassword, ServerOptions, TestServer};
use crate::world::World;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The most verbose logging, for every scenario.
const TRACE: (&str, &str) = ("RUST_LOG", "trace");

/// What a scenario saw: the passwords it used and the texts (errors, logs)
/// that must not hold any of them.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Every password the scenario used or the function made, and every
    /// `RotationToken` the emulator issued (AWS marks it sensitive).
    pub passwords: Vec<String>,
    /// Errors and logs.
    pub texts: Vec<String>,
}

impl Evidence {
    /// Adds what another scenario saw.
    pub fn absorb(&mut self, other: Evidence) {
        self.passwords.extend(other.passwords);
        self.texts.extend(other.texts);
    }

    fn password(&mut self, password: impl Into<String>) {
        self.passwords.push(password.into());
    }

    fn text(&mut self, text: impl Into<String>) {
        self.texts.push(text.into());
    }

    /// Adds the passwords of every version of `secret` and all the world's logs.
    async fn collect<D: TestServer>(&mut self, world: &World<D>, secret: &str) {
        for version in world.stages(secret).await.keys() {
            if let Some(raw) = world.raw_value(secret, Some(version), None).await {
                if let Ok(value) = serde_json::from_str::<Value>(&raw) {
                    if let Some(p) = value["password"].as_str() {
                        self.password(p);
                    }
                }
            }
        }
        let calls = world.emulator.calls().await;
        for token in calls["issued_rotation_tokens"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(token) = token.as_str() {
                self.password(token);
            }
        }
        self.text(world.all_logs());
    }

    /// Panics naming how many passwords appear in the texts (never which).
    pub fn assert_no_leak(&self) {
        let all = self.texts.join("\n");
        let passwords: Vec<&str> = self
            .passwords
            .iter()
            .map(String::as_str)
            .filter(|p| p.len() >= 8)
            .collect();
        let found = crate::leaked(&all, &passwords);
        assert!(
            found.is_empty(),
            "{} of {} passwords or rotation tokens appear in logs or errors",
            found.len(),
            passwords.len()
        );
    }
}

/// The invariants after any fault: exactly one `AWSCURRENT`, at most one
/// `AWSPENDING`, and the `AWSCURRENT` credential (or, in the single-user
/// window between setSecret and finishSecret, the stored `AWSPENDING` one)
/// logs in.
pub async fn assert_access_kept<D: TestServer>(world: &World<D>, secret: &str) {
    let stages = world.stages(secret).await;
    let count = |label: &str| stages.values().flatten().filter(|s| *s == label).count();
    assert_eq!(count("AWSCURRENT"), 1, "{stages:?}");
    assert!(count("AWSPENDING") <= 1, "{stages:?}");
    let current = world.value(secret, "AWSCURRENT").await;
    let user = world.db.user_in(&current);
    if world
        .db
        .can_login(&user, &world.db.password_in(&current))
        .await
    {
        return;
    }
    let pending_version = world
        .version_with(secret, "AWSPENDING")
        .await
        .expect("AWSCURRENT does not log in and there is no AWSPENDING");
    let pending: Value = serde_json::from_str(
        &world
            .raw_value(secret, Some(&pending_version), None)
            .await
            .expect("AWSCURRENT does not log in and AWSPENDING has no value"),
    )
    .expect("a JSON pending value");
    assert!(
        world
            .db
            .can_login(&world.db.user_in(&pending), &world.db.password_in(&pending))
            .await,
        "neither AWSCURRENT nor AWSPENDING logs in: access lost{}",
        D::DURABILITY.hint()
    );
}

/// Asserts that `AWSCURRENT` logs in and nothing is pending.
pub async fn assert_settled<D: TestServer>(world: &World<D>, secret: &str) {
    let stages = world.stages(secret).await;
    assert!(
        !stages.values().flatten().any(|s| s == "AWSPENDING"),
        "AWSPENDING left: {stages:?}"
    );
    let current = world.value(secret, "AWSCURRENT").await;
    let user = world.db.user_in(&current);
    assert!(
        world
            .db
            .can_login(&user, &world.db.password_in(&current))
            .await,
        "AWSCURRENT does not log in{}",
        D::DURABILITY.hint()
    );
}

/// Starts a rotation of `secret` that runs no step (the emulator is told to
/// skip them), so a test can run each step by hand; returns the pending
/// version's token.
pub async fn stage<D: TestServer>(world: &World<D>, secret: &str) -> String {
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(secret).await.expect("staging a rotation");
    world
        .emulator
        .set_rotation_steps(&["createSecret", "setSecret", "testSecret", "finishSecret"])
        .await;
    world
        .version_with(secret, "AWSPENDING")
        .await
        .expect("a pending version")
}

/// Runs one rotation step (`createSecret`, …) of `secret`'s version `token`
/// by invoking the function directly, as the service would.
pub async fn step<D: TestServer>(
    world: &World<D>,
    secret: &str,
    token: &str,
    name: &str,
) -> Result<Value, crate::lambda::InvokeError> {
    world
        .lambda
        .invoke(&json!({"SecretId": secret, "ClientRequestToken": token, "Step": name}))
        .await
}

/// Runs the remaining steps by hand and checks the rotation finished.
async fn finish_by_hand<D: TestServer>(world: &World<D>, secret: &str, token: &str, from: &[&str]) {
    for name in from {
        step(world, secret, token, name)
            .await
            .unwrap_or_else(|e| panic!("re-running {name}: {e}"));
    }
    assert_eq!(
        world.version_with(secret, "AWSCURRENT").await.as_deref(),
        Some(token)
    );
    assert_settled(world, secret).await;
}

/// A later, ordinary rotation succeeds.
async fn later_rotation_works<D: TestServer>(
    world: &World<D>,
    secret: &str,
    evidence: &mut Evidence,
) {
    world.rotate(secret).await.expect("a later rotation");
    assert_settled(world, secret).await;
    evidence.collect(world, secret).await;
}

/// The database stops while setSecret runs: the step fails naming the
/// unreachable server; once it is back, the step re-runs and the rotation
/// completes.
pub async fn database_stops_during_set_secret<D: TestServer>(function: &Function) -> Evidence {
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    evidence.password("stop-Set-Password-0");
    let secret = world
        .user_with_secret("stop-set", "stop_set", "stop-Set-Password-0")
        .await;
    let token = stage(&world, &secret).await;
    step(&world, &secret, &token, "createSecret")
        .await
        .expect("createSecret");
    world.db.stop();
    let error = step(&world, &secret, &token, "setSecret")
        .await
        .expect_err("setSecret with the database down");
    assert!(error.message.contains("unreachable"), "{error}");
    assert!(error.message.contains("current credential"), "{error}");
    evidence.text(error.to_string());
    world.db.restart().await;
    assert_access_kept(&world, &secret).await;
    assert!(world.db.can_login("stop_set", "stop-Set-Password-0").await);
    finish_by_hand(
        &world,
        &secret,
        &token,
        &["setSecret", "testSecret", "finishSecret"],
    )
    .await;
    later_rotation_works(&world, &secret, &mut evidence).await;
    evidence
}

/// The database stops while testSecret runs (setSecret done): the stored
/// pending credential is what the database has; once it is back, testSecret
/// re-runs and the rotation completes.
pub async fn database_stops_during_test_secret<D: TestServer>(function: &Function) -> Evidence {
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    evidence.password("stop-Test-Password-0");
    let secret = world
        .user_with_secret("stop-test", "stop_test", "stop-Test-Password-0")
        .await;
    let token = stage(&world, &secret).await;
    for name in ["createSecret", "setSecret"] {
        step(&world, &secret, &token, name).await.expect(name);
    }
    world.db.stop();
    let error = step(&world, &secret, &token, "testSecret")
        .await
        .expect_err("testSecret with the database down");
    assert!(error.message.contains("pending credential"), "{error}");
    assert!(error.message.contains("unreachable"), "{error}");
    evidence.text(error.to_string());
    world.db.restart().await;
    assert_access_kept(&world, &secret).await;
    finish_by_hand(&world, &secret, &token, &["testSecret", "finishSecret"]).await;
    later_rotation_works(&world, &secret, &mut evidence).await;
    evidence
}

/// Runs step `name` of version `token` with the function (started with
/// `env`) set to exit at the crash point `point`, as a killed Lambda would,
/// and waits until it has. The function is left stopped: restart it.
pub async fn crash_in_step<D: TestServer>(
    world: &mut World<D>,
    secret: &str,
    token: &str,
    name: &str,
    point: &str,
    env: &[(&str, &str)],
) {
    let mut env = env.to_vec();
    env.push((CRASH_POINT_VAR, point));
    world.restart_function(&env);
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        world.lambda.invoke_url(),
        world.lambda.name
    );
    let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": name});
    let post = || {
        let (url, event) = (url.clone(), event.clone());
        tokio::spawn(async move {
            let _ = reqwest::Client::new().post(url).json(&event).send().await;
        })
    };
    let mut calls = vec![post()];
    let started = Instant::now();
    while !world.lambda.function_exited() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the function never reached crash point {point} in {name}; its log:\n{}",
            crate::tools::read_tail(&world.lambda.function_log)
        );
        // The runtime can hand the first event to the request the killed
        // instance left waiting: send the (idempotent) step again.
        if started.elapsed() > Duration::from_secs(5 * calls.len() as u64) {
            calls.push(post());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for call in calls {
        call.abort();
    }
}

/// The function is killed after the database accepted the new password but
/// before setSecret returned; setSecret re-runs (and finds the password set).
pub async fn function_killed_after_the_database_accepted_the_password<D: TestServer>(
    function: &Function,
) -> Evidence {
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    evidence.password("killed-Password-0");
    let secret = world
        .user_with_secret("killed", "killed_user", "killed-Password-0")
        .await;
    let token = stage(&world, &secret).await;
    step(&world, &secret, &token, "createSecret")
        .await
        .expect("createSecret");
    crash_in_step(
        &mut world,
        &secret,
        &token,
        "setSecret",
        "after-set",
        &[TRACE],
    )
    .await;
    // The database has the pending password; the secret stores it.
    let pending: Value = serde_json::from_str(
        &world
            .raw_value(&secret, Some(&token), None)
            .await
            .expect("pending value"),
    )
    .expect("JSON");
    assert!(
        world
            .db
            .can_login("killed_user", &world.db.password_in(&pending))
            .await
    );
    assert_access_kept(&world, &secret).await;
    world.restart_function(&[TRACE]);
    finish_by_hand(
        &world,
        &secret,
        &token,
        &["setSecret", "testSecret", "finishSecret"],
    )
    .await;
    // The re-run found the new password in place. A server that keeps the
    // old password beside the new one may as well set the same pair again
    // (the end state, checked above, is what matters there).
    if D::OLD_PASSWORD == OldPassword::Refused {
        let log = world.lambda.function_log_text();
        assert!(log.contains("pending credential already works"), "{log}");
    }
    later_rotation_works(&world, &secret, &mut evidence).await;
    evidence
}

/// The driver's crash-point variable (`rotation::driver::CRASH_POINT_VAR`).
const CRASH_POINT_VAR: &str = "ROTATION_TEST_CRASH_POINT";

/// Secrets Manager answers 500 or throttles: the SDK retries and the
/// rotation succeeds; when it keeps failing, the rotation fails naming
/// Secrets Manager and nothing is lost.
pub async fn secrets_manager_errors_are_retried<D: TestServer>(function: &Function) -> Evidence {
    let mut evidence = Evidence::default();
    let world = World::<D>::start_with_env(function, &[TRACE]).await;
    evidence.password("retry-Password-0");
    let secret = world
        .user_with_secret("retry", "retry_user", "retry-Password-0")
        .await;
    for kind in ["500", "throttle"] {
        world.emulator.inject_faults(2, kind).await;
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation with two {kind} answers: {e}"));
        let calls = world.emulator.calls().await;
        assert_eq!(calls["faults_injected"], json!(2), "{kind}: {calls}");
        assert_settled(&world, &secret).await;
    }
    // Failing for good: the step fails, naming Secrets Manager.
    world.emulator.inject_faults(50, "500").await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("Secrets Manager down");
    world.emulator.inject_faults(0, "500").await;
    assert!(error.contains("Secrets Manager"), "{error}");
    evidence.text(error);
    assert_access_kept(&world, &secret).await;
    recover_stale_pending(&world, &secret).await;
    later_rotation_works(&world, &secret, &mut evidence).await;
    evidence
}

/// The documented recovery from "a previous rotation isn't complete"
/// (README, "When a rotation fails"): look at the labels, remove
/// `AWSPENDING` from the stale version, rotate again.
pub async fn recover_stale_pending<D: TestServer>(world: &World<D>, secret: &str) {
    let Some(stale) = world.version_with(secret, "AWSPENDING").await else {
        return;
    };
    let refused = world
        .rotate(secret)
        .await
        .expect_err("refused while AWSPENDING is stale");
    assert!(refused.contains("isn't complete"), "{refused}");
    world
        .sm
        .update_secret_version_stage()
        .secret_id(secret)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&stale)
        .send()
        .await
        .expect("removing the stale AWSPENDING");
}

/// A rotation left with `AWSPENDING` on a stale version (the database was
/// down during setSecret) is recovered by the documented procedure.
pub async fn stale_pending_is_recovered_by_the_documented_procedure<D: TestServer>(
    function: &Function,
) -> Evidence {
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    evidence.password("stale-Password-0");
    let secret = world
        .user_with_secret("stale", "stale_user", "stale-Password-0")
        .await;
    world.db.stop();
    let error = world.rotate(&secret).await.expect_err("database down");
    evidence.text(error);
    world.db.restart().await;
    assert!(world.version_with(&secret, "AWSPENDING").await.is_some());
    assert_access_kept(&world, &secret).await;
    recover_stale_pending(&world, &secret).await;
    later_rotation_works(&world, &secret, &mut evidence).await;
    crate::conformance::assert_replaced(&world, "stale_user", "stale-Password-0", "after recovery")
        .await;
    evidence
}

/// A server without TLS, and a secret that does not say `"ssl": false`: the
/// function refuses (no silent downgrade) and changes nothing.
pub async fn a_server_without_tls_is_refused<D: TestServer>(function: &Function) -> Evidence {
    let mut evidence = Evidence::default();
    let world =
        World::<D>::start_with_server(function, &[TRACE], &ServerOptions::without_tls()).await;
    evidence.password("no-Tls-Password-0");
    let secret = world
        .user_with_secret("no-tls", "no_tls", "no-Tls-Password-0")
        .await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("no TLS on the server");
    assert!(error.contains("TLS failure"), "{error}");
    assert!(error.contains("current credential"), "{error}");
    evidence.text(error);
    assert_never_logged_in(&world, "no_tls", "no-Tls-Password-0").await;
    evidence.collect(&world, &secret).await;
    evidence
}

/// A certificate for another host name is refused.
pub async fn a_certificate_for_another_host_is_refused<D: TestServer>(
    function: &Function,
) -> Evidence {
    let mut evidence = Evidence::default();
    let world = World::<D>::start_with_server(
        function,
        &[TRACE],
        &ServerOptions::certificate_for_another_host(),
    )
    .await;
    evidence.password("wrong-Host-Password-0");
    let secret = world
        .user_with_secret("wrong-host", "wrong_host", "wrong-Host-Password-0")
        .await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("certificate for another host");
    assert!(error.contains("TLS failure"), "{error}");
    evidence.text(error);
    assert_never_logged_in(&world, "wrong_host", "wrong-Host-Password-0").await;
    evidence.collect(&world, &secret).await;
    evidence
}

/// Hostile values in every field: each gives a clear error naming the
/// secret (and the field, where one is wrong) and changes nothing.
pub async fn hostile_fields_fail_clearly_and_change_nothing<D: TestServer>(
    function: &Function,
) -> Evidence {
    let mut evidence = Evidence::default();
    let world = World::<D>::start_with_env(function, &[TRACE]).await;
    let password = "hostile-Password-0";
    evidence.password(password);
    world.db.create_user("victim", password).await;
    let good = world.db_secret("victim", password);
    for BadSecret {
        name,
        value,
        error: expected,
    } in world.db.hostile_secrets(&good, password)
    {
        let secret = world.create_secret(name, &value).await;
        let before = world.stages(&secret).await;
        let error = world.rotate(&secret).await.expect_err(name);
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            error.contains(&secret),
            "{name}: the error must name the secret: {error}"
        );
        evidence.text(error);
        let after = world.stages(&secret).await;
        for (version, stages) in &before {
            assert_eq!(after.get(version), Some(stages), "{name}: labels moved");
        }
        assert!(
            world.db.can_login("victim", password).await,
            "{name}: the database changed"
        );
    }
    // A binary (non-UTF-8) secret value.
    let binary = world
        .sm
        .create_secret()
        .name("binary")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![
            0xff, 0xfe, 0x00, 0x80,
        ]))
        .send()
        .await
        .expect("a binary secret")
        .arn()
        .expect("ARN")
        .to_owned();
    let error = world.rotate(&binary).await.expect_err("binary secret");
    assert!(error.contains("binary"), "{error}");
    evidence.text(error);
    assert!(world.db.can_login("victim", password).await);
    assert!(world.db.admin_works().await);
    evidence.text(world.all_logs());
    evidence
}

/// Two rotations of one secret at once, and the same steps run twice
/// concurrently on two function instances: the secret ends consistent and a
/// later rotation works.
pub async fn two_rotations_at_once_cannot_corrupt_a_secret<D: TestServer>(
    function: &Function,
) -> Evidence {
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    world.lambda.start_more_instances(1);
    evidence.password("twice-Password-0");
    let secret = world
        .user_with_secret("concurrent", "concurrent_user", "twice-Password-0")
        .await;
    let (a, b) = tokio::join!(world.rotate(&secret), world.rotate(&secret));
    assert!(
        a.is_ok() || b.is_ok(),
        "neither rotation succeeded: {a:?} / {b:?}"
    );
    for result in [a, b] {
        if let Err(e) = result {
            evidence.text(e);
        }
    }
    assert_access_kept(&world, &secret).await;
    recover_stale_pending(&world, &secret).await;
    later_rotation_works(&world, &secret, &mut evidence).await;

    // Each step of one version delivered twice at the same time.
    let token = stage(&world, &secret).await;
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let (x, y) = tokio::join!(
            step(&world, &secret, &token, name),
            step(&world, &secret, &token, name)
        );
        assert!(x.is_ok() || y.is_ok(), "{name}: both failed: {x:?} / {y:?}");
        for result in [x, y] {
            if let Err(e) = result {
                evidence.text(e.to_string());
            }
        }
        assert_access_kept(&world, &secret).await;
    }
    // Whatever interleaving happened, the version is current or can finish.
    if world.version_with(&secret, "AWSCURRENT").await.as_deref() != Some(token.as_str()) {
        finish_by_hand(
            &world,
            &secret,
            &token,
            &["setSecret", "testSecret", "finishSecret"],
        )
        .await;
    }
    assert_settled(&world, &secret).await;
    later_rotation_works(&world, &secret, &mut evidence).await;
    evidence
}

/// Rotations in flight at once in [`many_secrets_rotate_concurrently`].
pub const IN_FLIGHT: usize = 50;

/// 200 secrets rotated concurrently (up to [`IN_FLIGHT`] at once) through
/// the emulator by four function instances: every one ends rotated and
/// logging in. Prints the time.
pub async fn many_secrets_rotate_concurrently<D: TestServer>(function: &Function) -> Evidence {
    let secrets_count: usize = std::env::var("ROTATION_CONCURRENT_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut evidence = Evidence::default();
    let mut world = World::<D>::start_with_env(function, &[TRACE]).await;
    let phase = Instant::now();
    world.lambda.start_more_instances(3);
    // Set-up and checks run 20 at a time.
    let setup_gate = tokio::sync::Semaphore::new(20);
    let secrets: Vec<(String, String, String)> =
        futures::future::join_all((0..secrets_count).map(|i| {
            let (gate, world) = (&setup_gate, &world);
            async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let password = format!("many-Password-{i:03}");
                let user = format!("many_{i:03}");
                world.db.create_user(&user, &password).await;
                let arn = world
                    .create_secret(&format!("many-{i:03}"), &world.db_secret(&user, &password))
                    .await;
                (arn, user, password)
            }
        }))
        .await;
    evidence
        .passwords
        .extend(secrets.iter().map(|(_, _, p)| p.clone()));
    eprintln!(
        "set-up done in {:.1} s; rotating {secrets_count} secrets",
        phase.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    // At most IN_FLIGHT RotateSecret calls at a time: `cargo lambda watch`
    // stops handing out events with a couple of hundred invocations queued.
    let gate = tokio::sync::Semaphore::new(IN_FLIGHT);
    let results = futures::future::join_all(secrets.iter().map(|(arn, _, _)| {
        let (gate, world) = (&gate, &world);
        async move {
            let _permit = gate.acquire().await.expect("semaphore");
            world.rotate(arn).await
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {secrets_count} rotations failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    println!(
        "{secrets_count} secrets rotated concurrently ({IN_FLIGHT} in flight) by 4 instances of {function} in {:.2} s ({:.1} ms per rotation)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / secrets_count as f64
    );
    let checks = futures::future::join_all(secrets.iter().map(|(arn, user, _)| {
        let (gate, world) = (&setup_gate, &world);
        async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let value = world.value(arn, "AWSCURRENT").await;
            assert_eq!(value["username"], world.db.secret(user, "")["username"]);
            assert!(
                world
                    .db
                    .can_login(user, &world.db.password_in(&value))
                    .await,
                "{user}"
            );
            assert!(
                !world
                    .stages(arn)
                    .await
                    .values()
                    .flatten()
                    .any(|s| s == "AWSPENDING"),
                "{user}: AWSPENDING left"
            );
            world.db.password_in(&value)
        }
    }))
    .await;
    evidence.passwords.extend(checks);
    eprintln!("checks done at {:.1} s", phase.elapsed().as_secs_f64());
    evidence.text(world.all_logs());
    evidence
}

/// The check of the trace-level run of every scenario (generated by
/// [`conformance_tests!`](crate::conformance_tests) from the same list as
/// the scenarios' own tests): something was logged at `trace`, and no
/// password any scenario used or made appears in any of their logs or errors.
pub fn assert_the_trace_run_leaks_nothing(all: &Evidence) {
    assert!(
        all.texts.iter().any(|t| t.contains("TRACE")
            || t.contains("\"level\":\"TRACE\"")
            || t.contains("trace")),
        "nothing was logged at trace level?"
    );
    all.assert_no_leak();
}
