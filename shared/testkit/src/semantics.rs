//! Conformance scenarios for the service's exact semantics and a real AWS
//! account: the `RotationToken`, finishSecret after the service moved the
//! labels, `RotateImmediately=false`, a caller's `ClientRequestToken`, the
//! Lambda deadline, the trusted certificate authorities, and the log lines
//! an operator reads. Every backend runs them through
//! [`conformance_tests!`](crate::conformance_tests).
//!
//! What each one mirrors is written from AWS's documentation: the
//! `RotateSecret` and `PutSecretValue` API references, "Rotation by Lambda
//! function" and "How rotation works" in the Secrets Manager user guide, and
//! "Log-level filtering" in the Lambda developer guide.

use crate::server::{Function, TestServer};
use crate::world::World;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A TCP server that accepts connections and never says a word: a database
/// behind a firewall that drops replies, or a hung server.
pub struct SilentServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    held: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl SilentServer {
    /// Starts listening; connections are accepted and held open, unanswered.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(mut streams) = keep.lock() {
                    streams.push(stream);
                }
            }
        });
        Self { port, held }
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.held.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// The JSON step lines (`"message": "rotation step"`) of the function's log.
pub fn step_lines<D: TestServer>(world: &World<D>) -> Vec<Value> {
    world
        .lambda
        .function_log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "rotation step")
        .collect()
}

/// `RotateSecret` with this world's function, a caller's
/// `ClientRequestToken` (or none) and `RotateImmediately`; `Err` carries
/// the service's message.
pub async fn rotate_secret_request<D: TestServer>(
    world: &World<D>,
    secret: &str,
    token: Option<&str>,
    immediately: bool,
) -> Result<(), String> {
    world
        .sm
        .rotate_secret()
        .secret_id(secret)
        .rotation_lambda_arn(world.function_arn())
        .set_client_request_token(token.map(str::to_owned))
        .rotate_immediately(immediately)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DisplayErrorContext(e).to_string())
}

/// The `RotationToken` of every event reaches `PutSecretValue`, an event
/// without one sends none, and no token ever appears in a log.
pub async fn rotation_token_is_passed_on_and_never_logged<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    world.restart_function(&[("RUST_LOG", "trace")]);
    let secret = world
        .user_with_secret("token", "token_user", "token-Password-0")
        .await;
    world.rotate(&secret).await.expect("rotation");

    // An event without a RotationToken (older service, or an operator's own
    // invoke): PutSecretValue gets none.
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(&secret).await.expect("staging");
    let token = world.version_with(&secret, "AWSPENDING").await.unwrap();
    world.emulator.reset_calls().await;
    let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": "createSecret"});
    world.lambda.invoke(&event).await.expect("createSecret");

    let calls = world.emulator.calls().await;
    assert_eq!(
        calls["put_rotation_tokens"],
        json!([{"given": false, "issued_by_rotation": false}]),
        "an event without RotationToken must not invent one: {calls}"
    );
    let issued: Vec<String> = calls["issued_rotation_tokens"]
        .as_array()
        .expect("issued tokens")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    assert!(issued.len() >= 2, "{calls}");
    let tokens: Vec<&str> = issued.iter().map(String::as_str).collect();
    let leaked = crate::leaked(&world.lambda.function_log_text(), &tokens);
    assert!(
        leaked.is_empty(),
        "a RotationToken reached the function's log"
    );
}

