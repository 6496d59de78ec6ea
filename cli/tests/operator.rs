//! rotation-ctl through the local world: the real function binary
//! (rotate-postgres) behind the local Lambda runtime, the Secrets Manager
//! emulator (which also serves Lambda's Invoke and CloudWatch Logs), and a
//! real PostgreSQL with password authentication and TLS.

use serde_json::{json, Value};
use std::process::Command;
use testkit::faults::crash_in_step;
use testkit::server::ServerOptions;
use testkit::world::{MariaDbWorld, PostgresWorld, World};
use testkit::TestServer;

const FUNCTION: &str = "rotate-postgres";

/// What one run of rotation-ctl printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

impl Run {
    /// The preflight check whose name starts with `name` (`--json` output).
    fn check(&self, name: &str) -> Value {
        self.json()["checks"]
            .as_array()
            .and_then(|checks| {
                checks
                    .iter()
                    .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name)))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no check {name:?}:\n{self}"))
    }

    /// Asserts a failed preflight whose AWSCURRENT login failed with `kind`.
    fn assert_login_fails(&self, kind: &str) {
        assert_eq!(self.code, 2, "{self}");
        let login = self.check("log in with AWSCURRENT");
        assert_eq!(login["outcome"], "fail", "{self}");
        assert_eq!(login["failure_kind"], kind, "{self}");
    }
}

/// Configures rotation of `secret` with the world's function without
/// rotating (RotateImmediately=false: only testSecret of the current
/// value runs); `Err` carries the service's message.
async fn configure_rotation<D: TestServer>(world: &World<D>, secret: &str) -> Result<(), String> {
    world
        .sm
        .rotate_secret()
        .secret_id(secret)
        .rotation_lambda_arn(world.function_arn())
        .rotate_immediately(false)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The AWS settings that point rotation-ctl at `world`'s emulator, with no
/// profile or credentials of the machine's.
fn aws_env<D: TestServer>(world: &World<D>) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", world.emulator.url.clone()),
        ("AWS_REGION", testkit::emulator::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
    ]
}

/// Runs rotation-ctl against `world`'s emulator, with no profile or
/// credentials of the machine's.
async fn ctl<D: TestServer>(world: &World<D>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rotation-ctl"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(aws_env(world));
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("rotation-ctl ran")
        .expect("rotation-ctl starts (cargo builds it with the tests)");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in PASSWORDS {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "rotation-ctl printed a password:\n{run}"
        );
    }
    run
}

/// Every password these tests store.
const PASSWORDS: &[&str] = &[
    "Ctl-initial-Password-1",
    "Ctl-wrong-Password-2",
    "Ctl-admin-Password-3",
    "Ctl-weak-admin-Password-4",
];

/// A secret whose user exists with the first password, rotation
/// configured (one successful rotation through the function).
async fn rotated_secret(world: &PostgresWorld, name: &str, user: &str) -> String {
    let arn = world.user_with_secret(name, user, PASSWORDS[0]).await;
    world.rotate(&arn).await.expect("the first rotation");
    arn
}

/// Leaves `secret` stuck: RotateSecret stages AWSPENDING without steps,
/// then the function runs createSecret (and with `after_set` setSecret)
/// until it is killed at `point`.
async fn stick(world: &mut PostgresWorld, secret: &str, point: &str) -> String {
    world.emulator.set_rotation_steps(&[]).await;
    world
        .rotate(secret)
        .await
        .expect("RotateSecret stages AWSPENDING");
    world
        .emulator
        .set_rotation_steps(&["createSecret", "setSecret", "testSecret", "finishSecret"])
        .await;
    let token = world
        .version_with(secret, "AWSPENDING")
        .await
        .expect("AWSPENDING staged");
    if point == "before-store" {
        crash_in_step(world, secret, &token, "createSecret", point, &[]).await;
    } else {
        world.restart_function(&[]);
        invoke_step(world, secret, &token, "createSecret").await;
        crash_in_step(world, secret, &token, "setSecret", point, &[]).await;
    }
    world.restart_function(&[]);
    token
}