/// finishSecret is done, not failed, when the token is already `AWSCURRENT`:
/// the service (or an earlier attempt) removed `AWSPENDING`, or left it on
/// the `AWSCURRENT` version, as the `RotateSecret` reference allows.
pub async fn finish_is_done_when_the_service_already_moved_the_labels<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("finish", "finish_user", "finish-Password-0")
        .await;
    let old = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(&secret).await.expect("staging");
    let token = world.version_with(&secret, "AWSPENDING").await.unwrap();
    let invoke = |step: &'static str| {
        let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": step});
        let lambda = &world.lambda;
        async move { lambda.invoke(&event).await }
    };
    for step in ["createSecret", "setSecret", "testSecret"] {
        invoke(step).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    // The service's own finish: AWSCURRENT moved, AWSPENDING left on it.
    world
        .sm
        .update_secret_version_stage()
        .secret_id(&secret)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&token)
        .remove_from_version_id(&old)
        .send()
        .await
        .expect("moving AWSCURRENT");
    invoke("finishSecret")
        .await
        .expect("finishSecret with AWSPENDING on the AWSCURRENT version");
    let stages = world.stages(&secret).await;
    assert_eq!(
        stages.get(&token),
        Some(&vec!["AWSCURRENT".to_owned()]),
        "{stages:?}"
    );

    // And again, with AWSPENDING already gone.
    invoke("finishSecret")
        .await
        .expect("finishSecret with AWSPENDING removed");
    let outcomes: Vec<Value> = step_lines(&world)
        .into_iter()
        .filter(|l| l["step"] == "finishSecret")
        .map(|l| l["outcome"].clone())
        .collect();
    let tail = &outcomes[outcomes.len().saturating_sub(2)..];
    assert_eq!(
        tail,
        [
            json!("done: cleared AWSPENDING left on the AWSCURRENT version"),
            json!("skipped: version is already AWSCURRENT")
        ],
        "the re-run clears AWSPENDING, the one after has nothing to do: {outcomes:?}"
    );
    let password = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    assert!(world.db.can_login("finish_user", &password).await);
}

/// `RotateSecret` with `RotateImmediately=false`: the service only tests the
/// configuration (testSecret on an `AWSPENDING` copy of the current value,
/// removed afterwards). The function passes it without changing anything; a
/// configuration that cannot work fails it, and still nothing changes.
pub async fn rotate_immediately_false_only_tests_the_configuration<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("later", "later_user", "later-Password-0")
        .await;
    let before = world.stages(&secret).await;
    rotate_secret_request(&world, &secret, None, false)
        .await
        .expect("the configuration test passes");
    assert_eq!(world.stages(&secret).await, before, "nothing may change");
    assert!(world.db.can_login("later_user", "later-Password-0").await);
    let lines = step_lines(&world);
    assert_eq!(lines.len(), 1, "only testSecret runs: {lines:?}");
    assert_eq!(lines[0]["step"], "testSecret");
    assert_eq!(lines[0]["outcome"], "done");

    // A configuration that cannot work: the stored password is wrong.
    let broken = world
        .create_secret(
            "later-broken",
            &world.db_secret("later_user", "wrong-Password-9"),
        )
        .await;
    let before = world.stages(&broken).await;
    let error = rotate_secret_request(&world, &broken, None, false)
        .await
        .expect_err("a wrong password fails the configuration test");
    assert!(error.contains("testSecret"), "{error}");
    assert!(error.contains("authentication failed"), "{error}");
    assert_eq!(world.stages(&broken).await, before, "nothing may change");
    assert!(world.db.can_login("later_user", "later-Password-0").await);
}

/// A caller's own `ClientRequestToken` becomes the new version's id, and
/// repeating the finished rotation with the same token changes nothing.
pub async fn a_callers_client_request_token_names_the_new_version<D: TestServer>(
    function: &Function,
) {
    let world = World::<D>::start(function).await;
    let secret = world
        .user_with_secret("chosen", "chosen_user", "chosen-Password-0")
        .await;
    let token = uuid::Uuid::new_v4().to_string();
    rotate_secret_request(&world, &secret, Some(&token), true)
        .await
        .expect("rotation with the caller's token");
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    let password = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    assert!(world.db.can_login("chosen_user", &password).await);
    // The same token again: every step sees its version is AWSCURRENT.
    rotate_secret_request(&world, &secret, Some(&token), true)
        .await
        .expect("a repeated token is harmless");
    assert_eq!(
        world
            .db
            .password_in(&world.value(&secret, "AWSCURRENT").await),
        password,
        "a repeated token must not rotate again"
    );
    assert!(world.db.can_login("chosen_user", &password).await);
}

/// A server that accepts TCP and never answers, and a short function
/// timeout: the step fails with a timeout that names the credential, its
/// line is logged and its error returned before the deadline, and nothing
/// changed.
pub async fn a_step_out_of_time_says_so_before_the_deadline<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    // The connect timeout is longer than the function's: the deadline binds.
    world.restart_function(&[("CONNECT_TIMEOUT_SECONDS", "60")]);
    world.lambda.set_timeout(4.0).await;
    let silent = SilentServer::start();
    world.db.create_user("silent", "silent-Password-0").await;
    let mut value = world.db_secret("silent", "silent-Password-0");
    value["port"] = json!(silent.port);
    let secret = world.create_secret("silent", &value).await;
    let current = world.version_with(&secret, "AWSCURRENT").await.unwrap();

    let error = world.rotate(&secret).await.expect_err("out of time");
    assert!(error.contains("setSecret"), "{error}");
    assert!(error.contains("ran out of time"), "{error}");
    assert!(error.contains("pending credential"), "{error}");
    assert!(
        silent.accepted() >= 1,
        "the function never reached the server"
    );

    let line = step_lines(&world)
        .into_iter()
        .find(|l| l["step"] == "setSecret")
        .expect("a setSecret step line");
    assert_eq!(line["outcome"], "failed", "{line}");
    assert_eq!(line["failure_kind"], "timeout", "{line}");
    let invocations = world.lambda.invocations().await;
    let set = invocations
        .iter()
        .find(|i| i.request_id == line["request_id"].as_str().unwrap_or_default())
        .expect("the proxy saw the setSecret invocation");
    let answered = set.answered_ms.expect("the function answered");
    assert_eq!(set.answer.as_deref(), Some("error"));
    assert!(
        answered <= set.deadline_ms,
        "answered {} ms after the deadline",
        answered - set.deadline_ms
    );
    assert!(
        answered + 3_000 >= set.deadline_ms,
        "gave up {} ms before the deadline: the budget is not used",
        set.deadline_ms - answered
    );

    // Nothing changed: same AWSCURRENT, and the user's password is the old one.
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await.as_deref(),
        Some(current.as_str())
    );
    assert!(world.db.can_login("silent", "silent-Password-0").await);
}

/// What a function trusts follows `TLS_PUBLIC_ROOTS`, `TLS_RDS_ROOTS` and
/// `TLS_EXTRA_CA_FILE`: a CA added through the same code path as the built-in
/// RDS bundle is trusted with both built-in sets off; without it the server
/// is refused, and trusting nothing stops the function at start.
pub async fn trusted_authorities_follow_the_settings<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    // Only the test CA (through TLS_EXTRA_CA_FILE): rotation works.
    world.restart_function(&[("TLS_PUBLIC_ROOTS", "false"), ("TLS_RDS_ROOTS", "false")]);
    let secret = world
        .user_with_secret("pinned", "pinned_user", "pinned-Password-0")
        .await;
    world.rotate(&secret).await.expect("the test CA is trusted");

    // Public roots and RDS CAs, but not the test CA: refused.
    world.restart_function(&[("TLS_EXTRA_CA_FILE", "")]);
    let current = world.version_with(&secret, "AWSCURRENT").await.unwrap();
    let error = world.rotate(&secret).await.expect_err("untrusted");
    assert!(error.contains("TLS failure"), "{error}");
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await.as_deref(),
        Some(current.as_str())
    );
    let line = step_lines(&world)
        .into_iter()
        .rev()
        .find(|l| l["step"] == "setSecret")
        .expect("a setSecret line");
    assert_eq!(line["failure_kind"], "tls", "{line}");

    // Trusting nothing: the function refuses to start, naming the settings.
    world.restart_function(&[
        ("TLS_EXTRA_CA_FILE", ""),
        ("TLS_PUBLIC_ROOTS", "false"),
        ("TLS_RDS_ROOTS", "0"),
    ]);
    let started = std::time::Instant::now();
    while !world.lambda.function_exited() && started.elapsed().as_secs() < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(world.lambda.function_exited(), "the function kept running");
    let log = world.lambda.function_log_text();
    assert!(
        log.contains("TLS trusts no certificate authority") && log.contains("TLS_PUBLIC_ROOTS"),
        "{log}"
    );
}