async fn invoke_step(world: &PostgresWorld, secret: &str, token: &str, step: &str) {
    world
        .lambda
        .invoke(&json!({"SecretId": secret, "ClientRequestToken": token, "Step": step}))
        .await
        .unwrap_or_else(|e| panic!("{step}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_state_and_reads_no_value() {
    let mut world = PostgresWorld::start(FUNCTION).await;
    let healthy = rotated_secret(&world, "ctl/healthy", "ctl_healthy").await;
    let empty = rotated_secret(&world, "ctl/stuck-empty", "ctl_empty").await;
    let stuck = rotated_secret(&world, "ctl/stuck", "ctl_stuck").await;
    let empty_token = stick(&mut world, &empty, "before-store").await;
    let stuck_token = stick(&mut world, &stuck, "after-set").await;
    assert_eq!(
        world.raw_value(&empty, Some(&empty_token), None).await,
        None
    );
    assert!(world
        .raw_value(&stuck, Some(&stuck_token), None)
        .await
        .is_some());

    world.emulator.reset_calls().await;
    let one = ctl(&world, &["status", "ctl/healthy"]).await;
    assert_eq!(one.code, 0, "{one}");
    assert!(
        one.stdout.contains("healthy") && one.stdout.contains(FUNCTION),
        "{one}"
    );
    assert!(one.stdout.contains("every 30 days"), "{one}");

    let all = ctl(&world, &["status", "--all"]).await;
    assert_eq!(all.code, 2, "a stuck secret makes the exit code 2:\n{all}");
    for expected in ["ctl/healthy", "stuck-empty", "ctl/stuck", "recover"] {
        assert!(all.stdout.contains(expected), "{expected} missing:\n{all}");
    }
    let json = ctl(&world, &["--json", "status", &healthy, &empty, &stuck]).await;
    assert_eq!(json.code, 2, "{json}");
    let rows = json.json()["secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let states: Vec<&str> = rows.iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states, ["healthy", "stuck-empty", "stuck"], "{json}");
    assert_eq!(rows[1]["pending"]["version_id"], empty_token.as_str());
    assert_eq!(rows[1]["pending"]["has_value"], false);
    assert_eq!(rows[2]["pending"]["has_value"], true);
    assert!(rows[2]["pending"]["age_seconds"].is_u64(), "{json}");
    assert_eq!(rows[0]["rotation_enabled"], true);
    let calls = world.emulator.calls().await;
    assert!(
        calls["calls"].get("GetSecretValue").is_none(),
        "status must read no value: {calls}"
    );

    world
        .sm
        .tag_resource()
        .secret_id(&healthy)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("orders")
                .build(),
        )
        .send()
        .await
        .expect("tagging a secret");
    let team = ctl(&world, &["--json", "status", "--tag", "team=orders"]).await;
    assert_eq!(team.code, 0, "only the healthy secret has the tag:\n{team}");
    let rows = team.json()["secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 1, "{team}");
    assert_eq!(rows[0]["name"], "ctl/healthy", "{team}");
    let tagged = ctl(&world, &["status", "--tag", "team=none"]).await;
    assert_eq!(tagged.code, 3, "no secret matches: a usage error\n{tagged}");
    let unknown = ctl(&world, &["status", "no/such/secret"]).await;
    assert_eq!(unknown.code, 3, "{unknown}");
    assert!(
        unknown.stderr.contains("ResourceNotFoundException"),
        "{unknown}"
    );
    let usage = ctl(&world, &["rotate"]).await;
    assert_eq!(usage.code, 3, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_rolls_forward_and_back_and_the_next_rotation_succeeds() {
    let mut world = PostgresWorld::start(FUNCTION).await;

    // Killed after setSecret: the database has the pending password only.
    let forward = rotated_secret(&world, "ctl/forward", "ctl_forward").await;
    let token = stick(&mut world, &forward, "after-set").await;
    let current = world.version_with(&forward, "AWSCURRENT").await.unwrap();
    let pending = world.value(&forward, "AWSPENDING").await;
    let user = pending["username"].as_str().unwrap().to_owned();
    let new_password = pending["password"].as_str().unwrap().to_owned();
    assert!(world.db.can_login(&user, &new_password).await);

    let plan = ctl(&world, &["recover", "ctl/forward"]).await;
    assert_eq!(plan.code, 2, "without --apply nothing changes:\n{plan}");
    assert!(plan.stdout.contains("roll forward"), "{plan}");
    assert!(
        plan.stdout.contains(&format!(
            "--version-stage AWSCURRENT --move-to-version-id {token} --remove-from-version-id {current}"
        )),
        "{plan}"
    );
    assert_eq!(
        world.version_with(&forward, "AWSCURRENT").await,
        Some(current.clone())
    );

    let applied = ctl(&world, &["--json", "recover", "ctl/forward", "--apply"]).await;
    assert_eq!(applied.code, 0, "{applied}");
    for run in [&plan, &applied] {
        assert!(
            !run.stdout.contains(&new_password) && !run.stderr.contains(&new_password),
            "recover printed the pending password"
        );
    }
    let answer = applied.json();
    assert_eq!(answer["plan"]["action"], "roll-forward", "{applied}");
    assert_eq!(answer["applied"], true);
    assert_eq!(
        world.version_with(&forward, "AWSCURRENT").await,
        Some(token.clone())
    );
    assert_eq!(world.version_with(&forward, "AWSPENDING").await, None);
    assert_eq!(
        world.version_with(&forward, "AWSPREVIOUS").await,
        Some(current)
    );
    let now = world.value(&forward, "AWSCURRENT").await;
    assert!(
        world
            .db
            .can_login(&user, now["password"].as_str().unwrap())
            .await
    );
    world
        .rotate(&forward)
        .await
        .expect("the next rotation succeeds");

    // Killed in createSecret: nothing stored, nothing changed: roll back.
    let back = rotated_secret(&world, "ctl/back", "ctl_back").await;
    let empty = stick(&mut world, &back, "before-store").await;
    let current = world.version_with(&back, "AWSCURRENT").await.unwrap();
    let applied = ctl(&world, &["recover", "ctl/back", "--apply"]).await;
    assert_eq!(applied.code, 0, "{applied}");
    assert!(applied.stdout.contains("roll back"), "{applied}");
    assert!(applied.stdout.contains("holds no value"), "{applied}");
    assert!(
        applied.stdout.contains(&format!(
            "--version-stage AWSPENDING --remove-from-version-id {empty}"
        )),
        "{applied}"
    );
    assert_eq!(world.version_with(&back, "AWSCURRENT").await, Some(current));
    assert_eq!(world.version_with(&back, "AWSPENDING").await, None);
    world
        .rotate(&back)
        .await
        .expect("the next rotation succeeds");

    let healthy = ctl(&world, &["recover", "ctl/back"]).await;
    assert_eq!(healthy.code, 0, "{healthy}");
    assert!(healthy.stdout.contains("nothing to recover"), "{healthy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_passes_a_good_secret_and_names_each_failing_check() {
    let world = PostgresWorld::start(FUNCTION).await;
    rotated_secret(&world, "ctl/good", "ctl_good").await;
    let good = ctl(&world, &["preflight", "ctl/good"]).await;
    assert_eq!(good.code, 0, "{good}");
    for expected in [
        "TLS",
        "log in with AWSCURRENT",
        "certificate",
        "would succeed",
    ] {
        assert!(
            good.stdout.contains(expected),
            "{expected} missing:\n{good}"
        );
    }

    // Wrong password: the user exists, the secret holds another password.
    let wrong = world
        .user_with_secret("ctl/wrong", "ctl_wrong", PASSWORDS[0])
        .await;
    world.db.set_password("ctl_wrong", PASSWORDS[1]).await;
    configure_rotation(&world, &wrong)
        .await
        .expect_err("the database refuses the stored password");
    let refused = ctl(&world, &["--json", "preflight", "ctl/wrong"]).await;
    refused.assert_login_fails("authentication");

    // Alternating users whose admin lacks CREATEROLE, then one who has it.
    alternating_preflight(&world, "CREATEROLE").await;
}

/// Preflight of an alternating-users secret: its admin first without the
/// privileges cloning needs (the privileges check fails naming `missing`),
/// then with them (it passes).
async fn alternating_preflight<D: TestServer>(world: &World<D>, missing: &str) {
    world.db.create_user("ctl_weak_admin", PASSWORDS[3]).await;
    let admin = world
        .create_secret(
            "ctl/weak-admin",
            &world.db_secret("ctl_weak_admin", PASSWORDS[3]),
        )
        .await;
    world.db.create_user("ctl_app", PASSWORDS[0]).await;
    let mut value = world.db_secret("ctl_app", PASSWORDS[0]);
    value["masterarn"] = json!(admin);
    let child = world.create_secret("ctl/alternating", &value).await;
    configure_rotation(world, &child)
        .await
        .expect("rotation configured");
    let weak = ctl(world, &["--json", "preflight", "ctl/alternating"]).await;
    assert_eq!(weak.code, 2, "{weak}");
    let privileges = weak.check("privileges");
    assert_eq!(privileges["outcome"], "fail", "{weak}");
    assert_eq!(privileges["failure_kind"], "permission", "{weak}");
    assert!(
        privileges["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(missing),
        "{weak}"
    );
    assert!(world.db.create_admin("ctl_admin", PASSWORDS[2]).await);
    let admin = world
        .create_secret("ctl/admin", &world.db_secret("ctl_admin", PASSWORDS[2]))
        .await;
    value["masterarn"] = json!(admin);
    world
        .sm
        .put_secret_value()
        .secret_id(&child)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("the child secret now names an able admin");
    let able = ctl(world, &["preflight", "ctl/alternating"]).await;
    assert_eq!(able.code, 0, "{able}");
    assert!(
        able.stdout.contains(missing),
        "what was found is named:\n{able}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_checks_mysql_privileges_for_alternating_users() {
    let world = MariaDbWorld::start("rotate-mysql").await;
    alternating_preflight(&world, "CREATE USER").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_server_without_tls_and_can_be_switched_off() {
    let options = ServerOptions {
        tls: false,
        ..ServerOptions::default()
    };
    let mut world = PostgresWorld::start_with_server(FUNCTION, &[], &options).await;
    let arn = world
        .user_with_secret("ctl/no-tls", "ctl_no_tls", PASSWORDS[0])
        .await;
    configure_rotation(&world, &arn)
        .await
        .expect_err("the server offers no TLS: even the configuration test fails");
    let run = ctl(&world, &["--json", "preflight", "ctl/no-tls"]).await;
    run.assert_login_fails("tls");

    world.restart_function(&[("OPERATOR_EVENTS", "off")]);
    let off = ctl(&world, &["preflight", "ctl/no-tls"]).await;
    assert_eq!(off.code, 3, "{off}");
    assert!(off.stderr.contains("OperatorEventsDisabled"), "{off}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_waits_shows_each_step_and_a_failure_with_the_function_message() {
    let mut world = PostgresWorld::start(FUNCTION).await;
    let arn = rotated_secret(&world, "ctl/rotate", "ctl_rotate").await;
    world.emulator.set_async_rotation(true).await;

    let ok = ctl(
        &world,
        &["rotate", "ctl/rotate", "--wait", "--timeout", "60s"],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok}");
    for step in [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
        "Rotated",
    ] {
        assert!(ok.stdout.contains(step), "{step} missing:\n{ok}");
    }
    let version = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    assert!(
        ok.stdout.contains(&version),
        "the new version is named:\n{ok}"
    );

    // The database no longer takes the stored password: setSecret fails.
    world.db.set_password("ctl_rotate", PASSWORDS[1]).await;
    let failed = ctl(
        &world,
        &["rotate", "ctl/rotate", "--wait", "--timeout", "60s"],
    )
    .await;
    assert_eq!(failed.code, 2, "{failed}");
    for expected in ["setSecret", "failed", "authentication", "Next:", "recover"] {
        assert!(
            failed.stdout.contains(expected),
            "{expected} missing:\n{failed}"
        );
    }
    let stuck = ctl(&world, &["--json", "rotate", "ctl/rotate"]).await;
    assert_eq!(stuck.code, 2, "{stuck}");
    assert_eq!(stuck.json()["outcome"], "refused", "{stuck}");

    // The same failure through the synchronous emulator: RotateSecret's
    // own error carries the function's message.
    world.emulator.set_async_rotation(false).await;
    let current = world.value(&arn, "AWSCURRENT").await;
    let current = current["password"].as_str().unwrap_or_default().to_owned();
    world.db.set_password("ctl_rotate", &current).await;
    let back = ctl(&world, &["recover", "ctl/rotate", "--apply"]).await;
    assert_eq!(
        back.code, 0,
        "the current password works again: roll back\n{back}"
    );
    world.db.set_password("ctl_rotate", PASSWORDS[1]).await;
    let sync = ctl(&world, &["--json", "rotate", "ctl/rotate", "--wait"]).await;
    assert_eq!(sync.code, 2, "{sync}");
    let answer = sync.json();
    assert_eq!(answer["outcome"], "failed");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("authentication"),
        "{sync}"
    );
    world.restart_function(&[]);
}

/// Runs `command` (a shell line) in a detached tmux terminal of 110×40
/// with the world's AWS settings and returns the screen once it printed
/// its exit code.
async fn screen<D: TestServer>(world: &World<D>, socket: &str, command: &str) -> String {
    let ctl = env!("CARGO_BIN_EXE_rotation-ctl");
    let line = format!(
        "clear; {}; echo \"[exit $?]\"; sleep 600",
        command.replace("rotation-ctl", ctl)
    );
    let status = Command::new("tmux")
        .args([
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "110",
            "-y",
            "40",
        ])
        .arg(line)
        .envs(aws_env(world))
        .env("TERM", "xterm-256color")
        .status()
        .expect("tmux is needed for this test: scripts/setup installs it (Debian package tmux)");
    assert!(status.success(), "tmux new-session failed ({status})");
    let started = std::time::Instant::now();
    loop {
        let out = Command::new("tmux")
            .args(["-L", socket, "capture-pane", "-p", "-S", "-", "-E", "-"])
            .output()
            .expect("tmux capture-pane");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("[exit ") {
            let _ = Command::new("tmux")
                .args(["-L", socket, "kill-server"])
                .status();
            return text.replace(ctl, "rotation-ctl");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "{command} did not finish in the terminal:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The real screens of `status` and `rotate --wait` in a terminal (tmux),
/// kept in the target directory (`rotation-ctl-screens.txt`) and printed:
/// the README's examples come from here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_in_a_terminal() {
    let mut world = PostgresWorld::start(FUNCTION).await;
    rotated_secret(&world, "app/orders-db", "orders").await;
    let stuck = rotated_secret(&world, "app/billing-db", "billing").await;
    stick(&mut world, &stuck, "after-set").await;
    world.emulator.set_async_rotation(true).await;
    let socket = |n: u32| format!("rotation-ctl-{}-{n}", std::process::id());
    let status = screen(&world, &socket(1), "rotation-ctl status --all").await;
    for expected in [
        "SECRET",
        "═══",
        "app/orders-db",
        "healthy",
        "stuck",
        "[exit 2]",
    ] {
        assert!(status.contains(expected), "{expected} missing:\n{status}");
    }
    let rotate = screen(
        &world,
        &socket(2),
        "rotation-ctl rotate app/orders-db --wait",
    )
    .await;
    for expected in [
        "✓ createSecret",
        "✓ finishSecret",
        "Rotated app/orders-db",
        "[exit 0]",
    ] {
        assert!(rotate.contains(expected), "{expected} missing:\n{rotate}");
    }
    let recover = screen(&world, &socket(3), "rotation-ctl recover app/billing-db").await;
    assert!(recover.contains("roll forward"), "{recover}");
    let text = format!(
        "$ rotation-ctl status --all\n{}\n$ rotation-ctl rotate app/orders-db --wait\n{}\n$ rotation-ctl recover app/billing-db\n{}",
        status.trim_end(),
        rotate.trim_end(),
        recover.trim_end()
    );
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::write(target.join("rotation-ctl-screens.txt"), &text);
    println!("{text}");
}