/// Every line the function logs while it handles an invocation carries the
/// invocation's `request_id`, `secret_arn` (the full ARN), `step` and
/// `version`, warnings inside the backend included; `AWS_LAMBDA_LOG_LEVEL`
/// and `AWS_LAMBDA_LOG_FORMAT` are honoured as Lambda defines them.
pub async fn every_log_line_names_the_invocation<D: TestServer>(function: &Function) {
    let mut world = World::<D>::start(function).await;
    // A secret the backend warns about inside a step (e.g. "ssl": false).
    world.db.create_user("traced", "traced-Password-0").await;
    let (value, warning) = world.db.warning_secret("traced", "traced-Password-0");
    let secret = world.create_secret("traced", &value).await;
    world.rotate(&secret).await.expect("rotation");
    let log = world.lambda.function_log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "WARN" || l["message"] == "rotation step")
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"),
        "no warning logged inside a step:\n{log}"
    );
    for line in &lines {
        for field in ["request_id", "secret_arn", "step", "version"] {
            assert!(
                line[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field} missing: {line}"
            );
        }
        assert_eq!(line["secret_arn"], json!(secret), "{line}");
    }
    let steps: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "rotation step")
        .collect();
    assert_eq!(steps.len(), 4, "{steps:?}");
    for line in steps {
        assert!(
            line["timestamp"].is_string() && line["level"] == "INFO",
            "{line}"
        );
        assert!(
            line["budget_ms"].as_u64().is_some_and(|b| b > 20_000),
            "{line}"
        );
    }

    // Lambda's application log level wins over RUST_LOG: WARN drops the
    // step lines of a successful rotation, keeps the warning.
    world.restart_function(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "trace")]);
    let before = world.lambda.function_log_text().len();
    world.rotate(&secret).await.expect("rotation");
    let after = world.lambda.function_log_text()[before..].to_owned();
    assert!(!after.contains("\"rotation step\""), "{after}");
    assert!(after.contains(warning), "{after}");

    // The Text format: plain lines, the span's fields on each.
    world.restart_function(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]);
    let before = world.lambda.function_log_text().len();
    world.rotate(&secret).await.expect("rotation");
    let after = world.lambda.function_log_text()[before..].to_owned();
    let step_line = after
        .lines()
        .find(|l| l.contains("rotation step") && l.contains("finishSecret"))
        .unwrap_or_else(|| panic!("no text step line:\n{after}"));
    assert!(!step_line.trim_start().starts_with('{'), "{step_line}");
    assert!(step_line.contains("request_id="), "{step_line}");
    assert!(step_line.contains(&secret), "{step_line}");
}

/// Every step, failed or not, writes one CloudWatch Embedded Metric Format
/// record beside its step line: valid by the EMF specification
/// ([`crate::emf`]), with the function and step as dimensions, failures
/// also by `failure_kind`, the rotation counted at finishSecret, the cold
/// start on a process's first invocation, the secret only as a plain field,
/// no password, a log level Lambda's filtering keeps, and every metric
/// [`rotation::metrics::METRICS`] lists emitted.
pub async fn every_step_writes_one_valid_metric_record<D: TestServer>(function: &Function) {
    use rotation::metrics::{self as m, METRICS};
    let mut world = World::<D>::start(function).await;
    let started = std::time::SystemTime::now();
    let first = "metrics-Password-0";
    let secret = world
        .user_with_secret("metrics", "metrics_user", first)
        .await;
    world.rotate(&secret).await.expect("rotation");
    let current = world
        .db
        .password_in(&world.value(&secret, "AWSCURRENT").await);
    // A step that fails (createSecret: a value the function refuses) and an event
    // that is no rotation event.
    let broken = world
        .create_secret(
            "metrics-broken",
            &world.db.broken_secret("metrics_user", "broken-Password-0"),
        )
        .await;
    world.rotate(&broken).await.expect_err("a broken secret");
    world
        .lambda
        .invoke(&json!({"hello": "world"}))
        .await
        .expect_err("not a rotation event");

    let log = world.lambda.function_log_text();
    let steps = step_lines(&world);
    let records = crate::emf::records(&log);
    assert_eq!(
        records.len(),
        steps.len(),
        "one metric record per step line:\n{log}"
    );
    assert_eq!(
        steps.len(),
        6,
        "4 steps, a failed createSecret, a bad event"
    );
    let now = std::time::SystemTime::now();
    let mut emitted = std::collections::BTreeSet::new();
    for (i, (record, step)) in records.iter().zip(&steps).enumerate() {
        let data = crate::emf::validate(record, now)
            .unwrap_or_else(|e| panic!("record {i} breaks the EMF specification: {e}\n{record}"));
        let ms = record["_aws"]["Timestamp"].as_u64().unwrap();
        let since = started
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(ms + 1000 >= since, "record {i}: timestamp before the test");
        assert_eq!(record["message"], m::MESSAGE);
        assert_eq!(record["level"], step["level"], "record {i}: level");
        let failed = step["outcome"] == "failed";
        let step_name = step["step"].as_str().unwrap_or(m::UNKNOWN_STEP);
        for datum in &data {
            emitted.insert(datum.name.clone());
            assert_eq!(datum.namespace, m::DEFAULT_NAMESPACE);
            assert_eq!(
                datum.dimensions.get("function").map(String::as_str),
                Some(function.binary),
                "record {i}: the function dimension is the Lambda function's name"
            );
            for key in datum.dimensions.keys() {
                assert!(
                    ["function", "step", "failure_kind"].contains(&key.as_str()),
                    "record {i}: {key} must not be a dimension (unbounded values)"
                );
            }
            if let Some(kind) = datum.dimensions.get("failure_kind") {
                assert!(failed, "record {i}: failure_kind on a success");
                assert_eq!(json!(kind), step["failure_kind"], "record {i}");
                assert_eq!(datum.name, m::STEP_FAILED);
            }
            if let Some(s) = datum.dimensions.get("step") {
                assert_eq!(s, step_name, "record {i}");
            }
        }
        let value = |name: &str| record[name].as_f64();
        assert_eq!(value(m::STEP_FAILED), Some(f64::from(u8::from(failed))));
        assert_eq!(value(m::STEP_SUCCEEDED), Some(f64::from(u8::from(!failed))));
        assert!(value(m::STEP_DURATION).is_some_and(|d| d >= 0.0));
        assert_eq!(value(m::COLD_START), Some(if i == 0 { 1.0 } else { 0.0 }));
        assert_eq!(
            failed,
            data.iter()
                .any(|d| d.dimensions.contains_key("failure_kind")),
            "record {i}: failures (only) are counted by kind"
        );
        if step_name == "finishSecret" {
            assert_eq!(value(m::ROTATION_COMPLETED), Some(1.0), "record {i}");
        } else {
            assert!(value(m::ROTATION_COMPLETED).is_none(), "record {i}");
        }
        if i < 4 {
            assert_eq!(record["secret_arn"], json!(secret), "a plain field");
        }
    }
    let listed: std::collections::BTreeSet<String> =
        METRICS.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(emitted, listed, "every listed metric is emitted, no other");
    assert!(
        crate::leaked(
            &serde_json::to_string(&records).unwrap(),
            &[first, &current]
        )
        .is_empty(),
        "a password in a metric record"
    );

    // A function logging only errors still writes every record (Lambda drops
    // lines below its level, and lines without one count as INFO), and a
    // new process counts a cold start.
    world.restart_function(&[
        ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
        ("METRICS_NAMESPACE", "Team/Rotation"),
    ]);
    let before = world.lambda.function_log_text().len();
    world.rotate(&secret).await.expect("rotation");
    let after = crate::emf::records(&world.lambda.function_log_text()[before..]);
    assert_eq!(after.len(), 4, "{after:?}");
    for (i, record) in after.iter().enumerate() {
        assert_eq!(record["level"], "ERROR", "{record}");
        assert_eq!(
            record[m::COLD_START],
            if i == 0 { 1 } else { 0 },
            "{record}"
        );
        let data = crate::emf::validate(record, std::time::SystemTime::now()).unwrap();
        assert!(data.iter().all(|d| d.namespace == "Team/Rotation"));
    }

    // Turned off: no record.
    world.restart_function(&[("METRICS_ENABLED", "false")]);
    let before = world.lambda.function_log_text().len();
    world.rotate(&secret).await.expect("rotation");
    let tail = world.lambda.function_log_text()[before..].to_owned();
    assert!(tail.contains("rotation step"), "{tail}");
    assert!(crate::emf::records(&tail).is_empty(), "{tail}");

    // An unusable namespace stops the function at start, naming the variable.
    world.restart_function(&[("METRICS_NAMESPACE", "AWS/Lambda")]);
    let waited = std::time::Instant::now();
    while !world.lambda.function_exited() && waited.elapsed().as_secs() < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(world.lambda.function_exited(), "the function kept running");
    let log = world.lambda.function_log_text();
    let refused = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|l| {
            l["level"] == "ERROR"
                && l["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("METRICS_NAMESPACE \"AWS/Lambda\": "))
        });
    assert!(refused, "no error naming METRICS_NAMESPACE:\n{log}");
}
